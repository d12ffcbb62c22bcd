#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nomnom/common/config.hpp"

// Reading nomnom's TOML files (worker.toml, api.toml) the same way: every error names the file,
// line and key; unknown keys are errors; strings expand ${ENV}.
namespace nomnom {

inline std::string toml_type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date/time";
    }
}

// One TOML table of a nomnom config file being read: every key read is remembered so that whatever
// is left at the end is reported as unknown instead of being silently ignored.
class Section {
  public:
    Section(const toml::table& table, std::string path, const std::string& file)
        : table_(table), path_(std::move(path)), file_(file) {}

    const toml::node* find(const char* key) {
        seen_.insert(key);
        return table_.get(key);
    }

    [[noreturn]] void fail(const toml::node* node, const std::string& key,
                           const std::string& what) const {
        std::ostringstream msg;
        msg << file_;
        if (node != nullptr) msg << ':' << node->source().begin.line;
        msg << ": " << qualified(key) << ": " << what;
        throw ConfigError(msg.str());
    }

    std::string qualified(const std::string& key) const {
        return path_.empty() ? key : path_ + "." + key;
    }

    void string(const char* key, std::string& out) {
        const toml::node* node = find(key);
        if (node == nullptr) return;
        const auto* value = node->as_string();
        if (value == nullptr) fail(node, key, "expected a string, found " + toml_type_name(*node));
        try {
            out = expand_env(value->get(), qualified(key));
        } catch (const ConfigError& e) {
            fail(node, key, e.what());
        }
    }

    void integer(const char* key, int64_t& out, int64_t min, int64_t max) {
        const toml::node* node = find(key);
        if (node == nullptr) return;
        const auto* value = node->as_integer();
        if (value == nullptr)
            fail(node, key, "expected an integer, found " + toml_type_name(*node));
        if (value->get() < min || value->get() > max) {
            fail(node, key,
                 "value " + std::to_string(value->get()) + " is out of range [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
        }
        out = value->get();
    }

    // Left unset when the key is not there: the file did not say.
    void integer(const char* key, std::optional<int64_t>& out, int64_t min, int64_t max) {
        if (table_.get(key) == nullptr) return;
        int64_t value = 0;
        integer(key, value, min, max);
        out = value;
    }

    void boolean(const char* key, bool& out) {
        const toml::node* node = find(key);
        if (node == nullptr) return;
        const auto* value = node->as_boolean();
        if (value == nullptr) fail(node, key, "expected a boolean, found " + toml_type_name(*node));
        out = value->get();
    }

    void string_list(const char* key, std::vector<std::string>& out) {
        const toml::node* node = find(key);
        if (node == nullptr) return;
        const auto* array = node->as_array();
        if (array == nullptr) fail(node, key, "expected an array of strings");
        out.clear();
        for (const auto& item : *array) {
            const auto* value = item.as_string();
            if (value == nullptr) fail(&item, key, "expected an array of strings");
            out.push_back(expand_env(value->get(), qualified(key)));
        }
    }

    void integer_list(const char* key, std::vector<int64_t>& out, int64_t min) {
        const toml::node* node = find(key);
        if (node == nullptr) return;
        const auto* array = node->as_array();
        if (array == nullptr) fail(node, key, "expected an array of integers");
        out.clear();
        for (const auto& item : *array) {
            const auto* value = item.as_integer();
            if (value == nullptr || value->get() < min) {
                fail(&item, key, "expected integers >= " + std::to_string(min));
            }
            out.push_back(value->get());
        }
    }

    template <typename Enum>
    void choice(const char* key, Enum& out,
                std::initializer_list<std::pair<const char*, Enum>> options) {
        std::string text;
        string(key, text);
        if (text.empty()) return;
        std::string allowed;
        for (const auto& [name, value] : options) {
            if (text == name) {
                out = value;
                return;
            }
            allowed += allowed.empty() ? name : std::string(", ") + name;
        }
        fail(table_.get(key), key, "'" + text + "' is not one of: " + allowed);
    }

    const toml::table* subtable(const char* key) {
        const toml::node* node = find(key);
        if (node == nullptr) return nullptr;
        if (!node->is_table()) fail(node, key, "expected a table, found " + toml_type_name(*node));
        return node->as_table();
    }

    void reject_unknown() const {
        for (const auto& [key, node] : table_) {
            if (!seen_.contains(std::string(key.str()))) {
                fail(&node, std::string(key.str()), "unknown key");
            }
        }
    }

    const toml::table& table() const { return table_; }
    const std::string& path() const { return path_; }
    const std::string& file() const { return file_; }

  private:
    const toml::table& table_;
    std::string path_;
    const std::string& file_;
    std::set<std::string> seen_;
};

// Parses TOML text; a syntax error becomes a ConfigError "FILE:LINE:COLUMN: description".
toml::table parse_toml(std::string_view text, const std::string& file);
// Reads a file's text; throws ConfigError naming it when it cannot be read.
std::string read_config_file(const std::filesystem::path& path);

// The sections worker.toml and api.toml share; each reads `table` as [<name>].
void read_nats_section(Section& parent, const char* name, NatsConfig& out);
void read_stream_section(Section& parent, const char* name, StreamConfig& out);
// progress_interval_s is the host's only: the API refuses it as an unknown key.
enum class LogSection { Plain, WithProgress };
void read_log_section(Section& parent, const char* name, LogConfig& out,
                      LogSection keys = LogSection::Plain);
// Who reads [status]: each has keys of its own besides enabled, bucket, ttl_s and storage.
enum class StatusReader {
    Host,  // flush_ms, max_pending (the batched writer)
    Api,   // record_accepted
};
void read_status_section(Section& parent, const char* name, StatusConfig& out, StatusReader reader);

}  // namespace nomnom
