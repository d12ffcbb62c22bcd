#include "worker_config.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "nomnom/common/toml_section.hpp"

#include "nomnom/common/mysql_url.hpp"
#include "nomnom/common/redact.hpp"
#include "nomnom/common/subject_match.hpp"

namespace nomnom::host {
namespace {

void write_json(const toml::node& node, rapidjson::Writer<rapidjson::StringBuffer>& out,
                const std::string& where) {
    if (const auto* table = node.as_table()) {
        out.StartObject();
        for (const auto& [key, child] : *table) {
            out.Key(key.data(), static_cast<rapidjson::SizeType>(key.length()));
            write_json(child, out, where + "." + std::string(key.str()));
        }
        out.EndObject();
    } else if (const auto* array = node.as_array()) {
        out.StartArray();
        for (const auto& child : *array) write_json(child, out, where);
        out.EndArray();
    } else if (const auto* text = node.as_string()) {
        const std::string expanded = expand_env(text->get(), where);
        out.String(expanded.data(), static_cast<rapidjson::SizeType>(expanded.size()));
    } else if (const auto* integer = node.as_integer()) {
        out.Int64(integer->get());
    } else if (const auto* real = node.as_floating_point()) {
        out.Double(real->get());
    } else if (const auto* flag = node.as_boolean()) {
        out.Bool(flag->get());
    } else {
        std::ostringstream text_form;
        text_form << toml::node_view<const toml::node>(node);
        out.String(text_form.str().c_str());
    }
}

void read_consumer(Section& section, ConsumerSettings& consumer) {
    section.string("durable", consumer.durable);
    section.string("durable_prefix", consumer.durable_prefix);
    section.integer("batch_size", consumer.batch_size, 1, 100000);
    section.integer("max_wait_ms", consumer.max_wait_ms, 1, 60000);
    section.integer("fetch_max_bytes", consumer.fetch_max_bytes, 1, INT64_MAX);
    section.integer("workers", consumer.workers, 1, 256);
    section.integer("ack_wait_ms", consumer.ack_wait_ms, 1000, 24LL * 3600 * 1000);
    section.integer("max_deliver", consumer.max_deliver, -1, 1000000);
    section.integer("max_ack_pending", consumer.max_ack_pending, 1, 10000000);
    section.integer_list("backoff_ms", consumer.backoff_ms, 0);
    section.string_list("subjects", consumer.subjects);
    section.choice("format", consumer.format,
                   {{"json", PayloadFormat::Json}, {"envelope", PayloadFormat::Envelope}});
    if (consumer.backoff_ms.empty()) {
        section.fail(section.table().get("backoff_ms"), "backoff_ms", "must not be empty");
    }
    if (consumer.max_wait_ms * 2 > consumer.ack_wait_ms) {
        section.fail(section.table().get("max_wait_ms"), "max_wait_ms",
                     "must be well below ack_wait_ms, or fetched messages expire while waiting");
    }
}

// The keys of [plugins] itself; every other key is a [plugins.<name>] table.
const std::set<std::string> kPluginsKeys = {"dir",
                                            "watch",
                                            "settle_ms",
                                            "state_dir",
                                            "isolation",
                                            "parse_timeout_ms",
                                            "max_memory_mb",
                                            "quarantine_deaths",
                                            "quarantine_window_s",
                                            "restart_backoff_ms",
                                            "shutdown_timeout_ms"};

void read_isolation(Section& plugins, IsolationConfig& isolation) {
    plugins.choice("isolation", isolation.mode,
                   {{"process", Isolation::Process}, {"thread", Isolation::Thread}});
    plugins.integer("parse_timeout_ms", isolation.parse_timeout_ms, 0, 24 * 3600 * 1000);
    plugins.integer("max_memory_mb", isolation.max_memory_mb, 0, 1 << 24);
    plugins.integer("quarantine_deaths", isolation.quarantine_deaths, 1, 1000);
    plugins.integer("quarantine_window_s", isolation.quarantine_window_s, 1, 7 * 24 * 3600);
    plugins.integer("restart_backoff_ms", isolation.restart_backoff_ms, 10, 30000);
    plugins.integer("shutdown_timeout_ms", isolation.shutdown_timeout_ms, 1000, 3600 * 1000);
    if (isolation.mode == Isolation::Thread && isolation.max_memory_mb > 0) {
        plugins.fail(plugins.table().get("max_memory_mb"), "max_memory_mb",
                     "needs isolation = \"process\" (a thread's memory cannot be limited)");
    }
}

void read_table_outputs(Section& section, std::map<std::string, nomnom_output>& out) {
    for (const auto& [key, node] : section.table()) {
        const std::string table(key.str());
        nomnom_output output = NOMNOM_OUTPUT_STORE;
        section.choice(table.c_str(), output,
                       {{"store", NOMNOM_OUTPUT_STORE},
                        {"publish", NOMNOM_OUTPUT_PUBLISH},
                        {"both", NOMNOM_OUTPUT_BOTH}});
        out[table] = output;
    }
    section.reject_unknown();
}

// A NATS subject of literal tokens: [outputs] subject_prefix gets ".<table>" appended.
bool is_subject_prefix(const std::string& prefix) {
    if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
    if (prefix.find("..") != std::string::npos) return false;
    return std::none_of(prefix.begin(), prefix.end(), [](char c) {
        return c == '*' || c == '>' || std::isspace(static_cast<unsigned char>(c));
    });
}

// [outputs] against [stream]: published rows must land in a stream of their own that stores them.
void check_outputs(Section& outputs, const WorkerConfig& config) {
    const OutputsConfig& out = config.outputs;
    const toml::table* stream_table = outputs.table().get_as<toml::table>("stream");
    const auto stream_key = [&](const char* key) {
        return stream_table != nullptr ? stream_table->get(key) : nullptr;
    };
    const std::string published = out.subject_prefix + ".>";
    if (std::none_of(out.stream.subjects.begin(), out.stream.subjects.end(),
                     [&](const std::string& s) { return subject_covers(s, published); })) {
        outputs.fail(stream_key("subjects"), "stream.subjects",
                     "none of them captures '" + published +
                         "', where published rows go: every publish would fail");
    }
    if (out.stream.name == config.stream.name) {
        outputs.fail(stream_key("name"), "stream.name",
                     "'" + out.stream.name +
                         "' is the [stream] the plugins consume: published rows need a stream "
                         "of their own");
    }
    for (const std::string& subject : config.stream.subjects) {
        if (subjects_overlap(subject, published)) {
            outputs.fail(outputs.table().get("subject_prefix"), "subject_prefix",
                         "'" + published + "' overlaps the stream subject '" + subject +
                             "' ([stream] subjects): two streams cannot capture one subject");
        }
    }
}

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& value) {
    std::filesystem::path path(value);
    return path.is_absolute() ? path : (base / path).lexically_normal();
}

}  // namespace

int64_t ConsumerSettings::backoff_step_ms(size_t step) const {
    return backoff_ms[std::min(step, backoff_ms.size() - 1)];
}

int64_t ConsumerSettings::retry_delay_ms(uint64_t delivery_count) const {
    thread_local std::minstd_rand random(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const int64_t step_ms = backoff_step_ms(delivery_count > 0 ? delivery_count - 1 : 0);
    return static_cast<int64_t>(static_cast<double>(step_ms) * jitter(random));
}

PluginSettings WorkerConfig::settings_for(const std::string& plugin) const {
    if (auto found = plugins.find(plugin); found != plugins.end()) return found->second;
    PluginSettings settings;
    settings.consumer = consumer_defaults;
    return settings;
}

WorkerConfig parse_worker_config(std::string_view text, const std::filesystem::path& source) {
    const std::string file = source.string();
    toml::table root = parse_toml(text, file);

    WorkerConfig config;
    config.source = source;
    config.text = text;
    const std::filesystem::path base = std::filesystem::absolute(source).parent_path();
    Section top(root, "", file);

    read_nats_section(top, "nats", config.nats);
    read_stream_section(top, "stream", config.stream);

    if (const auto* table = top.subtable("consumer")) {
        Section consumer(*table, "consumer", file);
        read_consumer(consumer, config.consumer_defaults);
        consumer.reject_unknown();
    }

    if (const auto* table = top.subtable("database")) {
        Section database(*table, "database", file);
        database.string("url", config.database.url);
        database.integer("pool_size", config.database.pool_size, 1, 1024);
        database.boolean("auto_migrate", config.database.auto_migrate);
        database.reject_unknown();
        if (config.database.url.starts_with("sqlite:")) {
            const std::string path = config.database.url.substr(7);
            if (path.empty()) database.fail(table->get("url"), "url", "sqlite: needs a file path");
            if (path != ":memory:") config.database.url = "sqlite:" + resolve(base, path).string();
        } else if (is_mysql_url(config.database.url)) {
            try {
                parse_mysql_url(config.database.url);
            } catch (const std::invalid_argument& e) {
                database.fail(table->get("url"), "url",
                              redact_url(config.database.url) + ": " + e.what());
            }
        } else if (!config.database.url.starts_with("postgresql://") &&
                   !config.database.url.starts_with("postgres://")) {
            database.fail(table->get("url"), "url",
                          "expected sqlite:PATH, postgresql://... or mysql://..., got '" +
                              redact_url(config.database.url) + "'");
        }
    } else {
        config.database.url = "sqlite:" + resolve(base, "nomnom.db").string();
    }

    config.plugins_dir = resolve(base, "plugins");
    config.plugins_state_dir = resolve(base, "nomnom-state");
    if (const auto* table = top.subtable("plugins")) {
        Section plugins(*table, "plugins", file);
        std::string dir;
        plugins.string("dir", dir);
        if (!dir.empty()) config.plugins_dir = resolve(base, dir);
        plugins.boolean("watch", config.plugins_watch);
        plugins.integer("settle_ms", config.plugins_settle_ms, 100, 60000);
        std::string state_dir;
        plugins.string("state_dir", state_dir);
        if (!state_dir.empty()) config.plugins_state_dir = resolve(base, state_dir);
        read_isolation(plugins, config.isolation);
        for (const auto& [key, node] : *table) {
            const std::string name(key.str());
            if (kPluginsKeys.contains(name)) continue;
            const auto* plugin_table = plugins.subtable(name.c_str());
            if (plugin_table == nullptr) continue;
            Section plugin(*plugin_table, "plugins." + name, file);
            PluginSettings settings;
            settings.consumer = config.consumer_defaults;
            plugin.boolean("enabled", settings.enabled);
            read_consumer(plugin, settings.consumer);
            if (const auto* create_config = plugin.subtable("config")) {
                rapidjson::StringBuffer buffer;
                rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
                try {
                    write_json(*create_config, writer, "plugins." + name + ".config");
                } catch (const ConfigError& e) {
                    plugin.fail(create_config, "config", e.what());
                }
                settings.config_json = buffer.GetString();
            }
            if (const auto* outputs = plugin.subtable("outputs")) {
                Section section(*outputs, "plugins." + name + ".outputs", file);
                read_table_outputs(section, settings.outputs);
            }
            plugin.reject_unknown();
            config.plugins[name] = std::move(settings);
        }
    }

    if (const auto* table = top.subtable("dlq")) {
        Section dlq(*table, "dlq", file);
        dlq.string("stream", config.dlq.stream);
        dlq.string("subject_prefix", config.dlq.subject_prefix);
        dlq.boolean("create", config.dlq.create);
        dlq.choice("storage", config.dlq.storage,
                   {{"file", std::string("file")}, {"memory", std::string("memory")}});
        dlq.integer("max_age_s", config.dlq.max_age_s, 0, INT64_MAX / 1000000000);
        dlq.integer("max_replays", config.dlq.max_replays, 0, 1000);
        dlq.string("host_id", config.dlq.host_id);
        dlq.integer("replicas", config.dlq.replicas, 1, 5);
        dlq.reject_unknown();
    }
    for (const auto& subject : config.stream.subjects) {
        const std::string& prefix = config.dlq.subject_prefix;
        if (prefix.starts_with(subject.substr(0, subject.find('>')))) {
            const toml::node* dlq = root.get("dlq");
            top.fail(dlq != nullptr ? dlq->as_table()->get("subject_prefix") : nullptr,
                     "dlq.subject_prefix",
                     "'" + prefix + ".>' overlaps the stream subject '" + subject +
                         "': dead letters would be consumed again");
        }
    }

    if (const auto* table = top.subtable("outputs")) {
        Section outputs(*table, "outputs", file);
        outputs.string("subject_prefix", config.outputs.subject_prefix);
        if (!is_subject_prefix(config.outputs.subject_prefix)) {
            outputs.fail(
                table->get("subject_prefix"), "subject_prefix",
                "'" + config.outputs.subject_prefix + "' is not a NATS subject without wildcards");
        }
        config.outputs.stream.subjects = {config.outputs.subject_prefix + ".>"};
        outputs.integer("publish_timeout_ms", config.outputs.publish_timeout_ms, 100, 600000);
        read_stream_section(outputs, "stream", config.outputs.stream);
        outputs.reject_unknown();
        check_outputs(outputs, config);
    }

    read_status_section(top, "status", config.status, StatusReader::Host);

    if (const auto* table = top.subtable("http")) {
        Section http(*table, "http", file);
        http.string("listen", config.http.listen);
        http.string("admin_token", config.http.admin_token);
        http.string_list("allowed_hosts", config.http.allowed_hosts);
        // Anyone who can reach the port may try tokens (ten a minute): a short one is guessable.
        if (!config.http.admin_token.empty() && config.http.admin_token.size() < 16) {
            http.fail(http.find("admin_token"), "admin_token",
                      "must be at least 16 characters (e.g. `openssl rand -hex 16`), found " +
                          std::to_string(config.http.admin_token.size()));
        }
        http.reject_unknown();
    }

    read_log_section(top, "log", config.log, LogSection::WithProgress);

    top.reject_unknown();
    return config;
}

std::string with_running_sections(const std::string& running_text, const std::string& fresh_text,
                                  const std::filesystem::path& source) {
    const toml::table running = parse_toml(running_text, source.string());
    toml::table fresh = parse_toml(fresh_text, source.string());
    const auto keep = [](const toml::table& from, toml::table& into, const char* key) {
        if (const toml::node* node = from.get(key)) {
            into.insert_or_assign(key, *node);
        } else {
            into.erase(key);
        }
    };
    for (const char* section : {"nats", "stream", "database", "dlq", "outputs", "status", "http"}) {
        keep(running, fresh, section);
    }
    const toml::table empty;
    const toml::table* running_plugins = running.get_as<toml::table>("plugins");
    if (toml::table* fresh_plugins = fresh.get_as<toml::table>("plugins")) {
        for (const char* key : {"state_dir", "isolation"}) {
            keep(running_plugins != nullptr ? *running_plugins : empty, *fresh_plugins, key);
        }
    } else if (running_plugins != nullptr) {
        toml::table plugins;
        for (const char* key : {"state_dir", "isolation"}) keep(*running_plugins, plugins, key);
        fresh.insert_or_assign("plugins", std::move(plugins));
    }
    std::ostringstream out;
    out << fresh;
    return out.str();
}

WorkerConfig load_worker_config(const std::filesystem::path& path) {
    return parse_worker_config(read_config_file(path), path);
}

}  // namespace nomnom::host
