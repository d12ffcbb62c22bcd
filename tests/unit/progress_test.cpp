#include <catch2/catch.hpp>

#include "ops/progress_reporter.hpp"

using nomnom::host::describe_progress;

TEST_CASE("progress lines give rate - lag and an ETA at that rate", "[progress]") {
    CHECK(describe_progress(812.54, 10, 15000, 256) ==
          "812.5 msg/s over the last 10 s, lag 15000 pending, 256 in flight, ETA 19 s");
    CHECK(describe_progress(10, 10, 1000, 200) ==
          "10.0 msg/s over the last 10 s, lag 1000 pending, 200 in flight, ETA 2 min 0 s");
    CHECK(describe_progress(1, 60, 7200, 0) ==
          "1.0 msg/s over the last 1 min 0 s, lag 7200 pending, 0 in flight, ETA 2 h 0 min");
    CHECK(describe_progress(0, 10, 5, 0) ==
          "0.0 msg/s over the last 10 s, lag 5 pending, 0 in flight, ETA unknown (nothing "
          "settled in that time)");
}

TEST_CASE("progress reports are due once per interval and never when off", "[progress]") {
    nomnom::host::ProgressReporter reporter;
    const auto start = nomnom::host::ProgressReporter::Clock::now();
    CHECK_FALSE(reporter.due(start, 0));
    CHECK(reporter.due(start, 5));
    reporter.report({}, start);
    CHECK_FALSE(reporter.due(start + std::chrono::seconds(4), 5));
    CHECK(reporter.due(start + std::chrono::seconds(5), 5));
}
