#pragma once

#include <filesystem>
#include <string>

#include "isolation/crash_verdicts.hpp"
#include "nomnom/common/nats_client.hpp"
#include "pipeline/dead_letter.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

struct RecoveredPlugin {
    std::string name;
    std::string version;
    PayloadFormat format = PayloadFormat::Json;
};

// Deals with what dead workers of `plugin` left in their in-flight records in `dir`; run before
// the plugin's workers start, so that a host restarted after dying inside a plugin does it first:
//  - a message the plugin was parsing, or persisting alone, killed the process: it is
//    dead-lettered (class crashed) and terminated, and remembered as a culprit in `verdicts` in
//    case the terminate does not reach JetStream;
//  - messages the plugin was persisting together are suspects: each is written alone next time;
//  - they and the rest of the dead worker's batch are handed back at once (nak) rather than
//    after ack_wait, and the delivery this cost them does not count toward max_deliver.
// Returns how many messages were dead-lettered. A failure to dead-letter is logged and left to
// the verdict: the message is dead-lettered when it is delivered again.
size_t recover_crashed_workers(const std::filesystem::path& dir, const RecoveredPlugin& plugin,
                               NatsClient& nats, DeadLetterSink& dead_letters,
                               CrashVerdicts& verdicts);

}  // namespace nomnom::host
