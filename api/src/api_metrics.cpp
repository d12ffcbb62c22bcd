#include "api_metrics.hpp"

namespace nomnom::api {

void counter(std::string& out, const char* name, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           " " + std::to_string(value) + "\n";
}

void ApiMetrics::count_request(const std::string& route, int code, uint64_t body_bytes) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, code}];
    bytes_[route] += body_bytes;
}

void ApiMetrics::render(std::string& out) const {
    {
        std::lock_guard lock(mutex_);
        out +=
            "# HELP nomnom_api_requests_total HTTP requests by route and status code\n"
            "# TYPE nomnom_api_requests_total counter\n";
        for (const auto& [key, count] : requests_) {
            out += "nomnom_api_requests_total{route=\"" + key.first + "\",code=\"" +
                   std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
        }
        out +=
            "# HELP nomnom_api_request_bytes_total Request body bytes received, by route\n"
            "# TYPE nomnom_api_request_bytes_total counter\n";
        for (const auto& [route, bytes] : bytes_) {
            out += "nomnom_api_request_bytes_total{route=\"" + route + "\"} " +
                   std::to_string(bytes) + "\n";
        }
    }
    out +=
        "# HELP nomnom_api_publish_seconds Time from publishing a message to its JetStream "
        "PubAck\n# TYPE nomnom_api_publish_seconds histogram\n";
    publish_seconds.render(out, "nomnom_api_publish_seconds", "stream=\"" + stream_ + "\"");
    counter(out, "nomnom_api_messages_published_total", "Messages stored by JetStream",
            published.load());
    counter(out, "nomnom_api_duplicates_total",
            "Publishes JetStream recognised as duplicates (same Nats-Msg-Id)", duplicates.load());
    counter(out, "nomnom_api_publish_failures_total",
            "Publishes that failed (answered 503, never 202)", publish_failures.load());
    out +=
        "# HELP nomnom_api_requests_in_flight Requests being handled\n"
        "# TYPE nomnom_api_requests_in_flight gauge\nnomnom_api_requests_in_flight " +
        std::to_string(in_flight.load()) + "\n";
}

}  // namespace nomnom::api
