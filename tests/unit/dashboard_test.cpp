// The dashboard's parts that need no server: the messages/s history, the reading of /metrics,
// the admin sessions and the JSON text of outside strings. Its routes: integration/
// host_dashboard_test.cpp and tests/browser/.

#include <catch2/catch.hpp>

#include "dashboard/admin_auth.hpp"
#include "dashboard/json_text.hpp"
#include "dashboard/overview.hpp"
#include "dashboard/rate_history.hpp"
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
    const RateHistory::Clock::time_point t0{std::chrono::seconds(1'800'000'000)};
    RateHistory history(60s);
    history.record(t0, {});
    history.record(t0 + 2s, {{"a", 10}});  // started and counted 10 in between
    history.record(t0 + 4s, {{"a", 30}});
    history.record(t0 + 6s, {});  // its worker process did not answer
    history.record(t0 + 8s, {{"a", 40}});
    history.record(t0 + 10s, {{"a", 4}});  // restarted: counts from zero again
    CHECK(rates(history, "a") == std::vector<double>{5, 10, 2});
    CHECK(history.points("a").back().unix_ms == 1'800'000'010'000);
    CHECK(history.per_second("a") == Approx((10.0 + 20 + 4) / 6));
    CHECK(history.points("b").empty());
    CHECK(history.per_second("b") == 0);

    // Only the last minute is kept (and the sample just before it).
    for (int i = 1; i <= 40; ++i) history.record(t0 + 10s + i * 2s, {{"a", 4.0 + i}});
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

TEST_CASE("admin sessions: the token signs in, wrong ones are limited, sessions end",
          "[dashboard]") {
    const AdminAuth::Clock::time_point t0{};
    AdminAuth off("");
    std::string session;
    CHECK(off.login("", t0, session) == AdminAuth::Login::Off);
    CHECK(!off.bearer_valid("Bearer "));
    CHECK(!off.session_valid("", t0));

    AdminAuth auth("the-admin-token-1234");
    CHECK(auth.bearer_valid("Bearer the-admin-token-1234"));
    CHECK(!auth.bearer_valid("Bearer the-admin-token-123"));
    CHECK(!auth.bearer_valid("the-admin-token-1234"));
    REQUIRE(auth.login("the-admin-token-1234", t0, session) == AdminAuth::Login::SignedIn);
    CHECK(session.size() == 64);
    CHECK(session.find("admin") == std::string::npos);
    CHECK(auth.session_valid(session, t0 + 11h));
    CHECK(!auth.session_valid(session, t0 + 12h));
    CHECK(!auth.session_valid(session, t0));  // expired sessions are gone

    std::string other;
    REQUIRE(auth.login("the-admin-token-1234", t0, other) == AdminAuth::Login::SignedIn);
    CHECK(other != session);
    auth.logout(other);
    CHECK(!auth.session_valid(other, t0));

    for (size_t i = 0; i < AdminAuth::kMaxFailures; ++i) {
        CHECK(auth.login("guess", t0 + 1s, session) == AdminAuth::Login::WrongToken);
    }
    // Even the right token waits until the minute of failures has passed.
    CHECK(auth.login("the-admin-token-1234", t0 + 2s, session) ==
          AdminAuth::Login::TooManyAttempts);
    CHECK(auth.login("the-admin-token-1234", t0 + 62s, session) == AdminAuth::Login::SignedIn);
}
