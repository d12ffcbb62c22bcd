// /ready follows the servers the host needs, also while it has nothing to do: PostgreSQL and
// nats-server going down and coming back.

#include <catch2/catch.hpp>

#include "host_harness.hpp"
#include "support/nats_server.hpp"

using namespace nomnom::testing;

namespace {

// Starts `host` with test_kv on `database` and returns once /ready answers 200.
void start_until_ready(HostHarness& host, const std::string& nats_url,
                       const std::string& database) {
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats_url, database));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(eventually([&] { return host.http_get("/ready").first == 200; }, 10s));
}

// The body of the first 503 /ready answers within 20 s.
std::string body_once_not_ready(HostHarness& host) {
    std::pair<int, std::string> ready;
    REQUIRE(eventually(
        [&] {
            ready = host.http_get("/ready");
            return ready.first == 503;
        },
        20s));
    return ready.second;
}

}  // namespace

TEST_CASE("an idle host's /ready turns 503 while PostgreSQL is down and 200 once it is back",
          "[ready][postgresql]") {
    NatsServer nats;
    PrivatePostgres pg_server;
    HostHarness host;
    start_until_ready(host, nats.url(), pg_server.url());

    // Nothing is written meanwhile: only the host's own check can notice.
    pg_server.stop();
    const std::string ready = body_once_not_ready(host);
    INFO(ready);
    CHECK(ready.find(R"("nats":"connected","database":"unreachable")") != std::string::npos);
    CHECK(ready.find(R"("test_kv":"running")") != std::string::npos);

    pg_server.start();
    REQUIRE(eventually([&] { return host.http_get("/ready").first == 200; }, 20s));
    // The pooled connections died with the server; the first write gets fresh ones.
    JetStreamClient client(nats.url());
    client.publish("test.kv.back", R"({"k":"back","v":1})");
    REQUIRE(eventually(
        [&] {
            return metric_value(host.http_get("/metrics").second,
                                "nomnom_messages_persisted_total{plugin=\"test_kv\"}") == 1;
        },
        30s));
    REQUIRE(host.terminate() == 0);
    CHECK(dlq_list(host).empty());
}

TEST_CASE("/ready says nats disconnected while nats-server is down and 200 after its restart",
          "[ready][sqlite]") {
    NatsServer nats;
    HostHarness host;
    const auto database = host.dir() / "ready.db";
    start_until_ready(host, nats.url(), "sqlite:" + database.string());

    nats.stop();
    const std::string ready = body_once_not_ready(host);
    INFO(ready);
    CHECK(ready.find(R"("nats":"disconnected","database":"reachable")") != std::string::npos);
    // /metrics answers at once too: it does not ask the absent JetStream for the lag.
    const auto asked = std::chrono::steady_clock::now();
    const std::string metrics = host.http_get("/metrics").second;
    CHECK(std::chrono::steady_clock::now() - asked < 1s);
    CHECK(metric_value(metrics, "nomnom_nats_connected") == 0);
    CHECK(metrics.find("nomnom_consumer_pending{") == std::string::npos);

    nats.restart();
    REQUIRE(eventually([&] { return host.http_get("/ready").first == 200; }, 30s));
    CHECK(metric_value(host.http_get("/metrics").second, "nomnom_nats_connected") == 1);
    // What the workers saw meanwhile is the plugin's last error.
    const std::string recovered = host.http_get("/ready").second;
    INFO(recovered);
    CHECK(recovered.find(R"("last_errors":{"test_kv":{"time":")") != std::string::npos);
    CHECK(recovered.find(R"("reason":"nomnom-test_kv: fetch: )") != std::string::npos);
    JetStreamClient client(nats.url());
    client.publish("test.kv.back", R"({"k":"back","v":2})");
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT v FROM kv WHERE k = 'back'") == 2; }, 30s));
    REQUIRE(host.terminate() == 0);
}
