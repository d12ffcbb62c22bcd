#include "pipeline/prefetcher.hpp"

#include <spdlog/spdlog.h>

namespace nomnom::host {

Prefetcher::Prefetcher(PluginRunner& runner, const ConsumerSpec& spec,
                       std::array<InflightRecord*, 2> records)
    : runner_(runner), spec_(spec), records_(records), thread_([this] { run(); }) {}

Prefetcher::~Prefetcher() {
    thread_.join();
}

std::optional<BatchProcessor::Received> Prefetcher::next() {
    std::unique_lock lock(mutex_);
    worker_holds_batch_ = false;
    changed_.notify_all();
    changed_.wait(lock, [&] { return ready_.has_value() || done_; });
    std::optional<BatchProcessor::Received> batch = std::move(ready_);
    ready_.reset();
    worker_holds_batch_ = batch.has_value();
    changed_.notify_all();
    return batch;
}

namespace {

// How many messages the consumer had not delivered yet after this one, as the server said when
// it delivered it (messages waiting for redelivery are not counted).
uint64_t pending_after(natsMsg* message) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, message) != NATS_OK) return 0;
    const uint64_t pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
    return pending;
}

}  // namespace

void Prefetcher::run() {
    size_t taken_in = 0;
    bool more_waiting = false;
    const ConsumerSettings& settings = spec_.settings;
    while (true) {
        {
            // Batch k + 2 uses the record of batch k: it is fetched only once the worker took
            // batch k + 1, which it does after settling batch k.
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [&] { return !ready_.has_value(); });
            // Ahead of a busy worker, only a backlog is fetched: a fetch finding nothing waits
            // on the server, and would take what arrives meanwhile in batches of one, or hand a
            // plugin that goes FATAL one more batch.
            if (!more_waiting) changed_.wait(lock, [&] { return !worker_holds_batch_; });
        }
        if (runner_.stopping() || runner_.fatal()) break;
        std::vector<NatsMsgPtr> messages;
        try {
            if (!subscription_) {
                subscription_ = std::make_unique<PullSubscription>(runner_.nats(), spec_);
            }
            messages = subscription_->fetch(static_cast<int>(settings.batch_size),
                                            settings.fetch_max_bytes, settings.max_wait_ms);
            more_waiting = !messages.empty() && pending_after(messages.back().get()) > 0;
            if (messages.empty()) continue;
            BatchProcessor::Received batch =
                BatchProcessor::receive(runner_, spec_, messages, *records_[taken_in % 2]);
            ++taken_in;
            const std::lock_guard lock(mutex_);
            ready_ = std::move(batch);
            changed_.notify_all();
        } catch (const std::exception& e) {
            // What was not taken in yet goes back at once rather than after ack_wait.
            for (NatsMsgPtr& message : messages) {
                if (!message) continue;
                ++runner_.metrics().retried;
                natsMsg_NakWithDelay(message.get(), settings.retry_delay_ms(1), nullptr);
            }
            LogFields fields = runner_.log_fields();
            fields.consumer = spec_.durable;
            const LogScope scope(fields);
            spdlog::warn("{}; retrying", e.what());
            runner_.metrics().last_error.record(spec_.durable + ": " + e.what());
            {
                // The worker acks through the subscription its batch came from.
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [&] { return !worker_holds_batch_; });
            }
            subscription_.reset();
            runner_.pause(1000);
        }
    }
    const std::lock_guard lock(mutex_);
    done_ = true;
    changed_.notify_all();
}

}  // namespace nomnom::host
