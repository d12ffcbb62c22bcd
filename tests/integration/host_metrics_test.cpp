// Gauges of /metrics that follow the host's resources: the database connection pool.

#include <catch2/catch.hpp>

#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

namespace {

// The value of the first sample of `name` in Prometheus text, or -1.
int64_t gauge(const std::string& metrics, const std::string& name) {
    const size_t at = metrics.find("\n" + name + "{");
    if (at == std::string::npos) return -1;
    const size_t value = metrics.find("} ", at) + 2;
    return std::stoll(metrics.substr(value, metrics.find('\n', value) - value));
}

}  // namespace

TEST_CASE("pool gauges show connections in use and workers waiting for one",
          "[metrics][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    HostHarness host;
    host.add_test_plugin("test_kv");
    // Three workers share two connections.
    host.write_config(test_config(nats.url(), pg.url(),
                                  "[plugins.test_kv]\nworkers = 3\nbatch_size = 5\n"
                                  "ack_wait_ms = 30000\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));

    std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    const std::string label = "{database=\"postgresql://";
    CHECK(metrics.find("# TYPE nomnom_db_pool_connections gauge\nnomnom_db_pool_connections" +
                       label) != std::string::npos);
    CHECK(gauge(metrics, "nomnom_db_pool_connections") == 2);
    CHECK(gauge(metrics, "nomnom_db_pool_in_use") == 0);
    CHECK(gauge(metrics, "nomnom_db_pool_waiting") == 0);

    // Writes block on the table lock while holding their connections; the third worker waits.
    pg.exec("BEGIN; LOCK TABLE kv IN EXCLUSIVE MODE");
    JetStreamClient client(nats.url());
    client.publish_many("test.kv.pool", kv_messages(60));
    const bool saturated = eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return gauge(metrics, "nomnom_db_pool_in_use") == 2 &&
                   gauge(metrics, "nomnom_db_pool_waiting") == 1;
        },
        20s);
    pg.exec("COMMIT");
    CHECK(saturated);

    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 60; }, 30s));
    CHECK(eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return gauge(metrics, "nomnom_db_pool_in_use") == 0 &&
                   gauge(metrics, "nomnom_db_pool_waiting") == 0;
        },
        10s));
    REQUIRE(host.terminate() == 0);
}
