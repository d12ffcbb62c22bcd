#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace nomnom {

// Raised for any problem in worker.toml; the message names the file, line and key.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct TlsConfig {
    bool enabled = false;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool skip_verify = false;

    bool operator==(const TlsConfig&) const = default;
};

struct NatsConfig {
    std::string url = "nats://127.0.0.1:4222";
    std::string user;
    std::string password;
    std::string token;
    std::string creds_file;
    TlsConfig tls;
    int64_t connect_timeout_ms = 5000;

    bool operator==(const NatsConfig&) const = default;
};

struct StreamConfig {
    std::string name = "MESSAGES";
    std::vector<std::string> subjects = {"messages.ingest.>"};
    bool create = true;
    std::string storage = "file";
    int64_t max_age_s = 0;
    int64_t max_bytes = -1;
    int64_t duplicate_window_s = 120;

    bool operator==(const StreamConfig&) const = default;
};

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

// Where message statuses (accepted / persisted / failed) are kept for GET /ingest/status: a
// JetStream key-value bucket whose entries expire after ttl_s.
struct StatusConfig {
    bool enabled = false;
    std::string bucket = "NOMNOM_STATUS";
    int64_t ttl_s = 24 * 3600;
    std::string storage = "file";
    int64_t flush_ms = 100;        // the host writes statuses in batches at least this often
    int64_t max_pending = 100000;  // statuses queued beyond this are dropped (and counted)
    bool record_accepted = true;   // nomnom-api writes "accepted" after each PubAck

    bool operator==(const StatusConfig&) const = default;
};

struct HttpConfig {
    std::string listen = "0.0.0.0:9464";  // empty: no HTTP endpoint

    bool operator==(const HttpConfig&) const = default;
};

struct LogConfig {
    std::string level = "info";
    std::string format = "text";
    int64_t progress_interval_s = 10;  // a progress line per plugin with a backlog; 0: none

    bool operator==(const LogConfig&) const = default;
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

// Expands ${NAME} and ${NAME:-default} from the environment; an unset NAME without default is an
// error naming `what`.
std::string expand_env(std::string_view value, std::string_view what);

}  // namespace nomnom
