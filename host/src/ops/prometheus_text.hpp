#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nomnom::host {

// One parsed line of a Prometheus text exposition (format 0.0.4); the views point into the
// caller's text.
struct PrometheusLine {
    enum class Kind { help, type, sample };
    Kind kind;
    size_t text;             // which of the caller's texts it came from
    std::string_view name;   // the metric name (HELP/TYPE: the family's)
    std::string_view extra;  // HELP: the docstring; TYPE: the type; sample: the label text
    double value;            // sample only
};

// Appends the HELP, TYPE and sample lines of `text`, tagged `index`. A line that does not parse
// (bad name, label set, value or timestamp, unknown TYPE) is skipped, as are blank lines and
// other comments; never throws on any input.
void parse_prometheus_text(std::string_view text, size_t index, std::vector<PrometheusLine>& lines);

// The labels of a sample's label text (`plugin="a",table="b"`), values unescaped. Only for label
// text parse_prometheus_text accepted.
std::map<std::string, std::string> prometheus_label_values(std::string_view labels);

}  // namespace nomnom::host
