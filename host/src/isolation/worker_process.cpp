#include "isolation/worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>
#include <utility>

#include "db/plugin_db_api.hpp"
#include "host.hpp"
#include "isolation/crash_recovery.hpp"
#include "isolation/inflight_record.hpp"
#include "nomnom/common/child_process.hpp"
#include "nomnom/common/logging.hpp"
#include "ops/http_get.hpp"
#include "plugins/plugin_instance.hpp"

namespace nomnom::host {
namespace {

constexpr int kReportFd = 3;  // where a worker process writes its reports
constexpr auto kStartTimeout = std::chrono::seconds(120);
constexpr auto kExitWait = std::chrono::seconds(10);  // for a worker that said it is leaving
constexpr int64_t kMaxRestartDelayMs = 30000;
constexpr int kWorkerHttpTimeoutMs = 2000;

int64_t resident_mb(pid_t pid) {
    std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
    uint64_t size_pages = 0;
    uint64_t resident_pages = 0;
    if (!(statm >> size_pages >> resident_pages)) return 0;
    return static_cast<int64_t>(resident_pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) /
                                (1024 * 1024));
}

const char* phase_name(InflightRecord::Phase phase) {
    return phase == InflightRecord::Phase::Persist ? "persist" : "parse";
}

}  // namespace

WorkerProcess::WorkerProcess(std::shared_ptr<PluginLibrary> library, PluginSettings settings,
                             WorkerProcessOptions options, NatsClient& nats,
                             DeadLetterSink& dead_letters, PluginMetrics& metrics)
    : library_(std::move(library)),
      settings_(std::move(settings)),
      options_(std::move(options)),
      nats_(nats),
      dead_letters_(dead_letters),
      metrics_(metrics),
      name_(library_->name()) {
    const std::vector<std::string> subjects =
        settings_.consumer.subjects.empty() ? library_->subjects() : settings_.consumer.subjects;
    // The child finds or creates the consumers on the server; the gauges find them by subject.
    consumers_ = plugin_consumers(options_.stream, name_, subjects, settings_.consumer);
}

WorkerProcess::~WorkerProcess() {
    if (pid_ > 0) {
        set_state(State::Stopping);  // not a death to count or restart
        kill_worker(InflightRecord::KillCause::Collateral);
        reap(true);
    }
    if (report_fd_ >= 0) ::close(report_fd_);
}

void WorkerProcess::set_state(State state) {
    std::lock_guard lock(mutex_);
    state_ = state;
}

WorkerProcess::State WorkerProcess::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

void WorkerProcess::update(const WorkerConfig& config) {
    std::lock_guard lock(mutex_);
    options_.config_text = config.text;
    options_.isolation = config.isolation;
}

void WorkerProcess::spawn(bool probe) {
    std::string text;
    {
        std::lock_guard lock(mutex_);
        text = options_.config_text;
    }
    const UniqueFd config_fd =
        moved_high(::memfd_create("nomnom-worker-config", MFD_CLOEXEC), "memfd_create");
    if (::write(config_fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::lseek(config_fd.get(), 0, SEEK_SET) != 0) {
        throw system_error("writing the worker's configuration");
    }
    Pipe report = make_pipe();
    const std::string parent = std::to_string(::getpid());
    const std::string source = options_.config_source.string();
    const std::string plugin = library_->loaded_copy().string();
    std::vector<std::string> args = {"nomnom-host", "--worker-child", "--config", source,
                                     "--plugin",    plugin,           "--parent", parent};
    if (probe) args.insert(args.end(), {"--probe", "1"});
    const pid_t pid = spawn_self(
        std::move(args), {{config_fd.get(), STDIN_FILENO}, {report.write.get(), kReportFd}});
    if (report_fd_ >= 0) ::close(report_fd_);
    report_fd_ = report.read.release();
    report_buffer_.clear();
    {
        std::lock_guard lock(mutex_);
        pid_ = pid;
        port_ = 0;
        refusal_.clear();
        waiting_.clear();
        started_at_ = Clock::now();
        state_ = State::Starting;
    }
    const LogScope scope(LogFields::of_plugin(name_));
    spdlog::info("worker process {} started for {} {}{}", pid, name_, library_->version(),
                 probe ? " (to try its create)" : "");
}

bool WorkerProcess::read_reports(int timeout_ms) {
    if (report_fd_ < 0) {
        // Closed: nothing more to read; the caller's loop still must not spin.
        std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
        return false;
    }
    pollfd poll_fd{report_fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, timeout_ms) <= 0) return true;
    char buffer[4096];
    const ssize_t got = ::read(report_fd_, buffer, sizeof buffer);
    if (got <= 0) {
        if (got < 0 && errno == EINTR) return true;
        ::close(report_fd_);
        report_fd_ = -1;
        return false;
    }
    report_buffer_.append(buffer, static_cast<size_t>(got));
    for (size_t end; (end = report_buffer_.find('\n')) != std::string::npos;) {
        const std::string line = report_buffer_.substr(0, end);
        report_buffer_.erase(0, end + 1);
        handle_report(line);
    }
    return true;
}

void WorkerProcess::handle_report(const std::string& line) {
    std::lock_guard lock(mutex_);
    if (line.starts_with("listening ")) {
        // Anything else on fd 3 (a plugin writing there) is ignored.
        uint16_t port = 0;
        const char* end = line.data() + line.size();
        if (std::from_chars(line.data() + 10, end, port).ptr == end) port_ = port;
    } else if (line == "started") {
        waiting_.clear();
        if (state_ == State::Starting) state_ = State::Running;
    } else if (line.starts_with("waiting ")) {
        // Up and supervised; it starts its plugin once NATS and the database answer.
        waiting_ = line.substr(8);
        if (state_ == State::Starting) state_ = State::Running;
    } else if (line.starts_with("refused ")) {
        refusal_ = line.substr(8);
    }
}

bool WorkerProcess::reap(bool wait) {
    if (pid_ <= 0) return true;
    int wait_status = 0;
    pid_t done = 0;
    do {
        done = ::waitpid(pid_, &wait_status, wait ? 0 : WNOHANG);
    } while (done < 0 && errno == EINTR);
    if (done == 0) return false;
    // waitpid failing otherwise (the child is not ours to wait for any more) is a death too:
    // never a worker left for running that is gone.
    on_death(done > 0 ? wait_status : W_EXITCODE(255, 0));
    return true;
}

bool WorkerProcess::reap_within(Clock::duration limit) {
    const auto deadline = Clock::now() + limit;
    while (!reap(false)) {
        if (Clock::now() >= deadline) {
            kill_worker(InflightRecord::KillCause::Collateral);
            reap(true);
            return false;
        }
        read_reports(20);
    }
    return true;
}

void WorkerProcess::on_death(int wait_status) {
    const LogScope scope(LogFields::of_plugin(name_));
    std::lock_guard lock(mutex_);
    const pid_t pid = std::exchange(pid_, -1);
    port_ = 0;
    const std::string cause = kill_cause_.empty() ? death_cause(wait_status) : kill_cause_;
    kill_cause_.clear();
    exit_cause_ = cause;
    if (state_ == State::Stopping || state_ == State::Stopped) {
        state_ = State::Stopped;
        return;
    }
    last_death_ =
        "worker process " + std::to_string(pid) + " " +
        (cause == "timeout" || cause == "memory" ? "killed (" + cause + ")" : "died: " + cause) +
        (refusal_.empty() ? "" : " (" + refusal_ + ")");
    const auto now = Clock::now();
    // A clean exit is a worker told to stop by someone else (a SIGTERM to the whole group):
    // restarted, but not held against the plugin.
    const bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
    if (!clean) {
        metrics_.worker_deaths.add(cause, 1);
        metrics_.last_error.record(last_death_);
        deaths_.push_back(now);
    }
    while (!deaths_.empty() &&
           now - deaths_.front() > std::chrono::seconds(options_.isolation.quarantine_window_s)) {
        deaths_.pop_front();
    }
    if (static_cast<int64_t>(deaths_.size()) >= options_.isolation.quarantine_deaths) {
        state_ = State::Quarantined;
        spdlog::error(
            "{}; {} deaths within {} s: plugin {} is quarantined (not restarted until SIGHUP or a "
            "new build of {}); the other plugins keep running",
            last_death_, deaths_.size(), options_.isolation.quarantine_window_s, name_,
            library_->file().string());
        return;
    }
    int64_t delay_ms = options_.isolation.restart_backoff_ms;
    for (size_t i = 1; i < deaths_.size() && delay_ms < kMaxRestartDelayMs; ++i) delay_ms *= 2;
    delay_ms = std::min(delay_ms, kMaxRestartDelayMs);
    restart_at_ = now + std::chrono::milliseconds(delay_ms);
    state_ = State::Restarting;
    spdlog::error("{}; restarting it in {} ms (death {} of {} allowed within {} s)", last_death_,
                  delay_ms, deaths_.size(), options_.isolation.quarantine_deaths,
                  options_.isolation.quarantine_window_s);
}

void WorkerProcess::start(bool /*auto_migrate: the worker reads database.auto_migrate*/) {
    spawn_and_wait(false);
}

void WorkerProcess::probe() {
    spawn_and_wait(true);
    set_state(State::Stopping);
    reap_within(kExitWait);
}

void WorkerProcess::spawn_and_wait(bool probe) {
    spawn(probe);
    const auto deadline = Clock::now() + kStartTimeout;
    bool open = true;
    while (open && Clock::now() < deadline) {
        open = read_reports(100);
        std::lock_guard lock(mutex_);
        if (state_ == State::Running) return;
        if (!refusal_.empty()) break;
    }
    std::string refusal;
    {
        std::lock_guard lock(mutex_);
        refusal = refusal_;
        state_ = State::Stopping;  // its death is not one to restart
    }
    const pid_t pid = pid_;
    if (refusal.empty() && open) {
        refusal = "its worker process did not start within " +
                  std::to_string(kStartTimeout.count()) + " s";
        kill_worker(InflightRecord::KillCause::Collateral);
    }
    // A worker that reported or closed its pipe is leaving; one that does not, is made to.
    reap_within(kExitWait);
    if (refusal.empty()) {
        std::lock_guard lock(mutex_);
        refusal = "its worker process (pid " + std::to_string(pid) +
                  ") died while starting: " + exit_cause_;
    }
    throw PluginRefused(refusal);
}

void WorkerProcess::request_stop() {
    std::lock_guard lock(mutex_);
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    state_ = pid_ > 0 ? State::Stopping : State::Stopped;
}

bool WorkerProcess::join(Clock::time_point deadline) {
    if (!reap_within(std::max(Clock::duration::zero(), deadline - Clock::now()))) {
        const LogScope scope(LogFields::of_plugin(name_));
        spdlog::error(
            "its worker process did not drain within plugins.shutdown_timeout_ms: killed (its "
            "unsettled messages come back from JetStream)");
    }
    return true;
}

void WorkerProcess::kill_worker(InflightRecord::KillCause cause, const CallInProgress* culprit,
                                int64_t detail, int64_t measure) {
    if (pid_ <= 0) return;
    // Every call in progress learns why: the one judged carries the cause, the others were
    // killed with it for nothing they did.
    for (const CallInProgress& call : calls_in_progress(options_.state_dir, name_, pid_)) {
        const bool judged = culprit == nullptr ? cause != InflightRecord::KillCause::Collateral
                                               : call.file == culprit->file;
        mark_kill_cause(call, judged ? cause : InflightRecord::KillCause::Collateral, detail,
                        measure);
    }
    ::kill(pid_, SIGKILL);
}

void WorkerProcess::enforce_limits() {
    if (pid_ <= 0 || !kill_cause_.empty()) return;
    IsolationConfig limits;
    std::chrono::steady_clock::time_point started_at;
    State state;
    {
        std::lock_guard lock(mutex_);
        limits = options_.isolation;
        started_at = started_at_;
        state = state_;
    }
    const LogScope scope(LogFields::of_plugin(name_));
    if (state == State::Starting && Clock::now() - started_at > kStartTimeout) {
        spdlog::error("worker process {} did not start within {} s: killing it", pid_,
                      kStartTimeout.count());
        kill_cause_ = "start timeout";
        kill_worker(InflightRecord::KillCause::Collateral);
        return;
    }
    const auto calls = calls_in_progress(options_.state_dir, name_, pid_);
    if (limits.parse_timeout_ms > 0) {
        for (const CallInProgress& call : calls) {
            if (call.in_host_call || call.elapsed_ms <= limits.parse_timeout_ms) continue;
            spdlog::error(
                "a call to the plugin's {} has run {} ms, past parse_timeout_ms = {}: killing "
                "worker process {}",
                phase_name(call.phase), call.elapsed_ms, limits.parse_timeout_ms, pid_);
            kill_cause_ = "timeout";
            kill_worker(InflightRecord::KillCause::Timeout, &call, limits.parse_timeout_ms,
                        call.elapsed_ms);
            return;
        }
    }
    if (limits.max_memory_mb > 0) {
        const int64_t resident = resident_mb(pid_);
        if (resident <= limits.max_memory_mb) return;
        spdlog::error("{} MB resident, past max_memory_mb = {}: killing worker process {}",
                      resident, limits.max_memory_mb, pid_);
        kill_cause_ = "memory";
        // One call in progress is the one that grew; of several, none can be told apart.
        kill_worker(calls.size() == 1 ? InflightRecord::KillCause::Memory
                                      : InflightRecord::KillCause::MemoryShared,
                    calls.size() == 1 ? &calls.front() : nullptr, limits.max_memory_mb, resident);
    }
}

void WorkerProcess::recover_for_quarantine() {
    CrashVerdicts verdicts;
    try {
        recover_crashed_workers(options_.state_dir,
                                {name_, library_->version(), settings_.consumer.format}, nats_,
                                dead_letters_, verdicts);
    } catch (const std::exception& e) {
        const LogScope scope(LogFields::of_plugin(name_));
        spdlog::error("settling the quarantined plugin's last messages: {}", e.what());
    }
}

void WorkerProcess::supervise() {
    switch (state()) {
        case State::Starting:
        case State::Running:
        case State::Stopping:
            read_reports(0);
            if (reap(false)) {
                if (quarantined()) recover_for_quarantine();
                return;
            }
            enforce_limits();
            return;
        case State::Restarting: {
            Clock::time_point restart_at;
            {
                std::lock_guard lock(mutex_);
                restart_at = restart_at_;
            }
            if (Clock::now() < restart_at) return;
            try {
                spawn();
            } catch (const std::exception& e) {
                const LogScope scope(LogFields::of_plugin(name_));
                spdlog::error("restarting the worker process: {}; trying again", e.what());
                std::lock_guard lock(mutex_);
                restart_at_ = Clock::now() + std::chrono::milliseconds(kMaxRestartDelayMs);
            }
            return;
        }
        case State::Quarantined:
        case State::Stopped:
            return;
    }
}

bool WorkerProcess::quarantined() const {
    std::lock_guard lock(mutex_);
    return state_ == State::Quarantined;
}

std::string WorkerProcess::endpoint() const {
    std::lock_guard lock(mutex_);
    if (pid_ <= 0 || port_ == 0) return {};
    return "http://127.0.0.1:" + std::to_string(port_);
}

std::string WorkerProcess::worker_metrics() const {
    const std::string url = endpoint();
    if (url.empty()) return {};
    try {
        return http_get(url, "/metrics", kWorkerHttpTimeoutMs).body;
    } catch (const std::exception&) {
        return {};  // it is dying or being restarted: its counters come back with it
    }
}

PluginStatus WorkerProcess::status() const {
    PluginStatus status{name_, "", true, false, metrics_.last_error.get()};
    State state;
    pid_t pid;
    {
        std::lock_guard lock(mutex_);
        state = state_;
        pid = pid_;
        const auto seconds_left =
            std::chrono::duration_cast<std::chrono::seconds>(restart_at_ - Clock::now()).count();
        switch (state_) {
            case State::Starting:
                status.state = "starting (worker process " + std::to_string(pid_) + ")";
                break;
            case State::Running:
                status.state = waiting_.empty() ? "running" : "waiting to start: " + waiting_;
                break;
            case State::Restarting:
                status.state = "restarting in " +
                               std::to_string(std::max<int64_t>(0, seconds_left)) +
                               " s: " + last_death_;
                break;
            case State::Quarantined:
                status.state = "quarantined: " + last_death_ + "; " +
                               std::to_string(deaths_.size()) + " deaths within " +
                               std::to_string(options_.isolation.quarantine_window_s) +
                               " s (SIGHUP or a new build restarts it)";
                status.healthy = false;
                break;
            case State::Stopping:
            case State::Stopped:
                status.state = "stopping";
                break;
        }
    }
    if (state != State::Running) return status;
    const std::string url = endpoint();
    try {
        const HttpAnswer answer = http_get(url, "/ready", kWorkerHttpTimeoutMs);
        rapidjson::Document ready;
        ready.Parse(answer.body.c_str());
        if (ready.HasParseError() || !ready.IsObject()) throw std::runtime_error("not JSON");
        const auto plugins = ready.FindMember("plugins");
        if (plugins != ready.MemberEnd() && plugins->value.IsObject()) {
            const auto mine = plugins->value.FindMember(name_.c_str());
            if (mine != plugins->value.MemberEnd() && mine->value.IsString()) {
                status.state = mine->value.GetString();
                status.healthy = answer.status == 200 || status.state == "running" ||
                                 status.state == "waiting for the database";
            }
        }
        const auto database = ready.FindMember("database");
        status.waiting_for_database = database != ready.MemberEnd() && database->value.IsString() &&
                                      std::string(database->value.GetString()) == "unreachable";
        const auto errors = ready.FindMember("last_errors");
        if (errors != ready.MemberEnd() && errors->value.IsObject()) {
            const auto mine = errors->value.FindMember(name_.c_str());
            if (mine != errors->value.MemberEnd() && mine->value.IsObject() &&
                mine->value.HasMember("unix_ms") && mine->value["unix_ms"].IsInt64() &&
                mine->value.HasMember("reason") && mine->value["reason"].IsString()) {
                const std::chrono::system_clock::time_point time{
                    std::chrono::milliseconds(mine->value["unix_ms"].GetInt64())};
                if (!status.last_error || status.last_error->time < time) {
                    status.last_error = LastError::Entry{time, mine->value["reason"].GetString()};
                }
            }
        }
    } catch (const std::exception& e) {
        status.state = "running (worker process " + std::to_string(pid) +
                       " does not answer /ready: " + e.what() + ")";
    }
    return status;
}

int run_worker_child(const std::vector<std::string>& args) {
    // Dies with the host: an orphaned worker would go on consuming unsupervised.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::string config_path;
    std::string plugin;
    pid_t parent = 0;
    for (size_t i = 0; i + 1 < args.size(); i += 2) {
        if (args[i] == "--config") config_path = args[i + 1];
        if (args[i] == "--plugin") plugin = args[i + 1];
        if (args[i] == "--parent") parent = static_cast<pid_t>(std::stol(args[i + 1]));
    }
    const bool probe = std::find(args.begin(), args.end(), "--probe") != args.end();
    if (::getppid() != parent || config_path.empty() || plugin.empty()) {
        std::cerr << "nomnom-host --worker-child is started by nomnom-host itself\n";
        return 2;
    }
    // Only stdin (the configuration), stdout, stderr and the report pipe are the worker's.
    ::close_range(kReportFd + 1, ~0U, 0);
    const std::string text{std::istreambuf_iterator<char>(std::cin),
                           std::istreambuf_iterator<char>()};
    const auto report = [](const std::string& line) {
        std::string out = line;
        std::replace(out.begin(), out.end(), '\n', ' ');  // one report, one line
        out += '\n';
        [[maybe_unused]] const ssize_t written = ::write(kReportFd, out.data(), out.size());
    };
    WorkerConfig config;
    try {
        config = parse_worker_config(text, config_path);
    } catch (const ConfigError& e) {
        report(std::string("refused invalid configuration: ") + e.what());
        return 2;
    }
    if (probe) {
        setup_logging(config.log);
        try {
            const auto library = PluginLibrary::open(plugin);
            const PluginInstance instance(library, config.settings_for(library->name()).config_json,
                                          host_api());
            report("started");
            return 0;
        } catch (const PluginRefused& e) {
            report(std::string("refused ") + e.what());
            return 3;
        }
    }
    config.http.listen = "127.0.0.1:0";
    config.plugins_watch = false;
    config.isolation.mode = Isolation::Thread;  // this process is the isolation
    setup_logging(config.log);
    try {
        SignalWaiter signals;
        Host host(std::move(config), WorkerChildRole{plugin, report});
        return host.run(signals);
    } catch (const std::exception& e) {
        spdlog::critical("nomnom-host worker process: {}", e.what());
        return 1;
    }
}

}  // namespace nomnom::host
