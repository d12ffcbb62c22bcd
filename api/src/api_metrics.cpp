#include "api_metrics.hpp"

namespace nomnom::api {

void ApiMetrics::count_request(const std::string& route, int code, uint64_t body_bytes) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, code}];
    bytes_[route] += body_bytes;
}

void ApiMetrics::render(std::string& out) const {
    {
        std::lock_guard lock(mutex_);
        prometheus_family(out, "nomnom_api_requests_total", "counter",
                          "HTTP requests by route and status code");
        for (const auto& [key, count] : requests_) {
            prometheus_sample(
                out, "nomnom_api_requests_total",
                prometheus_labels({{"route", key.first}, {"code", std::to_string(key.second)}}),
                count);
        }
        prometheus_family(out, "nomnom_api_request_bytes_total", "counter",
                          "Request body bytes received, by route");
        for (const auto& [route, bytes] : bytes_) {
            prometheus_sample(out, "nomnom_api_request_bytes_total",
                              prometheus_labels({{"route", route}}), bytes);
        }
    }
    prometheus_family(out, "nomnom_api_publish_seconds", "histogram",
                      "Time from publishing a message to its JetStream PubAck");
    publish_seconds.render(out, "nomnom_api_publish_seconds", {{"stream", stream_}});
    prometheus_counter(out, "nomnom_api_messages_published_total", "Messages stored by JetStream",
                       published.load());
    prometheus_counter(out, "nomnom_api_duplicates_total",
                       "Publishes JetStream recognised as duplicates (same Nats-Msg-Id)",
                       duplicates.load());
    prometheus_counter(out, "nomnom_api_publish_failures_total",
                       "Publishes that failed (answered 503, never 202)", publish_failures.load());
    prometheus_family(out, "nomnom_api_validated_total", "counter",
                      "Messages run through the plugins of [validate] before publishing, by "
                      "result (no_plugin: none consumes the subject, published)");
    constexpr std::array<const char*, 6> kResults = {"ok",      "no_plugin", "invalid",
                                                     "crashed", "timeout",   "unavailable"};
    for (size_t i = 0; i < kResults.size(); ++i) {
        prometheus_sample(out, "nomnom_api_validated_total",
                          prometheus_labels({{"result", kResults[i]}}), validated[i].load());
    }
    prometheus_gauge(out, "nomnom_api_requests_in_flight", "Requests being handled",
                     in_flight.load());
    prometheus_gauge(out, "nomnom_api_http_connections",
                     "Open HTTP connections, idle keep-alive ones included (http.max_connections)",
                     http_connections.open.load());
    prometheus_gauge(out, "nomnom_api_http_idle_connections",
                     "Open HTTP connections waiting for their next request (kept alive, or "
                     "silent since they connected); the longest idle one makes room at "
                     "http.max_connections",
                     http_connections.idle.load());
}

}  // namespace nomnom::api
