#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/jetstream_consumer.hpp"

namespace nomnom::host {

// A running plugin's durable consumers as JetStream reported them just now (those that
// answered), with how many messages the plugin has settled so far.
struct PluginBacklog {
    std::string plugin;
    std::vector<std::pair<std::string, ConsumerState>> consumers;  // durable name, state
    uint64_t settled = 0;  // messages persisted or dead-lettered since the host started
};

// "812.5 msg/s over the last 10 s, lag 15000 pending, 256 in flight, ETA 18 s": the ETA is
// how long the pending and in-flight messages take at that rate.
std::string describe_progress(double rate, double interval_s, uint64_t pending, int64_t in_flight);

// Long backlogs should not look like a hung host: every interval, one log line per plugin whose
// consumer has messages pending, with its rate, lag and ETA; one more when the backlog is gone.
class ProgressReporter {
  public:
    using Clock = std::chrono::steady_clock;

    // Whether a report is due at `now` with `interval_s` between reports (0: never).
    bool due(Clock::time_point now, int64_t interval_s) const;
    // Logs the plugins with a backlog, comparing with the previous report. A plugin seen for the
    // first time only sets the baseline of its rate.
    void report(const std::vector<PluginBacklog>& backlogs, Clock::time_point now);

  private:
    struct Sample {
        uint64_t settled = 0;
        uint64_t pending = 0;
        Clock::time_point at;
    };
    std::map<std::string, Sample> previous_;
    Clock::time_point last_report_{};
    bool reported_ = false;
};

}  // namespace nomnom::host
