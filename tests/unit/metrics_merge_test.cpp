#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "nomnom/common/prometheus.hpp"
#include "ops/metrics_merge.hpp"

using nomnom::host::merge_prometheus;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Re-reads an exposition the way a strict parser does: every HELP and TYPE once, before the
// family's samples, and a family's samples together. Returns what went wrong, empty if nothing.
std::string check_exposition(const std::string& text) {
    std::map<std::string, std::string> types;  // family -> type
    std::map<std::string, int> helps;
    std::map<std::string, bool> closed;  // families whose samples already ended
    std::string current;
    auto family_of = [&](const std::string& sample) {
        for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
            if (!sample.ends_with(suffix)) continue;
            const std::string base = sample.substr(0, sample.size() - suffix.size());
            if (types.contains(base) && (types[base] == "histogram" || types[base] == "summary")) {
                return base;
            }
        }
        return sample;
    };
    for (const std::string& line : lines_of(text)) {
        if (line.empty()) return "blank line";
        std::istringstream words(line);
        std::string first, name, rest;
        words >> first;
        if (first == "#") {
            words >> first >> name >> rest;
            if (first == "TYPE" && !types.emplace(name, rest).second) return "second TYPE " + name;
            if (first == "HELP" && helps[name]++ > 0) return "second HELP " + name;
            if (closed.contains(name)) return "HELP/TYPE after the samples of " + name;
            continue;
        }
        const std::string family = family_of(first.substr(0, first.find('{')));
        if (family != current) {
            if (closed.contains(family)) return "samples of " + family + " split";
            if (!current.empty()) closed[current] = true;
            current = family;
        }
    }
    return {};
}

}  // namespace

TEST_CASE("families from several processes merge into one exposition", "[metrics_merge]") {
    const std::string parent =
        "# HELP nomnom_reloads_total Plugin reloads.\n"
        "# TYPE nomnom_reloads_total counter\n"
        "nomnom_reloads_total 2\n";
    const std::string child_a =
        "# HELP nomnom_messages_total Messages fetched.\n"
        "# TYPE nomnom_messages_total counter\n"
        "nomnom_messages_total{plugin=\"a\"} 10\n"
        "# HELP nomnom_db_pool_connections Open connections.\n"
        "# TYPE nomnom_db_pool_connections gauge\n"
        "nomnom_db_pool_connections 3\n";
    const std::string child_b =
        "# HELP nomnom_messages_total Messages fetched.\n"
        "# TYPE nomnom_messages_total counter\n"
        "nomnom_messages_total{plugin=\"b\"} 7\n"
        "# HELP nomnom_db_pool_connections Open connections.\n"
        "# TYPE nomnom_db_pool_connections gauge\n"
        "nomnom_db_pool_connections 4\n";
    const std::string merged = merge_prometheus({parent, child_a, child_b}, {});
    CHECK(merged ==
          "# HELP nomnom_reloads_total Plugin reloads.\n"
          "# TYPE nomnom_reloads_total counter\n"
          "nomnom_reloads_total 2\n"
          "# HELP nomnom_messages_total Messages fetched.\n"
          "# TYPE nomnom_messages_total counter\n"
          "nomnom_messages_total{plugin=\"a\"} 10\n"
          "nomnom_messages_total{plugin=\"b\"} 7\n"
          "# HELP nomnom_db_pool_connections Open connections.\n"
          "# TYPE nomnom_db_pool_connections gauge\n"
          "nomnom_db_pool_connections 7\n");
    CHECK(check_exposition(merged).empty());
    // The same series in every text adds up; merging one text gives it back.
    CHECK(merge_prometheus({child_a}, {}) == child_a);
    CHECK(merge_prometheus({}, {}).empty());
}

TEST_CASE("histograms from two processes add up bucket by bucket", "[metrics_merge]") {
    // Values whose sums are exact, so the merged text equals one histogram that saw them all.
    const std::vector<double> bounds{0.25, 1, 4};
    nomnom::Histogram first(bounds), second(bounds), both(bounds);
    for (const double value : {0.125, 0.5, 2.0}) {
        first.observe(value);
        both.observe(value);
    }
    for (const double value : {0.5, 8.0, 0.25, 3.5}) {
        second.observe(value);
        both.observe(value);
    }
    auto render = [](const nomnom::Histogram& histogram) {
        std::string out;
        nomnom::prometheus_family(out, "nomnom_batch_seconds", "histogram", "Batch time.");
        histogram.render(out, "nomnom_batch_seconds", {{"plugin", "p"}});
        return out;
    };
    const std::string merged = merge_prometheus({render(first), render(second)}, {});
    CHECK(merged == render(both));
    CHECK(merged.find("nomnom_batch_seconds_bucket{plugin=\"p\",le=\"1\"} 4\n") !=
          std::string::npos);
    CHECK(merged.find("nomnom_batch_seconds_bucket{plugin=\"p\",le=\"+Inf\"} 7\n") !=
          std::string::npos);
    CHECK(merged.find("nomnom_batch_seconds_sum{plugin=\"p\"} 14.875\n") != std::string::npos);
    CHECK(check_exposition(merged).empty());

    // A second plugin's histogram of the same family joins it, after the first one's samples.
    std::string other;
    nomnom::prometheus_family(other, "nomnom_batch_seconds", "histogram", "Batch time.");
    second.render(other, "nomnom_batch_seconds", {{"plugin", "q"}});
    const std::string three = merge_prometheus({render(first), other, render(second)}, {});
    CHECK(check_exposition(three).empty());
    CHECK(three.find("# TYPE nomnom_batch_seconds histogram\n") == three.rfind("# TYPE"));
    CHECK(three.find("nomnom_batch_seconds_count{plugin=\"p\"} 7\n") <
          three.find("nomnom_batch_seconds_bucket{plugin=\"q\",le=\"0.25\"} 1\n"));
    CHECK(three.find("nomnom_batch_seconds_count{plugin=\"q\"} 4\n") != std::string::npos);
}

TEST_CASE("a family named first_only comes from the first text alone", "[metrics_merge]") {
    const std::string parent =
        "# HELP nomnom_nats_connected Whether NATS is connected.\n"
        "# TYPE nomnom_nats_connected gauge\n"
        "nomnom_nats_connected 1\n";
    const std::string child =
        "# HELP nomnom_nats_connected A child's view.\n"
        "# TYPE nomnom_nats_connected gauge\n"
        "nomnom_nats_connected 1\n"
        "# TYPE nomnom_nats_rtt_seconds histogram\n"
        "nomnom_nats_rtt_seconds_bucket{le=\"+Inf\"} 3\n"
        "nomnom_nats_rtt_seconds_sum 0.5\n"
        "nomnom_nats_rtt_seconds_count 3\n"
        "nomnom_messages_total{plugin=\"a\"} 5\n";
    const std::string merged = merge_prometheus(
        {parent, child, child}, {"nomnom_nats_connected", "nomnom_nats_rtt_seconds"});
    CHECK(merged ==
          "# HELP nomnom_nats_connected Whether NATS is connected.\n"
          "# TYPE nomnom_nats_connected gauge\n"
          "nomnom_nats_connected 1\n"
          "nomnom_messages_total{plugin=\"a\"} 10\n");
    // Without first_only, the same texts sum.
    CHECK(merge_prometheus({parent, child}, {}).find("nomnom_nats_connected 2\n") !=
          std::string::npos);
}

TEST_CASE("a malformed line is skipped, the rest of its text kept", "[metrics_merge]") {
    const std::string child =
        "# TYPE nomnom_x_total counter\n"
        "nomnom_x_total{plugin=\"a\" 1\n"     // unclosed label set
        "nomnom_x_total{plugin=a} 1\n"        // unquoted label value
        "nomnom_x_total{plugin=\"\\q\"} 1\n"  // bad escape
        "nomnom_x_total{plugin=\"a\"} abc\n"  // not a number
        "nomnom_x_total{plugin=\"a\"} 1 2 3\n"
        "nomnom_x_total{plugin=\"a\"} 1 noon\n"
        "9nomnom_y 1\n"
        "nomnom_z\n"
        "# TYPE nomnom_w bogus\n"
        "# TYPE 7w counter\n"
        "# some other comment\n"
        "#TYPE nomnom_v counter\n"
        "\n"
        "   \n"
        "nomnom_x_total{plugin=\"a\"} 4 1700000000000\r\n"
        "nomnom_x_total{plugin=\"a,}\\\"\"} 2\n"
        "  nomnom_x_total{plugin=\"b\"}\t3";
    const std::string merged = merge_prometheus({child, "garbage\n{}\n# TYPE\n#\n"}, {});
    CHECK(merged ==
          "# TYPE nomnom_x_total counter\n"
          "nomnom_x_total{plugin=\"a\"} 4\n"
          "nomnom_x_total{plugin=\"a,}\\\"\"} 2\n"
          "nomnom_x_total{plugin=\"b\"} 3\n");
    CHECK(check_exposition(merged).empty());
}

TEST_CASE("merged values print like the rest of /metrics", "[metrics_merge]") {
    const std::string merged = merge_prometheus(
        {"a 0.1\nb 1.5\nc +Inf\nd NaN\ne 1e3\nf -2\n", "a 0.2\nb 1.5\nc 1\nd 1\ne 0.5\nf -Inf\n"},
        {});
    CHECK(merged ==
          "a 0.30000000000000004\n"
          "b 3\n"
          "c +Inf\n"
          "d NaN\n"
          "e 1000.5\n"
          "f -Inf\n");
    CHECK(merge_prometheus({"big 12345678901234567\n"}, {}) == "big 12345678901234568\n");
}

TEST_CASE("a sample follows its family's TYPE from any text", "[metrics_merge]") {
    // The first text has no TYPE line; the second declares the histogram.
    const std::string merged = merge_prometheus(
        {"h_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 2\n",
         "# HELP h Help.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"},
        {});
    CHECK(merged ==
          "# HELP h Help.\n"
          "# TYPE h histogram\n"
          "h_bucket{le=\"+Inf\"} 3\n"
          "h_count 3\n"
          "h_sum 5\n");
    CHECK(check_exposition(merged).empty());
}

TEST_CASE("the re-parse finds a split family", "[metrics_merge]") {
    // The checker itself: a hand-made exposition with a family split, and one with TYPE twice.
    CHECK_FALSE(check_exposition("# TYPE a counter\na 1\nb 1\na{x=\"1\"} 1\n").empty());
    CHECK_FALSE(check_exposition("# TYPE a counter\na 1\n# TYPE a counter\n").empty());
    const std::string merged =
        merge_prometheus({"# TYPE a counter\na 1\nb 1\n", "# TYPE a counter\na{x=\"1\"} 1\n"}, {});
    CHECK(check_exposition(merged).empty());
}
