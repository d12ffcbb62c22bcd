#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "isolation/crash_verdicts.hpp"
#include "isolation/inflight_record.hpp"
#include "pipeline/entity_publisher.hpp"
#include "pipeline/incoming_message.hpp"
#include "pipeline/jetstream_consumer.hpp"
#include "pipeline/keep_alive.hpp"
#include "plugins/plugin_runner.hpp"
#include "plugins/row_batch.hpp"

namespace nomnom::host {

// Turns one fetched batch into committed rows and settles every message exactly once: ack after
// the commit that holds its rows, dead-letter + terminate when it can never succeed, nak with
// back-off when it may succeed later.
class BatchProcessor {
    struct Entry;

  public:
    // A fetched batch taken in: each message decoded, the batch written to an in-flight record
    // and kept in progress on the server until each message is settled.
    struct Received {
        std::vector<Entry> entries;
        InflightRecord* record = nullptr;
        std::unique_ptr<KeepAlive::Hold> hold;
    };

    // `publisher` publishes the rows of published tables after each commit (nullptr: the plugin
    // publishes none).
    BatchProcessor(PluginRunner& runner, PluginInstance& instance, EntityPublisher* publisher);

    // Takes in `fetched` (emptied once taken in; when this throws, it holds what is left to
    // return to JetStream), from `consumer` (with the server's ack_wait), with `record`, a free
    // in-flight record of this worker. Touches nothing of a BatchProcessor, so that the next
    // batch can be taken in while the one before is processed.
    static Received receive(PluginRunner& runner, const ConsumerSpec& consumer,
                            std::vector<NatsMsgPtr>& fetched, InflightRecord& record);

    // Never throws: when something unexpected does, the messages not yet settled are nak'ed
    // with back-off.
    void process(Received batch);

  private:
    enum class Outcome {
        Pending,
        Persisted,
        Invalid,
        DataError,
        Retry,
        Exhausted,
        Crashed,
        Unprocessed
    };
    struct Entry {
        std::unique_ptr<IncomingMessage> message;
        Outcome outcome = Outcome::Pending;
        std::string reason;
        bool settled = false;
        // What the recovery concluded about it, if a dead worker held it.
        std::optional<CrashVerdicts::Verdict> verdict;
        uint64_t forgiven = 0;  // deliveries lost to deaths of the process it did not cause

        // The deliveries that count toward max_deliver.
        uint64_t charged_deliveries() const { return message->delivery_count - forgiven; }
    };

    void process_batch();
    // Naks (with back-off) every message of the batch that was not settled.
    void hand_back();

    // Parses `entries` and writes their rows in one transaction. A data error from the database
    // is narrowed down by bisecting, so one bad message costs O(log n) extra writes and the
    // rest still commit.
    void attempt(const std::vector<Entry*>& entries);
    // Writes the parsed rows; while the database is unreachable, holds the batch (the circuit
    // breaker: no fetching, no naks, so no delivery is burned by an outage) and retries until
    // it answers or the host stops.
    std::optional<struct WriteFailure> write_holding_through_outage(
        const std::vector<Entry*>& parsed);
    // Publishes the rows of published tables once `parsed` committed; on failure marks them
    // for retry and returns false. `entries[i]` is the message of rows with message_of() == i.
    bool publish_outputs(const std::vector<Entry*>& entries, const std::vector<Entry*>& parsed);
    void settle(Entry& entry);

    // The index of `entry` in the batch, as the in-flight record knows it.
    uint32_t index_of(const Entry& entry) const;

    PluginRunner& runner_;
    PluginInstance& instance_;
    EntityPublisher* publisher_;
    RowBatch rows_;
    // The batch in process, from a Received.
    std::vector<Entry> entries_;
    InflightRecord* record_ = nullptr;
    std::unique_ptr<KeepAlive::Hold> hold_;
    // Summed over the attempts of one batch (bisection parses and writes again), observed once
    // per batch.
    struct PhaseTimes {
        std::chrono::steady_clock::duration parse{};
        std::chrono::steady_clock::duration write{};
        bool wrote = false;
    } phase_times_;
};

}  // namespace nomnom::host
