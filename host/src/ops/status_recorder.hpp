#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nomnom/common/nats_client.hpp"
#include "pipeline/dead_letter.hpp"
#include "pipeline/incoming_message.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// Writes what became of messages ingested through nomnom-api (those with a Nomnom-Ingest-Id
// header) into the status bucket: "persisted" after the commit, "failed" with the reason after
// dead-lettering. Workers only append to a queue; a thread of its own publishes the queue in
// batches (one PubAck wait per batch), so the ack path never waits on it.
// Statuses are informational: when the queue is full or a write fails they are dropped and
// counted, never retried at the expense of the data path.
class StatusRecorder {
  public:
    // Creates the bucket when missing (throws NatsError) and starts the writer thread.
    StatusRecorder(NatsClient& nats, StatusConfig config);
    // Writes what is queued (for at most a few seconds), then stops.
    ~StatusRecorder();
    StatusRecorder(const StatusRecorder&) = delete;
    StatusRecorder& operator=(const StatusRecorder&) = delete;

    void persisted(const IncomingMessage& message, const std::string& plugin);
    void failed(const IncomingMessage& message, const DeadLetter& letter);

    // nomnom_status_{written,dropped,write_errors}_total in Prometheus text format.
    void render(std::string& out) const;

  private:
    struct Pending {
        std::string key;
        std::string json_without_time;  // the value's fields after "time"
    };

    void enqueue(const IncomingMessage& message, std::string fields);
    void run();
    void write(std::vector<Pending>& batch);
    StatusConfig config_;
    NatsClient& nats_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Pending> queue_;
    bool stop_ = false;
    std::atomic<uint64_t> written_{0};
    std::atomic<uint64_t> dropped_{0};
    std::atomic<uint64_t> write_errors_{0};
    std::thread writer_;
};

// Passes dead letters on to `inner` and records "failed" for those it stored.
class StatusRecordingDeadLetterSink final : public DeadLetterSink {
  public:
    StatusRecordingDeadLetterSink(DeadLetterSink& inner, StatusRecorder& recorder)
        : inner_(inner), recorder_(recorder) {}
    void dead_letter(const IncomingMessage& message, const DeadLetter& letter) override;

  private:
    DeadLetterSink& inner_;
    StatusRecorder& recorder_;
};

}  // namespace nomnom::host
