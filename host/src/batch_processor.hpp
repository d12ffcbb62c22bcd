#pragma once

#include <memory>
#include <vector>

#include "incoming_message.hpp"
#include "plugin_runner.hpp"
#include "row_batch.hpp"

namespace nomnom {

// Turns one fetched batch into committed rows and settles every message exactly once: ack after
// the commit that holds its rows, dead-letter + terminate when it can never succeed, nak with
// back-off when it may succeed later.
class BatchProcessor {
  public:
    BatchProcessor(PluginRunner& runner, PluginInstance& instance);

    // Returns false when the database could not be reached, so the caller can pause fetching
    // instead of burning deliveries.
    bool process(std::vector<NatsMsgPtr> fetched);

  private:
    enum class Outcome { Pending, Persisted, Invalid, DataError, Retry, Unprocessed };
    struct Entry {
        std::unique_ptr<IncomingMessage> message;
        Outcome outcome = Outcome::Pending;
        std::string reason;
    };

    // Parses `entries` and writes their rows in one transaction. A data error from the database
    // is narrowed down by bisecting, so one bad message costs O(log n) extra writes and the
    // rest still commit.
    void attempt(const std::vector<Entry*>& entries);
    void settle(Entry& entry);
    int64_t backoff_ms(uint64_t delivery_count) const;

    PluginRunner& runner_;
    PluginInstance& instance_;
    RowBatch rows_;
    bool database_unreachable_ = false;
};

}  // namespace nomnom
