#include "ops/metrics_merge.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace nomnom::host {
namespace {

// One parsed line of one text; the views point into the caller's texts.
struct Line {
    enum class Kind { help, type, sample };
    Kind kind;
    size_t text;             // index into texts
    std::string_view name;   // the metric name (HELP/TYPE: the family's)
    std::string_view extra;  // HELP: the docstring; TYPE: the type; sample: the label text
    double value;            // sample only
};

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view skip_blanks(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    return s;
}

std::string_view trim_end(std::string_view s) {
    while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Splits off the next run of non-blank characters.
std::string_view next_token(std::string_view& s) {
    s = skip_blanks(s);
    size_t end = 0;
    while (end < s.size() && !is_blank(s[end])) ++end;
    const std::string_view token = s.substr(0, end);
    s.remove_prefix(end);
    return token;
}

bool is_name_start(char c, bool colon_ok) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
}

bool is_name_char(char c, bool colon_ok) {
    return is_name_start(c, colon_ok) || (c >= '0' && c <= '9');
}

// The length of the metric name (colon_ok) or label name at the start of s; 0 if there is none.
size_t name_length(std::string_view s, bool colon_ok) {
    if (s.empty() || !is_name_start(s.front(), colon_ok)) return 0;
    size_t n = 1;
    while (n < s.size() && is_name_char(s[n], colon_ok)) ++n;
    return n;
}

bool is_metric_name(std::string_view s) {
    return !s.empty() && name_length(s, true) == s.size();
}

// The length of the label set at the start of s, which starts just after the '{', up to but
// excluding the closing '}': `name="value"` pairs separated by commas (a trailing comma allowed),
// values escaping only backslash, double quote and newline. nullopt if it is malformed.
std::optional<size_t> label_text_length(std::string_view s) {
    size_t i = 0;
    auto skip = [&] {
        while (i < s.size() && is_blank(s[i])) ++i;
    };
    skip();
    while (i < s.size() && s[i] != '}') {
        const size_t name = name_length(s.substr(i), false);
        if (name == 0) return std::nullopt;
        i += name;
        skip();
        if (i >= s.size() || s[i] != '=') return std::nullopt;
        ++i;
        skip();
        if (i >= s.size() || s[i] != '"') return std::nullopt;
        ++i;
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '\\') {
                if (i + 1 >= s.size()) return std::nullopt;
                const char escaped = s[i + 1];
                if (escaped != '\\' && escaped != '"' && escaped != 'n') return std::nullopt;
                ++i;
            }
            ++i;
        }
        if (i >= s.size()) return std::nullopt;
        ++i;  // the closing quote
        skip();
        if (i < s.size() && s[i] == ',') {
            ++i;
            skip();
        } else if (i < s.size() && s[i] != '}') {
            return std::nullopt;
        }
    }
    if (i >= s.size()) return std::nullopt;
    return i;
}

// A sample value as Prometheus writes it: a float, or +Inf, -Inf, NaN (any case).
std::optional<double> parse_value(std::string_view token) {
    // from_chars takes no leading '+'.
    if (token.size() > 1 && token.front() == '+' && token[1] != '+' && token[1] != '-') {
        token.remove_prefix(1);
    }
    double value = 0;
    const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (error != std::errc() || end != token.data() + token.size()) return std::nullopt;
    return value;
}

bool is_timestamp(std::string_view token) {
    int64_t timestamp = 0;
    const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), timestamp);
    return error == std::errc() && end == token.data() + token.size();
}

bool is_type(std::string_view type) {
    return type == "counter" || type == "gauge" || type == "histogram" || type == "summary" ||
           type == "untyped";
}

// `# HELP name docstring` or `# TYPE name type`; other comments give nullopt.
std::optional<Line> parse_comment(std::string_view line, size_t text) {
    line.remove_prefix(1);  // '#'
    if (line.empty() || !is_blank(line.front())) return std::nullopt;
    const std::string_view keyword = next_token(line);
    if (keyword != "HELP" && keyword != "TYPE") return std::nullopt;
    const std::string_view name = next_token(line);
    if (!is_metric_name(name)) return std::nullopt;
    if (keyword == "HELP") {
        return Line{Line::Kind::help, text, name, skip_blanks(line), 0};
    }
    const std::string_view type = next_token(line);
    if (!is_type(type) || !skip_blanks(line).empty()) return std::nullopt;
    return Line{Line::Kind::type, text, name, type, 0};
}

// `name{labels} value [timestamp]`; nullopt if malformed.
std::optional<Line> parse_sample(std::string_view line, size_t text) {
    const size_t name_end = name_length(line, true);
    if (name_end == 0) return std::nullopt;
    const std::string_view name = line.substr(0, name_end);
    line.remove_prefix(name_end);
    std::string_view labels;
    if (const std::string_view rest = skip_blanks(line); !rest.empty() && rest.front() == '{') {
        line = rest.substr(1);
        const std::optional<size_t> length = label_text_length(line);
        if (!length) return std::nullopt;
        labels = line.substr(0, *length);
        line.remove_prefix(*length + 1);
    }
    // The value is a separate token.
    if (!line.empty() && !is_blank(line.front())) return std::nullopt;
    const std::optional<double> value = parse_value(next_token(line));
    if (!value) return std::nullopt;
    const std::string_view timestamp = next_token(line);
    if (!timestamp.empty() && !is_timestamp(timestamp)) return std::nullopt;
    if (!skip_blanks(line).empty()) return std::nullopt;
    return Line{Line::Kind::sample, text, name, labels, *value};
}

void parse_text(std::string_view text, size_t index, std::vector<Line>& lines) {
    while (!text.empty()) {
        const size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        line = trim_end(skip_blanks(line));
        if (line.empty()) continue;
        std::optional<Line> parsed =
            line.front() == '#' ? parse_comment(line, index) : parse_sample(line, index);
        if (parsed) lines.push_back(*parsed);
    }
}

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
    for (size_t i = 0; i < texts.size(); ++i) parse_text(texts[i], i, lines);

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
