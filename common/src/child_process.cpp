#include "nomnom/common/child_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <sys/wait.h>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace nomnom {

void UniqueFd::reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::runtime_error system_error(const char* what) {
    return std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

UniqueFd moved_high(int fd, const char* what) {
    if (fd < 0) throw system_error(what);
    UniqueFd original(fd);
    const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    if (high < 0) throw system_error("fcntl");
    return UniqueFd(high);
}

Pipe make_pipe() {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) throw system_error("pipe2");
    UniqueFd read(ends[0]);
    UniqueFd write(ends[1]);
    return {moved_high(read.release(), "pipe2"), moved_high(write.release(), "pipe2")};
}

std::string signal_name(int signal) {
    const char* name = sigabbrev_np(signal);
    return name != nullptr ? "SIG" + std::string(name) : "signal " + std::to_string(signal);
}

std::string death_cause(int wait_status) {
    if (WIFSIGNALED(wait_status)) return signal_name(WTERMSIG(wait_status));
    return "exit " + std::to_string(WEXITSTATUS(wait_status));
}

pid_t spawn_self(std::vector<std::string> args, const std::vector<std::pair<int, int>>& fds) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    for (const auto& [from, to] : fds) posix_spawn_file_actions_adddup2(&actions, from, to);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int error =
        ::posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) {
        errno = error;
        throw system_error(("starting " + args.front()).c_str());
    }
    return pid;
}

}  // namespace nomnom
