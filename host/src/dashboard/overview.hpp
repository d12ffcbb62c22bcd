#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "dashboard/rate_history.hpp"
#include "ops/dead_letter_queue.hpp"
#include "ops/host_state.hpp"

namespace nomnom::host {

// One plugin's numbers as the host's /metrics gives them (summed over its worker processes).
struct PluginNumbers {
    std::string version;
    double fetched = 0;
    double persisted = 0;
    double invalid = 0;
    double retried = 0;
    double dead_lettered = 0;
    std::map<std::string, double> rows_by_table;
    std::map<std::string, double> worker_deaths;
    // Summed over the plugin's consumers; absent while JetStream cannot be asked.
    std::optional<double> pending;
    std::optional<double> in_flight;

    double settled() const { return persisted + dead_lettered; }
};

struct MetricsReading {
    std::map<std::string, PluginNumbers> plugins;
    double reloads = 0;
    double reload_failures = 0;
};

// The dashboard reads the same text /metrics serves, so that it shows what Prometheus scrapes in
// both isolation modes (a worker process counts its own plugin's messages).
MetricsReading read_metrics(const std::string& prometheus_text);

// Everything the overview shows, gathered by the dashboard.
struct OverviewInputs {
    HostState state;
    MetricsReading metrics;
    const RateHistory* history = nullptr;
    std::chrono::system_clock::time_point started_at;
    std::chrono::system_clock::time_point now;
    std::string isolation;
    std::string nats_url;      // redacted
    std::string database_url;  // redacted
    bool admin_enabled = false;
    bool signed_in = false;
    // The dead-letter stream's counts, or why they could not be read.
    std::optional<DeadLetterQueue::Counts> dead_letters;
    std::string dead_letters_error;
};

// GET /api/overview's JSON (shape: host/src/dashboard/README.md).
std::string overview_json(const OverviewInputs& inputs);

}  // namespace nomnom::host
