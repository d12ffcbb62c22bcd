#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "nomnom/common/config.hpp"

namespace nomnom::api {

enum class PublishFormat {
    Envelope,  // the original nats-api's {"message_id", "body": "<payload as a string>", ...}
    Raw,       // the payload as received; id, entity and time in headers
};

struct HttpSettings {
    std::string listen = "0.0.0.0:8080";
    int64_t max_threads = 16;
    int64_t max_queued = 256;  // the listen backlog
    int64_t max_connections = 1024;
    int64_t keep_alive_timeout_ms = 15000;
    int64_t request_timeout_ms = 10000;
    int64_t shutdown_timeout_ms = 10000;

    bool operator==(const HttpSettings&) const = default;
};

struct IngestSettings {
    std::string subject = "messages.ingest.{entity}";
    PublishFormat format = PublishFormat::Envelope;
    std::string default_entity = "default";
    int64_t max_body_bytes = 2 * 1024 * 1024;
    int64_t max_batch_lines = 10000;
    int64_t publish_timeout_ms = 5000;
    // Publishes awaiting their PubAck at once, across all requests; a request finding the
    // window full waits for room within its publish_timeout_ms.
    int64_t max_pending_acks = 1024;
    int64_t retry_after_s = 5;

    bool operator==(const IngestSettings&) const = default;
};

struct AuthSettings {
    std::string tokens_file;  // one bearer token per line
    std::string tokens_env;   // name of an environment variable with comma-separated tokens
};

// [validate]: the plugins nomnom-host runs, run on each message before it is published (off
// while plugins_dir is empty).
struct ValidateSettings {
    std::filesystem::path plugins_dir;
    int64_t workers = 2;              // validator processes, each one request at a time
    int64_t parse_timeout_ms = 5000;  // per plugin call; a child past it is killed
    // nomnom-host's worker.toml: each plugin gets its [plugins.<name>] config, subjects and
    // enabled as the host runs it. Empty: "{}", the plugin's own subjects, every plugin.
    std::filesystem::path worker_config;

    bool operator==(const ValidateSettings&) const = default;
};

struct ApiConfig {
    std::filesystem::path source;
    HttpSettings http;
    NatsConfig nats;
    StreamConfig stream;
    IngestSettings ingest;
    AuthSettings auth;
    StatusConfig status;
    ValidateSettings validate;
    LogConfig log;
};

// Parses api.toml (see docker/api.example.toml); throws ConfigError naming file, line and key.
ApiConfig parse_api_config(std::string_view text, const std::filesystem::path& source);
ApiConfig load_api_config(const std::filesystem::path& path);
// The defaults, for running without a config file.
ApiConfig default_api_config();

// Container-style overrides, applied after the file: NATS_URL replaces nats.url and PORT the
// port of http.listen. Throws ConfigError for a PORT that is not a port number.
void apply_env_overrides(ApiConfig& config);

// What the API runs with: the file at `path` (the defaults when `path` is empty), then the
// environment's overrides.
ApiConfig read_api_config(const std::filesystem::path& path);

}  // namespace nomnom::api
