#include "plugins/plugin_supervisor.hpp"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "db/plugin_db_api.hpp"
#include "isolation/worker_process.hpp"
#include "nomnom/common/logging.hpp"
#include "nomnom/common/prometheus.hpp"
#include "nomnom/common/subject_match.hpp"

namespace nomnom::host {
std::string describe(const PluginLibrary& library, const PluginSettings& settings) {
    const auto& d = library.descriptor();
    std::vector<std::string> tables;
    for (uint32_t t = 0; t < d.table_count; ++t) tables.emplace_back(d.tables[t].name);
    return fmt::format("{} {} (subjects [{}], tables [{}], {})", library.name(), library.version(),
                       fmt::join(effective_subjects(library, settings), ", "),
                       fmt::join(tables, ", "), d.persist ? "custom persist" : "host upsert");
}

std::string claim_conflict(const PluginClaim& candidate, const std::vector<PluginClaim>& others) {
    for (const PluginClaim& other : others) {
        if (other.name == candidate.name) {
            return "plugin name '" + candidate.name + "' is already used by " + other.file.string();
        }
        for (const auto& mine : candidate.subjects) {
            for (const auto& theirs : other.subjects) {
                if (subjects_overlap(mine, theirs)) {
                    return "subject '" + mine + "' overlaps '" + theirs + "' of plugin " +
                           other.name + " (" + other.file.string() + ")";
                }
            }
        }
    }
    return {};
}

std::vector<std::string> effective_subjects(const PluginLibrary& library,
                                            const PluginSettings& settings) {
    return settings.consumer.subjects.empty() ? library.subjects() : settings.consumer.subjects;
}

namespace {

// Why worker.toml's [plugins.<name>.outputs] cannot apply to the plugin, or empty: refused here,
// not when its workers start, so that a reload keeps the running version.
std::string outputs_problem(const PluginLibrary& library, const PluginSettings& settings) {
    try {
        resolve_outputs(library.descriptor(), settings.outputs, library.name());
    } catch (const PluginRefused& e) {
        return e.what();
    }
    return {};
}

}  // namespace

PluginSupervisor::PluginSupervisor(Database& database, NatsClient& nats,
                                   DeadLetterSink& dead_letters, std::string stream,
                                   MetricsRegistry& metrics, StatusRecorder* status,
                                   std::filesystem::path state_dir)
    : database_(database),
      nats_(nats),
      dead_letters_(dead_letters),
      stream_(std::move(stream)),
      metrics_(metrics),
      status_(status),
      state_dir_(std::move(state_dir)) {}

PluginSupervisor::~PluginSupervisor() {
    stop_all(PluginWorkers::Clock::now() + std::chrono::milliseconds(shutdown_timeout_ms_));
}

std::shared_ptr<PluginWorkers> PluginSupervisor::launch(
    const std::shared_ptr<PluginLibrary>& library, const PluginSettings& settings,
    const WorkerConfig& config) {
    shutdown_timeout_ms_ = config.isolation.shutdown_timeout_ms;
    std::shared_ptr<PluginWorkers> workers;
    if (config.isolation.mode == Isolation::Process) {
        workers = std::make_shared<WorkerProcess>(
            library, settings,
            WorkerProcessOptions{config.text, config.source, state_dir_, stream_, config.isolation},
            nats_, dead_letters_, metrics_.plugin(library->name()));
    } else {
        workers = std::make_shared<PluginRunner>(library, settings, database_, nats_, dead_letters_,
                                                 stream_, config.outputs,
                                                 metrics_.plugin(library->name()), status_,
                                                 state_dir_, config.isolation.parse_timeout_ms);
    }
    workers->start(config.database.auto_migrate);
    return workers;
}

void PluginSupervisor::drain(Running& running) {
    if (!running.runner) return;
    running.runner->request_stop();
    const auto deadline =
        PluginWorkers::Clock::now() + std::chrono::milliseconds(shutdown_timeout_ms_);
    if (running.runner->join(deadline)) return;
    const LogScope scope(LogFields::of_plugin(running.runner->name()));
    spdlog::error(
        "a call into the plugin did not return within plugins.shutdown_timeout_ms ({} ms): its "
        "thread is abandoned, still running (isolation = \"thread\" cannot interrupt it)",
        shutdown_timeout_ms_);
    abandon(running.runner);
}

void PluginSupervisor::abandon(const std::shared_ptr<PluginWorkers>& runner) {
    runner->abandon();
    // Destroying it would wait for the thread forever, and unloading the library under it
    // would crash: it is kept until the process exits, which must then not wait for it.
    static auto* abandoned = new std::vector<std::shared_ptr<PluginWorkers>>();
    abandoned->push_back(runner);
    ++abandoned_;
}

namespace {

// NATS or the database down, or a transient conflict: trying again later will do.
bool start_failure_passes(const std::exception& failure) {
    if (dynamic_cast<const NatsError*>(&failure) != nullptr) return true;
    const auto* db = dynamic_cast<const DbError*>(&failure);
    return db != nullptr &&
           (is_outage_sqlstate(db->sqlstate()) || is_conflict_sqlstate(db->sqlstate()));
}

constexpr int64_t kFirstStartRetryMs = 1000;
constexpr int64_t kMaxStartRetryMs = 30000;

}  // namespace

bool PluginSupervisor::wait_to_start(const std::filesystem::path& file,
                                     const std::shared_ptr<PluginLibrary>& library,
                                     const PluginSettings& settings,
                                     const std::exception& failure) {
    if (!start_failure_passes(failure)) return false;
    const std::string name = library->name();
    const LogScope scope(LogFields::of_plugin(name));
    spdlog::warn("plugin {} cannot start yet ({}); trying again in {} ms", library->name(),
                 failure.what(), kFirstStartRetryMs);
    add_waiting(file, library, settings, failure.what(),
                dynamic_cast<const DbError*>(&failure) != nullptr);
    return true;
}

void PluginSupervisor::add_waiting(const std::filesystem::path& file,
                                   const std::shared_ptr<PluginLibrary>& library,
                                   const PluginSettings& settings, std::string reason,
                                   bool database) {
    waiting_.push_back({file, library, settings, std::move(reason), database,
                        PluginWorkers::Clock::now() + std::chrono::milliseconds(kFirstStartRetryMs),
                        kFirstStartRetryMs});
}

void PluginSupervisor::retry_waiting() {
    const auto now = PluginWorkers::Clock::now();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (now < it->retry_at) {
            ++it;
            continue;
        }
        const std::string name = it->library->name();
        const LogScope scope(LogFields::of_plugin(name));
        try {
            running_.push_back(
                {it->file, it->library, it->settings, launch(it->library, it->settings, config_)});
            spdlog::info("plugin {} started from {} (it waited for: {})",
                         describe(*it->library, it->settings), it->file.string(), it->reason);
            it = waiting_.erase(it);
        } catch (const std::exception& e) {
            if (!start_failure_passes(e)) {
                spdlog::error("plugin {} refused: {}", it->file.string(), e.what());
                refused_.emplace_back(it->file.filename().string(), e.what());
                it = waiting_.erase(it);
            } else {
                it->reason = e.what();
                it->delay_ms = std::min(it->delay_ms * 2, kMaxStartRetryMs);
                it->retry_at = now + std::chrono::milliseconds(it->delay_ms);
                spdlog::warn("plugin {} cannot start yet ({}); trying again in {} ms",
                             it->library->name(), e.what(), it->delay_ms);
                ++it;
            }
        }
        publish_view();
    }
}

void PluginSupervisor::publish_view() {
    View fresh;
    for (const Waiting& waiting : waiting_) {
        fresh.waiting.push_back({waiting.library->name(), "waiting to start: " + waiting.reason,
                                 false, waiting.database, std::nullopt});
    }
    for (const Running& running : running_) {
        if (running.runner) fresh.runners.push_back(running.runner);
    }
    fresh.refused = refused_;
    std::lock_guard lock(view_mutex_);
    view_ = std::move(fresh);
}

WorkerProcessOptions PluginSupervisor::worker_options(const WorkerConfig& config) const {
    return {config.text, config.source, state_dir_, stream_, config.isolation};
}

PluginSupervisor::View PluginSupervisor::view() const {
    std::lock_guard lock(view_mutex_);
    return view_;
}

std::vector<PluginClaim> PluginSupervisor::claims_except(const std::filesystem::path& file) const {
    std::vector<PluginClaim> claims;
    for (const Running& running : running_) {
        if (running.file == file) continue;
        claims.push_back({running.library->name(), running.file,
                          effective_subjects(*running.library, running.settings)});
    }
    return claims;
}

bool PluginSupervisor::replace(Running& current, std::shared_ptr<PluginLibrary> library,
                               const PluginSettings& settings, const WorkerConfig& config) {
    const std::string old_version = current.library->version();
    drain(current);
    current.runner.reset();
    try {
        current.runner = launch(library, settings, config);
        spdlog::info("plugin {} replaced: {} -> {}", library->name(), old_version,
                     describe(*library, settings));
        current.library = std::move(library);
        current.settings = settings;
        return true;
    } catch (const std::exception& e) {
        spdlog::error("plugin {} {} failed to start ({}); restarting {}", library->name(),
                      library->version(), e.what(), old_version);
    }
    try {
        current.runner = launch(current.library, current.settings, config);
    } catch (const std::exception& e) {
        // Neither version runs now (database or NATS down): the caller drops the entry and the
        // next reload tries again.
        spdlog::error("plugin {} {} could not be restarted either: {}", current.library->name(),
                      old_version, e.what());
    }
    return false;
}

PluginSupervisor::Outcome PluginSupervisor::reconcile(
    const WorkerConfig& config, const std::vector<std::filesystem::path>& files,
    const std::string& label, const std::set<std::string>& being_written) {
    std::vector<std::pair<std::string, std::string>> refused;
    const auto refuse = [&](const std::filesystem::path& file, const std::string& reason) {
        spdlog::error("plugin {} refused: {}", file.string(), reason);
        refused.emplace_back(file.filename().string(), reason);
    };
    size_t changed = 0;
    std::lock_guard lock(changes_mutex_);
    config_ = config;
    // Each is tried again below, like a new file.
    waiting_.clear();

    for (auto it = running_.begin(); it != running_.end();) {
        if (std::find(files.begin(), files.end(), it->file) != files.end()) {
            ++it;
            continue;
        }
        spdlog::info("plugin {} {} removed ({} is gone): draining", it->library->name(),
                     it->library->version(), it->file.string());
        drain(*it);
        it = running_.erase(it);
        publish_view();
        ++changed;
    }

    for (const auto& file : files) {
        auto current = std::find_if(running_.begin(), running_.end(),
                                    [&](const Running& r) { return r.file == file; });
        if (being_written.contains(file.filename().string())) {
            spdlog::info("plugin file {} is still open for writing; it is considered once closed",
                         file.string());
            continue;
        }
        std::string hash;
        try {
            hash = file_content_hash(file);
        } catch (const PluginRefused& e) {
            refuse(file, e.what());
            continue;
        }
        std::shared_ptr<PluginLibrary> library;
        if (current != running_.end() && current->library->content_hash() == hash) {
            library = current->library;
        } else {
            try {
                library = PluginLibrary::open(file);
            } catch (const PluginRefused& e) {
                refuse(file, current == running_.end()
                                 ? e.what()
                                 : std::string(e.what()) + "; version " +
                                       current->library->version() + " keeps running");
                continue;
            }
        }
        const PluginSettings settings = config.settings_for(library->name());
        if (current != running_.end() && current->library == library &&
            current->settings == settings && !current->runner->quarantined()) {
            current->runner->update(config);
            continue;
        }
        if (!settings.enabled) {
            if (current != running_.end()) {
                spdlog::info("plugin {} disabled in {}: draining", library->name(),
                             config.source.string());
                drain(*current);
                running_.erase(current);
                publish_view();
                ++changed;
            } else {
                spdlog::info("plugin {} is disabled in {}", library->name(),
                             config.source.string());
            }
            continue;
        }
        std::string conflict = claim_conflict(
            {library->name(), file, effective_subjects(*library, settings)}, claims_except(file));
        if (conflict.empty()) conflict = outputs_problem(*library, settings);
        if (!conflict.empty()) {
            refuse(file,
                   current == running_.end()
                       ? conflict
                       : conflict + "; version " + current->library->version() + " keeps running");
            continue;
        }
        if (current != running_.end()) {
            // The new build must create before the old one stops serving (in a throwaway worker
            // process with isolation = "process"); the old one then drains before the new one
            // fetches, so that the switch happens at one stream position.
            try {
                if (config.isolation.mode == Isolation::Process) {
                    WorkerProcess(library, settings, worker_options(config), nats_, dead_letters_,
                                  metrics_.plugin(library->name()))
                        .probe();
                } else {
                    PluginInstance probe(library, settings.config_json, host_api());
                }
            } catch (const PluginRefused& e) {
                refuse(file, std::string(e.what()) + "; version " + current->library->version() +
                                 " keeps running");
                continue;
            }
            if (!replace(*current, library, settings, config)) {
                refused.emplace_back(file.filename().string(), "new version failed to start");
                if (!current->runner) {
                    // Neither version runs (NATS or the database down): the new one is tried
                    // again by itself.
                    add_waiting(file, library, settings,
                                "neither the new version nor the old one could start", false);
                    running_.erase(current);
                }
            }
            publish_view();
            ++changed;
            continue;
        }
        try {
            Running running{file, library, settings, launch(library, settings, config)};
            spdlog::info("plugin {} started from {}", describe(*library, settings), file.string());
            running_.push_back(std::move(running));
            publish_view();
            ++changed;
        } catch (const std::exception& e) {
            if (!wait_to_start(file, library, settings, e)) refuse(file, e.what());
        }
    }
    refused_ = std::move(refused);
    publish_view();
    std::vector<std::string> names;
    for (const Running& running : running_) names.push_back(running.library->name());
    std::vector<std::string> refused_files;
    for (const auto& [file, reason] : refused_) refused_files.push_back(file);
    std::vector<std::string> waiting_names;
    for (const Waiting& waiting : waiting_) waiting_names.push_back(waiting.library->name());
    spdlog::info("{}: {} plugin(s) running [{}], {} refused [{}]{}", label, running_.size(),
                 fmt::join(names, ", "), refused_.size(), fmt::join(refused_files, ", "),
                 waiting_.empty() ? std::string()
                                  : fmt::format(", {} waiting to start [{}]", waiting_.size(),
                                                fmt::join(waiting_names, ", ")));
    return {running_.size(), refused_.size(), changed};
}

std::vector<PluginStatus> PluginSupervisor::statuses() const {
    const View current = view();
    std::vector<PluginStatus> statuses;
    for (const auto& runner : current.runners) statuses.push_back(runner->status());
    statuses.insert(statuses.end(), current.waiting.begin(), current.waiting.end());
    for (const auto& [file, reason] : current.refused) {
        statuses.push_back({file, "refused: " + reason, false, false, std::nullopt});
    }
    return statuses;
}

void PluginSupervisor::supervise() {
    std::lock_guard lock(changes_mutex_);
    retry_waiting();
    for (Running& running : running_) {
        try {
            running.runner->supervise();
        } catch (const std::exception& e) {
            const LogScope scope(LogFields::of_plugin(running.runner->name()));
            spdlog::error("supervising its workers: {}", e.what());
        }
    }
}

std::vector<std::string> PluginSupervisor::worker_metrics() const {
    std::vector<std::string> texts;
    for (const auto& runner : view().runners) {
        if (std::string text = runner->worker_metrics(); !text.empty()) {
            texts.push_back(std::move(text));
        }
    }
    return texts;
}

std::vector<PluginBacklog> PluginSupervisor::backlogs() const {
    const View current = view();
    std::optional<std::vector<ListedConsumer>> listed;
    if (nats_.connected()) {
        try {
            listed = list_consumers(nats_, stream_);
        } catch (const NatsError&) {
            // JetStream does not answer: /ready says NATS is down; the gauges are left out.
        }
    }
    std::vector<PluginBacklog> backlogs;
    for (const auto& runner : current.runners) {
        PluginBacklog backlog;
        backlog.plugin = runner->name();
        const PluginMetrics& metrics = metrics_.plugin(runner->name());
        backlog.settled = metrics.persisted.load() + metrics.dead_lettered.load();
        if (listed) {
            for (const PlannedConsumer& planned :
                 plan_plugin_consumers(*listed, runner->name(), runner->consumers()).consumers) {
                if (planned.existing) {
                    backlog.consumers.emplace_back(planned.spec.durable, planned.existing->state);
                }
            }
        }
        backlogs.push_back(std::move(backlog));
    }
    return backlogs;
}

void PluginSupervisor::render_gauges(std::string& out) const {
    const View current = view();
    prometheus_family(out, "nomnom_plugin_up", "gauge",
                      "1 while the plugin runs, 0 after a FATAL, a hang or its quarantine");
    for (const auto& runner : current.runners) {
        prometheus_sample(out, "nomnom_plugin_up",
                          prometheus_labels({{"plugin", runner->name()},
                                             {"version", runner->library().version()}}),
                          int64_t{runner->status().healthy ? 1 : 0});
    }
    prometheus_gauge(out, "nomnom_plugins_refused", "Plugin files refused at the last (re)load",
                     static_cast<int64_t>(current.refused.size()));
    prometheus_family(out, "nomnom_plugin_refused", "gauge",
                      "1 for each plugin file refused at the last (re)load");
    for (const auto& [file, reason] : current.refused) {
        prometheus_sample(out, "nomnom_plugin_refused", prometheus_labels({{"file", file}}),
                          int64_t{1});
    }
    std::string pending;
    std::string ack_pending;
    prometheus_family(pending, "nomnom_consumer_pending", "gauge",
                      "Messages not yet delivered (lag)");
    prometheus_family(ack_pending, "nomnom_consumer_ack_pending", "gauge",
                      "Messages delivered and not yet acked");
    // While NATS is down nomnom_nats_connected says why the gauges are missing.
    for (const PluginBacklog& backlog : backlogs()) {
        for (const auto& [durable, state] : backlog.consumers) {
            const std::string labels =
                prometheus_labels({{"plugin", backlog.plugin}, {"consumer", durable}});
            prometheus_sample(pending, "nomnom_consumer_pending", labels, state.pending);
            prometheus_sample(ack_pending, "nomnom_consumer_ack_pending", labels,
                              state.ack_pending);
        }
    }
    out += pending + ack_pending;
}

bool PluginSupervisor::stop_all(PluginWorkers::Clock::time_point deadline) {
    std::lock_guard lock(changes_mutex_);
    waiting_.clear();
    // All stop fetching at once, then each finishes its batch in hand.
    for (Running& running : running_) {
        if (running.runner) running.runner->request_stop();
    }
    bool all = true;
    for (Running& running : running_) {
        if (running.runner && !running.runner->join(deadline)) {
            all = false;
            const LogScope scope(LogFields::of_plugin(running.runner->name()));
            spdlog::critical(
                "a call into the plugin did not return within plugins.shutdown_timeout_ms ({} "
                "ms); isolation = \"thread\" cannot interrupt it",
                shutdown_timeout_ms_);
            running.runner->abandon();
        }
    }
    // Stuck threads (these, or ones abandoned by a reload) still use the host's connections.
    if (!all || abandoned_ > 0) return false;
    running_.clear();
    publish_view();
    return true;
}

}  // namespace nomnom::host
