#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dashboard/dashboard.hpp"
#include "db/database.hpp"
#include "nomnom/common/nats_client.hpp"
#include "nomnom/common/signal_waiter.hpp"
#include "ops/health_server.hpp"
#include "ops/host_state.hpp"
#include "ops/plugin_metrics.hpp"
#include "ops/progress_reporter.hpp"
#include "ops/status_recorder.hpp"
#include "pipeline/dead_letter.hpp"
#include "plugins/plugin_supervisor.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// The part a worker process plays (isolation = "process"): it runs one plugin file and tells
// its parent, one line each, "listening PORT" (its loopback /ready and /metrics), then "started"
// or "refused REASON".
struct WorkerChildRole {
    std::filesystem::path plugin;
    std::function<void(const std::string&)> report;
};

// nomnom-host: loads the plugins, connects NATS and the database, runs every plugin's workers
// until SIGTERM/SIGINT, then drains. SIGHUP (or a change in a watched plugins directory)
// reloads worker.toml and the plugins directory without stopping the others.
class Host {
  public:
    explicit Host(WorkerConfig config, std::optional<WorkerChildRole> child = std::nullopt);
    ~Host();

    // Returns the process exit code.
    int run(SignalWaiter& signals);

  private:
    bool connect(SignalWaiter& signals);
    // Re-reads worker.toml (keeping the settings that need a restart, with a warning) and
    // reconciles the plugins. A signal that arrives meanwhile stays pending and is handled
    // right after: none is lost. Files in `being_written` are skipped until closed.
    void reload(const std::string& cause, const std::set<std::string>& being_written);
    // The plugin files to run: the plugins directory's, or a worker process's one.
    std::optional<std::vector<std::filesystem::path>> plugin_files() const;
    HostState state() const;
    Readiness readiness() const;
    // The dashboard at / of the HTTP endpoint (not in a worker process, whose endpoint is its
    // parent's business only).
    std::shared_ptr<Dashboard> make_dashboard();
    std::string metrics() const;

    WorkerConfig config_;
    std::optional<WorkerChildRole> child_;
    // isolation = "process": read by the HTTP threads, so not from config_, which reloads replace.
    const bool isolated_;
    // Before the supervisor: workers update it until they are joined.
    MetricsRegistry metrics_;
    std::unique_ptr<Database> database_;
    std::unique_ptr<NatsClient> nats_;
    std::unique_ptr<JetStreamDeadLetterSink> dead_letters_;
    // With [status] enabled: records persisted/failed per ingested message, and wraps
    // dead_letters_ so that dead-lettered messages are recorded as failed.
    std::unique_ptr<StatusRecorder> status_;
    std::unique_ptr<StatusRecordingDeadLetterSink> recorded_dead_letters_;
    std::unique_ptr<PluginSupervisor> supervisor_;
    std::atomic<bool> started_{false};
    // Reads the supervisor and NATS: stopped before they go (its requests may outlive the
    // server that made them, hence shared with them).
    std::shared_ptr<Dashboard> dashboard_;
    std::unique_ptr<HealthServer> health_;
    ProgressReporter progress_;
    uint64_t reloads_ = 0;
};

// --check-config: validates the config, loads and creates every plugin, touches nothing in NATS
// or the database. Prints a report; returns the exit code.
int check_config(const WorkerConfig& config);

}  // namespace nomnom::host
