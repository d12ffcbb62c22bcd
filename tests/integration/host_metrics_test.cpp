// What /metrics serves: gauges that follow the host's resources (the database connection pool),
// and the list of metric families, which README.md documents.

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "host_harness.hpp"
#include "support/kept_connection.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

namespace {

// "name (type)" of every family in Prometheus text, from its # TYPE lines.
std::set<std::string> served_families(const std::string& metrics) {
    std::set<std::string> families;
    std::istringstream in(metrics);
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("# TYPE ")) continue;
        std::istringstream fields(line.substr(7));
        std::string name;
        std::string type;
        fields >> name >> type;
        families.insert(name + " (" + type + ")");
    }
    return families;
}

// "name (type)" of every metric in the table of README.md's "### Metrics" section: the first
// column names one or more metrics in backticks, the second gives their type.
std::set<std::string> documented_families() {
    std::ifstream in(NOMNOM_SOURCE_DIR "/README.md");
    std::set<std::string> families;
    bool in_section = false;
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("### ")) in_section = line == "### Metrics";
        if (!in_section || !line.starts_with("| `")) continue;
        const size_t second = line.find('|', 1);
        const size_t third = line.find('|', second + 1);
        std::string type = line.substr(second + 1, third - second - 1);
        type.erase(0, type.find_first_not_of(' '));
        type.erase(type.find_last_not_of(' ') + 1);
        const std::string names = line.substr(1, second - 1);
        size_t open = names.find('`');
        while (open != std::string::npos) {
            const size_t close = names.find('`', open + 1);
            families.insert(names.substr(open + 1, close - open - 1) + " (" + type + ")");
            open = names.find('`', close + 1);
        }
    }
    return families;
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
    const std::string pool = "{database=\"" + pg.url() + "\"}";
    CHECK(metric_value(metrics, "nomnom_db_pool_connections" + pool) == 2);
    CHECK(metric_value(metrics, "nomnom_db_pool_in_use" + pool) == 0);
    CHECK(metric_value(metrics, "nomnom_db_pool_waiting" + pool) == 0);

    // Writes block on the table lock while holding their connections; the third worker waits.
    pg.exec("BEGIN; LOCK TABLE kv IN EXCLUSIVE MODE");
    JetStreamClient client(nats.url());
    client.publish_many("test.kv.pool", kv_messages(60));
    const bool saturated = eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return metric_value(metrics, "nomnom_db_pool_in_use" + pool) == 2 &&
                   metric_value(metrics, "nomnom_db_pool_waiting" + pool) == 1;
        },
        20s);
    pg.exec("COMMIT");
    CHECK(saturated);

    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 60; }, 30s));
    CHECK(eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return metric_value(metrics, "nomnom_db_pool_in_use" + pool) == 0 &&
                   metric_value(metrics, "nomnom_db_pool_waiting" + pool) == 0;
        },
        10s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("every metric family /metrics serves is in README's metrics table, and only those",
          "[metrics][docs][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.add_test_plugin("test_bad_major");
    // Status recording on and a refused plugin: every family the host has is served.
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "docs.db").string(),
                                  "[status]\nenabled = true\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv], 1 refused", 20s));
    const std::set<std::string> served = served_families(host.http_get("/metrics").second);
    const std::set<std::string> documented = documented_families();
    REQUIRE(served.size() > 20);
    std::vector<std::string> undocumented;
    std::set_difference(served.begin(), served.end(), documented.begin(), documented.end(),
                        std::back_inserter(undocumented));
    std::vector<std::string> not_served;
    std::set_difference(documented.begin(), documented.end(), served.begin(), served.end(),
                        std::back_inserter(not_served));
    CHECK(undocumented.empty());
    CHECK(not_served.empty());
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("idle keep-alive connections to the http port hold up no scrape", "[metrics][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "kept.db").string()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    // Without the dashboard the port has 2 serving threads, and a connection kept alive used to
    // hold one for 15 s after its last request: 10 s is less.
    std::vector<std::unique_ptr<KeptConnection>> kept;
    for (int i = 0; i < 6; ++i) {
        kept.push_back(std::make_unique<KeptConnection>(host.port(), 10s));
        REQUIRE(kept.back()->request("GET", "/health").status == 200);
    }
    KeptConnection scrape(host.port(), 10s);
    KeptAnswer metrics;
    // Idle: all but the scrape's own, which is being served. A connection is listed as idle
    // only after its answer is written, and its client may be quicker than that.
    CHECK(eventually(
        [&] {
            metrics = scrape.request("GET", "/metrics");
            return metric_value(metrics.body, "nomnom_http_idle_connections") == 6;
        },
        10s));
    CHECK(metrics.status == 200);
    CHECK(metric_value(metrics.body, "nomnom_http_connections") == 7);
    // Once: each worker process counts its own port, which the host's merge leaves out.
    const std::string type = "# TYPE nomnom_http_connections gauge";
    const size_t first = metrics.body.find(type);
    CHECK(first != std::string::npos);
    CHECK(metrics.body.find(type, first + 1) == std::string::npos);
    for (auto& connection : kept) CHECK(connection->request("GET", "/ready").status == 200);
    REQUIRE(host.terminate() == 0);
}
