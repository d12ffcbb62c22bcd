#include "pub_ack_window.hpp"

#include <chrono>

namespace nomnom::api {

PubAckWindow::PubAckWindow(NatsClient& nats, int64_t max_pending) : max_pending_(max_pending) {
    jsOptions options;
    jsOptions_Init(&options);
    // The window is kept here, not by cnats' MaxPending, so that waiting for room counts
    // against the same deadline as waiting for the PubAck.
    options.PublishAsync.AckHandler = &PubAckWindow::on_pub_ack;
    options.PublishAsync.AckHandlerClosure = this;
    check_nats(natsConnection_JetStream(&jetstream_, nats.connection(), &options),
               "creating the JetStream context for asynchronous publishes");
}

PubAckWindow::~PubAckWindow() {
    // (cnats 3.4 creates its list of pending publishes with the first one: before that, asking
    // for it crashes.)
    if (std::lock_guard lock(mutex_); pending_ > 0) {
        // Taken out of cnats' hands, no PubAck can reach this object any more; a handler
        // already running is waited for (cnats counts a publish as pending until its handler
        // returns).
        natsMsgList abandoned{};
        if (js_PublishAsyncGetPendingList(&abandoned, jetstream_) == NATS_OK) {
            natsMsgList_Destroy(&abandoned);
        }
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 5000;
    js_PublishAsyncComplete(jetstream_, &wait);
    jsCtx_Destroy(jetstream_);
}

void PubAckWindow::release_slot() {
    --pending_;
    room_.notify_one();
}

PubAckWindow::Outcome PubAckWindow::publish(NatsMsgPtr message, const PublishRequest& request) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(request.max_wait_ms);
    Waiter waiter;
    natsMsg* key = message.get();
    std::unique_lock lock(mutex_);
    if (!room_.wait_until(lock, deadline, [&] { return pending_ < max_pending_; })) {
        Outcome full;
        full.status = NATS_TIMEOUT;
        full.window_full = true;
        return full;
    }
    ++pending_;
    // Registered first: the PubAck may arrive before js_PublishMsgAsync returns.
    waiting_.emplace(key, &waiter);
    lock.unlock();

    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = request.msg_id;
    options.ExpectStream = request.expect_stream;
    // The same MaxWait for every publish: cnats keeps its timeouts in a list sorted by
    // deadline, appended to in O(1) only while deadlines come in order (a shorter one walks
    // the list of every publish of the last MaxWait). The caller's own deadline below is the
    // one that counts.
    options.MaxWait = request.max_wait_ms;
    natsMsg* handed = message.release();
    const natsStatus status = js_PublishMsgAsync(jetstream_, &handed, &options);
    lock.lock();
    if (status != NATS_OK) {
        // Not sent: the message is still ours, and no PubAck will come for it.
        waiting_.erase(key);
        release_slot();
        lock.unlock();
        natsMsg_Destroy(handed);
        Outcome failed;
        failed.status = status;
        return failed;
    }
    // A PubAck later than this finds no waiter and only frees its slot.
    if (!waiter.answered.wait_until(lock, deadline, [&] { return waiter.done; })) {
        waiting_.erase(key);
        Outcome late;
        late.status = NATS_TIMEOUT;
        return late;
    }
    Outcome answered;
    static_cast<PublishOutcome&>(answered) = waiter.outcome;
    return answered;
}

void PubAckWindow::on_pub_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                              void* closure) {
    auto& window = *static_cast<PubAckWindow*>(closure);
    {
        const std::lock_guard lock(window.mutex_);
        window.release_slot();
        const auto found = window.waiting_.find(message);
        if (found != window.waiting_.end()) {
            Waiter& waiter = *found->second;
            if (ack != nullptr) {
                waiter.outcome.sequence = ack->Sequence;
                waiter.outcome.duplicate = ack->Duplicate;
            } else {
                waiter.outcome.status = error != nullptr ? error->Err : NATS_ERR;
                waiter.outcome.js_error = error != nullptr ? error->ErrCode : jsErrCode(0);
            }
            waiter.done = true;
            window.waiting_.erase(found);
            // Under the lock: once it sees `done` the caller returns and its waiter is gone.
            waiter.answered.notify_one();
        }
    }
    natsMsg_Destroy(message);
}

}  // namespace nomnom::api
