#pragma once

#include <cstdint>
#include <string>

namespace nomnom {

// SIGINT/SIGTERM/SIGHUP through a self-pipe: the handler (on whatever thread the kernel picks)
// only writes the signal number, and the main thread reads it and does the work. Signal masks
// cannot be relied on, since libraries reset them on the threads they create.
class SignalWaiter {
  public:
    SignalWaiter();
    ~SignalWaiter();
    SignalWaiter(const SignalWaiter&) = delete;
    SignalWaiter& operator=(const SignalWaiter&) = delete;

    // The signal received within `timeout_ms`, or 0. SIGTERM/SIGINT win over SIGHUP; several
    // SIGHUPs already received count as one (one reload covers them all), and a SIGHUP that
    // arrives during a reload is returned by the next call.
    int wait(int64_t timeout_ms);
    // After failed startup attempt `attempt` (from 1): logs `error` and waits the back-off
    // (0.5 s doubling up to 5 s). False when SIGTERM/SIGINT arrived meanwhile: give up.
    bool wait_to_retry(int attempt, const std::string& error);
};

}  // namespace nomnom
