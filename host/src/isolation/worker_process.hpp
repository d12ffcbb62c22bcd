#pragma once

#include <sys/types.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "isolation/inflight_record.hpp"
#include "nomnom/common/nats_client.hpp"
#include "ops/plugin_metrics.hpp"
#include "pipeline/dead_letter.hpp"
#include "plugins/plugin_workers.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// What a plugin's worker process is started with.
struct WorkerProcessOptions {
    std::string config_text;              // the parent's running configuration (TOML)
    std::filesystem::path config_source;  // worker.toml: relative paths resolve against it
    std::filesystem::path state_dir;      // where its workers keep their in-flight records
    std::string stream;
    IsolationConfig isolation;
};

// One plugin run in a child process of nomnom-host (isolation = "process"): the same binary,
// started with --worker-child, runs the plugin's consumers, parse and writes exactly as the
// host does in thread mode, and serves its /ready and /metrics on a loopback port that the
// parent aggregates. The parent restarts it with back-off when it dies; a restarted worker
// first sets aside the message its predecessor died on (its in-flight record says which). The
// parent kills a worker whose plugin call outlives parse_timeout_ms or whose memory passes
// max_memory_mb, writing the cause into the record first, and quarantines a plugin that dies
// too often. Every method runs on the host's main thread (the child's death signal is tied to
// the thread that started it), except status() and worker_metrics(), which the HTTP threads call.
class WorkerProcess final : public PluginWorkers {
  public:
    WorkerProcess(std::shared_ptr<PluginLibrary> library, PluginSettings settings,
                  WorkerProcessOptions options, NatsClient& nats, DeadLetterSink& dead_letters,
                  PluginMetrics& metrics);
    ~WorkerProcess() override;

    // Starts the worker and waits until its plugin runs; throws PluginRefused with what the
    // worker said (or how it died) when it cannot.
    void start(bool auto_migrate) override;
    // Loads the plugin and creates an instance in a worker process that then exits, touching
    // neither NATS nor the database: a new build must create before the old one stops serving,
    // and its create() must not run in the host's own process. Throws PluginRefused.
    void probe();
    void request_stop() override;
    // Kills the worker at `deadline` if it has not drained by then: always true.
    bool join(Clock::time_point deadline) override;
    void supervise() override;
    bool quarantined() const override;
    // Restarts after a reload run with its configuration and limits.
    void update(const WorkerConfig& config) override;
    const std::string& name() const override { return name_; }
    const PluginLibrary& library() const override { return *library_; }
    const std::vector<ConsumerSpec>& consumers() const override { return consumers_; }
    PluginStatus status() const override;
    // The worker's own /metrics; empty while it is not running or does not answer.
    std::string worker_metrics() const override;

  private:
    enum class State { Starting, Running, Restarting, Quarantined, Stopping, Stopped };

    void set_state(State state);
    State state() const;
    void spawn(bool probe = false);
    // Spawns a worker and waits for its first verdict; throws PluginRefused when it has none.
    void spawn_and_wait(bool probe);
    // Reads the lines the worker wrote on its report pipe, waiting up to `timeout_ms` for one;
    // false once the pipe is closed (the worker exited or is exiting).
    bool read_reports(int timeout_ms);
    void handle_report(const std::string& line);
    // Reaps the worker once it exited; false while it runs.
    bool reap(bool wait);
    // Reaps it within `limit`, killing it then: false when it had to be killed.
    bool reap_within(Clock::duration limit);
    void on_death(int wait_status);
    // Kills the worker when a plugin call outlived parse_timeout_ms or it uses more memory than
    // max_memory_mb, telling the recovery why through the in-flight records.
    void enforce_limits();
    // SIGKILLs the worker after writing into the record of each call in progress why: `cause`
    // for `culprit` (or for all of them without one), Collateral for the others.
    void kill_worker(InflightRecord::KillCause cause, const CallInProgress* culprit = nullptr,
                     int64_t detail = 0, int64_t measure = 0);
    // The parent settles what the last worker left, since no worker starts after it.
    void recover_for_quarantine();
    std::string endpoint() const;

    std::shared_ptr<PluginLibrary> library_;
    PluginSettings settings_;
    WorkerProcessOptions options_;
    NatsClient& nats_;
    DeadLetterSink& dead_letters_;
    PluginMetrics& metrics_;
    std::string name_;
    std::vector<ConsumerSpec> consumers_;

    mutable std::mutex mutex_;  // guards what status() reads: state_, pid_, port_, reasons
    State state_ = State::Stopped;
    pid_t pid_ = -1;
    uint16_t port_ = 0;
    std::string refusal_;  // what the worker reported when its plugin could not start
    std::string waiting_;  // what its start waits for (NATS or the database down)
    Clock::time_point started_at_{};
    std::string last_death_;  // how the last worker died
    std::string exit_cause_;  // how the last worker ended, asked to or not: SIGSEGV, exit 3...
    Clock::time_point restart_at_{};

    int report_fd_ = -1;
    std::string report_buffer_;
    std::string kill_cause_;  // set when the parent killed the worker: timeout, memory...
    std::deque<Clock::time_point> deaths_;
};

// The entry of a worker process (nomnom-host --worker-child ...): reads the configuration from
// stdin, runs one plugin, reports on fd 3. Returns the exit code.
int run_worker_child(const std::vector<std::string>& args);

}  // namespace nomnom::host
