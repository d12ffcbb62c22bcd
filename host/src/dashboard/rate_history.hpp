#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace nomnom::host {

// Each plugin's settled-message counter (persisted + dead-lettered), sampled over the last
// minute, for the dashboard's messages/s charts: a chart is there as soon as the page opens.
// Not thread-safe: the dashboard guards it.
class RateHistory {
  public:
    // Intervals and the window on the steady clock, so that a step of the wall clock (NTP)
    // neither zeroes a rate nor keeps old samples; the wall clock only labels the points.
    using Clock = std::chrono::steady_clock;
    using WallClock = std::chrono::system_clock;

    explicit RateHistory(Clock::duration window = std::chrono::seconds(60));

    void record(Clock::time_point at, WallClock::time_point wall,
                const std::map<std::string, double>& settled);

    struct Point {
        int64_t unix_ms;  // the end of the interval
        double per_s;
    };
    // The rate between each two samples, oldest first.
    std::vector<Point> points(const std::string& plugin) const;
    // The average rate over the window; 0 with fewer than two samples.
    double per_second(const std::string& plugin) const;

  private:
    struct Interval {
        Clock::time_point from;
        Clock::time_point to;
        WallClock::time_point wall_to;
        double per_s;
    };
    std::vector<Interval> intervals(const std::string& plugin) const;

    struct Sample {
        Clock::time_point at;
        WallClock::time_point wall;
        std::map<std::string, double> settled;
    };
    Clock::duration window_;
    std::deque<Sample> samples_;
};

}  // namespace nomnom::host
