#include "metrics.hpp"

#include <cmath>
#include <cstdio>

namespace nomnom {
namespace {

std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string prometheus_label_value(const std::string& value) {
    std::string escaped;
    escaped.reserve(value.size());
    for (const char c : value) {
        if (c == '\\' || c == '"') escaped += '\\';
        escaped += c == '\n' ? ' ' : c;
    }
    return escaped;
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

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
        out +=
            name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += name + "_sum{" + labels + "} " +
           number(static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6) + "\n";
    out += name + "_count{" + labels + "} " +
           std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

void PluginMetrics::add_rows(const std::string& table, uint64_t rows) {
    std::lock_guard lock(rows_mutex_);
    rows_[table] += rows;
}

std::map<std::string, uint64_t> PluginMetrics::rows_by_table() const {
    std::lock_guard lock(rows_mutex_);
    return rows_;
}

PluginMetrics& MetricsRegistry::plugin(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& slot = plugins_[name];
    if (!slot) slot = std::make_unique<PluginMetrics>();
    return *slot;
}

void MetricsRegistry::render(std::string& out) const {
    std::lock_guard lock(mutex_);
    struct Counter {
        const char* name;
        const char* help;
        std::atomic<uint64_t> PluginMetrics::*member;
    };
    static const Counter counters[] = {
        {"nomnom_messages_fetched_total", "Messages fetched from JetStream",
         &PluginMetrics::fetched},
        {"nomnom_messages_persisted_total", "Messages whose rows were committed and acked",
         &PluginMetrics::persisted},
        {"nomnom_messages_invalid_total", "Messages the plugin or the row checks refused",
         &PluginMetrics::invalid},
        {"nomnom_messages_retried_total", "Messages nak'ed for a later retry",
         &PluginMetrics::retried},
        {"nomnom_messages_dead_lettered_total", "Messages stored in the dead-letter stream",
         &PluginMetrics::dead_lettered},
        {"nomnom_batches_total", "Batches processed", &PluginMetrics::batches},
    };
    for (const Counter& counter : counters) {
        header(out, counter.name, "counter", counter.help);
        for (const auto& [plugin, metrics] : plugins_) {
            out += std::string(counter.name) + "{plugin=\"" + plugin + "\"} " +
                   std::to_string(((*metrics).*counter.member).load()) + "\n";
        }
    }
    header(out, "nomnom_last_persisted_timestamp_seconds", "gauge",
           "When a batch last committed messages (Unix time; 0: never)");
    for (const auto& [plugin, metrics] : plugins_) {
        out += "nomnom_last_persisted_timestamp_seconds{plugin=\"" + plugin + "\"} " +
               number(static_cast<double>(metrics->last_persisted_unix_ns.load()) / 1e9) + "\n";
    }
    header(out, "nomnom_rows_written_total", "counter", "Rows committed, per plugin and table");
    for (const auto& [plugin, metrics] : plugins_) {
        for (const auto& [table, rows] : metrics->rows_by_table()) {
            out += "nomnom_rows_written_total{plugin=\"" + plugin + "\",table=\"" + table + "\"} " +
                   std::to_string(rows) + "\n";
        }
    }
    struct HistogramFamily {
        const char* name;
        const char* help;
        Histogram PluginMetrics::*member;
    };
    static const HistogramFamily histograms[] = {
        {"nomnom_batch_size", "Messages per fetched batch", &PluginMetrics::batch_size},
        {"nomnom_batch_seconds", "Time from fetch to settling the last message of a batch",
         &PluginMetrics::batch_seconds},
        {"nomnom_parse_seconds", "Time the plugin spent parsing a batch, bisection included",
         &PluginMetrics::parse_seconds},
        {"nomnom_write_seconds",
         "Time writing and committing a batch's rows, bisection retries included",
         &PluginMetrics::write_seconds},
        {"nomnom_end_to_end_seconds",
         "Time from JetStream storing a message to its ack after the commit",
         &PluginMetrics::end_to_end_seconds},
    };
    for (const HistogramFamily& family : histograms) {
        header(out, family.name, "histogram", family.help);
        for (const auto& [plugin, metrics] : plugins_) {
            ((*metrics).*family.member).render(out, family.name, "plugin=\"" + plugin + "\"");
        }
    }
    header(out, "nomnom_reloads_total", "counter", "Reloads (SIGHUP or plugins directory)");
    out += "nomnom_reloads_total " + std::to_string(reloads.load()) + "\n";
    header(out, "nomnom_reload_failures_total", "counter", "Reloads that finished with errors");
    out += "nomnom_reload_failures_total " + std::to_string(reload_failures.load()) + "\n";
}

}  // namespace nomnom
