#include <catch2/catch.hpp>

#include "nomnom/common/prometheus.hpp"

TEST_CASE("Prometheus label values are escaped in every family", "[metrics]") {
    CHECK(nomnom::prometheus_labels({}).empty());
    CHECK(nomnom::prometheus_labels({{"file", "a\"b\\c\nd"}, {"plugin", "p"}}) ==
          R"({file="a\"b\\c d",plugin="p"})");
}

TEST_CASE("a histogram renders cumulative buckets, the bucket label last", "[metrics]") {
    nomnom::Histogram histogram({0.1, 1});
    histogram.observe(0.05);
    histogram.observe(0.5);
    histogram.observe(5);
    std::string out;
    nomnom::prometheus_family(out, "x_seconds", "histogram", "help text");
    histogram.render(out, "x_seconds", {{"plugin", "p"}});
    CHECK(out ==
          "# HELP x_seconds help text\n"
          "# TYPE x_seconds histogram\n"
          "x_seconds_bucket{plugin=\"p\",le=\"0.10000000000000001\"} 1\n"
          "x_seconds_bucket{plugin=\"p\",le=\"1\"} 2\n"
          "x_seconds_bucket{plugin=\"p\",le=\"+Inf\"} 3\n"
          "x_seconds_sum{plugin=\"p\"} 5.5499999999999998\n"
          "x_seconds_count{plugin=\"p\"} 3\n");
    std::string unlabelled;
    histogram.render(unlabelled, "y", {});
    CHECK(unlabelled.starts_with("y_bucket{le=\"0.10000000000000001\"} 1\n"));
    CHECK(unlabelled.ends_with("y_count 3\n"));
}
