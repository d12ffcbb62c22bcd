#pragma once

#include <nats/nats.h>

#include <mutex>
#include <span>
#include <string>

#include "nomnom/common/nats_client.hpp"
#include "pipeline/incoming_message.hpp"
#include "plugins/row_batch.hpp"
#include "plugins/table_outputs.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// Publishes the rows of a plugin's published tables ([outputs]): one JSON object per row to
// <subject_prefix>.<table>, after the batch that holds them commits and before its messages are
// acked. Each row's Nats-Msg-Id is <stream>:<seq>:<plugin>:<table>:<index of the row among its
// message's rows of that table>, so a redelivered message publishes nothing twice within the
// outputs stream's duplicate window.
//
// One per worker: it has its own JetStream context, so waiting for its PubAcks never waits for
// another worker's.
class EntityPublisher {
  public:
    EntityPublisher(NatsClient& nats, const OutputsConfig& config, std::string plugin);
    ~EntityPublisher();
    EntityPublisher(const EntityPublisher&) = delete;
    EntityPublisher& operator=(const EntityPublisher&) = delete;

    // Publishes every row of the tables `outputs` publishes, and returns once the outputs stream
    // has stored all of them. `sources[i]` is the message the rows with message_of() == i came
    // from. Throws NatsError naming the first failure (nothing is retried here: the caller naks
    // the messages, and their redelivery publishes again).
    void publish(const RowBatch& rows, const TableOutputs& outputs,
                 std::span<const IncomingMessage* const> sources);

  private:
    // Hands every row to the library; returns how many.
    uint64_t send(const RowBatch& rows, const TableOutputs& outputs,
                  std::span<const IncomingMessage* const> sources);
    void unregister();
    static void on_error(jsCtx* js, jsPubAckErr* error, void* closure);
    // Drops the PubAcks still awaited (after a timeout), so the next batch waits for its own.
    void forget_pending();

    const OutputsConfig& config_;
    std::string plugin_;
    uintptr_t id_ = 0;  // in the registry of live publishers the error handler reads
    jsCtx* jetstream_ = nullptr;
    bool awaiting_ = false;  // PubAcks may be pending (something was handed over since)
    // Since the last publish() started; guarded by the registry's mutex.
    std::string first_error_;
    uint64_t failures_ = 0;
};

}  // namespace nomnom::host
