#include "nomnom/common/toml_section.hpp"

#include <fstream>

namespace nomnom {

toml::table parse_toml(std::string_view text, const std::string& file) {
    try {
        return toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << file << ':' << e.source().begin.line << ':' << e.source().begin.column << ": "
            << e.description();
        throw ConfigError(msg.str());
    }
}

std::string read_config_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(path.string() + ": cannot open config file");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void read_nats_section(Section& parent, const char* name, NatsConfig& out) {
    const auto* table = parent.subtable(name);
    if (table == nullptr) return;
    Section nats(*table, parent.qualified(name), parent.file());
    nats.string("url", out.url);
    nats.string("user", out.user);
    nats.string("password", out.password);
    nats.string("token", out.token);
    nats.string("creds_file", out.creds_file);
    nats.integer("connect_timeout_ms", out.connect_timeout_ms, 100, 600000);
    if (const auto* tls_table = nats.subtable("tls")) {
        Section tls(*tls_table, nats.qualified("tls"), parent.file());
        tls.boolean("enabled", out.tls.enabled);
        tls.string("ca_file", out.tls.ca_file);
        tls.string("cert_file", out.tls.cert_file);
        tls.string("key_file", out.tls.key_file);
        tls.boolean("skip_verify", out.tls.skip_verify);
        tls.reject_unknown();
    }
    nats.reject_unknown();
}

void read_stream_section(Section& parent, const char* name, StreamConfig& out) {
    const auto* table = parent.subtable(name);
    if (table == nullptr) return;
    Section stream(*table, parent.qualified(name), parent.file());
    stream.string("name", out.name);
    stream.string_list("subjects", out.subjects);
    stream.boolean("create", out.create);
    stream.choice("storage", out.storage,
                  {{"file", std::string("file")}, {"memory", std::string("memory")}});
    stream.integer("max_age_s", out.max_age_s, 0, INT64_MAX / 1000000000);
    stream.integer("max_bytes", out.max_bytes, -1, INT64_MAX);
    stream.integer("duplicate_window_s", out.duplicate_window_s, 0, 86400 * 7);
    stream.integer("replicas", out.replicas, 1, 5);
    stream.reject_unknown();
}

void read_log_section(Section& parent, const char* name, LogConfig& out, LogSection keys) {
    const auto* table = parent.subtable(name);
    if (table == nullptr) return;
    Section log(*table, parent.qualified(name), parent.file());
    log.choice("level", out.level,
               {{"trace", std::string("trace")},
                {"debug", std::string("debug")},
                {"info", std::string("info")},
                {"warn", std::string("warn")},
                {"error", std::string("error")}});
    log.choice("format", out.format,
               {{"text", std::string("text")}, {"json", std::string("json")}});
    if (keys == LogSection::WithProgress) {
        log.integer("progress_interval_s", out.progress_interval_s, 0, 86400);
    }
    log.reject_unknown();
}

void read_status_section(Section& parent, const char* name, StatusConfig& out,
                         StatusReader reader) {
    const auto* table = parent.subtable(name);
    if (table == nullptr) return;
    Section status(*table, parent.qualified(name), parent.file());
    status.boolean("enabled", out.enabled);
    status.string("bucket", out.bucket);
    status.integer("ttl_s", out.ttl_s, 1, INT64_MAX / 1000000000);
    status.choice("storage", out.storage,
                  {{"file", std::string("file")}, {"memory", std::string("memory")}});
    if (reader == StatusReader::Host) {
        status.integer("flush_ms", out.flush_ms, 1, 60000);
        status.integer("max_pending", out.max_pending, 1, 100000000);
    } else {
        status.boolean("record_accepted", out.record_accepted);
    }
    status.reject_unknown();
    if (out.bucket.empty() ||
        out.bucket.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
            std::string::npos) {
        status.fail(table->get("bucket"), "bucket",
                    "'" + out.bucket + "' is not a bucket name (letters, digits, _ and - only)");
    }
}

}  // namespace nomnom
