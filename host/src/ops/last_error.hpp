#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace nomnom::host {

// The most recent thing that went wrong for one plugin (a dead letter, a failed write, a NATS
// error, a FATAL), for /ready and `nomnom-host status`: counters say how often, this says what
// and when, without searching the logs. Written only on failures, so a mutex is cheap enough.
class LastError {
  public:
    struct Entry {
        std::chrono::system_clock::time_point time;
        std::string reason;
    };

    void record(std::string reason);
    std::optional<Entry> get() const;

  private:
    mutable std::mutex mutex_;
    std::optional<Entry> entry_;
};

}  // namespace nomnom::host
