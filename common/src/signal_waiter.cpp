#include "nomnom/common/signal_waiter.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

namespace nomnom {
namespace {

int signal_pipe[2] = {-1, -1};

void on_signal(int signal) {
    const int saved = errno;
    const char byte = static_cast<char>(signal);
    [[maybe_unused]] const ssize_t written = ::write(signal_pipe[1], &byte, 1);
    errno = saved;
}

}  // namespace

SignalWaiter::SignalWaiter() {
    if (::pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (const int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal, &action, nullptr);
}

SignalWaiter::~SignalWaiter() {
    for (const int signal : {SIGINT, SIGTERM, SIGHUP}) ::signal(signal, SIG_DFL);
    ::close(signal_pipe[0]);
    ::close(signal_pipe[1]);
}

int SignalWaiter::wait(int64_t timeout_ms) {
    pollfd readable{signal_pipe[0], POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(timeout_ms)) <= 0) return 0;
    int received = 0;
    char bytes[64];
    ssize_t count;
    while ((count = ::read(signal_pipe[0], bytes, sizeof bytes)) > 0) {
        for (ssize_t i = 0; i < count; ++i) {
            const int signal = bytes[i];
            if (signal == SIGTERM || signal == SIGINT) received = signal;
            if (signal == SIGHUP && received == 0) received = SIGHUP;
        }
    }
    return received;
}

bool SignalWaiter::wait_to_retry(int attempt, const std::string& error) {
    const int64_t wait_ms = std::min<int64_t>(500LL << std::min(attempt, 4), 5000);
    spdlog::error("startup: {} (attempt {}, next in {} ms)", error, attempt, wait_ms);
    const int signal = wait(wait_ms);
    return signal != SIGTERM && signal != SIGINT;
}

}  // namespace nomnom
