#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "isolation/worker_process.hpp"
#include "ops/last_error.hpp"
#include "ops/progress_reporter.hpp"
#include "plugins/plugin_runner.hpp"
#include "plugins/plugin_workers.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// A plugin that holds a name and subjects; a candidate may claim neither again.
struct PluginClaim {
    std::string name;
    std::filesystem::path file;
    std::vector<std::string> subjects;
};

// Why `candidate` cannot run next to `others` (same name, or overlapping subjects), or "".
std::string claim_conflict(const PluginClaim& candidate, const std::vector<PluginClaim>& others);

// The subjects a plugin consumes under `settings`: the configured ones, else its own.
std::vector<std::string> effective_subjects(const PluginLibrary& library,
                                            const PluginSettings& settings);

// "name version (subjects [...], tables [...], host upsert|custom persist)", for logs and
// --check-config.
std::string describe(const PluginLibrary& library, const PluginSettings& settings);

// Keeps the running plugins in line with the plugins directory and worker.toml, at start and
// on every reload: starts new files, replaces changed ones (the new build is loaded and its
// create() tried first; only then is the old one drained: stop fetching, finish and settle the
// batch in hand, unload), stops removed or disabled ones, and restarts a plugin whose settings
// changed. A new version that cannot start leaves the old one running. With isolation =
// "process" each plugin runs in a worker process (WorkerProcess); with "thread", in this
// process (PluginRunner).
class PluginSupervisor {
  public:
    PluginSupervisor(Database& database, NatsClient& nats, DeadLetterSink& dead_letters,
                     std::string stream, MetricsRegistry& metrics, StatusRecorder* status,
                     std::filesystem::path state_dir);
    ~PluginSupervisor();

    struct Outcome {
        size_t running = 0;
        size_t refused = 0;
        size_t changed = 0;
    };
    // Runs the plugin `files` (the plugins directory, or the one plugin of a worker process).
    // `label` starts the summary line logged at the end ("startup summary", "reload 3 summary").
    // Files named in `being_written` are left as they are until their writer closes them. A
    // quarantined plugin is restarted.
    Outcome reconcile(const WorkerConfig& config, const std::vector<std::filesystem::path>& files,
                      const std::string& label, const std::set<std::string>& being_written = {});
    // From the host's loop: worker processes are restarted and held to their limits.
    void supervise();
    // The worker processes' own /metrics, for the host to merge.
    std::vector<std::string> worker_metrics() const;

    std::vector<PluginStatus> statuses() const;
    // Each running plugin's consumers, read from JetStream now; none while NATS is down (each
    // request would only wait for its timeout).
    std::vector<PluginBacklog> backlogs() const;
    // Prometheus gauges read now: plugin up/down, the refused files and, while NATS is
    // connected, each durable consumer's pending and ack-pending counts from JetStream.
    void render_gauges(std::string& out) const;
    // Drains every plugin; false when some thread is still inside a plugin call at `deadline`
    // (isolation = "thread": it cannot be interrupted, the process must exit without it).
    bool stop_all(PluginWorkers::Clock::time_point deadline);

  private:
    struct Running {
        std::filesystem::path file;
        std::shared_ptr<PluginLibrary> library;
        PluginSettings settings;
        // Shared with the published view; drained (stopped and joined) before it is dropped,
        // so a view that outlives it only reads its state.
        std::shared_ptr<PluginWorkers> runner;
    };
    // What /ready and /metrics read: a copy of the running plugins and refusals, replaced
    // after every change, so that they never wait for a reconcile (which drains and starts
    // plugins, taking seconds).
    // A plugin that could not start for a reason that passes (NATS or the database down):
    // supervise() tries again with back-off, no reload needed.
    struct Waiting {
        std::filesystem::path file;
        std::shared_ptr<PluginLibrary> library;
        PluginSettings settings;
        std::string reason;
        bool database = false;  // the database is what it waits for
        PluginWorkers::Clock::time_point retry_at;
        int64_t delay_ms = 0;
    };
    struct View {
        std::vector<std::shared_ptr<const PluginWorkers>> runners;
        std::vector<std::pair<std::string, std::string>> refused;
        std::vector<PluginStatus> waiting;
    };

    // Starts a plugin's workers; throws with the reason.
    std::shared_ptr<PluginWorkers> launch(const std::shared_ptr<PluginLibrary>& library,
                                          const PluginSettings& settings,
                                          const WorkerConfig& config);
    // Stops `running`'s workers once they have settled the batch in hand; a thread that does
    // not return from its plugin call within the shutdown timeout is abandoned.
    void drain(Running& running);
    void abandon(const std::shared_ptr<PluginWorkers>& runner);
    void publish_view();
    // Puts `file` in waiting_ after a start failure that passes; false for one that does not.
    bool wait_to_start(const std::filesystem::path& file,
                       const std::shared_ptr<PluginLibrary>& library,
                       const PluginSettings& settings, const std::exception& failure);
    // Its first retry is due in a second.
    void add_waiting(const std::filesystem::path& file,
                     const std::shared_ptr<PluginLibrary>& library, const PluginSettings& settings,
                     std::string reason, bool database);
    void retry_waiting();
    View view() const;
    // Drains `current` and runs `library` with `settings` in its place; on failure restarts the
    // previous version. Returns false when the new version could not start.
    bool replace(Running& current, std::shared_ptr<PluginLibrary> library,
                 const PluginSettings& settings, const WorkerConfig& config);
    WorkerProcessOptions worker_options(const WorkerConfig& config) const;
    std::vector<PluginClaim> claims_except(const std::filesystem::path& file) const;

    Database& database_;
    NatsClient& nats_;
    DeadLetterSink& dead_letters_;
    std::string stream_;
    MetricsRegistry& metrics_;
    StatusRecorder* status_;
    std::filesystem::path state_dir_;
    int64_t shutdown_timeout_ms_ = IsolationConfig{}.shutdown_timeout_ms;
    size_t abandoned_ = 0;      // runners left behind in a plugin call by a reload
    std::mutex changes_mutex_;  // serializes reconcile() and stop_all(), which own running_
    std::vector<Running> running_;
    std::vector<Waiting> waiting_;
    WorkerConfig config_;  // of the last reconcile: what a waiting plugin starts with
    std::vector<std::pair<std::string, std::string>> refused_;  // file name, reason
    mutable std::mutex view_mutex_;  // held only to copy or replace view_
    View view_;
};

}  // namespace nomnom::host
