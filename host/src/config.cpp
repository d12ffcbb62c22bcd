#include "config.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <toml++/toml.h>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "redact.hpp"

namespace nomnom {
namespace {

std::string type_name(const toml::node& node) {
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

// One TOML table being read: every key read is remembered so that whatever is left at the end
// is reported as unknown instead of being silently ignored.
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
        if (value == nullptr) fail(node, key, "expected a string, found " + type_name(*node));
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
        if (value == nullptr) fail(node, key, "expected an integer, found " + type_name(*node));
        if (value->get() < min || value->get() > max) {
            fail(node, key,
                 "value " + std::to_string(value->get()) + " is out of range [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
        }
        out = value->get();
    }

    void boolean(const char* key, bool& out) {
        const toml::node* node = find(key);
        if (node == nullptr) return;
        const auto* value = node->as_boolean();
        if (value == nullptr) fail(node, key, "expected a boolean, found " + type_name(*node));
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
        if (!node->is_table()) fail(node, key, "expected a table, found " + type_name(*node));
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

  private:
    const toml::table& table_;
    std::string path_;
    const std::string& file_;
    std::set<std::string> seen_;
};

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

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& value) {
    std::filesystem::path path(value);
    return path.is_absolute() ? path : (base / path).lexically_normal();
}

}  // namespace

std::string expand_env(std::string_view value, std::string_view what) {
    std::string out;
    out.reserve(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '$' || i + 1 >= value.size() || value[i + 1] != '{') {
            out += value[i];
            continue;
        }
        const size_t close = value.find('}', i + 2);
        if (close == std::string_view::npos) {
            // Not echoing the value: it may be a secret.
            throw ConfigError(std::string(what) + ": unterminated ${ at character " +
                              std::to_string(i + 1));
        }
        std::string_view inner = value.substr(i + 2, close - i - 2);
        std::string_view fallback;
        bool has_fallback = false;
        if (const size_t dash = inner.find(":-"); dash != std::string_view::npos) {
            fallback = inner.substr(dash + 2);
            inner = inner.substr(0, dash);
            has_fallback = true;
        }
        const std::string name(inner);
        if (const char* env = std::getenv(name.c_str()); env != nullptr && *env != '\0') {
            out += env;
        } else if (has_fallback) {
            out += fallback;
        } else {
            throw ConfigError(std::string(what) + ": environment variable " + name + " is not set");
        }
        i = close;
    }
    return out;
}

PluginSettings WorkerConfig::settings_for(const std::string& plugin) const {
    if (auto found = plugins.find(plugin); found != plugins.end()) return found->second;
    PluginSettings settings;
    settings.consumer = consumer_defaults;
    return settings;
}

WorkerConfig parse_worker_config(std::string_view text, const std::filesystem::path& source) {
    const std::string file = source.string();
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << file << ':' << e.source().begin.line << ':' << e.source().begin.column << ": "
            << e.description();
        throw ConfigError(msg.str());
    }

    WorkerConfig config;
    config.source = source;
    const std::filesystem::path base = std::filesystem::absolute(source).parent_path();
    Section top(root, "", file);

    if (const auto* table = top.subtable("nats")) {
        Section nats(*table, "nats", file);
        nats.string("url", config.nats.url);
        nats.string("user", config.nats.user);
        nats.string("password", config.nats.password);
        nats.string("token", config.nats.token);
        nats.string("creds_file", config.nats.creds_file);
        nats.integer("connect_timeout_ms", config.nats.connect_timeout_ms, 100, 600000);
        if (const auto* tls_table = nats.subtable("tls")) {
            Section tls(*tls_table, "nats.tls", file);
            tls.boolean("enabled", config.nats.tls.enabled);
            tls.string("ca_file", config.nats.tls.ca_file);
            tls.string("cert_file", config.nats.tls.cert_file);
            tls.string("key_file", config.nats.tls.key_file);
            tls.boolean("skip_verify", config.nats.tls.skip_verify);
            tls.reject_unknown();
        }
        nats.reject_unknown();
    }

    if (const auto* table = top.subtable("stream")) {
        Section stream(*table, "stream", file);
        stream.string("name", config.stream.name);
        stream.string_list("subjects", config.stream.subjects);
        stream.boolean("create", config.stream.create);
        stream.choice("storage", config.stream.storage,
                      {{"file", std::string("file")}, {"memory", std::string("memory")}});
        stream.integer("max_age_s", config.stream.max_age_s, 0, INT64_MAX / 1000000000);
        stream.integer("max_bytes", config.stream.max_bytes, -1, INT64_MAX);
        stream.integer("duplicate_window_s", config.stream.duplicate_window_s, 0, 86400 * 7);
        stream.reject_unknown();
    }

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
        } else if (!config.database.url.starts_with("postgresql://") &&
                   !config.database.url.starts_with("postgres://")) {
            database.fail(table->get("url"), "url",
                          "expected sqlite:PATH or postgresql://..., got '" +
                              redact_url(config.database.url) + "'");
        }
    } else {
        config.database.url = "sqlite:" + resolve(base, "nomnom.db").string();
    }

    config.plugins_dir = resolve(base, "plugins");
    if (const auto* table = top.subtable("plugins")) {
        Section plugins(*table, "plugins", file);
        std::string dir;
        plugins.string("dir", dir);
        if (!dir.empty()) config.plugins_dir = resolve(base, dir);
        plugins.boolean("watch", config.plugins_watch);
        plugins.integer("settle_ms", config.plugins_settle_ms, 100, 60000);
        for (const auto& [key, node] : *table) {
            const std::string name(key.str());
            if (name == "dir" || name == "watch" || name == "settle_ms") continue;
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

    if (const auto* table = top.subtable("http")) {
        Section http(*table, "http", file);
        http.string("listen", config.http.listen);
        http.reject_unknown();
    }

    if (const auto* table = top.subtable("log")) {
        Section log(*table, "log", file);
        log.choice("level", config.log.level,
                   {{"trace", std::string("trace")},
                    {"debug", std::string("debug")},
                    {"info", std::string("info")},
                    {"warn", std::string("warn")},
                    {"error", std::string("error")}});
        log.choice("format", config.log.format,
                   {{"text", std::string("text")}, {"json", std::string("json")}});
        log.integer("progress_interval_s", config.log.progress_interval_s, 0, 86400);
        log.reject_unknown();
    }

    top.reject_unknown();
    return config;
}

WorkerConfig load_worker_config(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(path.string() + ": cannot open config file");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_worker_config(text.str(), path);
}

}  // namespace nomnom
