#include "nomnom/common/prometheus.hpp"

#include <cmath>
#include <cstdio>

namespace nomnom {
namespace {

std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::string_view value) {
    out.append(name).append(labels).append(" ").append(value).append("\n");
}

}  // namespace

std::string prometheus_labels(PrometheusLabels labels) {
    if (labels.size() == 0) return {};
    std::string text = "{";
    for (const auto& [name, value] : labels) {
        if (text.size() > 1) text += ',';
        text.append(name).append("=\"");
        for (const char c : value) {
            if (c == '\\' || c == '"') text += '\\';
            text += c == '\n' ? ' ' : c;
        }
        text += '"';
    }
    text += '}';
    return text;
}

void prometheus_family(std::string& out, std::string_view name, std::string_view type,
                       std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void prometheus_sample(std::string& out, std::string_view name, std::string_view labels,
                       uint64_t value) {
    append_sample(out, name, labels, std::to_string(value));
}

void prometheus_sample(std::string& out, std::string_view name, std::string_view labels,
                       int64_t value) {
    append_sample(out, name, labels, std::to_string(value));
}

void prometheus_sample(std::string& out, std::string_view name, std::string_view labels,
                       double value) {
    append_sample(out, name, labels, number(value));
}

void prometheus_counter(std::string& out, std::string_view name, std::string_view help,
                        uint64_t value) {
    prometheus_family(out, name, "counter", help);
    prometheus_sample(out, name, "", value);
}

void prometheus_gauge(std::string& out, std::string_view name, std::string_view help,
                      int64_t value) {
    prometheus_family(out, name, "gauge", help);
    prometheus_sample(out, name, "", value);
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]()) {}

void Histogram::observe(double value) {
    size_t bucket = 0;
    while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_micro_.fetch_add(static_cast<uint64_t>(std::llround(value * 1e6)),
                         std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, PrometheusLabels labels) const {
    const std::string plain = prometheus_labels(labels);
    // The bucket label goes last, inside the same braces.
    const std::string open = plain.empty() ? "{" : plain.substr(0, plain.size() - 1) + ",";
    const std::string bucket_name = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
        prometheus_sample(out, bucket_name, open + "le=\"" + le + "\"}", cumulative);
    }
    prometheus_sample(out, std::string(name) + "_sum", plain,
                      static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6);
    prometheus_sample(out, std::string(name) + "_count", plain,
                      count_.load(std::memory_order_relaxed));
}

}  // namespace nomnom
