#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "nomnom/common/nats_client.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// Which dead letters an operator means: all fields optional.
struct DeadLetterFilter {
    std::string plugin;
    std::string error_class;  // dead_letter_class_name(): invalid, data, crashed, ...
    // RFC 3339 (2026-01-31T12:00:00Z) or an age (30s, 30m, 12h, 7d).
    std::string since;
    std::optional<uint64_t> seq;
};

// The header `key` of `message`, "" when absent.
std::string header_of(natsMsg* message, const char* key);

// "30m", "12h", "7d" -> the UTC timestamp that far back; anything else is returned as it is (a
// timestamp, compared as text with the letters' Nomnom-Timestamp).
std::string since_timestamp(const std::string& since);

// The dead-letter stream as operators see it, for `nomnom-host dlq` and the dashboard: reading
// letters one sequence at a time (js_GetMsg; deleted ones are skipped), replaying and deleting.
class DeadLetterQueue {
  public:
    DeadLetterQueue(NatsClient& client, DlqConfig config);

    using Visit = std::function<void(uint64_t seq, natsMsg* letter)>;
    // Every letter matching `filter`, oldest first, until `visit` was called `limit` times.
    void for_each(const DeadLetterFilter& filter, uint64_t limit, const Visit& visit);
    // Letters matching `filter` below sequence `before` (0: from the newest), newest first, until
    // `visit` was called `limit` times or `max_scanned` sequences were read. Returns where to go
    // on (the `before` of the next page), or 0 when no older letter is left.
    uint64_t for_each_newest_first(const DeadLetterFilter& filter, uint64_t before, uint64_t limit,
                                   uint64_t max_scanned, const Visit& visit);
    // The letter at `seq`; nullptr when there is none (never stored, replayed or purged).
    NatsMsgPtr letter(uint64_t seq);
    // For a letter too large to hold the payload and the original's headers
    // (dlq_header::kPayload), the original in its stream; nullptr for a letter that holds them.
    // Throws NatsError when the original is gone.
    NatsMsgPtr original_of(uint64_t seq, natsMsg* letter);
    // Publishes the original payload back to its subject with the original's own headers and a
    // bumped replay count (the letter's metadata headers stay behind), then deletes the letter.
    // Throws NatsError (or std::logic_error for a mangled number header) and keeps the letter
    // when it cannot, or when it was replayed dlq.max_replays times already.
    void replay(uint64_t seq, natsMsg* letter);
    void remove(uint64_t seq);
    // How many letters the stream holds, in all and per plugin (from the subjects' counts).
    struct Counts {
        uint64_t total = 0;
        std::map<std::string, uint64_t> by_plugin;
    };
    Counts counts();

  private:
    bool matches(natsMsg* letter, const DeadLetterFilter& filter, const std::string& since) const;
    struct Range {
        uint64_t first = 0;
        uint64_t last = 0;
    };
    Range range();

    NatsClient& client_;
    DlqConfig config_;
};

}  // namespace nomnom::host
