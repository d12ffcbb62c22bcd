#include "plugins/plugin_runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "db/plugin_db_api.hpp"
#include "isolation/crash_recovery.hpp"
#include "pipeline/batch_processor.hpp"
#include "pipeline/entity_publisher.hpp"
#include "pipeline/prefetcher.hpp"

namespace nomnom::host {
namespace {

// Where a plugin publishes: a redelivered message publishes nothing twice only within the
// outputs stream's duplicate window, which the host creates this long.
constexpr StreamLimits kOutputsStreamLimits{
    .max_age_s = 0, .max_bytes = -1, .duplicate_window_s = 900};

// How long after its first delivery a message may still be redelivered: every delivery may wait
// out ack_wait, every nak its back-off (+20% jitter). nullopt: max_deliver = -1, no bound.
std::optional<int64_t> redelivery_span_s(const ConsumerSettings& consumer) {
    if (consumer.max_deliver < 0) return std::nullopt;
    double span_ms = 0;
    for (int64_t delivery = 1; delivery < consumer.max_deliver; ++delivery) {
        const size_t step =
            std::min(static_cast<size_t>(delivery - 1), consumer.backoff_ms.size() - 1);
        span_ms += static_cast<double>(consumer.ack_wait_ms) +
                   1.2 * static_cast<double>(consumer.backoff_ms[step]);
    }
    return static_cast<int64_t>(std::ceil(span_ms / 1000));
}

}  // namespace

PluginRunner::PluginRunner(std::shared_ptr<PluginLibrary> library, PluginSettings settings,
                           Database& database, NatsClient& nats, DeadLetterSink& dead_letters,
                           std::string stream, OutputsConfig outputs, PluginMetrics& metrics,
                           StatusRecorder* status, std::filesystem::path state_dir,
                           int64_t parse_timeout_ms)
    : library_(std::move(library)),
      settings_(std::move(settings)),
      database_(database),
      nats_(nats),
      dead_letters_(dead_letters),
      metrics_(metrics),
      status_(status),
      stream_(std::move(stream)),
      outputs_(std::move(outputs)),
      name_(library_->name()),
      state_dir_(std::move(state_dir)),
      parse_timeout_ms_(parse_timeout_ms) {}

PluginRunner::~PluginRunner() {
    request_stop();
    join_all();
}

void PluginRunner::start(bool auto_migrate) {
    const nomnom_plugin_descriptor& descriptor = library_->descriptor();
    table_outputs_ = resolve_outputs(descriptor, settings_.outputs, name_);
    if (publishes_any(table_outputs_)) {
        nats_.prepare_stream(outputs_.stream, kOutputsStreamLimits);
        warn_when_window_is_short();
        std::string published;
        for (uint32_t t = 0; t < descriptor.table_count; ++t) {
            if (!table_outputs_[t].publish) continue;
            published += (published.empty() ? "" : ", ") + outputs_.subject_prefix + "." +
                         descriptor.tables[t].name +
                         (table_outputs_[t].store ? " (also stored)" : "");
        }
        const LogScope scope(log_fields());
        spdlog::info("publishing rows to {} (stream {})", published, outputs_.stream.name);
    }
    sequenced_tables_ = database_.prepare_tables(descriptor, table_outputs_, auto_migrate);

    const ConsumerSettings& consumer = settings_.consumer;
    const std::vector<std::string> subjects =
        consumer.subjects.empty() ? library_->subjects() : consumer.subjects;
    const int64_t max_payload = natsConnection_GetMaxPayload(nats_.connection());
    if (fetch_byte_bound(consumer.fetch_max_bytes, max_payload) > consumer.fetch_max_bytes) {
        const LogScope scope(log_fields());
        spdlog::warn(
            "fetch_max_bytes = {} is below what the NATS server's largest message takes "
            "(max_payload {} bytes): fetches take up to {} bytes",
            consumer.fetch_max_bytes, max_payload,
            fetch_byte_bound(consumer.fetch_max_bytes, max_payload));
    }
    if (consumer.max_ack_pending < 2 * consumer.workers * consumer.batch_size) {
        const LogScope scope(log_fields());
        spdlog::warn(
            "max_ack_pending = {} is below 2 x workers x batch_size = {} (a worker holds its "
            "batch and the next one, fetched ahead): batches come in smaller and workers wait "
            "for acks; raise max_ack_pending (nats consumer edit on an existing consumer)",
            consumer.max_ack_pending, 2 * consumer.workers * consumer.batch_size);
    }
    consumers_ = ensure_plugin_consumers(nats_, stream_, name_, subjects, consumer);

    try {
        recover_crashed_workers(state_dir_, {name_, library_->version(), consumer.format}, nats_,
                                dead_letters_, verdicts_);
    } catch (const std::exception& e) {
        // What was concluded is in verdicts_ already; the records stay for the next start.
        const LogScope scope(log_fields());
        spdlog::error("recovering crashed workers' messages: {}", e.what());
    }
    const size_t worker_count = consumers_.size() * static_cast<size_t>(consumer.workers);
    // Two per worker: the batch in process and the next one (see Prefetcher).
    for (size_t r = 0; r < 2 * worker_count; ++r) {
        records_.push_back(
            InflightRecord::claim(state_dir_, name_, static_cast<size_t>(consumer.batch_size)));
    }
    const size_t instance_count =
        descriptor.threading == NOMNOM_THREADING_SHARED_INSTANCE ? 1 : worker_count;
    for (size_t i = 0; i < instance_count; ++i) {
        instances_.push_back(
            std::make_unique<PluginInstance>(library_, settings_.config_json, host_api()));
    }
    for (size_t w = 0; w < worker_count; ++w) {
        const ConsumerSpec& spec = consumers_[w % consumers_.size()];
        PluginInstance& instance = *instances_[instance_count == 1 ? 0 : w];
        const std::array<InflightRecord*, 2> records{records_[2 * w].get(),
                                                     records_[2 * w + 1].get()};
        workers_.emplace_back([this, &spec, &instance, records] {
            worker_loop(spec, instance, records);
            finished_.fetch_add(1);
        });
    }
}

void PluginRunner::warn_when_window_is_short() {
    const std::optional<int64_t> window = nats_.stream_duplicate_window_s(outputs_.stream.name);
    if (!window) return;
    const std::optional<int64_t> span = redelivery_span_s(settings_.consumer);
    const LogScope scope(log_fields());
    if (!span) {
        spdlog::warn(
            "max_deliver = -1: a message redelivered more than {} s (the duplicate window of "
            "stream {}) after its first delivery publishes its rows again",
            *window, outputs_.stream.name);
    } else if (*span > *window) {
        spdlog::warn(
            "stream {} drops a row published again within {} s, but a message may be "
            "redelivered up to {} s after its first delivery (ack_wait_ms, backoff_ms, "
            "max_deliver): raise [outputs.stream] duplicate_window_s (nats stream edit on an "
            "existing stream) or rows may be published twice",
            outputs_.stream.name, *window, *span);
    }
}

void PluginRunner::request_stop() {
    stop_.store(true);
}

void PluginRunner::join_all() {
    for (auto& worker : workers_) {
        if (worker.joinable()) worker.join();
    }
    workers_.clear();
    instances_.clear();
}

bool PluginRunner::join(Clock::time_point deadline) {
    // A thread stuck in a plugin call cannot be joined, nor stopped: the caller leaks it.
    while (finished_.load() < workers_.size()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    join_all();
    return true;
}

void PluginRunner::update(const WorkerConfig& config) {
    parse_timeout_ms_.store(config.isolation.parse_timeout_ms);
}

void PluginRunner::abandon() {
    // What the hung workers hold goes to whoever runs next, after the server's ack_wait.
    keep_alive_.stop();
    const int64_t limit = parse_timeout_ms_.load();
    if (limit <= 0) return;
    for (const auto& record : records_) record->mark_stuck_calls(limit);
}

PluginStatus PluginRunner::status() const {
    PluginStatus status{name_, "running", true, false, metrics_.last_error.get()};
    if (fatal()) {
        status.state = "fatal: " + fatal_reason();
        status.healthy = false;
        return status;
    }
    int64_t longest_ms = 0;
    for (const auto& record : records_) {
        longest_ms = std::max(longest_ms, record->call_elapsed_ms().value_or(0));
    }
    const int64_t limit = parse_timeout_ms_.load();
    if (limit > 0 && longest_ms > limit) {
        // Unisolated, a hung call cannot be interrupted: the host says so, so that an
        // orchestrator restarts it (the restart then sets the message aside).
        status.state = "stuck: a call into the plugin has not returned for " +
                       std::to_string(longest_ms / 1000) +
                       " s (parse_timeout_ms = " + std::to_string(limit) +
                       "; isolation = \"thread\")";
        status.healthy = false;
        return status;
    }
    if (database_unreachable()) {
        status.state = "waiting for the database";
        status.waiting_for_database = true;
    }
    return status;
}

std::string PluginRunner::fatal_reason() const {
    std::lock_guard lock(fatal_mutex_);
    return fatal_reason_;
}

void PluginRunner::mark_fatal(const std::string& reason) {
    {
        std::lock_guard lock(fatal_mutex_);
        if (fatal_reason_.empty()) fatal_reason_ = reason;
    }
    if (!fatal_.exchange(true)) {
        metrics_.last_error.record("FATAL: " + reason);
        const LogScope scope(log_fields());
        spdlog::error(
            "FATAL: {}; its consumers stop, in-flight messages are returned to JetStream, other "
            "plugins keep running",
            reason);
    }
}

void PluginRunner::pause(int64_t milliseconds) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds);
    while (!stopping() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void PluginRunner::worker_loop(const ConsumerSpec& spec, PluginInstance& instance,
                               std::array<InflightRecord*, 2> records) {
    std::optional<EntityPublisher> publisher;
    if (publishes_any(table_outputs_)) publisher.emplace(nats_, outputs_, name_);
    BatchProcessor processor(*this, instance, publisher ? &*publisher : nullptr);
    Prefetcher prefetcher(*this, spec, records);
    while (std::optional<BatchProcessor::Received> batch = prefetcher.next()) {
        processor.process(std::move(*batch));
    }
}

}  // namespace nomnom::host
