#include "pub_ack_window.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace nomnom::api {

PubAckWindow::PubAckWindow(NatsClient& nats, int64_t max_pending)
    : nats_(nats), max_pending_(max_pending) {
    jsOptions options;
    jsOptions_Init(&options);
    // The window is kept here, not by cnats' MaxPending, so that waiting for room counts
    // against the same deadline as waiting for the PubAck.
    options.PublishAsync.AckHandler = &PubAckWindow::on_pub_ack;
    options.PublishAsync.AckHandlerClosure = this;
    check_nats(natsConnection_JetStream(&jetstream_, nats.connection(), &options),
               "creating the JetStream context for asynchronous publishes");
    answerer_ = std::thread([this] { answer_when_due(); });
}

PubAckWindow::~PubAckWindow() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    answers_due_changed_.notify_one();
    answerer_.join();
    std::vector<std::function<void()>> unanswered;
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
        // Destroyed below, outside the lock: they hold their Pending, which holds its waiter.
        for (auto& [message, waiter] : waiting_) {
            if (waiter->on_answer) unanswered.push_back(std::move(waiter->on_answer));
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

std::shared_ptr<PubAckWindow::Waiter> PubAckWindow::unlist(Waiter& waiter) {
    if (waiter.on_answer) answers_due_.erase(waiter.due_at);
    std::shared_ptr<Waiter> kept = std::move(waiting_.at(waiter.message));
    waiting_.erase(waiter.message);
    return kept;
}

void PubAckWindow::give(const std::function<void()>& on_answer) {
    try {
        on_answer();
    } catch (const std::exception& e) {
        spdlog::error("answering a request after its PubAck: {}", e.what());
    }
}

void PubAckWindow::answer_when_due() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (answers_due_.empty()) {
            answers_due_changed_.wait(lock);
            continue;
        }
        const auto due = answers_due_.begin()->first;
        if (std::chrono::steady_clock::now() < due) {
            answers_due_changed_.wait_until(lock, due);
            continue;
        }
        Waiter& waiter = *answers_due_.begin()->second;
        // Its PubAck, if it comes after all, finds no waiter and only frees its slot.
        std::shared_ptr<Waiter> kept = unlist(waiter);
        waiter.done = true;
        waiter.outcome.status = NATS_TIMEOUT;
        waiter.outcome.answered_at = std::chrono::steady_clock::now();
        std::function<void()> on_answer = std::move(waiter.on_answer);
        lock.unlock();
        give(on_answer);
        // Dropped before the lock is taken again: the last copy of an answer may hold the
        // request's Pending, whose destructor takes it.
        on_answer = nullptr;
        kept.reset();
        lock.lock();
    }
}

PubAckWindow::Pending PubAckWindow::send(NatsMsgPtr message, const PublishRequest& request,
                                         Followed followed) {
    using Clock = std::chrono::steady_clock;
    auto waiter = std::make_shared<Waiter>();
    waiter->deadline = Clock::now() + std::chrono::milliseconds(request.max_wait_ms);
    std::unique_lock lock(mutex_);
    if (!room_.wait_until(lock, waiter->deadline, [&] { return pending_ < max_pending_; })) {
        waiter->done = true;
        waiter->outcome.status = NATS_TIMEOUT;
        waiter->outcome.window_full = true;
        waiter->outcome.answered_at = Clock::now();
        return {*this, std::move(waiter)};
    }
    if (pending_ == 0 && followed == Followed::No) {
        // Alone: nothing to gather, and a synchronous publish is written at once, awaited
        // until the deadline a wait for room has brought nearer.
        ++pending_;
        lock.unlock();
        PublishRequest alone = request;
        alone.max_wait_ms = std::max<int64_t>(
            1,
            std::chrono::duration_cast<std::chrono::milliseconds>(waiter->deadline - Clock::now())
                .count());
        static_cast<PublishOutcome&>(waiter->outcome) =
            nats_.publish_awaiting_ack(message.get(), alone);
        lock.lock();
        release_slot();
        waiter->done = true;
        waiter->outcome.sent = waiter->outcome.status != NATS_MAX_PAYLOAD;
        waiter->outcome.answered_at = Clock::now();
        return {*this, std::move(waiter)};
    }
    // Registered first: the PubAck may arrive before js_PublishMsgAsync returns.
    waiter->message = message.get();
    waiting_.emplace(waiter->message, waiter);
    ++pending_;
    waiter->outcome.sent = true;
    lock.unlock();

    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = request.msg_id;
    options.ExpectStream = request.expect_stream;
    // The same MaxWait for every publish: cnats keeps its timeouts in a list sorted by
    // deadline, appended to in O(1) only while deadlines come in order (a shorter one walks
    // the list of every publish of the last MaxWait). The waiter's own deadline is the one
    // that counts.
    options.MaxWait = request.max_wait_ms;
    natsMsg* handed = message.release();
    const natsStatus status = js_PublishMsgAsync(jetstream_, &handed, &options);
    if (status != NATS_OK) {
        // Not sent: the message is still ours, and no PubAck will come for it.
        lock.lock();
        waiting_.erase(waiter->message);
        release_slot();
        waiter->done = true;
        waiter->outcome.sent = false;
        waiter->outcome.status = status;
        waiter->outcome.answered_at = Clock::now();
        lock.unlock();
        natsMsg_Destroy(handed);
    }
    return {*this, std::move(waiter)};
}

PubAckWindow::Outcome PubAckWindow::Pending::wait() {
    Waiter& waiter = *waiter_;
    std::unique_lock lock(window_->mutex_);
    // A PubAck later than this finds no waiter and only frees its slot.
    if (!waiter.answered.wait_until(lock, waiter.deadline, [&] { return waiter.done; })) {
        window_->unlist(waiter);
        waiter.done = true;
        waiter.outcome.status = NATS_TIMEOUT;
    }
    return waiter.outcome;
}

bool PubAckWindow::Pending::on_answer(std::function<void()> answered) {
    {
        const std::lock_guard lock(window_->mutex_);
        if (waiter_->done) return false;
        waiter_->on_answer = std::move(answered);
        waiter_->due_at = window_->answers_due_.emplace(waiter_->deadline, waiter_.get());
        if (waiter_->due_at != window_->answers_due_.begin()) return true;
    }
    window_->answers_due_changed_.notify_one();
    return true;
}

std::optional<PubAckWindow::Outcome> PubAckWindow::Pending::refused() const {
    const std::lock_guard lock(window_->mutex_);
    if (waiter_->done && !waiter_->outcome.sent) return waiter_->outcome;
    return std::nullopt;
}

PubAckWindow::Pending& PubAckWindow::Pending::operator=(Pending&& other) noexcept {
    if (this != &other) {
        forget();
        window_ = other.window_;
        waiter_ = std::move(other.waiter_);
    }
    return *this;
}

void PubAckWindow::Pending::forget() {
    if (!waiter_) return;  // moved from
    const std::lock_guard lock(window_->mutex_);
    if (!waiter_->done) window_->unlist(*waiter_);
    waiter_.reset();
}

void PubAckWindow::on_pub_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                              void* closure) {
    auto& window = *static_cast<PubAckWindow*>(closure);
    std::shared_ptr<Waiter> answered;
    std::function<void()> on_answer;
    {
        const std::lock_guard lock(window.mutex_);
        window.release_slot();
        const auto found = window.waiting_.find(message);
        if (found != window.waiting_.end()) {
            answered = window.unlist(*found->second);
            Waiter& waiter = *answered;
            if (ack != nullptr) {
                waiter.outcome.sequence = ack->Sequence;
                waiter.outcome.duplicate = ack->Duplicate;
            } else {
                waiter.outcome.status = error != nullptr ? error->Err : NATS_ERR;
                waiter.outcome.js_error = error != nullptr ? error->ErrCode : jsErrCode(0);
            }
            waiter.done = true;
            waiter.outcome.answered_at = std::chrono::steady_clock::now();
            on_answer = std::move(waiter.on_answer);
        }
    }
    // Outside the lock, on a waiter kept alive here even if its caller has returned meanwhile.
    if (on_answer) {
        give(on_answer);
    } else if (answered) {
        answered->answered.notify_one();
    }
    natsMsg_Destroy(message);
}

}  // namespace nomnom::api
