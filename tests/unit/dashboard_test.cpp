// The dashboard's parts that need no server: the messages/s history, the reading of /metrics,
// the admin sessions and the JSON text of outside strings. Its routes: integration/
// host_dashboard_test.cpp and tests/browser/.

#include <catch2/catch.hpp>

#include "dashboard/admin_auth.hpp"
#include "dashboard/host_names.hpp"
#include "dashboard/json_text.hpp"
#include "dashboard/overview.hpp"
#include "dashboard/rate_history.hpp"
#include "ops/dead_letter_queue.hpp"
#include "ops/prometheus_text.hpp"

using namespace nomnom::host;
using namespace std::chrono_literals;

namespace {

std::vector<double> rates(const RateHistory& history, const std::string& plugin) {
    std::vector<double> out;
    for (const RateHistory::Point& point : history.points(plugin)) out.push_back(point.per_s);
    return out;
}

}  // namespace

TEST_CASE("the rate history: a new plugin counts from zero, a gap is no spike", "[dashboard]") {
    const RateHistory::Clock::time_point t0{std::chrono::seconds(1000)};
    const RateHistory::WallClock::time_point wall0{std::chrono::seconds(1'800'000'000)};
    RateHistory history(60s);
    // Samples every 2 s on the steady clock; the wall clock steps back 1 h at the fourth.
    const auto record = [&](std::chrono::seconds after, std::map<std::string, double> settled) {
        const auto wall = wall0 + after - (after >= 6s ? std::chrono::hours(1) : 0h);
        history.record(t0 + after, wall, settled);
    };
    record(0s, {});
    record(2s, {{"a", 10}});  // started and counted 10 in between
    record(4s, {{"a", 30}});
    record(6s, {});  // its worker process did not answer
    record(8s, {{"a", 40}});
    record(10s, {{"a", 4}});  // restarted: counts from zero again
    CHECK(rates(history, "a") == std::vector<double>{5, 10, 2});
    CHECK(history.points("a").back().unix_ms == 1'800'000'010'000 - 3'600'000);
    CHECK(history.per_second("a") == Approx((10.0 + 20 + 4) / 6));
    CHECK(history.points("b").empty());
    CHECK(history.per_second("b") == 0);

    // Only the last minute is kept (and the sample just before it).
    for (int i = 1; i <= 40; ++i) {
        record(10s + i * 2s, {{"a", 4.0 + i}});
    }
    CHECK(history.points("a").size() == 30);
    CHECK(history.per_second("a") == Approx(0.5));
}

TEST_CASE("the overview reads the host's /metrics text, worker processes' shares summed",
          "[dashboard]") {
    const MetricsReading reading = read_metrics(R"(# TYPE nomnom_messages_persisted_total counter
nomnom_messages_persisted_total{plugin="a"} 12
nomnom_messages_dead_lettered_total{plugin="a"} 3
nomnom_messages_invalid_total{plugin="a"} 2
nomnom_rows_written_total{plugin="a",table="t\"1"} 24
nomnom_plugin_worker_deaths_total{plugin="a",cause="SIGSEGV"} 1
nomnom_plugin_up{plugin="a",version="2.1.0"} 1
nomnom_consumer_pending{plugin="a",consumer="c1"} 5
nomnom_consumer_pending{plugin="a",consumer="c2"} 7
nomnom_consumer_ack_pending{plugin="a",consumer="c1"} 1
nomnom_messages_persisted_total{plugin="b"} 1
nomnom_reloads_total 4
not a sample line
)");
    REQUIRE(reading.plugins.contains("a"));
    const PluginNumbers& a = reading.plugins.at("a");
    CHECK(a.settled() == 15);
    CHECK(a.invalid == 2);
    CHECK(a.version == "2.1.0");
    CHECK(a.rows_by_table == std::map<std::string, double>{{"t\"1", 24}});
    CHECK(a.worker_deaths.at("SIGSEGV") == 1);
    CHECK(a.pending == 12);
    CHECK(a.in_flight == 1);
    CHECK(!reading.plugins.at("b").pending);  // JetStream not asked: unknown, not zero
    CHECK(reading.reloads == 4);
}

TEST_CASE("label values are unescaped", "[dashboard]") {
    CHECK(prometheus_label_values(R"(a="x\\y",b="line\nnext",c="q\"")") ==
          std::map<std::string, std::string>{{"a", "x\\y"}, {"b", "line\nnext"}, {"c", "q\""}});
}

TEST_CASE("outside text becomes valid UTF-8 JSON", "[dashboard]") {
    rapidjson::StringBuffer buffer;
    JsonWriter out(buffer);
    out.StartArray();
    put_text(out, "ok \xC3\xA9 \xFF\xFE<script>\"");
    out.EndArray();
    CHECK(std::string(buffer.GetString()) ==
          "[\"ok \xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD<script>\\\"\"]");
}

TEST_CASE("admin sessions: the token signs in, wrong ones are limited per address, sessions end",
          "[dashboard]") {
    using Check = AdminAuth::Check;
    const AdminAuth::Clock::time_point t0{};
    AdminAuth off("");
    std::string session;
    CHECK(off.login("", "10.0.0.1", t0, session) == Check::Off);
    CHECK(off.check_token("", "10.0.0.1", t0) == Check::Off);
    CHECK(!off.session_valid("", t0));

    AdminAuth auth("the-admin-token-1234");
    CHECK(auth.check_token("the-admin-token-1234", "10.0.0.1", t0) == Check::Valid);
    CHECK(auth.check_token("the-admin-token-123", "10.0.0.1", t0) == Check::WrongToken);
    CHECK(auth.check_token("the-admin-token-12345", "10.0.0.1", t0) == Check::WrongToken);
    REQUIRE(auth.login("the-admin-token-1234", "10.0.0.1", t0, session) == Check::Valid);
    CHECK(session.size() == 64);
    CHECK(session.find("admin") == std::string::npos);
    CHECK(auth.session_valid(session, t0 + 11h));
    CHECK(!auth.session_valid(session, t0 + 12h));
    CHECK(!auth.session_valid(session, t0));  // expired sessions are gone

    std::string other;
    REQUIRE(auth.login("the-admin-token-1234", "10.0.0.1", t0, other) == Check::Valid);
    CHECK(other != session);
    auth.logout(other);
    CHECK(!auth.session_valid(other, t0));

    // Bearer guesses and sign-in guesses count alike, per address.
    for (size_t i = 0; i < AdminAuth::kMaxFailures - 2; ++i) {
        CHECK(auth.login("guess", "10.0.0.2", t0 + 1s, session) == Check::WrongToken);
    }
    CHECK(auth.check_token("guess", "10.0.0.2", t0 + 1s) == Check::WrongToken);
    CHECK(auth.check_token("guess", "10.0.0.2", t0 + 1s) == Check::WrongToken);
    CHECK(auth.check_token("guess", "10.0.0.2", t0 + 1s) == Check::TooManyAttempts);
    // Even the right token waits until the minute of failures has passed...
    CHECK(auth.login("the-admin-token-1234", "10.0.0.2", t0 + 2s, session) ==
          Check::TooManyAttempts);
    // ... for that address only.
    CHECK(auth.login("the-admin-token-1234", "10.0.0.3", t0 + 2s, session) == Check::Valid);
    CHECK(auth.login("the-admin-token-1234", "10.0.0.2", t0 + 62s, session) == Check::Valid);
}

TEST_CASE("since is an age or a UTC time, in the letters' timestamp form", "[dashboard]") {
    CHECK(since_timestamp("") == "");
    CHECK(since_timestamp("2026-01-31T12:00:00Z") == "2026-01-31T12:00:00.000Z");
    CHECK(since_timestamp("2026-01-31T12:00:00.250Z") == "2026-01-31T12:00:00.250Z");
    const std::string hour_ago = since_timestamp("1h");
    CHECK(hour_ago.size() == 24);
    CHECK(hour_ago < since_timestamp("30m"));
    CHECK(since_timestamp("7d") < hour_ago);
    for (const char* bad : {"1", "30", "2", "1w", "-5m", "m", "2026-01-31", "2026-01-31T12:00:00",
                            "2026-01-31T12:00:00+02:00", "2026-13-01T00:00:00Z", "9999999999d"}) {
        INFO(bad);
        CHECK_THROWS_WITH(since_timestamp(bad),
                          Catch::Contains("is neither an age (30s, 30m, 12h, 7d) nor a UTC time"));
    }
}

TEST_CASE("a dead-letter class filter is one of the classes, or none", "[dashboard]") {
    CHECK(dead_letter_class("") == "");
    CHECK(dead_letter_class("retries_exhausted") == "retries_exhausted");
    CHECK_THROWS_WITH(dead_letter_class("Crashed"),
                      "class 'Crashed' is none of invalid, data, retries_exhausted, crashed, "
                      "timeout");
}

TEST_CASE("the dashboard answers to IP addresses, localhost, this machine and allowed names",
          "[dashboard]") {
    CHECK(host_name_of("Example.COM:9464") == "example.com");
    CHECK(host_name_of("[::1]:9464") == "[::1]");
    CHECK(host_allowed("127.0.0.1:9464", {}));
    CHECK(host_allowed("10.1.2.3", {}));
    CHECK(host_allowed("[::1]:9464", {}));
    CHECK(host_allowed("localhost:9464", {}));
    CHECK(!host_allowed("attacker.example:9464", {}));
    CHECK(!host_allowed("127.0.0.1.attacker.example", {}));
    CHECK(host_allowed("Nomnom.Example.com", {"nomnom.example.com"}));
}
