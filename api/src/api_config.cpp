#include "api_config.hpp"

#include <cstdlib>

#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/toml_section.hpp"
#include "worker_config.hpp"

namespace nomnom::api {

ApiConfig default_api_config() {
    ApiConfig config;
    config.status.enabled = true;
    return config;
}

ApiConfig parse_api_config(std::string_view text, const std::filesystem::path& source) {
    const std::string file = source.string();
    const toml::table root = parse_toml(text, file);
    ApiConfig config = default_api_config();
    config.source = source;
    Section top(root, "", file);

    if (const auto* table = top.subtable("http")) {
        Section http(*table, "http", file);
        http.string("listen", config.http.listen);
        http.integer("max_threads", config.http.max_threads, 1, 1024);
        http.integer("max_queued", config.http.max_queued, 1, 100000);
        http.integer("max_connections", config.http.max_connections, 1, 1000000);
        http.integer("keep_alive_timeout_ms", config.http.keep_alive_timeout_ms, 100, 3600000);
        http.integer("request_timeout_ms", config.http.request_timeout_ms, 100, 600000);
        http.integer("shutdown_timeout_ms", config.http.shutdown_timeout_ms, 0, 600000);
        http.reject_unknown();
    }
    read_nats_section(top, "nats", config.nats);
    read_stream_section(top, "stream", config.stream);
    if (const auto* table = top.subtable("ingest")) {
        Section ingest(*table, "ingest", file);
        ingest.string("subject", config.ingest.subject);
        ingest.choice("format", config.ingest.format,
                      {{"envelope", PublishFormat::Envelope}, {"raw", PublishFormat::Raw}});
        ingest.string("default_entity", config.ingest.default_entity);
        ingest.integer("max_body_bytes", config.ingest.max_body_bytes, 1, 1LL << 30);
        ingest.integer("max_batch_lines", config.ingest.max_batch_lines, 1, 10000000);
        ingest.integer("publish_timeout_ms", config.ingest.publish_timeout_ms, 10, 600000);
        ingest.integer("max_pending_acks", config.ingest.max_pending_acks, 1, 1000000);
        ingest.integer("retry_after_s", config.ingest.retry_after_s, 1, 3600);
        ingest.reject_unknown();
        if (!valid_entity(config.ingest.default_entity)) {
            ingest.fail(table->get("default_entity"), "default_entity",
                        "'" + config.ingest.default_entity +
                            "' is not an entity name (1-64 of A-Z a-z 0-9 _ -)");
        }
        const size_t placeholder = config.ingest.subject.find("{entity}");
        if (placeholder == std::string::npos ||
            config.ingest.subject.find_first_of("*> ") != std::string::npos) {
            ingest.fail(
                table->get("subject"), "subject",
                "'" + config.ingest.subject + "' must contain {entity} and no wildcards or spaces");
        }
    }
    if (const auto* table = top.subtable("auth")) {
        Section auth(*table, "auth", file);
        auth.string("tokens_file", config.auth.tokens_file);
        auth.string("tokens_env", config.auth.tokens_env);
        auth.reject_unknown();
        if (!config.auth.tokens_file.empty()) {
            const std::filesystem::path path(config.auth.tokens_file);
            if (path.is_relative()) {
                config.auth.tokens_file =
                    (std::filesystem::absolute(source).parent_path() / path).lexically_normal();
            }
        }
    }
    if (const auto* table = top.subtable("validate")) {
        Section validate(*table, "validate", file);
        std::string dir;
        validate.string("plugins_dir", dir);
        validate.integer("workers", config.validate.workers, 1, 64);
        validate.integer("parse_timeout_ms", config.validate.parse_timeout_ms, 10, 3600000);
        std::string worker_config;
        validate.string("worker_config", worker_config);
        validate.reject_unknown();
        if (!worker_config.empty()) {
            const std::filesystem::path path =
                (std::filesystem::absolute(source).parent_path() / worker_config)
                    .lexically_normal();
            try {
                host::load_worker_config(path);
            } catch (const std::exception& e) {
                validate.fail(table->get("worker_config"), "worker_config", e.what());
            }
            config.validate.worker_config = path;
        }
        if (!dir.empty()) {
            const std::filesystem::path path =
                (std::filesystem::absolute(source).parent_path() / dir).lexically_normal();
            std::error_code error;
            if (!std::filesystem::is_directory(path, error)) {
                validate.fail(table->get("plugins_dir"), "plugins_dir",
                              "'" + path.string() + "' is not a directory");
            }
            config.validate.plugins_dir = path;
        }
    }
    read_status_section(top, "status", config.status, StatusReader::Api);
    read_log_section(top, "log", config.log);
    top.reject_unknown();
    return config;
}

ApiConfig load_api_config(const std::filesystem::path& path) {
    return parse_api_config(read_config_file(path), path);
}

ApiConfig read_api_config(const std::filesystem::path& path) {
    ApiConfig config = path.empty() ? default_api_config() : load_api_config(path);
    apply_env_overrides(config);
    return config;
}

void apply_env_overrides(ApiConfig& config) {
    if (const char* url = std::getenv("NATS_URL"); url != nullptr && *url != '\0') {
        config.nats.url = url;
    }
    if (const char* port = std::getenv("PORT"); port != nullptr && *port != '\0') {
        char* end = nullptr;
        const long number = std::strtol(port, &end, 10);
        if (*end != '\0' || number < 0 || number > 65535) {
            throw ConfigError(std::string("environment variable PORT: '") + port +
                              "' is not a port number");
        }
        const size_t colon = config.http.listen.rfind(':');
        const std::string host =
            colon == std::string::npos ? "0.0.0.0" : config.http.listen.substr(0, colon);
        config.http.listen = host + ":" + std::to_string(number);
    }
}

}  // namespace nomnom::api
