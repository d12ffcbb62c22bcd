#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ops/last_error.hpp"
#include "pipeline/jetstream_consumer.hpp"
#include "plugins/plugin_library.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// One line of /ready per plugin file.
struct PluginStatus {
    std::string name;
    std::string state;
    bool healthy = false;
    bool waiting_for_database = false;
    // Of a running plugin, when something failed since the host started.
    std::optional<LastError::Entry> last_error;
};

// One running version of a plugin: its workers in this process (PluginRunner, isolation =
// "thread") or in a supervised child process (WorkerProcess, isolation = "process").
class PluginWorkers {
  public:
    using Clock = std::chrono::steady_clock;

    virtual ~PluginWorkers() = default;

    // Creates tables, consumers and instances and starts the workers. Throws (PluginRefused,
    // DbError, NatsError) with the reason when the plugin cannot run; nothing is left running.
    virtual void start(bool auto_migrate) = 0;
    // Workers finish the batch in hand (commit, ack) and stop fetching.
    virtual void request_stop() = 0;
    // Waits for the workers to stop, until `deadline`: false when some are still inside a call
    // into the plugin then (a plugin that never returns), and the object must then be leaked.
    virtual bool join(Clock::time_point deadline) = 0;
    // join() gave up: the workers stay behind in their plugin call. Records why, so that the
    // next start sets the message aside at once.
    virtual void abandon() {}
    // Called by the host's loop about every 100 ms: restarts dead workers, enforces limits.
    virtual void supervise() {}
    // No longer restarted after too many deaths: only a reload starts it again.
    virtual bool quarantined() const { return false; }
    // A reload kept it running: the limits (and, for a worker process, the configuration it is
    // restarted with) are the new ones.
    virtual void update(const WorkerConfig& config) = 0;

    virtual const std::string& name() const = 0;
    virtual const PluginLibrary& library() const = 0;
    // The consumers the workers read, one per subject, for the lag gauges, which find each on
    // the server by its subject: a worker process's child, not its parent, picks their names.
    virtual const std::vector<ConsumerSpec>& consumers() const = 0;
    virtual PluginStatus status() const = 0;
    // A worker process's own /metrics, which the host merges into its own; empty in thread
    // mode, whose counters are the host's.
    virtual std::string worker_metrics() const { return {}; }
};

}  // namespace nomnom::host
