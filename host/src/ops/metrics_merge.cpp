#include "ops/metrics_merge.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "ops/prometheus_text.hpp"

namespace nomnom::host {
namespace {

using Line = PrometheusLine;

// Integers without a decimal point, the rest like common/src/prometheus.cpp (%.17g).
void append_value(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else if (value == std::trunc(value) && value >= -9223372036854775808.0 &&
               value < 9223372036854775808.0) {
        out += std::to_string(static_cast<int64_t>(value));
    } else {
        char text[32];
        std::snprintf(text, sizeof text, "%.17g", value);
        out += text;
    }
}

struct Series {
    std::string_view name;
    std::string_view labels;
    double value;
};

struct Family {
    std::string_view name;
    std::optional<std::string_view> help;
    std::optional<std::string_view> type;
    bool first_only;
    std::vector<size_t> series;  // indices into the series list, in order of first appearance
};

}  // namespace

std::string merge_prometheus(const std::vector<std::string>& texts,
                             const std::set<std::string>& first_only) {
    std::vector<Line> lines;
    for (size_t i = 0; i < texts.size(); ++i) parse_prometheus_text(texts[i], i, lines);

    // Every family some text declares, with the first type declared for it (empty: HELP only),
    // so that a sample maps to its family wherever the TYPE line is.
    std::unordered_map<std::string_view, std::string_view> declared;
    for (const Line& line : lines) {
        if (line.kind == Line::Kind::help) declared.try_emplace(line.name);
        if (line.kind == Line::Kind::type) {
            auto [it, added] = declared.try_emplace(line.name, line.extra);
            if (!added && it->second.empty()) it->second = line.extra;
        }
    }
    auto family_of = [&](std::string_view sample) {
        if (declared.contains(sample)) return sample;
        for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
            if (!sample.ends_with(suffix)) continue;
            const std::string_view base = sample.substr(0, sample.size() - suffix.size());
            const auto it = declared.find(base);
            if (it != declared.end() && (it->second == "histogram" || it->second == "summary")) {
                return base;
            }
        }
        return sample;
    };

    std::vector<Family> families;
    std::unordered_map<std::string_view, size_t> family_index;
    std::vector<Series> series;
    std::unordered_map<std::string, size_t> series_index;  // "name{labels" -> index
    for (const Line& line : lines) {
        const std::string_view name =
            line.kind == Line::Kind::sample ? family_of(line.name) : line.name;
        auto [it, added] = family_index.try_emplace(name, families.size());
        if (added) {
            families.push_back(Family{name, {}, {}, first_only.contains(std::string(name)), {}});
        }
        Family& family = families[it->second];
        if (line.text > 0 && family.first_only) continue;
        switch (line.kind) {
            case Line::Kind::help:
                if (!family.help) family.help = line.extra;
                break;
            case Line::Kind::type:
                if (!family.type) family.type = line.extra;
                break;
            case Line::Kind::sample: {
                std::string key;
                key.reserve(line.name.size() + 1 + line.extra.size());
                key.append(line.name).append("{").append(line.extra);
                auto [at, new_series] = series_index.try_emplace(std::move(key), series.size());
                if (new_series) {
                    family.series.push_back(series.size());
                    series.push_back(Series{line.name, line.extra, line.value});
                } else {
                    series[at->second].value += line.value;
                }
                break;
            }
        }
    }

    std::string out;
    for (const Family& family : families) {
        if (family.help) {
            out.append("# HELP ").append(family.name);
            if (!family.help->empty()) out.append(" ").append(*family.help);
            out += '\n';
        }
        if (family.type) {
            out.append("# TYPE ").append(family.name).append(" ").append(*family.type).append("\n");
        }
        for (const size_t index : family.series) {
            const Series& sample = series[index];
            out.append(sample.name);
            if (!sample.labels.empty()) out.append("{").append(sample.labels).append("}");
            out += ' ';
            append_value(out, sample.value);
            out += '\n';
        }
    }
    return out;
}

}  // namespace nomnom::host
