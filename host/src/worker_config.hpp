#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "nomnom/common/config.hpp"

namespace nomnom::host {

enum class PayloadFormat { Json, Envelope };

struct ConsumerSettings {
    std::string durable;  // empty: "<durable_prefix>-<plugin>"
    std::string durable_prefix = "nomnom";
    int64_t batch_size = 256;
    int64_t max_wait_ms = 500;
    int64_t workers = 1;
    int64_t ack_wait_ms = 30000;
    int64_t max_deliver = 5;
    int64_t max_ack_pending = 10000;
    std::vector<int64_t> backoff_ms = {1000, 5000, 30000, 120000};
    PayloadFormat format = PayloadFormat::Json;
    std::vector<std::string> subjects;  // empty: the subjects the plugin declares

    bool operator==(const ConsumerSettings&) const = default;
};

struct PluginSettings {
    bool enabled = true;
    ConsumerSettings consumer;
    std::string config_json = "{}";

    bool operator==(const PluginSettings&) const = default;
};

struct DatabaseConfig {
    std::string url = "sqlite:nomnom.db";
    int64_t pool_size = 4;
    bool auto_migrate = true;

    bool operator==(const DatabaseConfig&) const = default;
};

struct DlqConfig {
    std::string stream = "NOMNOM_DLQ";
    std::string subject_prefix = "nomnom.dlq";  // dead letters go to <prefix>.<plugin>
    bool create = true;
    std::string storage = "file";
    int64_t max_age_s = 7 * 24 * 3600;
    int64_t max_replays = 3;  // `dlq replay` refuses a message replayed this often
    std::string host_id;      // empty: the machine's hostname

    bool operator==(const DlqConfig&) const = default;
};

struct HttpConfig {
    std::string listen = "0.0.0.0:9464";  // empty: no HTTP endpoint

    bool operator==(const HttpConfig&) const = default;
};

struct WorkerConfig {
    std::filesystem::path source;
    NatsConfig nats;
    StreamConfig stream;
    ConsumerSettings consumer_defaults;
    DatabaseConfig database;
    std::filesystem::path plugins_dir = "plugins";
    bool plugins_watch = false;        // reload when the plugins directory changes
    int64_t plugins_settle_ms = 1000;  // ... and has then been quiet this long
    // Where workers record what their plugin holds, so that a restart after a crash inside a
    // plugin sets aside the message that caused it. Must outlive the process, not the machine.
    std::filesystem::path plugins_state_dir;
    std::map<std::string, PluginSettings> plugins;
    DlqConfig dlq;
    StatusConfig status;
    HttpConfig http;
    LogConfig log;

    // Settings for a plugin with no [plugins.<name>] section fall back to [consumer].
    PluginSettings settings_for(const std::string& plugin) const;
};

// Parses and validates worker.toml. Relative paths (plugins.dir, a sqlite: database path) are
// resolved against the directory of the config file, so the host behaves the same whatever its
// working directory is.
WorkerConfig load_worker_config(const std::filesystem::path& path);
WorkerConfig parse_worker_config(std::string_view text, const std::filesystem::path& source);

}  // namespace nomnom::host
