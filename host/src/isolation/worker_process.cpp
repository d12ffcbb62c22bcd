#include "isolation/worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "host.hpp"
#include "isolation/crash_recovery.hpp"
#include "isolation/inflight_record.hpp"
#include "nomnom/common/logging.hpp"
#include "ops/http_get.hpp"
#include "plugins/plugin_instance.hpp"

extern char** environ;

namespace nomnom::host {
namespace {

constexpr int kReportFd = 3;  // where a worker process writes its reports
constexpr int kStartTimeoutMs = 120000;
constexpr int64_t kMaxRestartDelayMs = 30000;
constexpr int kWorkerHttpTimeoutMs = 2000;

std::runtime_error system_error(const char* what) {
    return std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// An fd above the standard ones and the report fd, close-on-exec: a dup2 onto itself would not
// clear the flag in the child.
int move_high(int fd) {
    const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    if (high < 0) throw system_error("fcntl");
    return high;
}

std::string signal_name(int signal) {
    const char* name = sigabbrev_np(signal);
    return name != nullptr ? "SIG" + std::string(name) : "signal " + std::to_string(signal);
}

// "SIGSEGV", "exit 3": the cause label of nomnom_plugin_worker_deaths_total.
std::string death_cause(int wait_status) {
    if (WIFSIGNALED(wait_status)) return signal_name(WTERMSIG(wait_status));
    return "exit " + std::to_string(WEXITSTATUS(wait_status));
}

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
    consumers_ = plugin_consumers(options_.stream, name_, subjects, settings_.consumer);
}

WorkerProcess::~WorkerProcess() {
    if (pid_ > 0) {
        {
            std::lock_guard lock(mutex_);
            state_ = State::Stopping;  // not a death to count or restart
        }
        ::kill(pid_, SIGKILL);
        reap(true);
    }
    if (report_fd_ >= 0) ::close(report_fd_);
}

void WorkerProcess::spawn(bool probe) {
    const int config_fd = move_high(::memfd_create("nomnom-worker-config", MFD_CLOEXEC));
    const std::string& text = options_.config_text;
    if (::write(config_fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::lseek(config_fd, 0, SEEK_SET) != 0) {
        ::close(config_fd);
        throw system_error("writing the worker's configuration");
    }
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        ::close(config_fd);
        throw system_error("pipe2");
    }
    const int report_read = move_high(report[0]);
    const int report_write = move_high(report[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, config_fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, report_write, kReportFd);
    const std::string parent = std::to_string(::getpid());
    const std::string source = options_.config_source.string();
    const std::string plugin = library_->loaded_copy().string();
    std::vector<std::string> args = {"nomnom-host", "--worker-child", "--config", source,
                                     "--plugin",    plugin,           "--parent", parent};
    if (probe) args.insert(args.end(), {"--probe", "1"});
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int error =
        ::posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(config_fd);
    ::close(report_write);
    if (error != 0) {
        ::close(report_read);
        errno = error;
        throw system_error("starting a worker process");
    }
    if (report_fd_ >= 0) ::close(report_fd_);
    report_fd_ = report_read;
    report_buffer_.clear();
    kill_cause_.clear();
    std::lock_guard lock(mutex_);
    pid_ = pid;
    port_ = 0;
    refusal_.clear();
    state_ = State::Starting;
    const LogScope scope(LogFields::of_plugin(name_));
    spdlog::info("worker process {} started for {} {}{}", pid, name_, library_->version(),
                 probe ? " (to try its create)" : "");
}

bool WorkerProcess::read_reports(int timeout_ms) {
    if (report_fd_ < 0) return false;
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
        port_ = static_cast<uint16_t>(std::stoi(line.substr(10)));
    } else if (line == "started") {
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
    {
        std::lock_guard lock(mutex_);
        pid_ = -1;
        port_ = 0;
    }
    if (done > 0) on_death(wait_status);
    return true;
}

void WorkerProcess::on_death(int wait_status) {
    const LogScope scope(LogFields::of_plugin(name_));
    std::lock_guard lock(mutex_);
    if (state_ == State::Stopping || state_ == State::Stopped) {
        state_ = State::Stopped;
        return;
    }
    const std::string cause = kill_cause_.empty() ? death_cause(wait_status) : kill_cause_;
    last_death_ = "worker process died: " + (kill_cause_.empty() ? cause : "killed, " + cause) +
                  (refusal_.empty() ? "" : " (" + refusal_ + ")");
    metrics_.worker_deaths.add(cause, 1);
    metrics_.last_error.record(last_death_);
    const auto now = Clock::now();
    deaths_.push_back(now);
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
    {
        std::lock_guard lock(mutex_);
        state_ = State::Stopping;
    }
    reap(true);
}

void WorkerProcess::spawn_and_wait(bool probe) {
    spawn(probe);
    const auto deadline = Clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
    while (Clock::now() < deadline) {
        const bool open = read_reports(100);
        {
            std::lock_guard lock(mutex_);
            if (state_ == State::Running) return;
            if (!refusal_.empty()) break;
        }
        if (!open) break;
    }
    std::string refusal;
    {
        std::lock_guard lock(mutex_);
        refusal = refusal_;
        state_ = State::Stopping;  // its death is not one to restart
    }
    if (refusal.empty() && report_fd_ >= 0) {
        ::kill(pid_, SIGKILL);
        refusal = "its worker process did not start within " +
                  std::to_string(kStartTimeoutMs / 1000) + " s";
    }
    int wait_status = 0;
    const pid_t pid = pid_;
    while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    {
        std::lock_guard lock(mutex_);
        pid_ = -1;
        state_ = State::Stopped;
    }
    if (refusal.empty()) {
        refusal = "its worker process (pid " + std::to_string(pid) +
                  ") died while starting: " + death_cause(wait_status);
    }
    throw PluginRefused(refusal);
}

void WorkerProcess::request_stop() {
    std::lock_guard lock(mutex_);
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    state_ = pid_ > 0 ? State::Stopping : State::Stopped;
}

bool WorkerProcess::join(Clock::time_point deadline) {
    while (!reap(false)) {
        if (Clock::now() >= deadline) {
            const LogScope scope(LogFields::of_plugin(name_));
            spdlog::error(
                "worker process {} did not drain within plugins.shutdown_timeout_ms: killed (its "
                "unsettled messages come back from JetStream)",
                pid_);
            ::kill(pid_, SIGKILL);
            reap(true);
            break;
        }
        read_reports(20);
    }
    return true;
}

void WorkerProcess::kill_worker(const std::string& cause, const std::string& why) {
    const LogScope scope(LogFields::of_plugin(name_));
    spdlog::error("{}: killing worker process {}", why, pid_);
    kill_cause_ = cause;
    ::kill(pid_, SIGKILL);
}

void WorkerProcess::enforce_limits() {
    if (pid_ <= 0 || !kill_cause_.empty()) return;
    const IsolationConfig& limits = options_.isolation;
    const auto calls = calls_in_progress(options_.state_dir, name_, pid_);
    if (limits.parse_timeout_ms > 0) {
        bool hung = false;
        for (const CallInProgress& call : calls) {
            if (call.elapsed_ms <= limits.parse_timeout_ms) continue;
            mark_kill_cause(call.file, InflightRecord::KillCause::Timeout, limits.parse_timeout_ms,
                            call.elapsed_ms);
            hung = true;
            kill_worker("timeout", "a call to the plugin's " + std::string(phase_name(call.phase)) +
                                       " has run " + std::to_string(call.elapsed_ms) +
                                       " ms, past parse_timeout_ms = " +
                                       std::to_string(limits.parse_timeout_ms));
            break;
        }
        if (hung) return;
    }
    if (limits.max_memory_mb > 0) {
        const int64_t resident = resident_mb(pid_);
        if (resident <= limits.max_memory_mb) return;
        for (const CallInProgress& call : calls) {
            mark_kill_cause(call.file, InflightRecord::KillCause::Memory, limits.max_memory_mb,
                            resident);
        }
        kill_worker("memory", std::to_string(resident) + " MB resident, past max_memory_mb = " +
                                  std::to_string(limits.max_memory_mb));
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
    State state;
    {
        std::lock_guard lock(mutex_);
        state = state_;
    }
    switch (state) {
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
        case State::Restarting:
            if (Clock::now() < restart_at_) return;
            try {
                spawn();
            } catch (const std::exception& e) {
                const LogScope scope(LogFields::of_plugin(name_));
                spdlog::error("restarting the worker process: {}; trying again", e.what());
                std::lock_guard lock(mutex_);
                restart_at_ = Clock::now() + std::chrono::milliseconds(kMaxRestartDelayMs);
            }
            return;
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
                status.state = "running";
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
        const std::string out = line + "\n";
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
            const PluginInstance instance(library,
                                          config.settings_for(library->name()).config_json);
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
