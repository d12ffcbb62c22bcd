// End to end: HTTP -> nomnom-api -> JetStream -> nomnom-host -> database, and the status of
// every message read back through GET /ingest/status.

#include <catch2/catch.hpp>
#include <thread>

#include "api_harness.hpp"
#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

namespace {

// The host consumes what the API publishes to messages.ingest.kv with test_kv.
std::string host_config(const std::string& nats_url, const std::string& database_url,
                        const std::string& format) {
    return test_config(nats_url, database_url,
                       "[status]\nenabled = true\nflush_ms = 50\n"
                       "[plugins.test_kv]\nsubjects = [\"messages.ingest.kv\"]\nformat = \"" +
                           format + "\"\nbatch_size = 100\nmax_deliver = 3\n");
}

}  // namespace

TEST_CASE("1000 messages through the API and the host land in PostgreSQL all persisted",
          "[api][e2e][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(host_config(nats.url(), pg.url(), "envelope"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    ApiHarness api;
    api.write_config(api_test_config(nats.url()));
    api.start();

    // Four clients at once, as a load balancer would spread them.
    constexpr int kMessages = 1000;
    constexpr int kClients = 4;
    std::vector<std::string> answers(kMessages);  // Catch2 assertions are for the main thread
    std::vector<int> failures(kClients, 0);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            for (int i = c; i < kMessages; i += kClients) {
                const HttpReply reply =
                    api.post("/ingest/message/kv", R"({"k":"key-)" + std::to_string(i) +
                                                       R"(","v":)" + std::to_string(i) + "}");
                if (reply.status != 202) {
                    ++failures[static_cast<size_t>(c)];
                    continue;
                }
                answers[static_cast<size_t>(i)] = reply.body;
            }
        });
    }
    for (auto& client : clients) client.join();
    std::vector<std::string> ids;
    for (const std::string& answer : answers) ids.push_back(json_field(answer, "message_id"));
    CHECK(failures == std::vector<int>(kClients, 0));
    const HttpReply poison = api.post("/ingest/message/kv", R"({"action":"invalid"})");
    REQUIRE(poison.status == 202);

    REQUIRE(
        eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == kMessages; }, 60s));
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == (kMessages - 1) * kMessages / 2);
    const std::string poison_id = json_field(poison.body, "message_id");
    REQUIRE(eventually([&] { return status_of(api, poison_id) == "failed"; }, 30s));
    const HttpReply failed = api.get("/ingest/status/" + poison_id);
    CHECK(failed.body.find(R"("plugin":"test_kv")") != std::string::npos);
    CHECK(failed.body.find(R"("reason":"action=invalid requested")") != std::string::npos);
    CHECK(failed.body.find(R"("error_class":"invalid")") != std::string::npos);

    REQUIRE(eventually([&] { return status_of(api, ids.back()) == "persisted"; }, 30s));
    int persisted = 0;
    for (const std::string& id : ids) persisted += status_of(api, id) == "persisted" ? 1 : 0;
    CHECK(persisted == kMessages);
    const HttpReply one = api.get("/ingest/status/" + ids.front());
    CHECK(one.body.find(R"("plugin":"test_kv")") != std::string::npos);
    CHECK(one.body.find(R"("time":")") != std::string::npos);

    // A retried POST after persistence stays persisted (the API never overwrites a status).
    CHECK(
        api.post("/ingest/message/kv", R"({"k":"key-0","v":0})", {{"Idempotency-Key", ids.front()}})
            .status == 202);
    CHECK(status_of(api, ids.front()) == "persisted");
    // A status is readable before the host's writer has its PubAck and counts it.
    std::string metrics;
    CHECK(eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return metrics.find("nomnom_status_written_total 1001\n") != std::string::npos;
        },
        10s));
    CHECK(metrics.find("nomnom_status_dropped_total 0\n") != std::string::npos);
    REQUIRE(api.terminate() == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("raw format: the payload as sent with the id in headers - persisted in SQLite",
          "[api][e2e][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "raw.db";
    host.write_config(host_config(nats.url(), "sqlite:" + database.string(), "json"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    ApiHarness api;
    api.write_config(api_test_config(nats.url(), "format = \"raw\"\n"));
    api.start();

    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) {
        const HttpReply reply =
            api.post("/ingest/message/kv",
                     R"({"k":"r-)" + std::to_string(i) + R"(","v":)" + std::to_string(i) + "}",
                     {{"Idempotency-Key", "raw-" + std::to_string(i)}});
        REQUIRE(reply.status == 202);
        ids.push_back(json_field(reply.body, "message_id"));
    }
    CHECK(ids.front() == "raw-0");
    REQUIRE(
        eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 20; }, 30s));
    REQUIRE(eventually([&] { return status_of(api, ids.back()) == "persisted"; }, 30s));
    for (const std::string& id : ids) CHECK(status_of(api, id) == "persisted");
    REQUIRE(api.terminate() == 0);
    REQUIRE(host.terminate() == 0);
}
