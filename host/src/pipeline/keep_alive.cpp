#include "pipeline/keep_alive.hpp"

namespace nomnom::host {

namespace {

// How often the keeper looks for a batch due: well below the shortest interval (ack_wait is at
// least 1 s, so a third of it 333 ms).
constexpr std::chrono::milliseconds kTick(100);

}  // namespace

KeepAlive::KeepAlive(std::function<bool()> connected)
    : connected_(std::move(connected)), thread_([this] { run(); }) {}

KeepAlive::~KeepAlive() {
    stop();
    thread_.join();
}

void KeepAlive::stop() {
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    wake_.notify_all();
}

void KeepAlive::run() {
    std::unique_lock lock(mutex_);
    while (!stopped_) {
        wake_.wait_for(lock, kTick);
        if (stopped_) break;
        if (!connected_()) continue;
        const auto now = std::chrono::steady_clock::now();
        for (Batch& batch : batches_) {
            if (now < batch.next) continue;
            // A failure (NATS reconnecting) is not fatal: the next tick tries again, and at
            // worst JetStream redelivers a message the worker is still writing (upserts are
            // idempotent).
            for (natsMsg* message : batch.messages) {
                if (message != nullptr) natsMsg_InProgress(message, nullptr);
            }
            batch.next = now + batch.interval;
        }
    }
}

KeepAlive::Hold::Hold(KeepAlive& keeper, std::vector<natsMsg*> messages,
                      std::chrono::milliseconds ack_wait)
    : keeper_(keeper) {
    // A third of ack_wait leaves two chances before the server gives up on the delivery.
    const auto interval = ack_wait / 3;
    std::lock_guard lock(keeper_.mutex_);
    batch_ = keeper_.batches_.insert(
        keeper_.batches_.end(),
        Batch{std::move(messages), interval, std::chrono::steady_clock::now() + interval});
}

KeepAlive::Hold::~Hold() {
    std::lock_guard lock(keeper_.mutex_);
    keeper_.batches_.erase(batch_);
}

void KeepAlive::Hold::release(size_t index) {
    std::lock_guard lock(keeper_.mutex_);
    batch_->messages[index] = nullptr;
}

}  // namespace nomnom::host
