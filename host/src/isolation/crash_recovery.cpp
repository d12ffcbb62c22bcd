#include "isolation/crash_recovery.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "isolation/inflight_record.hpp"
#include "pipeline/incoming_message.hpp"

namespace nomnom::host {
namespace {

const char* phase_verb(InflightRecord::Phase phase) {
    return phase == InflightRecord::Phase::Parse ? "parsing" : "persisting";
}

std::string cause_of(const OrphanBatch& orphan) {
    if (orphan.fatal_signal != 0) {
        const char* name = sigabbrev_np(orphan.fatal_signal);
        return "of SIG" + std::string(name != nullptr ? name : std::to_string(orphan.fatal_signal));
    }
    const std::string memory =
        "killed by its supervisor: out of memory, " + std::to_string(orphan.kill_measure) +
        " MB resident, past max_memory_mb = " + std::to_string(orphan.kill_detail);
    switch (orphan.kill_cause) {
        case InflightRecord::KillCause::Timeout:
            return "killed by its supervisor: a call into the plugin ran " +
                   std::to_string(orphan.kill_measure) +
                   " ms, past parse_timeout_ms = " + std::to_string(orphan.kill_detail);
        case InflightRecord::KillCause::Memory:
            return memory;
        case InflightRecord::KillCause::MemoryShared:
            return memory + " (with other calls into the plugin in progress)";
        case InflightRecord::KillCause::Collateral:
            return "killed by its supervisor for another call, or at a deadline";
        case InflightRecord::KillCause::None:
            break;
    }
    return "with no signal caught (killed from outside: SIGKILL, the OOM killer)";
}

// Answers the dead worker's delivery on its ack subject: JetStream takes an ack from any
// connection.
void answer(NatsClient& nats, const OrphanMessage& message, const char* verb) {
    if (message.reply.empty()) return;  // comes back after ack_wait instead
    natsConnection_PublishString(nats.connection(), message.reply.c_str(), verb);
}

void dead_letter_culprit(const OrphanBatch& orphan, const OrphanMessage& culprit,
                         const RecoveredPlugin& plugin, const CrashVerdicts::Verdict& verdict,
                         NatsClient& nats, DeadLetterSink& dead_letters) {
    natsMsg* stored = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_GetMsg(&stored, nats.jetstream(), orphan.stream.c_str(),
                                        culprit.stream_sequence, nullptr, &js_error);
    if (status == NATS_NOT_FOUND) {
        spdlog::warn("plugin {}: stream {} no longer has sequence {}: nothing to dead-letter",
                     plugin.name, orphan.stream, culprit.stream_sequence);
        return;
    }
    check_nats(
        status,
        "reading stream " + orphan.stream + " sequence " + std::to_string(culprit.stream_sequence),
        js_error);
    const auto message = decode_message(
        NatsMsgPtr(stored), plugin.format,
        StoredOrigin{orphan.stream, culprit.stream_sequence, culprit.delivery_count});
    dead_letters.dead_letter(*message, DeadLetter{plugin.name, plugin.version,
                                                  verdict.dead_letter_class, verdict.reason});
    answer(nats, culprit, "+TERM");
}

}  // namespace

size_t recover_crashed_workers(const std::filesystem::path& dir, const RecoveredPlugin& plugin,
                               NatsClient& nats, DeadLetterSink& dead_letters,
                               CrashVerdicts& verdicts) {
    size_t dead_lettered = 0;
    for (const OrphanBatch& orphan : find_orphan_batches(dir, plugin.name)) {
        size_t in_hand = 0;
        for (const OrphanMessage& message : orphan.messages) in_hand += message.in_hand ? 1 : 0;
        spdlog::warn(
            "plugin {}: a worker of the process with pid {} died holding {} messages of stream {}, "
            "{} of them in the plugin's hands ({}); recovering them",
            plugin.name, orphan.pid, orphan.messages.size(), orphan.stream, in_hand,
            in_hand > 0 ? phase_verb(orphan.phase) : "between calls");
        using enum InflightRecord::KillCause;
        // Killed by the supervisor for something else: whatever it held did nothing wrong.
        const bool collateral = orphan.fatal_signal == 0 && orphan.kill_cause == Collateral;
        for (const OrphanMessage& message : orphan.messages) {
            // The delivery the death cost is not held against a message that did not cause it.
            const uint64_t forgiven = message.forgiven + 1;
            if (!message.in_hand || collateral) {
                verdicts.add(orphan.stream, message.stream_sequence,
                             {CrashVerdicts::Kind::Bystander, "", forgiven});
                answer(nats, message, "-NAK");
                continue;
            }
            // A fatal signal on the plugin's own call, or a kill by the supervisor for that call,
            // convicts the message it held alone; a kill from outside (SIGKILL, the OOM killer)
            // may have landed during any call, so it convicts only a message that was already a
            // suspect, held alone a second time.
            const bool caught = orphan.fatal_signal != 0 || orphan.kill_cause == Timeout ||
                                orphan.kill_cause == Memory;
            const bool convicted = in_hand == 1 && (caught || message.suspect);
            if (!convicted) {
                verdicts.add(orphan.stream, message.stream_sequence,
                             {CrashVerdicts::Kind::Suspect,
                              "in the plugin's hands (" + std::to_string(in_hand) +
                                  " messages) when the process (pid " + std::to_string(orphan.pid) +
                                  ") died " + cause_of(orphan),
                              forgiven});
                answer(nats, message, "-NAK");
                continue;
            }
            const CrashVerdicts::Verdict verdict{
                CrashVerdicts::Kind::Culprit,
                "the process (pid " + std::to_string(orphan.pid) + ") died " + cause_of(orphan) +
                    (caught ? "" : " a second time") + " while the plugin was " +
                    phase_verb(orphan.phase) + " this message alone (delivery " +
                    std::to_string(message.delivery_count) +
                    "); it is not handed to the plugin again",
                message.forgiven,
                orphan.kill_cause == InflightRecord::KillCause::Timeout ? DeadLetterClass::Timeout
                                                                        : DeadLetterClass::Crashed};
            verdicts.add(orphan.stream, message.stream_sequence, verdict);
            try {
                dead_letter_culprit(orphan, message, plugin, verdict, nats, dead_letters);
                ++dead_lettered;
            } catch (const std::exception& e) {
                spdlog::error(
                    "plugin {}: could not dead-letter stream {} sequence {} now ({}); it is "
                    "dead-lettered when delivered again",
                    plugin.name, orphan.stream, message.stream_sequence, e.what());
            }
        }
        nats.flush(5000);
        clear_orphan_batch(orphan);
    }
    return dead_lettered;
}

}  // namespace nomnom::host
