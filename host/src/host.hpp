#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "config.hpp"
#include "database.hpp"
#include "dead_letter.hpp"
#include "health_server.hpp"
#include "nats_client.hpp"
#include "plugin_runner.hpp"

namespace nomnom {

// Blocks SIGINT/SIGTERM/SIGHUP in every thread (call before any thread starts) and lets the
// main thread collect them synchronously, so no work happens in a signal handler.
class SignalWaiter {
  public:
    SignalWaiter();
    // The signal received within `timeout_ms`, or 0.
    int wait(int64_t timeout_ms);
};

// nomnom-host: loads the plugins, connects NATS and the database, runs every plugin's workers
// until SIGTERM/SIGINT, then drains.
class Host {
  public:
    explicit Host(WorkerConfig config);
    ~Host();

    // Returns the process exit code.
    int run(SignalWaiter& signals);

  private:
    bool connect(SignalWaiter& signals);
    void start_plugins();
    Readiness readiness() const;

    WorkerConfig config_;
    std::unique_ptr<Database> database_;
    std::unique_ptr<NatsClient> nats_;
    std::unique_ptr<JetStreamDeadLetterSink> dead_letters_;
    std::vector<std::unique_ptr<PluginRunner>> runners_;
    std::vector<std::pair<std::string, std::string>> refused_;  // file name, reason
    std::atomic<bool> started_{false};
    std::unique_ptr<HealthServer> health_;
};

// --check-config: validates the config, loads and creates every plugin, touches nothing in NATS
// or the database. Prints a report; returns the exit code.
int check_config(const WorkerConfig& config);

}  // namespace nomnom
