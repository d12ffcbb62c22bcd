#include "status_tool.hpp"

#include <rapidjson/document.h>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "nomnom/common/nats_client.hpp"
#include "nomnom/common/redact.hpp"
#include "nomnom/common/timestamp.hpp"
#include "ops/http_get.hpp"
#include "pipeline/dead_letter.hpp"
#include "pipeline/jetstream_consumer.hpp"
#include "plugins/plugin_library.hpp"
#include "plugins/plugin_supervisor.hpp"
#include "worker_config.hpp"

namespace nomnom::host {
namespace {

constexpr const char* kUsage =
    "usage: nomnom-host status --config worker.toml [--endpoint http://HOST:PORT]\n"
    "  --endpoint URL  the running host's HTTP endpoint (default: from http.listen, with\n"
    "                  0.0.0.0 read as 127.0.0.1)\n";

// The endpoint of the host that runs with this config, or "" when http.listen does not say.
std::string endpoint_from_config(const HttpConfig& http) {
    const size_t colon = http.listen.rfind(':');
    if (colon == std::string::npos) return {};
    std::string host = http.listen.substr(0, colon);
    const std::string port = http.listen.substr(colon + 1);
    if (port.empty() || port == "0") return {};
    if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") host = "127.0.0.1";
    return "http://" + host + ":" + port;
}

// What the running host says about itself, when it answers.
struct HostView {
    bool answered = false;
    std::string summary;                              // "ready", or what is not
    std::map<std::string, std::string> plugin_state;  // name (or refused file) -> state
    std::map<std::string, std::string> last_error;    // name -> "<time> (<n> s ago): <reason>"
    std::string metrics;                              // Prometheus text
};

// "2026-11-28T05:47:25.349Z (3 s ago)"
std::string time_and_age(std::chrono::system_clock::time_point then) {
    const auto ago =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - then);
    return utc_timestamp(then) + " (" + std::to_string(ago.count()) + " s ago)";
}

HostView ask_host(const std::string& endpoint) {
    HostView view;
    if (endpoint.empty()) {
        view.summary =
            "no endpoint to ask (http.listen is off or picks a random port; pass --endpoint)";
        return view;
    }
    HttpAnswer ready;
    try {
        ready = http_get(endpoint, "/ready");
        view.metrics = http_get(endpoint, "/metrics").body;
    } catch (const std::exception& e) {  // Poco::Exception included
        view.summary =
            "no host answers at " + endpoint + " (" + e.what() + "): JetStream state only";
        return view;
    }
    view.answered = true;
    rapidjson::Document document;
    document.Parse(ready.body.c_str());
    if (document.HasParseError() || !document.IsObject()) {
        view.summary = "answers at " + endpoint + " with HTTP " + std::to_string(ready.status) +
                       " and a body that is not the host's /ready JSON";
        return view;
    }
    const auto text = [&](const char* key) {
        const auto member = document.FindMember(key);
        return member != document.MemberEnd() && member->value.IsString()
                   ? std::string(member->value.GetString())
                   : std::string();
    };
    const bool ready_flag =
        document.HasMember("ready") && document["ready"].IsBool() && document["ready"].GetBool();
    view.summary = endpoint + ": " + (ready_flag ? "ready" : "NOT ready");
    if (!text("reason").empty()) view.summary += " (" + text("reason") + ")";
    if (!text("nats").empty()) {
        view.summary += ", nats " + text("nats") + ", database " + text("database");
    }
    if (const auto plugins = document.FindMember("plugins");
        plugins != document.MemberEnd() && plugins->value.IsObject()) {
        for (const auto& entry : plugins->value.GetObject()) {
            if (entry.value.IsString()) {
                view.plugin_state[entry.name.GetString()] = entry.value.GetString();
            }
        }
    }
    if (const auto errors = document.FindMember("last_errors");
        errors != document.MemberEnd() && errors->value.IsObject()) {
        for (const auto& entry : errors->value.GetObject()) {
            if (!entry.value.IsObject()) continue;
            const auto unix_ms = entry.value.FindMember("unix_ms");
            const auto reason = entry.value.FindMember("reason");
            if (unix_ms == entry.value.MemberEnd() || !unix_ms->value.IsInt64() ||
                reason == entry.value.MemberEnd() || !reason->value.IsString()) {
                continue;
            }
            const std::chrono::system_clock::time_point then{
                std::chrono::milliseconds(unix_ms->value.GetInt64())};
            view.last_error[entry.name.GetString()] =
                time_and_age(then) + ": " + reason->value.GetString();
        }
    }
    return view;
}

// The value of `name{plugin="<plugin>"}` in Prometheus text, or "?".
std::string metric(const std::string& metrics, const std::string& name, const std::string& plugin) {
    const std::string key = name + "{plugin=\"" + plugin + "\"} ";
    const size_t at = metrics.find(key);
    if (at == std::string::npos) return "?";
    const size_t start = at + key.size();
    return metrics.substr(start, metrics.find('\n', start) - start);
}

std::string last_delivered(int64_t nanos) {
    if (nanos <= 0) return "never";
    return time_and_age(std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(nanos))));
}

// Each of the plugin's consumers as found on the server by its subject (under the name a host
// would give it while NATS does not answer or it is not created yet), and those it left behind.
void print_consumers(NatsClient* nats, const std::string& plugin,
                     const std::vector<ConsumerSpec>& wanted) {
    const auto unknown = [&](const std::string& why) {
        for (const ConsumerSpec& spec : wanted) {
            std::cout << "  consumer " << spec.durable << " (" << spec.subject << "): " << why
                      << "\n";
        }
    };
    if (nats == nullptr || wanted.empty()) {
        unknown("unknown (NATS unreachable)");
        return;
    }
    const std::string& stream = wanted.front().stream;
    ConsumerPlan plan;
    try {
        plan = plan_plugin_consumers(list_consumers(*nats, stream), plugin, wanted);
    } catch (const NatsError& e) {
        unknown(e.what());
        return;
    }
    for (const PlannedConsumer& planned : plan.consumers) {
        std::cout << "  consumer " << planned.spec.durable << " (" << planned.spec.subject << "): ";
        if (!planned.existing) {
            std::cout << "not created yet (no host has run this plugin on stream " << stream
                      << ")\n";
            continue;
        }
        const ConsumerState& state = planned.existing->state;
        std::cout << "pending " << state.pending << ", ack pending " << state.ack_pending
                  << ", redelivered " << state.redelivered << ", waiting pulls " << state.waiting
                  << ", last delivered " << last_delivered(state.last_delivered_ns) << "\n";
    }
    for (const ListedConsumer& old : plan.orphans) {
        std::cout << "  left behind: consumer " << old.name << " filters '" << old.subject
                  << "', no longer consumed by this plugin (kept for hosts running the old "
                     "version; delete it once none does)\n";
    }
}

}  // namespace

int run_status_command(const std::vector<std::string>& args) {
    std::string config_path;
    std::optional<std::string> endpoint;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--config" && i + 1 < args.size()) {
            config_path = args[++i];
        } else if (args[i] == "--endpoint" && i + 1 < args.size()) {
            endpoint = args[++i];
        } else {
            std::cerr << "nomnom-host status: unknown argument '" << args[i] << "'\n" << kUsage;
            return 2;
        }
    }
    if (config_path.empty()) {
        std::cerr << "nomnom-host status: --config is required\n" << kUsage;
        return 2;
    }
    WorkerConfig config;
    try {
        config = load_worker_config(config_path);
    } catch (const ConfigError& e) {
        std::cerr << "nomnom-host status: invalid config: " << e.what() << "\n";
        return 2;
    }

    std::cout << "config  " << config.source.string() << "\n";
    std::unique_ptr<NatsClient> nats;
    try {
        nats = std::make_unique<NatsClient>(config.nats);
        std::cout << "nats    " << redact_url(config.nats.url) << ": connected\n";
    } catch (const NatsError& e) {
        std::cout << "nats    " << e.what() << ": consumer state unknown\n";
    }
    const HostView host = ask_host(endpoint.value_or(endpoint_from_config(config.http)));
    std::cout << "host    " << host.summary << "\n";

    std::vector<std::filesystem::path> files;
    try {
        files = list_plugin_files(config.plugins_dir);
    } catch (const PluginRefused& e) {
        std::cout << e.what() << "\n";
    }
    for (const auto& file : files) {
        std::shared_ptr<PluginLibrary> library;
        try {
            library = PluginLibrary::open(file);
        } catch (const PluginRefused& e) {
            std::cout << "\nplugin file " << file.filename().string() << ": refused: " << e.what()
                      << "\n";
            continue;
        }
        const std::string name = library->name();
        const PluginSettings settings = config.settings_for(name);
        std::cout << "\nplugin " << name << " " << library->version() << " ("
                  << file.filename().string() << (settings.enabled ? "" : ", disabled") << ")\n";
        if (host.answered) {
            const auto state = host.plugin_state.find(name);
            std::cout << "  host state   "
                      << (state != host.plugin_state.end() ? state->second
                                                           : "not running on this host")
                      << "\n";
            std::cout << "  host counts  persisted "
                      << metric(host.metrics, "nomnom_messages_persisted_total", name)
                      << ", dead-lettered "
                      << metric(host.metrics, "nomnom_messages_dead_lettered_total", name)
                      << ", retried " << metric(host.metrics, "nomnom_messages_retried_total", name)
                      << "\n";
            const auto last_error = host.last_error.find(name);
            std::cout << "  last error   "
                      << (last_error != host.last_error.end() ? last_error->second : "none")
                      << "\n";
        }
        print_consumers(
            nats.get(), name,
            plugin_consumers(config.stream.name, name, effective_subjects(*library, settings),
                             settings.consumer));
    }
    for (const auto& [file, state] : host.plugin_state) {
        if (state.starts_with("refused: ")) {
            std::cout << "\nhost refused " << file << ": " << state.substr(9) << "\n";
        }
    }
    if (files.empty())
        std::cout << "\nno plugins (*.so) in " << config.plugins_dir.string() << "\n";
    return 0;
}

int run_probe_command(const std::vector<std::string>& args) {
    if (args.size() != 1) {
        std::cerr << "usage: nomnom-host probe http://HOST:PORT/PATH\n";
        return 2;
    }
    const std::string& url = args[0];
    const size_t authority = url.find("://");
    const size_t path =
        authority == std::string::npos ? std::string::npos : url.find('/', authority + 3);
    try {
        const HttpAnswer answer = path == std::string::npos
                                      ? http_get(url, "/")
                                      : http_get(url.substr(0, path), url.substr(path));
        std::cout << answer.status << " " << answer.body << "\n";
        return answer.status >= 200 && answer.status < 300 ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "probe " << url << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace nomnom::host
