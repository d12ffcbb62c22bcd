#include "ops/progress_reporter.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "nomnom/common/logging.hpp"

namespace nomnom::host {
namespace {

std::string duration_text(double seconds) {
    const auto whole = static_cast<int64_t>(std::ceil(seconds));
    if (whole < 60) return fmt::format("{} s", whole);
    if (whole < 3600) return fmt::format("{} min {} s", whole / 60, whole % 60);
    return fmt::format("{} h {} min", whole / 3600, whole % 3600 / 60);
}

}  // namespace

std::string describe_progress(double rate, double interval_s, uint64_t pending, int64_t in_flight) {
    std::string text = fmt::format("{:.1f} msg/s over the last {}, lag {} pending, {} in flight, ",
                                   rate, duration_text(interval_s), pending, in_flight);
    const double left = static_cast<double>(pending) + static_cast<double>(in_flight);
    if (rate <= 0) return text + "ETA unknown (nothing settled in that time)";
    return text + "ETA " + duration_text(left / rate);
}

bool ProgressReporter::due(Clock::time_point now, int64_t interval_s) const {
    return interval_s > 0 && (!reported_ || now - last_report_ >= std::chrono::seconds(interval_s));
}

void ProgressReporter::report(const std::vector<PluginBacklog>& backlogs, Clock::time_point now) {
    reported_ = true;
    last_report_ = now;
    std::map<std::string, Sample> current;
    for (const PluginBacklog& backlog : backlogs) {
        Sample sample{backlog.settled, 0, now};
        int64_t in_flight = 0;
        for (const auto& [durable, state] : backlog.consumers) {
            sample.pending += state.pending;
            in_flight += state.ack_pending;
        }
        current[backlog.plugin] = sample;
        const auto previous = previous_.find(backlog.plugin);
        // Settled counts restart with the plugin's metrics only with the host, never backwards.
        if (previous == previous_.end() || sample.settled < previous->second.settled) continue;
        const double elapsed = std::chrono::duration<double>(now - previous->second.at).count();
        if (elapsed <= 0) continue;
        const double rate =
            static_cast<double>(sample.settled - previous->second.settled) / elapsed;
        LogFields fields;
        fields.plugin = backlog.plugin;
        const LogScope scope(fields);
        if (sample.pending > 0) {
            spdlog::info("progress: {}",
                         describe_progress(rate, elapsed, sample.pending, in_flight));
        } else if (previous->second.pending > 0) {
            spdlog::info("progress: backlog drained ({:.1f} msg/s over the last {:.0f} s)", rate,
                         elapsed);
        }
    }
    previous_ = std::move(current);
}

}  // namespace nomnom::host
