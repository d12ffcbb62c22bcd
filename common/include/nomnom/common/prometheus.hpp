#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nomnom {

// The one writer of the Prometheus text format (0.0.4) for both binaries' /metrics, so that
// label values are escaped in every family and HELP/TYPE lines cannot drift apart.
using PrometheusLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// `{name="value",...}` with each value escaped (backslash, double quote; a newline becomes a
// space); empty for no labels.
std::string prometheus_labels(PrometheusLabels labels);

// The HELP and TYPE lines that open a family; `type` is counter, gauge or histogram.
void prometheus_family(std::string& out, std::string_view name, std::string_view type,
                       std::string_view help);

// One sample line; `labels` as prometheus_labels() writes them.
void prometheus_sample(std::string& out, std::string_view name, std::string_view labels,
                       uint64_t value);
void prometheus_sample(std::string& out, std::string_view name, std::string_view labels,
                       int64_t value);
void prometheus_sample(std::string& out, std::string_view name, std::string_view labels,
                       double value);

// A family of one unlabelled sample.
void prometheus_counter(std::string& out, std::string_view name, std::string_view help,
                        uint64_t value);
void prometheus_gauge(std::string& out, std::string_view name, std::string_view help,
                      int64_t value);

// A Prometheus histogram with fixed buckets, updated lock-free from worker threads.
class Histogram {
  public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double value);
    // Appends the _bucket, _sum and _count samples of `name` (the family's HELP/TYPE lines are
    // the caller's, since one family holds a histogram per label set).
    void render(std::string& out, std::string_view name, PrometheusLabels labels) const;

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // one per bound, plus +Inf
    std::atomic<uint64_t> count_{0};
    std::atomic<uint64_t> sum_micro_{0};  // sum x 1e6, so that it stays an integer atomic
};

}  // namespace nomnom
