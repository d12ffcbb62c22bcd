#include "host.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <set>

#include "db/plugin_db_api.hpp"
#include "nomnom/common/config_reload.hpp"
#include "nomnom/common/json_escape.hpp"
#include "nomnom/common/redact.hpp"
#include "nomnom/common/timestamp.hpp"
#include "ops/metrics_merge.hpp"
#include "plugins/plugin_dir_watcher.hpp"
#include "plugins/plugin_library.hpp"

namespace nomnom::host {
namespace {

// Plugins named in worker.toml but absent from the directory are most likely typos.
std::vector<std::string> unmatched_sections(const WorkerConfig& config,
                                            const std::set<std::string>& names) {
    std::vector<std::string> unmatched;
    for (const auto& [name, settings] : config.plugins) {
        if (!names.contains(name)) unmatched.push_back(name);
    }
    return unmatched;
}

}  // namespace

Host::Host(WorkerConfig config, std::optional<WorkerChildRole> child)
    : config_(std::move(config)),
      child_(std::move(child)),
      isolated_(config_.isolation.mode == Isolation::Process) {}

std::optional<std::vector<std::filesystem::path>> Host::plugin_files() const {
    if (child_) return std::vector<std::filesystem::path>{child_->plugin};
    try {
        return list_plugin_files(config_.plugins_dir);
    } catch (const PluginRefused& e) {
        spdlog::error("{}; the running plugins keep running", e.what());
        return std::nullopt;
    }
}

Host::~Host() {
    // Whatever path left run(): no request may read the members below once they go. The
    // dashboard first, so that its long replays and purges give up rather than be waited for.
    if (dashboard_) dashboard_->stop();
    health_.reset();
}

bool Host::connect(SignalWaiter& signals) {
    for (int attempt = 1;; ++attempt) {
        try {
            if (!database_) database_ = std::make_unique<Database>(config_.database);
            if (!nats_) nats_ = std::make_unique<NatsClient>(config_.nats);
            nats_->prepare_stream(config_.stream);
            if (!dead_letters_) {
                auto sink = std::make_unique<JetStreamDeadLetterSink>(*nats_, config_.dlq);
                sink->ensure_stream();
                dead_letters_ = std::move(sink);
            }
            if (config_.status.enabled && !status_) {
                status_ = std::make_unique<StatusRecorder>(*nats_, config_.status);
                recorded_dead_letters_ =
                    std::make_unique<StatusRecordingDeadLetterSink>(*dead_letters_, *status_);
            }
            return true;
        } catch (const std::exception& e) {
            // The parent of a worker process stops waiting for it: it runs, supervised.
            if (child_ && attempt == 1) child_->report(std::string("waiting ") + e.what());
            if (!signals.wait_to_retry(attempt, e.what())) return false;
        }
    }
}

std::string Host::metrics() const {
    std::string out;
    metrics_.render(out);
    if (started_.load()) {
        supervisor_->render_gauges(out);
        // The worker processes' pools are the ones that write.
        if (!isolated_) database_->render_pool_gauges(out);
    }
    prometheus_gauge(out, "nomnom_nats_connected", "1 while the NATS connection is up",
                     nats_ && nats_->connected() ? 1 : 0);
    if (status_) status_->render(out);
    if (!started_.load() || !isolated_) return out;
    // The worker processes count their plugin's messages; the host's own state (its NATS
    // connection, reloads, which plugins run, the consumers' lag it reads) is not theirs.
    static const std::set<std::string> kHostOwned = {
        "nomnom_nats_connected",        "nomnom_reloads_total",
        "nomnom_reload_failures_total", "nomnom_plugin_up",
        "nomnom_plugins_refused",       "nomnom_plugin_refused",
        "nomnom_consumer_pending",      "nomnom_consumer_ack_pending",
        "nomnom_http_connections",      "nomnom_http_idle_connections"};
    std::vector<std::string> texts = supervisor_->worker_metrics();
    texts.insert(texts.begin(), std::move(out));
    return merge_prometheus(texts, kHostOwned);
}

HostState Host::state() const {
    HostState state;
    if (!started_.load()) return state;
    state.started = true;
    state.nats_connected = nats_->connected();
    state.plugins = supervisor_->statuses();
    state.database_reachable = true;
    for (const PluginStatus& status : state.plugins) {
        state.database_reachable = state.database_reachable && !status.waiting_for_database;
    }
    // Asked only when the workers do not already know it is down: the check may take a
    // connect timeout.
    state.database_reachable = state.database_reachable && database_->reachable();
    return state;
}

Readiness Host::readiness() const {
    const HostState state = this->state();
    if (!state.started) return {false, R"({"ready":false,"reason":"starting"})"};
    bool plugins_ok = true;
    std::string plugins;
    std::string last_errors;
    for (const PluginStatus& status : state.plugins) {
        plugins_ok = plugins_ok && status.healthy;
        const std::string name = "\"" + json_escape(status.name) + "\":";
        plugins += (plugins.empty() ? "" : ",") + name + "\"" + json_escape(status.state) + "\"";
        if (!status.last_error) continue;
        const auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 status.last_error->time.time_since_epoch())
                                 .count();
        last_errors += (last_errors.empty() ? "" : ",") + name + "{\"time\":\"" +
                       utc_timestamp(status.last_error->time) +
                       "\",\"unix_ms\":" + std::to_string(unix_ms) + ",\"reason\":\"" +
                       json_escape(status.last_error->reason) + "\"}";
    }
    const bool ready =
        state.nats_connected && state.database_reachable && plugins_ok && !state.plugins.empty();
    return {ready, std::string("{\"ready\":") + (ready ? "true" : "false") + ",\"nats\":\"" +
                       (state.nats_connected ? "connected" : "disconnected") +
                       "\",\"database\":\"" +
                       (state.database_reachable ? "reachable" : "unreachable") +
                       "\",\"plugins\":{" + plugins + "},\"last_errors\":{" + last_errors + "}}"};
}

std::shared_ptr<Dashboard> Host::make_dashboard() {
    DashboardSettings settings;
    settings.admin_token = config_.http.admin_token;
    settings.allowed_hosts = config_.http.allowed_hosts;
    settings.dlq = config_.dlq;
    settings.isolation = isolated_ ? "process" : "thread";
    settings.nats_url = redact_url(config_.nats.url);
    settings.database_url = redact_url(config_.database.url);
    // Until started, connect() is still creating what metrics() reads.
    DashboardSources sources{[this] { return started_.load() ? metrics() : std::string(); },
                             [this] { return state(); },
                             [this] { return started_.load() ? nats_.get() : nullptr; },
                             [] { ::kill(::getpid(), SIGHUP); }};
    return std::make_shared<Dashboard>(std::move(settings), std::move(sources));
}

void Host::reload(const std::string& cause, const std::set<std::string>& being_written) {
    ++reloads_;
    const auto started = std::chrono::steady_clock::now();
    spdlog::info("reload {} ({}): re-reading {} and rescanning {}", reloads_, cause,
                 config_.source.string(), config_.plugins_dir.string());
    WorkerConfig fresh;
    bool config_ok = true;
    try {
        fresh = load_worker_config(config_.source);
    } catch (const ConfigError& e) {
        spdlog::error("reload {}: {}; keeping the running configuration", reloads_, e.what());
        fresh = config_;
        config_ok = false;
    }
    keep_running_value("nats", config_.nats, fresh.nats);
    keep_running_value("stream", config_.stream, fresh.stream);
    keep_running_value("database", config_.database, fresh.database);
    keep_running_value("dlq", config_.dlq, fresh.dlq);
    keep_running_value("status", config_.status, fresh.status);
    keep_running_value("http", config_.http, fresh.http);
    keep_running_value("plugins.state_dir", config_.plugins_state_dir, fresh.plugins_state_dir);
    keep_running_value("plugins.isolation", config_.isolation.mode, fresh.isolation.mode);
    reload_log_config(config_.log, fresh.log);
    if (config_ok) fresh.text = with_running_sections(config_.text, fresh.text, config_.source);
    config_ = std::move(fresh);
    ++metrics_.reloads;
    const auto files = plugin_files();
    const PluginSupervisor::Outcome outcome =
        files
            ? supervisor_->reconcile(
                  config_, *files, "reload " + std::to_string(reloads_) + " summary", being_written)
            : PluginSupervisor::Outcome{0, 1, 0};
    if (!config_ok || outcome.refused > 0) ++metrics_.reload_failures;
    spdlog::info("reload {} {} in {} ms: {} plugin change(s), {} running, {} refused", reloads_,
                 config_ok && outcome.refused == 0 ? "succeeded" : "finished with errors",
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count(),
                 outcome.changed, outcome.running, outcome.refused);
}

int Host::run(SignalWaiter& signals) {
    if (child_) {
        spdlog::info("worker process {} starting for plugin file {}", ::getpid(),
                     child_->plugin.string());
    } else {
        spdlog::info("nomnom-host starting: config {}, plugins {}, database {}, nats {}",
                     config_.source.string(), config_.plugins_dir.string(),
                     redact_url(config_.database.url), redact_url(config_.nats.url));
    }
    // Before anything runs: without its records a crash inside a plugin would repeat itself.
    if (std::error_code error;
        !std::filesystem::create_directories(config_.plugins_state_dir, error) && error) {
        spdlog::critical("plugins.state_dir {}: {}", config_.plugins_state_dir.string(),
                         error.message());
        return 1;
    }
    if (!config_.http.listen.empty()) {
        if (!child_) dashboard_ = make_dashboard();
        MoreRoutes dashboard_routes;
        if (dashboard_) {
            dashboard_routes = [dashboard =
                                    dashboard_](const Poco::Net::HTTPServerRequest& request) {
                return dashboard->handler_for(request);
            };
        }
        health_ = std::make_unique<HealthServer>(
            config_.http.listen, [this] { return readiness(); }, [this] { return metrics(); },
            std::move(dashboard_routes));
        if (child_) {
            child_->report("listening " + std::to_string(health_->port()));
        } else {
            spdlog::info(
                "http endpoint (dashboard at /, /health, /ready, /metrics) listening on port {}; "
                "dashboard admin actions {}",
                health_->port(),
                config_.http.admin_token.empty() ? "off (no http.admin_token)" : "on");
        }
    }
    if (!connect(signals)) {
        spdlog::info("stopped before startup completed");
        return 0;
    }
    DeadLetterSink& dead_letters = recorded_dead_letters_
                                       ? static_cast<DeadLetterSink&>(*recorded_dead_letters_)
                                       : *dead_letters_;
    supervisor_ =
        std::make_unique<PluginSupervisor>(*database_, *nats_, dead_letters, config_.stream.name,
                                           metrics_, status_.get(), config_.plugins_state_dir);
    if (const auto files = plugin_files()) {
        supervisor_->reconcile(config_, *files, child_ ? "worker process" : "startup summary");
    }
    if (child_) {
        const std::vector<PluginStatus> statuses = supervisor_->statuses();
        if (statuses.empty() || statuses.front().state.starts_with("refused: ")) {
            child_->report("refused " + (statuses.empty() ? std::string("not started")
                                                          : statuses.front().state.substr(9)));
            return 3;
        }
        child_->report("started");
    }
    started_.store(true);

    std::unique_ptr<PluginDirWatcher> watcher;
    if (config_.plugins_watch) {
        watcher = std::make_unique<PluginDirWatcher>(config_.plugins_dir);
        spdlog::info("watching {} for plugin changes (settle {} ms)", config_.plugins_dir.string(),
                     config_.plugins_settle_ms);
    }
    using Clock = std::chrono::steady_clock;
    bool change_pending = false;
    Clock::time_point last_change = Clock::now();
    for (;;) {
        // The first report only takes the baseline of each plugin's rate. Skipped while NATS
        // is down: consumers that cannot be read are not consumers with no lag.
        // Worker processes report their own plugin's progress, which they count.
        if (!isolated_ && nats_->connected() &&
            progress_.due(Clock::now(), config_.log.progress_interval_s)) {
            progress_.report(supervisor_->backlogs(), Clock::now());
        }
        const int signal = signals.wait(watcher || isolated_ ? 100 : 1000);
        if (signal == SIGTERM || signal == SIGINT) {
            if (!child_) {
                spdlog::info("received {}: draining", signal == SIGTERM ? "SIGTERM" : "SIGINT");
            }
            break;
        }
        // A worker process's configuration is its parent's: its parent reloads.
        if (signal == SIGHUP && !child_)
            reload("SIGHUP", watcher ? watcher->files_being_written() : std::set<std::string>{});
        supervisor_->supervise();
        if (!watcher) continue;
        if (watcher->changed()) {
            change_pending = true;
            last_change = Clock::now();
        }
        if (change_pending &&
            Clock::now() - last_change >= std::chrono::milliseconds(config_.plugins_settle_ms)) {
            change_pending = false;
            reload("plugins directory changed", watcher->files_being_written());
        }
    }
    const bool drained = supervisor_->stop_all(
        Clock::now() + std::chrono::milliseconds(config_.isolation.shutdown_timeout_ms));
    try {
        nats_->flush(5000);
    } catch (const NatsError& e) {
        spdlog::warn("final flush: {} (unsent acks will be redelivered and upserted again)",
                     e.what());
    }
    if (!drained) {
        // Waiting for the stuck thread would never end, and unloading its plugin under it
        // would crash: what it held comes back from JetStream.
        spdlog::critical("exiting without the stuck plugin call; everything else is settled");
        spdlog::shutdown();
        std::_Exit(1);
    }
    if (dashboard_) dashboard_->stop();
    health_.reset();
    if (child_) {
        spdlog::info("worker process {} drained", ::getpid());
    } else {
        spdlog::info("drained: every in-flight batch committed and settled; exiting");
    }
    return 0;
}

int check_config(const WorkerConfig& config) {
    int problems = 0;
    std::cout << "config " << config.source.string() << ": ok\n";
    std::vector<std::filesystem::path> files;
    try {
        files = list_plugin_files(config.plugins_dir);
    } catch (const PluginRefused& e) {
        std::cout << e.what() << "\n";
        return 1;
    }
    std::vector<PluginClaim> claims;
    std::set<std::string> names;
    for (const auto& file : files) {
        try {
            const auto library = PluginLibrary::open(file);
            const PluginSettings settings = config.settings_for(library->name());
            const PluginClaim claim{library->name(), file, effective_subjects(*library, settings)};
            if (std::string conflict = claim_conflict(claim, claims); !conflict.empty()) {
                throw PluginRefused(conflict);
            }
            resolve_outputs(library->descriptor(), settings.outputs, library->name());
            PluginInstance instance(library, settings.config_json, host_api());
            claims.push_back(claim);
            names.insert(library->name());
            std::cout << "plugin " << file.string() << ": ok: " << describe(*library, settings)
                      << (settings.enabled ? "" : " [disabled]") << "\n";
        } catch (const PluginRefused& e) {
            std::cout << "plugin " << file.string() << ": REFUSED: " << e.what() << "\n";
            ++problems;
        }
    }
    for (const auto& name : unmatched_sections(config, names)) {
        std::cout << "[plugins." << name << "]: no such plugin in " << config.plugins_dir.string()
                  << "\n";
        ++problems;
    }
    if (files.empty()) {
        std::cout << "no plugins (*.so) in " << config.plugins_dir.string() << "\n";
        ++problems;
    }
    return problems == 0 ? 0 : 1;
}

}  // namespace nomnom::host
