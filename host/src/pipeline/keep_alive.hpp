#pragma once

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace nomnom::host {

// Tells JetStream, from a thread of its own, that the messages a worker holds are still being
// worked on. The worker cannot do it itself at the moments it matters: while the plugin parses,
// while it waits for a pooled connection, or for one long statement or lock, it is blocked.
class KeepAlive {
    struct Batch {
        std::vector<natsMsg*> messages;  // nullptr once released
        std::chrono::milliseconds interval;
        std::chrono::steady_clock::time_point next;
    };

  public:
    // `connected`: whether NATS is reachable; while it is not, nothing is sent (an InProgress
    // would only fill the reconnect buffer the acks need).
    explicit KeepAlive(std::function<bool()> connected);
    ~KeepAlive();
    KeepAlive(const KeepAlive&) = delete;
    KeepAlive& operator=(const KeepAlive&) = delete;

    // The messages of one fetched batch, kept alive from construction (right after the fetch)
    // until each is released or the hold ends.
    class Hold {
      public:
        // `ack_wait`: the consumer's on the server, which is what redelivers.
        Hold(KeepAlive& keeper, std::vector<natsMsg*> messages, std::chrono::milliseconds ack_wait);
        ~Hold();
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;

        // Before messages[index] is acked, nak'ed or terminated: from then on the keeper never
        // touches it, so no natsMsg is used by two threads at once.
        void release(size_t index);

      private:
        KeepAlive& keeper_;
        std::list<Batch>::iterator batch_;
    };

    // No more keep-alives, for good: a worker abandoned in a hung call must let JetStream
    // redeliver what it holds to a replacement.
    void stop();

  private:
    void run();

    std::function<bool()> connected_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::list<Batch> batches_;
    bool stopped_ = false;
    std::thread thread_;
};

}  // namespace nomnom::host
