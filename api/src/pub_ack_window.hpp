#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
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
    // Gives up on the PubAcks still outstanding, dropping their on_answer callbacks. nomnom-api
    // destroys it after the HTTP server, whose shutdown waits (http.shutdown_timeout_ms) for the
    // requests in flight, those awaiting a PubAck included.
    ~PubAckWindow();
    PubAckWindow(const PubAckWindow&) = delete;
    PubAckWindow& operator=(const PubAckWindow&) = delete;

    struct Outcome : PublishOutcome {
        bool sent = false;         // handed to JetStream (else refused before it was)
        bool window_full = false;  // no room in the window within max_wait_ms: not sent
        std::chrono::steady_clock::time_point answered_at;  // when the PubAck (or error) came
    };

  private:
    struct Waiter {
        std::condition_variable answered;  // its own: a PubAck wakes only the caller it is for
        bool done = false;
        Outcome outcome;
        natsMsg* message = nullptr;  // its key in waiting_ until answered
        std::chrono::steady_clock::time_point deadline;
        std::function<void()> on_answer;  // instead of a caller waiting
        // In answers_due_, while on_answer waits.
        std::multimap<std::chrono::steady_clock::time_point, Waiter*>::iterator due_at;
    };

  public:
    // A publish sent (or refused at once), its PubAck still to be waited for. Destroyed before
    // that, it is forgotten: its PubAck then only frees its slot.
    class Pending {
      public:
        Pending(Pending&&) noexcept = default;
        Pending& operator=(Pending&& other) noexcept;
        ~Pending() { forget(); }
        // Waits for the PubAck until the publish's deadline.
        Outcome wait();
        // Calls `answered` once wait() would not wait, on the thread the PubAck comes on (or,
        // at the deadline wait() keeps, on the window's own thread), so that nobody has to
        // wait for it. False, without calling it, when wait() would not wait now.
        bool on_answer(std::function<void()> answered);
        // The outcome of a publish refused before it was sent (no room, not sendable), which
        // waiting would not change; nullopt once sent.
        std::optional<Outcome> refused() const;

      private:
        friend class PubAckWindow;
        Pending(PubAckWindow& window, std::shared_ptr<Waiter> waiter)
            : window_(&window), waiter_(std::move(waiter)) {}
        void forget();
        PubAckWindow* window_;
        std::shared_ptr<Waiter> waiter_;
    };

    // Sends `message`, first waiting for room in a full window; everything, the PubAck
    // included, within request.max_wait_ms of this call. Several sends may be waited for later
    // in any order (a batch's lines share the window's round trips). Into an empty window,
    // unless more sends follow from the same caller, the publish is synchronous, its PubAck
    // awaited here: cnats (3.4) holds an asynchronous publish back for a millisecond to gather
    // more, which alone would cap one client at 1,000 requests/s.
    enum class Followed { No, Yes };
    Pending send(NatsMsgPtr message, const PublishRequest& request, Followed followed);

    int64_t max_pending() const { return max_pending_; }

  private:
    static void on_pub_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                           void* closure);
    void release_slot();  // with mutex_ held
    // Takes a waiter not yet answered off waiting_ (and answers_due_), with mutex_ held; what
    // waiting_ held of it, so that it outlives the lock.
    std::shared_ptr<Waiter> unlist(Waiter& waiter);
    // Answers the waiters left with an on_answer whose deadline passed before their PubAck
    // came. cnats' own timeout of a publish runs from its send, which a wait for room in a full
    // window may have put off by up to publish_timeout_ms.
    void answer_when_due();
    // Calls an on_answer without letting anything unwind into the caller (cnats' C frames).
    static void give(const std::function<void()>& on_answer);

    NatsClient& nats_;
    const int64_t max_pending_;
    jsCtx* jetstream_ = nullptr;
    std::mutex mutex_;
    std::condition_variable room_;
    int64_t pending_ = 0;  // handed to cnats, not yet answered
    // Keyed by the message cnats hands back with its PubAck, which it owns until then. Shared
    // with the caller, so that the PubAck's handler can wake it after letting go of mutex_: woken
    // under the lock, the caller would at once block on it again.
    std::unordered_map<natsMsg*, std::shared_ptr<Waiter>> waiting_;
    // The waiters with an on_answer, by deadline.
    std::multimap<std::chrono::steady_clock::time_point, Waiter*> answers_due_;
    std::condition_variable answers_due_changed_;
    bool stopping_ = false;
    std::thread answerer_;  // answer_when_due
};

}  // namespace nomnom::api
