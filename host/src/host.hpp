#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <vector>

#include "config.hpp"
#include "database.hpp"
#include "dead_letter.hpp"
#include "health_server.hpp"
#include "metrics.hpp"
#include "nats_client.hpp"
#include "plugin_supervisor.hpp"
#include "progress_reporter.hpp"
#include "status_recorder.hpp"

namespace nomnom {

// SIGINT/SIGTERM/SIGHUP through a self-pipe: the handler (on whatever thread the kernel picks)
// only writes the signal number, and the main thread reads it and does the work. Signal masks
// cannot be relied on, since libraries reset them on the threads they create.
class SignalWaiter {
  public:
    SignalWaiter();
    ~SignalWaiter();
    SignalWaiter(const SignalWaiter&) = delete;
    SignalWaiter& operator=(const SignalWaiter&) = delete;

    // The signal received within `timeout_ms`, or 0. SIGTERM/SIGINT win over SIGHUP; several
    // SIGHUPs already received count as one (one reload covers them all), and a SIGHUP that
    // arrives during a reload is returned by the next call.
    int wait(int64_t timeout_ms);
    // After failed startup attempt `attempt` (from 1): logs `error` and waits the back-off
    // (0.5 s doubling up to 5 s). False when SIGTERM/SIGINT arrived meanwhile: give up.
    bool wait_to_retry(int attempt, const std::string& error);
};

// nomnom-host: loads the plugins, connects NATS and the database, runs every plugin's workers
// until SIGTERM/SIGINT, then drains. SIGHUP (or a change in a watched plugins directory)
// reloads worker.toml and the plugins directory without stopping the others.
class Host {
  public:
    explicit Host(WorkerConfig config);
    ~Host();

    // Returns the process exit code.
    int run(SignalWaiter& signals);

  private:
    bool connect(SignalWaiter& signals);
    // Re-reads worker.toml (keeping the settings that need a restart, with a warning) and
    // reconciles the plugins. A signal that arrives meanwhile stays pending and is handled
    // right after: none is lost. Files in `being_written` are skipped until closed.
    void reload(const std::string& cause, const std::set<std::string>& being_written);
    Readiness readiness() const;
    std::string metrics() const;

    WorkerConfig config_;
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
    std::unique_ptr<HealthServer> health_;
    ProgressReporter progress_;
    uint64_t reloads_ = 0;
};

// --check-config: validates the config, loads and creates every plugin, touches nothing in NATS
// or the database. Prints a report; returns the exit code.
int check_config(const WorkerConfig& config);

}  // namespace nomnom
