#include "ops/prometheus_text.hpp"

#include <charconv>
#include <cstdint>
#include <optional>

namespace nomnom::host {
namespace {

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
std::optional<PrometheusLine> parse_comment(std::string_view line, size_t text) {
    line.remove_prefix(1);  // '#'
    if (line.empty() || !is_blank(line.front())) return std::nullopt;
    const std::string_view keyword = next_token(line);
    if (keyword != "HELP" && keyword != "TYPE") return std::nullopt;
    const std::string_view name = next_token(line);
    if (!is_metric_name(name)) return std::nullopt;
    if (keyword == "HELP") {
        return PrometheusLine{PrometheusLine::Kind::help, text, name, skip_blanks(line), 0};
    }
    const std::string_view type = next_token(line);
    if (!is_type(type) || !skip_blanks(line).empty()) return std::nullopt;
    return PrometheusLine{PrometheusLine::Kind::type, text, name, type, 0};
}

// `name{labels} value [timestamp]`; nullopt if malformed.
std::optional<PrometheusLine> parse_sample(std::string_view line, size_t text) {
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
    return PrometheusLine{PrometheusLine::Kind::sample, text, name, labels, *value};
}

}  // namespace

void parse_prometheus_text(std::string_view text, size_t index,
                           std::vector<PrometheusLine>& lines) {
    while (!text.empty()) {
        const size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        line = trim_end(skip_blanks(line));
        if (line.empty()) continue;
        std::optional<PrometheusLine> parsed =
            line.front() == '#' ? parse_comment(line, index) : parse_sample(line, index);
        if (parsed) lines.push_back(*parsed);
    }
}

std::map<std::string, std::string> prometheus_label_values(std::string_view labels) {
    std::map<std::string, std::string> values;
    size_t i = 0;
    while (i < labels.size()) {
        while (i < labels.size() && (is_blank(labels[i]) || labels[i] == ',')) ++i;
        const size_t name = name_length(labels.substr(i), false);
        if (name == 0) break;
        const std::string key(labels.substr(i, name));
        i = labels.find('"', i + name);
        if (i == std::string_view::npos) break;
        std::string value;
        for (++i; i < labels.size() && labels[i] != '"'; ++i) {
            if (labels[i] == '\\' && i + 1 < labels.size()) {
                ++i;
                value += labels[i] == 'n' ? '\n' : labels[i];
            } else {
                value += labels[i];
            }
        }
        ++i;  // the closing quote
        values.emplace(key, std::move(value));
    }
    return values;
}

}  // namespace nomnom::host
