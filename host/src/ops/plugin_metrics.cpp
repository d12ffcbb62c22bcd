#include "ops/plugin_metrics.hpp"

namespace nomnom::host {

void CountsByKey::add(const std::string& key, uint64_t count) {
    std::lock_guard lock(mutex_);
    counts_[key] += count;
}

std::map<std::string, uint64_t> CountsByKey::snapshot() const {
    std::lock_guard lock(mutex_);
    return counts_;
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
        {"nomnom_write_transactions_total",
         "Write transactions attempted (a batch with a data error is bisected into several)",
         &PluginMetrics::write_transactions},
    };
    for (const Counter& counter : counters) {
        prometheus_family(out, counter.name, "counter", counter.help);
        for (const auto& [plugin, metrics] : plugins_) {
            prometheus_sample(out, counter.name, prometheus_labels({{"plugin", plugin}}),
                              ((*metrics).*counter.member).load());
        }
    }
    prometheus_family(out, "nomnom_last_persisted_timestamp_seconds", "gauge",
                      "When a batch last committed messages (Unix time; 0: never)");
    for (const auto& [plugin, metrics] : plugins_) {
        prometheus_sample(out, "nomnom_last_persisted_timestamp_seconds",
                          prometheus_labels({{"plugin", plugin}}),
                          static_cast<double>(metrics->last_persisted_unix_ns.load()) / 1e9);
    }
    struct KeyedCounter {
        const char* name;
        const char* help;
        const char* label;
        CountsByKey PluginMetrics::*member;
    };
    static const KeyedCounter keyed_counters[] = {
        {"nomnom_rows_written_total", "Rows committed, per plugin and table", "table",
         &PluginMetrics::rows_by_table},
        {"nomnom_rows_published_total",
         "Rows of published tables stored by the outputs stream, per plugin and table", "table",
         &PluginMetrics::rows_published_by_table},
        {"nomnom_plugin_worker_deaths_total",
         "Deaths of a plugin's worker process (isolation = process), by cause", "cause",
         &PluginMetrics::worker_deaths},
    };
    for (const KeyedCounter& counter : keyed_counters) {
        prometheus_family(out, counter.name, "counter", counter.help);
        for (const auto& [plugin, metrics] : plugins_) {
            for (const auto& [key, count] : ((*metrics).*counter.member).snapshot()) {
                prometheus_sample(out, counter.name,
                                  prometheus_labels({{"plugin", plugin}, {counter.label, key}}),
                                  count);
            }
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
        prometheus_family(out, family.name, "histogram", family.help);
        for (const auto& [plugin, metrics] : plugins_) {
            ((*metrics).*family.member).render(out, family.name, {{"plugin", plugin}});
        }
    }
    prometheus_counter(out, "nomnom_reloads_total", "Reloads (SIGHUP or plugins directory)",
                       reloads.load());
    prometheus_counter(out, "nomnom_reload_failures_total", "Reloads that finished with errors",
                       reload_failures.load());
}

}  // namespace nomnom::host
