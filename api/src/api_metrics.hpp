#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "nomnom/common/http_server.hpp"
#include "nomnom/common/prometheus.hpp"

namespace nomnom::api {

// What [validate] made of a message (see Verdict in validator_pool.hpp).
enum class ValidationResult { Ok, NoPlugin, Invalid, Crashed, Timeout, Unavailable };

// What nomnom-api counts, rendered in Prometheus text format at /metrics.
class ApiMetrics {
  public:
    // `stream` labels the publish latency histogram.
    explicit ApiMetrics(std::string stream) : stream_(std::move(stream)) {}

    // `route` is the route pattern ("/ingest/message/{entity}"), never the raw path, so that
    // label values stay few.
    void count_request(const std::string& route, int code, uint64_t body_bytes);
    void render(std::string& out) const;

    Histogram publish_seconds{
        {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}};
    std::atomic<uint64_t> published{0};
    std::atomic<uint64_t> duplicates{0};
    std::atomic<uint64_t> publish_failures{0};
    std::atomic<int64_t> in_flight{0};
    HttpConnectionGauges http_connections;
    // By ValidationResult.
    std::array<std::atomic<uint64_t>, 6> validated{};

  private:
    std::string stream_;
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    std::map<std::string, uint64_t> bytes_;
};

}  // namespace nomnom::api
