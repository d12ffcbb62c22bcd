// Strict reading of a YAML mapping: every key must be taken by the reader or it is reported as
// unknown, and every value is checked for the shape the key needs, with the file and line.
#pragma once

#include "diagnostics.hpp"
#include "model.hpp"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nomnom::generator {

Location location_of(const YAML::Node& node, const std::string& file);

// Reports every key that appears twice in one mapping, anywhere under `node`: yaml-cpp keeps both
// pairs but finds only the first, so the later value would be lost without a word.
void check_duplicate_keys(const YAML::Node& node, const std::string& file,
                          Diagnostics& diagnostics);

// A scalar as a typed literal: quoted scalars are strings; plain ones are null, booleans or
// numbers when they read as such.
std::optional<Literal> read_literal(const YAML::Node& node, const std::string& file,
                                    Diagnostics& diagnostics, const std::string& what);

class YamlMap {
  public:
    // `what` names the mapping in messages, e.g. "field 'order_key'".
    YamlMap(const YAML::Node& node, std::string file, std::string what, Diagnostics& diagnostics);

    bool valid() const { return valid_; }
    Location where() const;
    Location where(const char* key) const;
    const std::string& file() const { return file_; }
    Diagnostics& diagnostics() const { return diagnostics_; }

    // The value of `key` (marked as known), or an undefined node when absent.
    YAML::Node take(const char* key);
    bool has(const char* key) const;

    std::optional<std::string> string(const char* key, bool required = false);
    std::optional<bool> boolean(const char* key);
    std::optional<long long> integer(const char* key);
    std::optional<double> number(const char* key);
    // A sequence of strings (a single string is accepted as a list of one).
    std::vector<std::string> strings(const char* key);

    // A key that is accepted and has no effect here: a warning saying why.
    void ignored(const char* key, const std::string& why);
    // A key whose meaning this project does not implement: an error saying so.
    void unsupported(const char* key, const std::string& why);

    // Reports every key nobody took, with the keys that are allowed.
    void finish();

  private:
    void expected(const char* key, const char* shape);

    YAML::Node node_;
    std::string file_;
    std::string what_;
    Diagnostics& diagnostics_;
    bool valid_ = false;
    std::set<std::string> taken_;
};

}  // namespace nomnom::generator
