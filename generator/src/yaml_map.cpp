#include "yaml_map.hpp"

#include <charconv>
#include <cmath>
#include <map>

namespace nomnom::generator {

Location location_of(const YAML::Node& node, const std::string& file) {
    return {file, node.Mark().line + 1};
}

namespace {

bool is_integer(const std::string& text) {
    long long value = 0;
    const char* begin = text.data() + (text.starts_with('+') ? 1 : 0);
    const auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

// from_chars also reads "inf" and "nan", which no generated literal or bound can be.
bool is_float(const std::string& text) {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && !text.empty() &&
           std::isfinite(value);
}

}  // namespace

void check_duplicate_keys(const YAML::Node& node, const std::string& file,
                          Diagnostics& diagnostics) {
    if (node.IsSequence()) {
        for (const auto& item : node) check_duplicate_keys(item, file, diagnostics);
        return;
    }
    if (!node.IsMap()) return;
    std::map<std::string, int> first_line;
    for (const auto& entry : node) {
        if (entry.first.IsScalar()) {
            const Location where = location_of(entry.first, file);
            const auto [seen, inserted] = first_line.emplace(entry.first.Scalar(), where.line);
            if (!inserted) {
                diagnostics.error(where, "duplicate key '" + entry.first.Scalar() +
                                             "' (first at line " + std::to_string(seen->second) +
                                             "): a key may appear once in a mapping");
            }
        }
        check_duplicate_keys(entry.second, file, diagnostics);
    }
}

std::optional<Literal> read_literal(const YAML::Node& node, const std::string& file,
                                    Diagnostics& diagnostics, const std::string& what) {
    Literal literal;
    literal.where = location_of(node, file);
    if (node.IsNull()) return literal;
    if (!node.IsScalar()) {
        diagnostics.error(literal.where, what +
                                             ": expected a scalar value (string, number, "
                                             "boolean or null)");
        return std::nullopt;
    }
    literal.text = node.Scalar();
    // yaml-cpp tags plain scalars "?" and quoted ones "!".
    if (node.Tag() == "!") {
        literal.kind = Literal::Kind::String;
    } else if (literal.text == "true" || literal.text == "false" || literal.text == "True" ||
               literal.text == "False") {
        literal.kind = Literal::Kind::Boolean;
        literal.text = literal.text == "true" || literal.text == "True" ? "true" : "false";
    } else if (is_integer(literal.text)) {
        literal.kind = Literal::Kind::Integer;
    } else if (is_float(literal.text)) {
        literal.kind = Literal::Kind::Float;
    } else {
        literal.kind = Literal::Kind::String;
    }
    return literal;
}

YamlMap::YamlMap(const YAML::Node& node, std::string file, std::string what,
                 Diagnostics& diagnostics)
    : node_(node), file_(std::move(file)), what_(std::move(what)), diagnostics_(diagnostics) {
    valid_ = node_.IsMap();
    if (!valid_) diagnostics_.error(location_of(node_, file_), what_ + ": expected a mapping");
}

Location YamlMap::where() const {
    return location_of(node_, file_);
}

Location YamlMap::where(const char* key) const {
    if (!valid_) return where();
    for (const auto& entry : node_) {
        if (entry.first.IsScalar() && entry.first.Scalar() == key) {
            return location_of(entry.first, file_);
        }
    }
    return where();
}

bool YamlMap::has(const char* key) const {
    return valid_ && node_[key].IsDefined();
}

YAML::Node YamlMap::take(const char* key) {
    taken_.insert(key);
    if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node value = node_[key];
    return value;
}

void YamlMap::expected(const char* key, const char* shape) {
    diagnostics_.error(where(key), what_ + ": '" + key + "' must be " + shape);
}

std::optional<std::string> YamlMap::string(const char* key, bool required) {
    const YAML::Node value = take(key);
    if (!value.IsDefined() || value.IsNull()) {
        if (required && valid_) {
            diagnostics_.error(where(), what_ + ": missing required key '" + key + "'");
        }
        return std::nullopt;
    }
    if (!value.IsScalar()) {
        expected(key, "a string");
        return std::nullopt;
    }
    return value.Scalar();
}

std::optional<bool> YamlMap::boolean(const char* key) {
    const YAML::Node value = take(key);
    if (!value.IsDefined() || value.IsNull()) return std::nullopt;
    bool result = false;
    if (!value.IsScalar() || !YAML::convert<bool>::decode(value, result)) {
        expected(key, "true or false");
        return std::nullopt;
    }
    return result;
}

std::optional<long long> YamlMap::integer(const char* key) {
    const YAML::Node value = take(key);
    if (!value.IsDefined() || value.IsNull()) return std::nullopt;
    if (!value.IsScalar() || !is_integer(value.Scalar())) {
        expected(key, "an integer");
        return std::nullopt;
    }
    return std::stoll(value.Scalar());
}

std::optional<double> YamlMap::number(const char* key) {
    const YAML::Node value = take(key);
    if (!value.IsDefined() || value.IsNull()) return std::nullopt;
    if (!value.IsScalar() || !is_float(value.Scalar())) {
        expected(key, "a number");
        return std::nullopt;
    }
    return std::stod(value.Scalar());
}

std::vector<std::string> YamlMap::strings(const char* key) {
    const YAML::Node value = take(key);
    std::vector<std::string> result;
    if (!value.IsDefined() || value.IsNull()) return result;
    if (value.IsScalar()) return {value.Scalar()};
    if (!value.IsSequence()) {
        expected(key, "a list of strings");
        return result;
    }
    for (const auto& item : value) {
        if (!item.IsScalar()) {
            diagnostics_.error(location_of(item, file_),
                               what_ + ": '" + key + "' items must be strings");
            continue;
        }
        result.push_back(item.Scalar());
    }
    return result;
}

void YamlMap::ignored(const char* key, const std::string& why) {
    if (has(key)) diagnostics_.warning(where(key), what_ + ": '" + key + "' is ignored: " + why);
    taken_.insert(key);
}

void YamlMap::unsupported(const char* key, const std::string& why) {
    if (has(key)) {
        diagnostics_.error(where(key), what_ + ": '" + key + "' is not supported: " + why);
    }
    taken_.insert(key);
}

void YamlMap::finish() {
    if (!valid_) return;
    for (const auto& entry : node_) {
        const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
        if (taken_.contains(key)) continue;
        std::string allowed;
        for (const auto& known : taken_) allowed += (allowed.empty() ? "" : ", ") + known;
        diagnostics_.error(
            location_of(entry.first, file_),
            what_ + ": unknown key '" + key + "' (expected one of: " + allowed + ")");
    }
}

}  // namespace nomnom::generator
