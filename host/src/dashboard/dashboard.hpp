#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dashboard/admin_auth.hpp"
#include "dashboard/overview.hpp"
#include "dashboard/rate_history.hpp"
#include "nomnom/common/nats_client.hpp"
#include "ops/host_state.hpp"
#include "worker_config.hpp"

namespace Poco::Net {
class HTTPRequestHandler;
class HTTPServerRequest;
}  // namespace Poco::Net

namespace nomnom::host {

// What the dashboard reads from the host, asked on each request (the host's parts come and go:
// NATS connects after the HTTP endpoint starts).
struct DashboardSources {
    std::function<std::string()> metrics;  // the text of /metrics
    std::function<HostState()> state;
    std::function<NatsClient*()> nats;  // nullptr until connected
    std::function<void()> request_reload;
};

struct DashboardSettings {
    std::string admin_token;  // http.admin_token; empty: payloads and actions are off
    DlqConfig dlq;
    std::string isolation;
    std::string nats_url;      // redacted
    std::string database_url;  // redacted
    std::chrono::milliseconds sample_interval{2000};
};

// The web page at / of nomnom-host's HTTP endpoint and its JSON API under /api/ (routes:
// host/src/dashboard/README.md): the overview of every plugin, and the dead-letter queue to read,
// replay and purge. Samples the metrics every sample_interval in a thread of its own for the
// messages/s charts.
class Dashboard {
  public:
    Dashboard(DashboardSettings settings, DashboardSources sources);
    ~Dashboard();
    Dashboard(const Dashboard&) = delete;
    Dashboard& operator=(const Dashboard&) = delete;

    // The handler for `request`, or nullptr when it is not one of the dashboard's routes.
    Poco::Net::HTTPRequestHandler* handler_for(const Poco::Net::HTTPServerRequest& request);

  private:
    friend class DashboardRequest;
    void sample_until_stopped();

    DashboardSettings settings_;
    DashboardSources sources_;
    AdminAuth auth_;
    const std::chrono::system_clock::time_point started_at_;

    std::mutex mutex_;  // guards what follows
    MetricsReading latest_;
    RateHistory history_;

    std::condition_variable stop_signal_;
    bool stopping_ = false;
    std::thread sampler_;
};

}  // namespace nomnom::host
