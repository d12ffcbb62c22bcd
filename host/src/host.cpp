#include "host.hpp"

#include <pthread.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <ctime>
#include <iostream>
#include <set>

#include "plugin_library.hpp"

namespace nomnom {
namespace {

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

std::string describe(const PluginLibrary& library) {
    const auto& d = library.descriptor();
    std::vector<std::string> tables;
    for (uint32_t t = 0; t < d.table_count; ++t) tables.emplace_back(d.tables[t].name);
    return fmt::format("{} {} (subjects [{}], tables [{}], {})", library.name(), library.version(),
                       fmt::join(library.subjects(), ", "), fmt::join(tables, ", "),
                       d.persist ? "custom persist" : "host upsert");
}

// Plugins named in worker.toml but absent from the directory are most likely typos.
void warn_unmatched_sections(const WorkerConfig& config, const PluginScan& scan) {
    std::set<std::string> names;
    for (const auto& library : scan.loaded) names.insert(library->name());
    for (const auto& [name, settings] : config.plugins) {
        if (!names.contains(name)) {
            spdlog::warn("{}: [plugins.{}] matches no loaded plugin in {}", config.source.string(),
                         name, config.plugins_dir.string());
        }
    }
}

}  // namespace

SignalWaiter::SignalWaiter() {
    const sigset_t set = handled_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int SignalWaiter::wait(int64_t timeout_ms) {
    const sigset_t set = handled_signals();
    timespec timeout{static_cast<time_t>(timeout_ms / 1000),
                     static_cast<long>((timeout_ms % 1000) * 1000000)};
    const int signal = sigtimedwait(&set, nullptr, &timeout);
    return signal > 0 ? signal : 0;
}

Host::Host(WorkerConfig config) : config_(std::move(config)) {}

Host::~Host() = default;

bool Host::connect(SignalWaiter& signals) {
    for (int attempt = 1;; ++attempt) {
        try {
            if (!database_) database_ = std::make_unique<Database>(config_.database);
            if (!nats_) nats_ = std::make_unique<NatsClient>(config_.nats);
            if (config_.stream.create) {
                nats_->ensure_stream(config_.stream);
            } else {
                nats_->require_stream(config_.stream.name);
            }
            if (!dead_letters_) {
                auto sink = std::make_unique<JetStreamDeadLetterSink>(*nats_, config_.dlq);
                sink->ensure_stream();
                dead_letters_ = std::move(sink);
            }
            return true;
        } catch (const std::exception& e) {
            const int64_t wait_ms = std::min<int64_t>(500LL << std::min(attempt, 4), 5000);
            spdlog::error("startup: {} (attempt {}, next in {} ms)", e.what(), attempt, wait_ms);
            const int signal = signals.wait(wait_ms);
            if (signal == SIGTERM || signal == SIGINT) return false;
        }
    }
}

void Host::start_plugins() {
    const PluginScan scan = scan_plugin_dir(config_.plugins_dir);
    warn_unmatched_sections(config_, scan);
    std::vector<std::string> refused;
    for (const auto& [file, reason] : scan.refused) {
        spdlog::error("plugin {} refused: {}", file.string(), reason);
        refused.push_back(file.filename().string());
        refused_.emplace_back(file.filename().string(), reason);
    }
    std::vector<std::string> started;
    for (const auto& library : scan.loaded) {
        PluginSettings settings = config_.settings_for(library->name());
        if (!settings.enabled) {
            spdlog::info("plugin {} is disabled in {}", library->name(), config_.source.string());
            continue;
        }
        auto runner = std::make_unique<PluginRunner>(library, std::move(settings), *database_,
                                                     *nats_, *dead_letters_, config_.stream.name);
        try {
            runner->start(config_.database.auto_migrate);
            spdlog::info("plugin {} started from {}", describe(*library), library->file().string());
            started.push_back(library->name());
            runners_.push_back(std::move(runner));
        } catch (const std::exception& e) {
            spdlog::error("plugin {} refused: {}", library->file().string(), e.what());
            refused.push_back(library->file().filename().string());
            refused_.emplace_back(library->file().filename().string(), e.what());
        }
    }
    spdlog::info("startup summary: {} plugin(s) running [{}], {} refused [{}]", started.size(),
                 fmt::join(started, ", "), refused.size(), fmt::join(refused, ", "));
    started_.store(true);
}

Readiness Host::readiness() const {
    if (!started_.load()) return {false, R"({"ready":false,"reason":"starting"})"};
    const bool nats_up = nats_ && nats_->connected();
    bool database_up = true;
    bool plugins_ok = refused_.empty() && !runners_.empty();
    std::string plugins;
    for (const auto& runner : runners_) {
        std::string state = "running";
        if (runner->fatal()) {
            state = "fatal: " + runner->fatal_reason();
            plugins_ok = false;
        } else if (runner->database_unreachable()) {
            state = "waiting for the database";
            database_up = false;
        }
        plugins += (plugins.empty() ? "\"" : ",\"") + json_escape(runner->name()) + "\":\"" +
                   json_escape(state) + "\"";
    }
    for (const auto& [file, reason] : refused_) {
        plugins += (plugins.empty() ? "\"" : ",\"") + json_escape(file) + "\":\"refused: " +
                   json_escape(reason) + "\"";
    }
    const bool ready = nats_up && database_up && plugins_ok;
    return {ready, std::string("{\"ready\":") + (ready ? "true" : "false") + ",\"nats\":\"" +
                       (nats_up ? "connected" : "disconnected") + "\",\"database\":\"" +
                       (database_up ? "reachable" : "unreachable") + "\",\"plugins\":{" +
                       plugins + "}}"};
}

int Host::run(SignalWaiter& signals) {
    spdlog::info("nomnom-host starting: config {}, plugins {}, database {}, nats {}",
                 config_.source.string(), config_.plugins_dir.string(),
                 redact_url(config_.database.url), redact_url(config_.nats.url));
    if (!config_.http.listen.empty()) {
        health_ = std::make_unique<HealthServer>(config_.http.listen, [this] { return readiness(); });
        spdlog::info("http endpoint (/health, /ready) listening on port {}", health_->port());
    }
    if (!connect(signals)) {
        spdlog::info("stopped before startup completed");
        return 0;
    }
    start_plugins();
    for (;;) {
        const int signal = signals.wait(1000);
        if (signal == SIGTERM || signal == SIGINT) {
            spdlog::info("received {}: draining", signal == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (signal == SIGHUP) {
            spdlog::warn(
                "SIGHUP received: live reload is not supported by this version; restart "
                "the host to apply changes");
        }
    }
    for (auto& runner : runners_) runner->request_stop();
    for (auto& runner : runners_) runner->join();
    try {
        nats_->flush(5000);
    } catch (const NatsError& e) {
        spdlog::warn("final flush: {} (unsent acks will be redelivered and upserted again)",
                     e.what());
    }
    health_.reset();
    runners_.clear();
    spdlog::info("drained: every in-flight batch committed and settled; exiting");
    return 0;
}

int check_config(const WorkerConfig& config) {
    const PluginScan scan = scan_plugin_dir(config.plugins_dir);
    int problems = 0;
    std::cout << "config " << config.source.string() << ": ok\n";
    for (const auto& [file, reason] : scan.refused) {
        std::cout << "plugin " << file.string() << ": REFUSED: " << reason << "\n";
        ++problems;
    }
    std::set<std::string> names;
    for (const auto& library : scan.loaded) {
        names.insert(library->name());
        const PluginSettings settings = config.settings_for(library->name());
        try {
            PluginInstance instance(library, settings.config_json);
            std::cout << "plugin " << library->file().string() << ": ok: " << describe(*library)
                      << (settings.enabled ? "" : " [disabled]") << "\n";
        } catch (const PluginRefused& e) {
            std::cout << "plugin " << library->file().string() << ": REFUSED: " << e.what() << "\n";
            ++problems;
        }
    }
    for (const auto& [name, settings] : config.plugins) {
        if (!names.contains(name)) {
            std::cout << "[plugins." << name << "]: no such plugin in "
                      << config.plugins_dir.string() << "\n";
            ++problems;
        }
    }
    if (scan.loaded.empty() && scan.refused.empty()) {
        std::cout << "no plugins (*.so) in " << config.plugins_dir.string() << "\n";
        ++problems;
    }
    return problems == 0 ? 0 : 1;
}

}  // namespace nomnom
