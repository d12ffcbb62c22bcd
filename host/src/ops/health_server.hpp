#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "nomnom/common/http_server.hpp"
#include "nomnom/common/read_deadlines.hpp"

namespace Poco::Net {
class HTTPRequestHandler;
class HTTPServerRequest;
}  // namespace Poco::Net

namespace nomnom::host {

// What /ready answers: whether the host can do its job, and a JSON body saying why not.
struct Readiness {
    bool ready = false;
    std::string json;
};

// Routes served beside the health ones (the dashboard): the handler for a request, or nullptr
// when the request is not theirs.
using MoreRoutes =
    std::function<Poco::Net::HTTPRequestHandler*(const Poco::Net::HTTPServerRequest&)>;

// The host's HTTP endpoint: GET /health (the process answers), GET /ready (200 or 503 with the
// state of NATS, the database and every plugin) and GET /metrics (Prometheus text format), and
// whatever `more` serves.
class HealthServer {
  public:
    // `listen` is HOST:PORT (port 0 picks a free one); throws when it cannot bind.
    HealthServer(const std::string& listen, std::function<Readiness()> readiness,
                 std::function<std::string()> metrics, MoreRoutes more = {});
    ~HealthServer();
    HealthServer(const HealthServer&) = delete;
    HealthServer& operator=(const HealthServer&) = delete;

    uint16_t port() const { return port_; }

  private:
    // Both outlive the server's threads.
    ReadDeadlines deadlines_;
    HttpConnectionGauges connections_;
    std::unique_ptr<HttpServer> server_;
    uint16_t port_ = 0;
};

}  // namespace nomnom::host
