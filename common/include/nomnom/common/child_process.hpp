#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nomnom {

// An owned file descriptor.
class UniqueFd {
  public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = other.release();
        }
        return *this;
    }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset();

  private:
    int fd_;
};

// "<what>: <strerror(errno)>".
std::runtime_error system_error(const char* what);

// `fd` (what `what` just returned; -1 throws) moved above the standard ones and the fds a child
// is given, close-on-exec: a dup2 onto itself would not clear the flag in the child.
UniqueFd moved_high(int fd, const char* what);

// A pipe whose two ends are moved_high.
struct Pipe {
    UniqueFd read;
    UniqueFd write;
};
Pipe make_pipe();

// "SIGSEGV", or "signal N" for one without a name.
std::string signal_name(int signal);
// "SIGSEGV", "exit 3": how a child ended, from its waitpid() status.
std::string death_cause(int wait_status);

// Starts this very binary (/proc/self/exe) with `args` (args[0] is its name), each `fds` pair's
// first descriptor dup2()ed onto its second; throws std::runtime_error. The child should ask for
// PR_SET_PDEATHSIG, which ties it to the calling thread.
pid_t spawn_self(std::vector<std::string> args, const std::vector<std::pair<int, int>>& fds);

}  // namespace nomnom
