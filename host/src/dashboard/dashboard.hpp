#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
    std::vector<std::string> allowed_hosts;  // http.allowed_hosts
    DlqConfig dlq;
    std::string isolation;
    std::string nats_url;      // redacted
    std::string database_url;  // redacted
    std::chrono::milliseconds sample_interval{2000};
};

// The web page at / of nomnom-host's HTTP endpoint and its JSON API under /api/ (routes:
// host/src/dashboard/README.md): the overview of every plugin, and the dead-letter queue to read,
// replay and purge. Samples the metrics every sample_interval in a thread of its own for the
// messages/s charts. Shared with its requests, which may outlive the HTTP server that made them
// (Poco does not wait for them): stop() waits for them before what the sources read goes away.
class Dashboard : public std::enable_shared_from_this<Dashboard> {
  public:
    Dashboard(DashboardSettings settings, DashboardSources sources);
    ~Dashboard();
    Dashboard(const Dashboard&) = delete;
    Dashboard& operator=(const Dashboard&) = delete;

    // The handler for `request`, or nullptr when it is not one of the dashboard's routes.
    Poco::Net::HTTPRequestHandler* handler_for(const Poco::Net::HTTPServerRequest& request);
    // Stops sampling, makes new requests answer 503 and waits for those in progress, which
    // give up their long loops (replay, purge, scans) at the next letter.
    void stop();
    bool stopping();

  private:
    friend class DashboardRequest;
    void sample_until_stopped();
    void request_done();

    DashboardSettings settings_;
    DashboardSources sources_;
    AdminAuth auth_;
    const std::chrono::system_clock::time_point started_at_;

    std::mutex mutex_;  // guards what follows
    MetricsReading latest_;
    RateHistory history_;

    std::condition_variable stop_signal_;  // and a request ended
    bool stopping_ = false;
    int in_flight_ = 0;
    std::thread sampler_;
};

}  // namespace nomnom::host
