#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nomnom::testing {

// Searches $PATH, then /usr/local/sbin:/usr/sbin:/sbin (Debian installs nats-server in
// /usr/sbin, which is not on a normal user's PATH). Names containing '/' are returned as-is.
std::optional<std::filesystem::path> find_executable(std::string_view name);

// A child process owned by the test. It is started without a shell and gets SIGKILL when the
// thread that started it exits (PR_SET_PDEATHSIG), so a crashed or timed-out test leaves no
// servers behind; start long-lived processes from the test's main thread.
class Process {
  public:
    using Env = std::map<std::string, std::string>;

    Process() = default;
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;

    // argv[0] is looked up with find_executable. `env` adds to (or overrides) the parent's
    // environment. With `log_file`, stdout and stderr are appended to it; otherwise they are
    // inherited. stdin is /dev/null. Throws when the program cannot be executed, and when this
    // object still has a running child.
    void start(const std::vector<std::string>& argv, const Env& env = {},
               const std::optional<std::filesystem::path>& log_file = std::nullopt);

    // -1 before the first start().
    pid_t pid() const { return pid_; }
    bool running();
    // A no-op once the child has been reaped.
    void signal(int signal_number);
    // SIGKILL, then reaps the child.
    void kill9();
    // The exit code (128 + signal number when killed by a signal), or nullopt when the child is
    // still running after `timeout`. Once reaped, returns the same code again immediately.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  private:
    bool try_reap();
    void kill_and_reap() noexcept;

    pid_t pid_ = -1;
    std::optional<int> exit_code_;
};

}  // namespace nomnom::testing
