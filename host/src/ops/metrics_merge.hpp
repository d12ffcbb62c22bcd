#pragma once

#include <set>
#include <string>
#include <vector>

namespace nomnom::host {

// Merges Prometheus text expositions (format 0.0.4) into one: each family once (HELP/TYPE from
// the first text that has it, families in order of first appearance), samples of the same series
// (same name and label set, as written) from several texts summed, since each text is one
// process's share (counters, pool gauges, histogram buckets add up). Families named in
// `first_only` are taken from the first text alone (state the parent process owns, such as its
// NATS connection).
//
// A sample belongs to family F if its name is F, or F_bucket/F_sum/F_count when some text declares
// F a histogram or summary; a sample of no declared family is a family of its own, without
// HELP/TYPE. Label sets are compared as the text between the braces. A line that does not parse
// (bad name, label set, value or timestamp, unknown TYPE) is skipped, as are blank lines and other
// comments; timestamps are dropped (a sum has no single time). Never throws on any input: a
// child's text must not break the parent's /metrics. Summary quantiles are summed like every other
// sample, which is only meaningful for _sum and _count; nomnom writes no summaries.
std::string merge_prometheus(const std::vector<std::string>& texts,
                             const std::set<std::string>& first_only);

}  // namespace nomnom::host
