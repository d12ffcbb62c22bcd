#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ops/last_error.hpp"
#include "ops/progress_reporter.hpp"
#include "plugins/plugin_runner.hpp"
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

// One line of /ready per plugin file.
struct PluginStatus {
    std::string name;
    std::string state;
    bool healthy;
    bool waiting_for_database;
    // Of a running plugin, when something failed since the host started.
    std::optional<LastError::Entry> last_error;
};

// Keeps the running plugins in line with the plugins directory and worker.toml, at start and
// on every reload: starts new files, replaces changed ones (the new build is loaded and its
// create() tried first; only then is the old one drained: stop fetching, finish and settle the
// batch in hand, unload), stops removed or disabled ones, and restarts a plugin whose settings
// changed. A new version that cannot start leaves the old one running.
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
    // `label` starts the summary line logged at the end ("startup summary", "reload 3 summary").
    // Files named in `being_written` are left as they are until their writer closes them.
    Outcome reconcile(const WorkerConfig& config, const std::string& label,
                      const std::set<std::string>& being_written = {});

    std::vector<PluginStatus> statuses() const;
    // Each running plugin's consumers, read from JetStream now; none while NATS is down (each
    // request would only wait for its timeout).
    std::vector<PluginBacklog> backlogs() const;
    // Prometheus gauges read now: plugin up/down, the refused files and, while NATS is
    // connected, each durable consumer's pending and ack-pending counts from JetStream.
    void render_gauges(std::string& out) const;
    void stop_all();

  private:
    struct Running {
        std::filesystem::path file;
        std::shared_ptr<PluginLibrary> library;
        PluginSettings settings;
        // Shared with the published view; drained (stopped and joined) before it is dropped,
        // so a view that outlives it only reads its state.
        std::shared_ptr<PluginRunner> runner;
    };
    // What /ready and /metrics read: a copy of the running plugins and refusals, replaced
    // after every change, so that they never wait for a reconcile (which drains and starts
    // plugins, taking seconds).
    struct View {
        std::vector<std::shared_ptr<const PluginRunner>> runners;
        std::vector<std::pair<std::string, std::string>> refused;
    };

    // Starts a runner; throws with the reason.
    std::shared_ptr<PluginRunner> launch(const std::shared_ptr<PluginLibrary>& library,
                                         const PluginSettings& settings, bool auto_migrate);
    // Stops `running`'s workers once they have settled the batch in hand.
    static void drain(Running& running);
    void publish_view();
    View view() const;
    // Drains `current` and runs `library` with `settings` in its place; on failure restarts the
    // previous version. Returns false when the new version could not start.
    bool replace(Running& current, std::shared_ptr<PluginLibrary> library,
                 const PluginSettings& settings, bool auto_migrate);
    std::vector<PluginClaim> claims_except(const std::filesystem::path& file) const;

    Database& database_;
    NatsClient& nats_;
    DeadLetterSink& dead_letters_;
    std::string stream_;
    MetricsRegistry& metrics_;
    StatusRecorder* status_;
    std::filesystem::path state_dir_;
    std::mutex changes_mutex_;  // serializes reconcile() and stop_all(), which own running_
    std::vector<Running> running_;
    std::vector<std::pair<std::string, std::string>> refused_;  // file name, reason
    mutable std::mutex view_mutex_;  // held only to copy or replace view_
    View view_;
};

}  // namespace nomnom::host
