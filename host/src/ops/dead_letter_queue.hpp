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
    // Nomnom-Timestamp's form (since_timestamp()): only letters written at or after it.
    std::string since;
    std::optional<uint64_t> seq;
};

// The header `key` of `message`, "" when absent.
std::string header_of(natsMsg* message, const char* key);

// An age ("30s", "30m", "12h", "7d") or a UTC time ("2026-01-31T12:00:00Z", with or without
// milliseconds) as the UTC timestamp in the form of the letters' Nomnom-Timestamp
// ("2026-01-31T12:00:00.000Z"), which compares as text; "" stays "". Throws
// std::invalid_argument naming what it expected for anything else.
std::string since_timestamp(const std::string& since);

// `name` when it is a dead-letter class (dead_letter_class_name()) or "" (any class); throws
// std::invalid_argument naming the classes for anything else.
std::string dead_letter_class(const std::string& name);

// The dead-letter stream as operators see it, for `nomnom-host dlq` and the dashboard: reading
// letters one sequence at a time (js_GetMsg; deleted ones are skipped), replaying and deleting.
class DeadLetterQueue {
  public:
    DeadLetterQueue(NatsClient& client, DlqConfig config);

    using Visit = std::function<void(uint64_t seq, natsMsg* letter)>;
    // Every letter matching `filter`, oldest first, until `visit` returns false.
    void for_each(const DeadLetterFilter& filter,
                  const std::function<bool(uint64_t seq, natsMsg* letter)>& visit);
    // Letters matching `filter` below sequence `before` (0: from the newest), newest first, until
    // `visit` was called `limit` (> 0) times or `max_scanned` sequences were read. Returns where
    // to go on (the `before` of the next page), or 0 when no older letter is left.
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
    // Whether the letter was replayed dlq.max_replays times already. Throws std::logic_error
    // for a mangled count.
    bool replays_exhausted(natsMsg* letter) const;
    // Deletes the letter; false when it was gone already (replayed or purged meanwhile).
    bool remove(uint64_t seq);
    // How many letters the stream holds, in all and per plugin (from the subjects' counts).
    struct Counts {
        uint64_t total = 0;
        std::map<std::string, uint64_t> by_plugin;
    };
    Counts counts();

  private:
    bool matches(natsMsg* letter, const DeadLetterFilter& filter) const;
    // Nomnom-Replay-Count, 0 when absent; throws std::logic_error for a mangled one.
    static int64_t replay_count(natsMsg* letter);
    struct Range {
        uint64_t first = 0;
        uint64_t last = 0;
    };
    Range range();

    NatsClient& client_;
    DlqConfig config_;
};

}  // namespace nomnom::host
