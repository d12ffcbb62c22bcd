#include "ops/status_recorder.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/json_escape.hpp"
#include "nomnom/common/prometheus.hpp"
#include "nomnom/common/status_store.hpp"
#include "nomnom/common/timestamp.hpp"

namespace nomnom::host {
namespace {

// A batch is written once this many statuses are queued, or every flush_ms.
constexpr size_t kBatchSize = 1000;

const std::string* ingest_id(const IncomingMessage& message) {
    for (size_t i = 0; i + 1 < message.header_storage.size(); i += 2) {
        if (message.header_storage[i] == kIngestIdHeader) return &message.header_storage[i + 1];
    }
    return nullptr;
}

}  // namespace

StatusRecorder::StatusRecorder(NatsClient& nats, StatusConfig config)
    : config_(std::move(config)), nats_(nats) {
    StatusStore bucket(nats, config_);
    writer_ = std::thread([this] { run(); });
}

StatusRecorder::~StatusRecorder() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    writer_.join();
}

void StatusRecorder::persisted(const IncomingMessage& message, const std::string& plugin) {
    enqueue(message, "\"status\":\"persisted\",\"plugin\":\"" + json_escape(plugin) +
                         "\",\"subject\":\"" + json_escape(message.subject) +
                         "\",\"stream_seq\":" + std::to_string(message.stream_sequence));
}

void StatusRecorder::failed(const IncomingMessage& message, const DeadLetter& letter) {
    enqueue(message, "\"status\":\"failed\",\"plugin\":\"" + json_escape(letter.plugin) +
                         "\",\"error_class\":\"" + dead_letter_class_name(letter.kind) +
                         "\",\"reason\":\"" + json_escape(letter.reason) + "\",\"subject\":\"" +
                         json_escape(message.subject) +
                         "\",\"stream_seq\":" + std::to_string(message.stream_sequence));
}

void StatusRecorder::enqueue(const IncomingMessage& message, std::string fields) {
    const std::string* id = ingest_id(message);
    if (id == nullptr || !valid_message_id(*id)) return;
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= static_cast<size_t>(config_.max_pending)) {
            ++dropped_;
            return;
        }
        queue_.push_back({*id, std::move(fields)});
        if (queue_.size() < kBatchSize) return;
    }
    wake_.notify_one();
}

void StatusRecorder::run() {
    std::vector<Pending> batch;
    for (;;) {
        bool stopping = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::milliseconds(config_.flush_ms),
                           [this] { return stop_ || queue_.size() >= kBatchSize; });
            batch.swap(queue_);
            stopping = stop_;
        }
        if (!batch.empty()) write(batch);
        batch.clear();
        if (stopping) return;
    }
}

void StatusRecorder::write(std::vector<Pending>& batch) {
    const std::string time = "{\"time\":\"" + utc_timestamp_now() + "\",";
    // Every status but the last goes out as a plain publish, which JetStream stores without
    // answering: a PubAck per status would double the server's work per message. The last one
    // waits for its PubAck, which confirms the batch (the connection keeps order) and keeps the
    // writer from running ahead of the server.
    for (size_t i = 0; i < batch.size(); ++i) {
        const std::string value = time + batch[i].json_without_time + "}";
        const std::string subject = status_subject(config_.bucket, batch[i].key);
        natsStatus status = NATS_OK;
        if (i + 1 < batch.size()) {
            status = natsConnection_Publish(nats_.connection(), subject.c_str(), value.data(),
                                            static_cast<int>(value.size()));
        } else {
            jsPubOptions options;
            jsPubOptions_Init(&options);
            options.MaxWait = 5000;
            jsPubAck* ack = nullptr;
            status = js_Publish(&ack, nats_.jetstream(), subject.c_str(), value.data(),
                                static_cast<int>(value.size()), &options, nullptr);
            jsPubAck_Destroy(ack);
        }
        if (status != NATS_OK) {
            // None of the batch is confirmed.
            if (write_errors_.fetch_add(batch.size()) == 0) {
                spdlog::warn(
                    "status bucket {}: status writes failed ({}); further failures are only "
                    "counted (nomnom_status_write_errors_total)",
                    config_.bucket, natsStatus_GetText(status));
            }
            return;
        }
    }
    written_ += batch.size();
}

void StatusRecorder::render(std::string& out) const {
    prometheus_counter(out, "nomnom_status_written_total",
                       "Message statuses written to the status bucket", written_.load());
    prometheus_counter(out, "nomnom_status_dropped_total",
                       "Statuses dropped because the queue was full", dropped_.load());
    prometheus_counter(out, "nomnom_status_write_errors_total", "Status writes that failed",
                       write_errors_.load());
}

void StatusRecordingDeadLetterSink::dead_letter(const IncomingMessage& message,
                                                const DeadLetter& letter) {
    inner_.dead_letter(message, letter);
    recorder_.failed(message, letter);
}

}  // namespace nomnom::host
