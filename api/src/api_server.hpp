#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "api_config.hpp"
#include "api_metrics.hpp"
#include "bearer_auth.hpp"
#include "ingest_service.hpp"
#include "nomnom/common/http_server.hpp"
#include "nomnom/common/read_deadlines.hpp"

namespace nomnom::api {

// A route of nomnom-api: its path template ("{name}" is one path segment) and the one method it
// answers. api/openapi.json documents exactly these (a unit test compares them).
struct RouteSpec {
    const char* path;
    const char* method;
};
std::span<const RouteSpec> routes();

// The HTTP side of nomnom-api: routing, bearer auth on /ingest/*, body limits, per-request
// metrics, and a shutdown that lets requests in flight finish.
class ApiServer {
  public:
    // Binds http.listen (port 0 picks a free one) and starts serving; throws when it cannot bind.
    // `metrics_text` renders /metrics.
    ApiServer(const ApiConfig& config, IngestService& service, ApiMetrics& metrics,
              const BearerAuth& auth, std::function<std::string()> metrics_text);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    uint16_t port() const { return port_; }

    // Stops accepting connections and answers further requests 503; waits (up to
    // http.shutdown_timeout_ms) for the requests in flight to finish, then closes every
    // connection.
    void shutdown();

  private:
    const ApiConfig& config_;
    ApiMetrics& metrics_;
    std::atomic<bool> stopping_{false};
    ReadDeadlines deadlines_;  // outlives the request threads
    std::unique_ptr<HttpServer> server_;
    uint16_t port_ = 0;
};

}  // namespace nomnom::api
