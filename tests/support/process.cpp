#include "process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace nomnom::testing {

namespace {

std::runtime_error system_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_;
};

std::vector<std::string> build_environment(const Process::Env& additions) {
    std::vector<std::string> result;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view variable(*entry);
        const std::string name(variable.substr(0, variable.find('=')));
        if (!additions.contains(name)) result.emplace_back(variable);
    }
    for (const auto& [name, value] : additions) result.push_back(name + "=" + value);
    return result;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (auto& s : strings) result.push_back(s.data());
    result.push_back(nullptr);
    return result;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Runs between fork and exec of a possibly multithreaded parent, so only async-signal-safe
// calls are allowed here.
[[noreturn]] void exec_child(pid_t parent, const char* path, char** argv, char** envp, int stdin_fd,
                             int log_fd, int error_fd) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Ignored signals stay ignored across exec; the test runner may ignore SIGPIPE or SIGINT.
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (signal_number != SIGKILL && signal_number != SIGSTOP) ::signal(signal_number, SIG_DFL);
    }
    if (::dup2(stdin_fd, STDIN_FILENO) < 0) ::_exit(127);
    if (log_fd >= 0 && (::dup2(log_fd, STDOUT_FILENO) < 0 || ::dup2(log_fd, STDERR_FILENO) < 0)) {
        ::_exit(127);
    }
    // Inherited sockets (cnats, libpq) would keep the test's connections open after the test
    // closes them, hiding disconnects from the servers under test.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        const long max_fd = ::sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    ::execve(path, argv, envp);
    const int error = errno;
    [[maybe_unused]] const ssize_t ignored = ::write(error_fd, &error, sizeof(error));
    ::_exit(127);
}

}  // namespace

std::optional<std::filesystem::path> find_executable(std::string_view name) {
    if (name.empty()) return std::nullopt;
    if (name.find('/') != std::string_view::npos) return std::filesystem::path(name);
    const char* path_env = std::getenv("PATH");
    std::string search = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    search += ":/usr/local/sbin:/usr/sbin:/sbin";
    std::string_view rest(search);
    while (!rest.empty()) {
        const auto colon = rest.find(':');
        const std::string_view dir = rest.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
        if (dir.empty()) continue;
        const std::filesystem::path candidate = std::filesystem::path(dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) {
            return candidate;
        }
    }
    return std::nullopt;
}

Process::~Process() {
    kill_and_reap();
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_code_(std::exchange(other.exit_code_, {})) {}

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        kill_and_reap();
        pid_ = std::exchange(other.pid_, -1);
        exit_code_ = std::exchange(other.exit_code_, {});
    }
    return *this;
}

void Process::start(const std::vector<std::string>& argv, const Env& env,
                    const std::optional<std::filesystem::path>& log_file) {
    if (argv.empty()) throw std::invalid_argument("Process::start: empty argv");
    if (pid_ > 0 && running()) {
        throw std::logic_error("Process::start: pid " + std::to_string(pid_) + " still running");
    }
    const auto executable = find_executable(argv[0]);
    if (!executable) throw std::runtime_error("Process::start: " + argv[0] + " not found");

    std::vector<std::string> args = argv;
    std::vector<std::string> environment = build_environment(env);
    std::vector<char*> arg_pointers = pointers(args);
    std::vector<char*> env_pointers = pointers(environment);

    const Fd stdin_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (stdin_fd.get() < 0) throw system_error("open /dev/null");
    const Fd log_fd(
        log_file ? ::open(log_file->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1);
    if (log_file && log_fd.get() < 0) throw system_error("open " + log_file->string());
    int error_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) != 0) throw system_error("pipe2");
    const Fd error_read(error_pipe[0]);
    Fd error_write(error_pipe[1]);

    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) throw system_error("fork");
    if (child == 0) {
        exec_child(parent, executable->c_str(), arg_pointers.data(), env_pointers.data(),
                   stdin_fd.get(), log_fd.get(), error_write.get());
    }
    pid_ = child;
    exit_code_.reset();

    // The pipe closes on a successful exec; otherwise the child reports errno through it.
    error_write.reset();
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(error_read.get(), &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof(child_errno))) {
        wait_exit(std::chrono::seconds(10));
        throw std::runtime_error("exec " + executable->string() + ": " +
                                 std::strerror(child_errno));
    }
}

bool Process::try_reap() {
    if (exit_code_) return true;
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t result;
    do {
        result = ::waitpid(pid_, &status, WNOHANG);
    } while (result < 0 && errno == EINTR);
    if (result == pid_) {
        exit_code_ = decode_status(status);
        return true;
    }
    if (result < 0) throw system_error("waitpid " + std::to_string(pid_));
    return false;
}

bool Process::running() {
    return pid_ > 0 && !try_reap();
}

void Process::signal(int signal_number) {
    // Until reaped the pid stays ours (a zombie at worst), so it cannot hit a recycled pid.
    if (running() && ::kill(pid_, signal_number) != 0) {
        throw system_error("kill " + std::to_string(pid_));
    }
}

void Process::kill9() {
    signal(SIGKILL);
    if (pid_ > 0 && !wait_exit(std::chrono::seconds(10))) {
        throw std::runtime_error("pid " + std::to_string(pid_) + " survived SIGKILL for 10 s");
    }
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(1);
    while (!try_reap()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::nullopt;
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
    return exit_code_;
}

void Process::kill_and_reap() noexcept {
    try {
        if (running()) kill9();
    } catch (...) {
        // Nothing more can be done for a child that ignores SIGKILL from a destructor.
    }
}

}  // namespace nomnom::testing
