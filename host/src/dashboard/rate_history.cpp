#include "dashboard/rate_history.hpp"

#include <algorithm>

namespace nomnom::host {
namespace {

// A counter that went down was restarted (a worker process's own count): from zero again.
double rate_between(double before, double after, double seconds) {
    if (seconds <= 0) return 0;
    return std::max(0.0, after >= before ? after - before : after) / seconds;
}

double seconds_between(RateHistory::Clock::time_point a, RateHistory::Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

RateHistory::RateHistory(Clock::duration window) : window_(window) {}

void RateHistory::record(Clock::time_point at, WallClock::time_point wall,
                         const std::map<std::string, double>& settled) {
    samples_.push_back({at, wall, settled});
    // One sample older than the window stays, so that the first interval reaches back to it.
    while (samples_.size() > 2 && at - samples_[1].at >= window_) samples_.pop_front();
}

std::vector<RateHistory::Interval> RateHistory::intervals(const std::string& plugin) const {
    std::vector<Interval> intervals;
    bool seen = false;
    const Sample* previous = nullptr;
    for (const Sample& sample : samples_) {
        const auto now = sample.settled.find(plugin);
        if (now != sample.settled.end() && previous) {
            const auto before = previous->settled.find(plugin);
            // A plugin's counters start at zero when it first runs: one that appears between two
            // samples counted its first messages in that interval. One that was seen before and
            // is missing from a sample (a worker process that did not answer) is not known then.
            if (before != previous->settled.end() || !seen) {
                const double count = before == previous->settled.end() ? 0 : before->second;
                intervals.push_back(
                    {previous->at, sample.at, sample.wall,
                     rate_between(count, now->second, seconds_between(previous->at, sample.at))});
            }
        }
        seen = seen || now != sample.settled.end();
        previous = &sample;
    }
    return intervals;
}

std::vector<RateHistory::Point> RateHistory::points(const std::string& plugin) const {
    std::vector<Point> points;
    for (const Interval& interval : intervals(plugin)) {
        points.push_back({std::chrono::duration_cast<std::chrono::milliseconds>(
                              interval.wall_to.time_since_epoch())
                              .count(),
                          interval.per_s});
    }
    return points;
}

double RateHistory::per_second(const std::string& plugin) const {
    double messages = 0;
    double seconds = 0;
    for (const Interval& interval : intervals(plugin)) {
        const double length = seconds_between(interval.from, interval.to);
        messages += interval.per_s * length;
        seconds += length;
    }
    return seconds > 0 ? messages / seconds : 0;
}

}  // namespace nomnom::host
