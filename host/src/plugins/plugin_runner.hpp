#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
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
#include "plugins/plugin_instance.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// Everything one plugin needs at run time: its instances, its durable consumers and the worker
// threads that loop fetch -> parse -> write -> commit -> ack.
class PluginRunner {
  public:
    // `state_dir` holds the workers' in-flight records (plugins.state_dir).
    PluginRunner(std::shared_ptr<PluginLibrary> library, PluginSettings settings,
                 Database& database, NatsClient& nats, DeadLetterSink& dead_letters,
                 std::string stream, PluginMetrics& metrics, StatusRecorder* status,
                 std::filesystem::path state_dir);
    ~PluginRunner();

    // Creates tables, instances and consumers, deals with what crashed workers of this plugin
    // left (see recover_crashed_workers), then starts the workers. Throws (PluginRefused,
    // DbError, NatsError) with the reason when the plugin cannot run; nothing is left running.
    void start(bool auto_migrate);
    // Workers finish the batch in hand (commit, ack) and stop fetching.
    void request_stop();
    void join();

    const std::string& name() const { return name_; }
    // Log fields naming this plugin (they view the runner's name).
    LogFields log_fields() const {
        LogFields fields;
        fields.plugin = name_;
        return fields;
    }
    const PluginLibrary& library() const { return *library_; }
    const PluginSettings& settings() const { return settings_; }
    Database& database() { return database_; }
    NatsClient& nats() { return nats_; }
    DeadLetterSink& dead_letters() { return dead_letters_; }
    PluginMetrics& metrics() { return metrics_; }
    // Where message statuses go; nullptr when status recording is off.
    StatusRecorder* status_recorder() { return status_; }
    // What the recovery concluded about messages a dead worker held.
    const CrashVerdicts& crash_verdicts() const { return verdicts_; }
    // The durable consumers this runner reads, for the lag gauges.
    const std::vector<ConsumerSpec>& consumers() const { return consumers_; }

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
    void worker_loop(const ConsumerSpec& spec, PluginInstance& instance, InflightRecord& record);

    std::shared_ptr<PluginLibrary> library_;
    PluginSettings settings_;
    Database& database_;
    NatsClient& nats_;
    DeadLetterSink& dead_letters_;
    PluginMetrics& metrics_;
    StatusRecorder* status_;
    std::string stream_;
    std::string name_;
    std::vector<ConsumerSpec> consumers_;
    std::filesystem::path state_dir_;
    CrashVerdicts verdicts_;
    std::vector<std::unique_ptr<PluginInstance>> instances_;
    std::vector<std::unique_ptr<InflightRecord>> records_;  // one per worker
    std::vector<std::thread> workers_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> fatal_{false};
    std::atomic<bool> database_unreachable_{false};
    mutable std::mutex fatal_mutex_;
    std::string fatal_reason_;
};

}  // namespace nomnom::host
