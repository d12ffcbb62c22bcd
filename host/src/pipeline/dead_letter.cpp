#include "pipeline/dead_letter.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <memory>

#include "nomnom/common/timestamp.hpp"
#include "nomnom/common/utf8.hpp"

namespace nomnom::host {
namespace {

// A database error can carry a long statement; the reason's first 4 KiB say what went wrong.
constexpr size_t kMaxReasonBytes = 4096;

// Header values are single lines.
std::string one_line(std::string text) {
    for (char& c : text) {
        if (c == '\r' || c == '\n') c = ' ';
    }
    return text;
}

std::string host_name() {
    char name[256] = "";
    ::gethostname(name, sizeof name - 1);
    return name;
}

}  // namespace

const char* dead_letter_class_name(DeadLetterClass kind) {
    switch (kind) {
        case DeadLetterClass::Invalid:
            return "invalid";
        case DeadLetterClass::Data:
            return "data";
        case DeadLetterClass::Crashed:
            return "crashed";
        case DeadLetterClass::Timeout:
            return "timeout";
        default:
            return "retries_exhausted";
    }
}

JetStreamDeadLetterSink::JetStreamDeadLetterSink(NatsClient& client, DlqConfig config)
    : client_(client),
      config_(std::move(config)),
      host_id_(config_.host_id.empty() ? host_name() : config_.host_id) {}

void JetStreamDeadLetterSink::ensure_stream() {
    if (!config_.create) {
        client_.require_stream(config_.stream);
        return;
    }
    StreamConfig stream;
    stream.name = config_.stream;
    stream.subjects = {config_.subject_prefix + ".>"};
    stream.storage = config_.storage;
    stream.max_age_s = config_.max_age_s;
    stream.replicas = config_.replicas;
    client_.ensure_stream(stream, {.max_age_s = DlqConfig::kCreatedMaxAgeS});
}

NatsMsgPtr JetStreamDeadLetterSink::compose(const IncomingMessage& message,
                                            const DeadLetter& letter, bool with_payload) const {
    const std::string subject = config_.subject_prefix + "." + letter.plugin;
    natsMsg* raw = message.message.get();
    natsMsg* created = nullptr;
    check_nats(natsMsg_Create(&created, subject.c_str(), nullptr,
                              with_payload ? natsMsg_GetData(raw) : nullptr,
                              with_payload ? natsMsg_GetDataLength(raw) : 0),
               "creating dead letter");
    NatsMsgPtr out(created);

    // The original's headers are part of what is too large, and stay with it in its stream; the
    // replay count is the loop guard of `dlq replay`, read from the letter.
    for (const nomnom_header& header : message.headers) {
        const std::string key(header.key.data, header.key.len);
        if (key.starts_with("Nats-") || (!with_payload && key != dlq_header::kReplayCount)) {
            continue;
        }
        natsMsgHeader_Add(created, key.c_str(),
                          std::string(header.value.data, header.value.len).c_str());
    }
    const auto set = [&](const char* key, const std::string& value) {
        check_nats(natsMsgHeader_Set(created, key, value.c_str()), "dead-letter header");
    };
    set(dlq_header::kSubject, message.subject);
    set(dlq_header::kStream, message.stream);
    set(dlq_header::kStreamSequence, std::to_string(message.stream_sequence));
    set(dlq_header::kDeliveryCount, std::to_string(message.delivery_count));
    set(dlq_header::kMessageId, message.message_id);
    set(dlq_header::kPlugin, letter.plugin);
    set(dlq_header::kPluginVersion, letter.plugin_version);
    set(dlq_header::kErrorClass, dead_letter_class_name(letter.kind));
    // Bounded, so that a letter without the payload always fits.
    set(dlq_header::kError, std::string(utf8_prefix(one_line(letter.reason), kMaxReasonBytes)));
    set(dlq_header::kHost, host_id_);
    set(dlq_header::kTimestamp, utc_timestamp_now());
    if (!with_payload) set(dlq_header::kPayload, dlq_header::kPayloadInStream);
    return out;
}

JetStreamDeadLetterSink::Keeping JetStreamDeadLetterSink::keeping_of(const std::string& stream) {
    std::lock_guard lock(retention_mutex_);
    auto known = kept_.find(stream);
    if (known == kept_.end()) {
        jsStreamInfo* info = nullptr;
        jsErrCode js_error = jsErrCode(0);
        check_nats(js_GetStreamInfo(&info, client_.jetstream(), stream.c_str(), nullptr, &js_error),
                   "reading stream " + stream, js_error);
        const jsStreamConfig& config = *info->Config;
        const Keeping keeping{config.Retention == js_LimitsPolicy, config.MaxAge / 1000000000LL,
                              config.MaxMsgsPerSubject};
        jsStreamInfo_Destroy(info);
        known = kept_.emplace(stream, keeping).first;
    }
    return known->second;
}

std::string JetStreamDeadLetterSink::where_kept(const std::string& stream) {
    const Keeping original = keeping_of(stream);
    if (!original.limits) {
        throw NatsError("stream " + stream +
                        " removes a message once it is terminated (work-queue or interest "
                        "retention), so a dead letter cannot point at it");
    }
    // The original outlives the letter only as long as its stream's own limits allow: say so
    // where that is shorter than the dead-letter stream keeps letters.
    const int64_t letters_kept_s = keeping_of(config_.stream).max_age_s;
    if (original.max_msgs_per_subject > 0) {
        return "kept in stream " + stream + " until " +
               std::to_string(original.max_msgs_per_subject) +
               " newer messages of its subject are stored (max_msgs_per_subject)";
    }
    if (original.max_age_s > 0 && (letters_kept_s == 0 || original.max_age_s < letters_kept_s)) {
        return "kept in stream " + stream + " for " + std::to_string(original.max_age_s) +
               " s (its max_age), less than the dead letter";
    }
    return "kept in stream " + stream;
}

void JetStreamDeadLetterSink::dead_letter(const IncomingMessage& message,
                                          const DeadLetter& letter) {
    const std::string subject = config_.subject_prefix + "." + letter.plugin;
    const std::string id = message.stream + ":" + std::to_string(message.stream_sequence);
    const PublishRequest request{id.c_str(), config_.stream.c_str()};
    PublishOutcome outcome =
        client_.publish_awaiting_ack(compose(message, letter, true).get(), request);
    // Over the server's max_payload (refused by the client) or the dead-letter stream's
    // max_msg_size (by JetStream).
    constexpr int kMessageExceedsStreamMaximum = 10054;
    const bool too_large =
        outcome.status == NATS_MAX_PAYLOAD || outcome.js_error == kMessageExceedsStreamMaximum;
    std::string kept;
    if (too_large) {
        // The original fit, the original plus the dead letter's headers does not: the letter
        // points at the original, which stays in its stream (limits retention keeps a
        // terminated message until its limits remove it).
        kept = where_kept(message.stream);
        outcome = client_.publish_awaiting_ack(compose(message, letter, false).get(), request);
    }
    check_nats(outcome.status, "publishing dead letter to " + subject, outcome.js_error);

    const LogFields fields = message.log_fields(letter.plugin);
    const LogScope scope(fields);
    spdlog::error("dead-lettered ({}) to {}{}: {}", dead_letter_class_name(letter.kind), subject,
                  too_large
                      ? " (too large to copy: the letter points at the original, " + kept + ")"
                      : std::string(),
                  letter.reason);
}

}  // namespace nomnom::host
