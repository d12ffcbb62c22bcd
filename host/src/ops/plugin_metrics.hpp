#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "nomnom/common/prometheus.hpp"
#include "ops/last_error.hpp"

namespace nomnom::host {

// Counters under one more label (a table, a cause), created on first use.
class CountsByKey {
  public:
    void add(const std::string& key, uint64_t count);
    std::map<std::string, uint64_t> snapshot() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::string, uint64_t> counts_;
};

// Everything counted and remembered for one plugin. Owned by the registry, not by the plugin's
// runner, so that the counters keep counting across reloads.
struct PluginMetrics {
    std::atomic<uint64_t> fetched{0};
    std::atomic<uint64_t> persisted{0};
    std::atomic<uint64_t> invalid{0};
    std::atomic<uint64_t> retried{0};
    std::atomic<uint64_t> dead_lettered{0};
    std::atomic<uint64_t> batches{0};
    std::atomic<uint64_t> write_transactions{0};  // a bisected batch makes several
    // When a batch last committed messages (ns since the epoch; 0: never): what a staleness
    // alert watches, and where the benchmark reads the end of a drain without polling hard.
    std::atomic<int64_t> last_persisted_unix_ns{0};
    Histogram batch_size{{1, 10, 50, 100, 250, 500, 1000, 5000}};
    Histogram batch_seconds{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
    // The two phases of a batch, bisection retries included: the plugin's parse calls, and the
    // database write up to its commit (waiting for a pooled connection and holding
    // through an outage included). Parsing a batch takes microseconds, hence the smaller buckets.
    Histogram parse_seconds{
        {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
    Histogram write_seconds{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
    // From JetStream storing a message to its ack after the commit: what a producer waits for
    // its data to be queryable. Fine-grained up to 100 ms, where latency objectives are set.
    Histogram end_to_end_seconds{{0.001, 0.0025, 0.005, 0.0075, 0.01,  0.015, 0.02,
                                  0.025, 0.03,   0.04,  0.05,   0.075, 0.1,   0.25,
                                  0.5,   1,      2.5,   5,      10,    30,    60}};
    LastError last_error;
    CountsByKey rows_by_table;
    // Rows of published tables stored by the outputs stream, per table.
    CountsByKey rows_published_by_table;
    // Deaths of the plugin's worker process, by cause: SIGSEGV, SIGABRT..., timeout, memory,
    // "exit N".
    CountsByKey worker_deaths;
};

class MetricsRegistry {
  public:
    PluginMetrics& plugin(const std::string& name);
    // The per-plugin counters and histograms in Prometheus text format.
    void render(std::string& out) const;

    std::atomic<uint64_t> reloads{0};
    std::atomic<uint64_t> reload_failures{0};

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<PluginMetrics>> plugins_;
};

}  // namespace nomnom::host
