#pragma once

#include <array>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "db/database.hpp"
#include "isolation/crash_verdicts.hpp"
#include "isolation/inflight_record.hpp"
#include "nomnom/common/logging.hpp"
#include "ops/plugin_metrics.hpp"
#include "ops/status_recorder.hpp"
#include "pipeline/dead_letter.hpp"
#include "pipeline/jetstream_consumer.hpp"
#include "pipeline/keep_alive.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_workers.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// Everything one plugin needs at run time in this process: its instances, its durable consumers
// and the worker threads that loop fetch -> parse -> write -> commit -> ack.
class PluginRunner final : public PluginWorkers {
  public:
    // `state_dir` holds the workers' in-flight records (plugins.state_dir); a call into the
    // plugin running past `parse_timeout_ms` (0: never) makes the plugin unhealthy.
    // `outputs` says where published tables go.
    PluginRunner(std::shared_ptr<PluginLibrary> library, PluginSettings settings,
                 Database& database, NatsClient& nats, DeadLetterSink& dead_letters,
                 std::string stream, OutputsConfig outputs, PluginMetrics& metrics,
                 StatusRecorder* status, std::filesystem::path state_dir, int64_t parse_timeout_ms);
    ~PluginRunner() override;

    // Also deals with what crashed workers of this plugin left (see recover_crashed_workers)
    // before the workers start.
    void start(bool auto_migrate) override;
    void request_stop() override;
    bool join(Clock::time_point deadline) override;
    PluginStatus status() const override;
    void update(const WorkerConfig& config) override;
    // A call past parse_timeout_ms is recorded as the timeout that ends the process.
    void abandon() override;

    const std::string& name() const override { return name_; }
    // Log fields naming this plugin (they view the runner's name).
    LogFields log_fields() const {
        LogFields fields;
        fields.plugin = name_;
        return fields;
    }
    const PluginLibrary& library() const override { return *library_; }
    const PluginSettings& settings() const { return settings_; }
    Database& database() { return database_; }
    NatsClient& nats() { return nats_; }
    DeadLetterSink& dead_letters() { return dead_letters_; }
    PluginMetrics& metrics() { return metrics_; }
    // Where message statuses go; nullptr when status recording is off.
    StatusRecorder* status_recorder() { return status_; }
    // Where each table's rows go (the descriptor's outputs with worker.toml's over them).
    const TableOutputs& table_outputs() const { return table_outputs_; }
    // The tables whose rows carry their message's sequence (the newest message wins).
    const std::set<std::string>& sequenced_tables() const { return sequenced_tables_; }
    // What the recovery concluded about messages a dead worker held.
    const CrashVerdicts& crash_verdicts() const { return verdicts_; }
    // Keeps the workers' batches in progress on the server.
    KeepAlive& keep_alive() { return keep_alive_; }
    const std::vector<ConsumerSpec>& consumers() const override { return consumers_; }

    bool stopping() const { return stop_.load(std::memory_order_relaxed); }
    // Sleeps up to `milliseconds`, returning early when the runner is asked to stop.
    void pause(int64_t milliseconds) const;
    // A FATAL from the plugin: its consumers stop, the rest of the host keeps running.
    void mark_fatal(const std::string& reason);
    bool fatal() const { return fatal_.load(); }
    std::string fatal_reason() const;
    // Set while a worker holds a batch because the database does not answer.
    void set_database_unreachable(bool unreachable) { database_unreachable_.store(unreachable); }
    bool database_unreachable() const { return database_unreachable_.load(); }

  private:
    void join_all();
    // Says when the outputs stream's duplicate window is shorter than a message's redeliveries.
    void warn_when_window_is_short();
    // `records`: the worker's two in-flight records (see Prefetcher).
    void worker_loop(const ConsumerSpec& spec, PluginInstance& instance,
                     std::array<InflightRecord*, 2> records);

    std::shared_ptr<PluginLibrary> library_;
    PluginSettings settings_;
    Database& database_;
    NatsClient& nats_;
    DeadLetterSink& dead_letters_;
    PluginMetrics& metrics_;
    StatusRecorder* status_;
    std::string stream_;
    OutputsConfig outputs_;
    TableOutputs table_outputs_;
    std::string name_;
    std::vector<ConsumerSpec> consumers_;
    std::filesystem::path state_dir_;
    std::atomic<int64_t> parse_timeout_ms_;
    CrashVerdicts verdicts_;
    KeepAlive keep_alive_{[this] { return nats_.connected(); }};
    std::set<std::string> sequenced_tables_;
    std::vector<std::unique_ptr<PluginInstance>> instances_;
    std::vector<std::unique_ptr<InflightRecord>> records_;  // two per worker
    std::vector<std::thread> workers_;
    std::atomic<size_t> finished_{0};  // workers whose loop has returned
    std::atomic<bool> stop_{false};
    std::atomic<bool> fatal_{false};
    std::atomic<bool> database_unreachable_{false};
    mutable std::mutex fatal_mutex_;
    std::string fatal_reason_;
};

}  // namespace nomnom::host
