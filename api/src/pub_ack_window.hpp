#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "nomnom/common/nats_client.hpp"

namespace nomnom::api {

// Publishes into JetStream asynchronously, with at most `max_pending` publishes awaiting their
// PubAck at once, shared by every request thread; each caller waits for its own PubAck only.
// A synchronous publish costs each request a JetStream request/reply of its own; here the
// PubAcks of all requests come back on one subscription and are handed out as they arrive.
class PubAckWindow {
  public:
    PubAckWindow(NatsClient& nats, int64_t max_pending);
    // Gives up on the PubAcks still outstanding (their callers have answered by then: the server
    // stops only after its requests finish).
    ~PubAckWindow();
    PubAckWindow(const PubAckWindow&) = delete;
    PubAckWindow& operator=(const PubAckWindow&) = delete;

    struct Outcome : PublishOutcome {
        bool window_full = false;  // no room in the window within max_wait_ms: not sent
    };
    // Publishes `message` and waits for its PubAck, all within request.max_wait_ms (waiting for
    // room in a full window included).
    Outcome publish(NatsMsgPtr message, const PublishRequest& request);

    int64_t max_pending() const { return max_pending_; }

  private:
    struct Waiter {
        std::condition_variable answered;  // its own: a PubAck wakes only the caller it is for
        bool done = false;
        PublishOutcome outcome;
    };
    static void on_pub_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                           void* closure);
    void release_slot();  // with mutex_ held

    const int64_t max_pending_;
    jsCtx* jetstream_ = nullptr;
    std::mutex mutex_;
    std::condition_variable room_;
    int64_t pending_ = 0;  // handed to cnats, not yet answered
    // Keyed by the message cnats hands back with its PubAck, which it owns until then.
    std::unordered_map<natsMsg*, Waiter*> waiting_;
};

}  // namespace nomnom::api
