// Crashes, redelivery, retries and shutdown: count rows afterwards, nothing lost, nothing twice.

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <regex>

#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/temp_dir.hpp"

using namespace nomnom::testing;

namespace {

// A table the host did not create: no UNIQUE constraint, only a unique index on the plugin's
// conflict key, and no sequence column (so the plain upsert applies).
const char* const kForeignKv =
    "CREATE TABLE kv (k TEXT NOT NULL, v BIGINT NOT NULL, note TEXT); "
    "CREATE UNIQUE INDEX kv_by_k ON kv (k)";

// Every key written, then every key updated to another value: an upsert that keeps the first
// write (DO NOTHING) or a redelivery refused as a conflict shows in the values, not the count.
constexpr int kKeys = 400;
constexpr int64_t kUpdateOffset = 100000;
const int64_t kUpdatedSum = int64_t{kKeys} * (kKeys - 1) / 2 + kUpdateOffset * kKeys;

// The failpoint SIGKILLs the host right after its first commit, before any ack; a second host
// gets the whole backlog again, the committed batch included. The updates are published once
// the writes are in: without a sequence column a redelivery may not overtake a newer message,
// and a batch being fetched ahead when the kill came is redelivered only after ack_wait.
// `query` reads the database.
void kill_between_commit_and_ack(const std::string& database_url,
                                 const std::function<int64_t(const std::string&)>& query) {
    NatsServer nats;
    JetStreamClient client(nats.url());
    publish_backlog(client, "test.kv.crash", kv_messages(kKeys));

    HostHarness host;
    host.add_test_plugin("test_kv");
    // The host's own process is the one killed.
    std::string config = test_config(nats.url(), database_url,
                                     "[plugins]\nisolation = \"thread\"\n"
                                     "[plugins.test_kv]\nbatch_size = 100\n");
    config.replace(config.find("pool_size = 2"), 13, "pool_size = 2\nauto_migrate = false");
    host.write_config(config);
    host.start({{"NOMNOM_FAILPOINT", "after_commit"}});
    const auto crashed = host.process().wait_exit(30s);
    REQUIRE(crashed == 128 + SIGKILL);
    const int64_t committed = query("SELECT count(*) FROM kv");
    REQUIRE(committed > 0);
    REQUIRE(committed <= 100);
    CHECK(client.consumer_info("TEST", "nomnom-test_kv").ack_floor_stream_seq == 0);

    host.start();
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(query("SELECT count(*) FROM kv") == kKeys);
    CHECK(query("SELECT sum(v) FROM kv") == int64_t{kKeys} * (kKeys - 1) / 2);
    client.publish_many("test.kv.crash", kv_messages(kKeys, kUpdateOffset));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(query("SELECT count(*) FROM kv") == kKeys);
    CHECK(query("SELECT sum(v) FROM kv") == kUpdatedSum);
    // Nothing was acked before the kill, so this host persisted every message, the committed
    // ones again, and refused none.
    CHECK(metric_value(host.http_get("/metrics").second,
                       R"(nomnom_messages_persisted_total{plugin="test_kv"})") == 2 * kKeys);
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(host.terminate() == 0);
}

}  // namespace

TEST_CASE(
    "kill -9 between commit and ack, PostgreSQL table made by hand: no duplicate, updates win",
    "[faults][postgresql]") {
    PgTestDb pg;
    pg.exec(kForeignKv);
    kill_between_commit_and_ack(pg.url(),
                                [&](const std::string& sql) { return pg.query_int64(sql); });
}

TEST_CASE("kill -9 between commit and ack, SQLite table made by hand: no duplicate, updates win",
          "[faults][sqlite]") {
    TempDir dir("nomnom-foreign");
    const auto database = dir.path() / "foreign.db";
    sqlite_exec(database, kForeignKv);
    kill_between_commit_and_ack("sqlite:" + database.string(), [&](const std::string& sql) {
        return sqlite_int64(database, sql);
    });
}

TEST_CASE("SIGTERM drains: exit 0 - nothing left unacked - the rest picked up on restart",
          "[faults][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(20000);
    // Batches of 20 come in order: rows stop at 100 for 2 s while 100-119 is in the plugin's
    // hands, and SIGTERM comes then.
    messages[100] = R"({"k":"key-100","v":100,"action":"slow","ms":2000})";
    publish_backlog(client, "test.kv.drain", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "drain.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbatch_size = 20\n"));
    host.start();
    // Batch 100-119 in the plugin's hands: rows up to 99 stored, its 20 messages unacked.
    REQUIRE(eventually(
        [&] {
            return sqlite_int64(database, "SELECT count(*) FROM kv") >= 100 &&
                   client.consumer_info("TEST", "nomnom-test_kv").num_ack_pending > 0;
        },
        30s));
    REQUIRE(host.terminate() == 0);
    CHECK(host.log_contains("drained: every in-flight batch committed and settled; exiting"));
    const ConsumerStats stats = client.consumer_info("TEST", "nomnom-test_kv");
    CHECK(stats.num_ack_pending == 0);
    const int64_t persisted = sqlite_int64(database, "SELECT count(*) FROM kv");
    // The batch in hand was finished, and everything the consumer moved past was persisted:
    // nothing in flight was dropped.
    CHECK(persisted >= 120);
    CHECK(static_cast<uint64_t>(persisted) == 20000 - stats.num_pending);

    host.start();
    REQUIRE(eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 20000; },
                       120s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE(
    "an exception while a batch is taken in or processed returns its messages at once, not at "
    "ack_wait",
    "[faults][sqlite]") {
    // receive: as the fetching thread takes the batch in; before_settle: as the worker ends it.
    const auto [point, logged] = GENERATE(table<std::string, std::string>(
        {{"receive", "failpoint receive; retrying"},
         {"before_settle", "failpoint before_settle; returning the unsettled ones"}}));
    INFO("failpoint " << point);
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "throw.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nack_wait_ms = 60000\n"));
    host.start({{"NOMNOM_FAILPOINT", point + ":throw"}});
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.throw", R"({"k":"t","v":4})");
    INFO("host log:\n" << host.log());
    REQUIRE(host.wait_log(logged, 20s));
    // Far sooner than ack_wait (60 s): the nak brought it back and the redelivery was acked.
    REQUIRE(eventually([&] { return consumer_drained(client); }, 15s));
    CHECK(client.consumer_info("TEST", "nomnom-test_kv").delivered_consumer_seq == 2);
    CHECK(sqlite_int64(database, "SELECT v FROM kv WHERE k='t'") == 4);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("RETRY redelivers after the back-off delay - then persists", "[faults][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "retry.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbackoff_ms = [1500]\nack_wait_ms = 10000\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    const auto published = std::chrono::steady_clock::now();
    client.publish("test.kv.retry", R"({"k":"r","v":9,"action":"retry_until","until":3})");
    REQUIRE(eventually([&] { return sqlite_int64(database, "SELECT v FROM kv WHERE k='r'") == 9; },
                       60s));
    const auto elapsed = std::chrono::steady_clock::now() - published;
    // Two naks with 1500 ms +-20% each before the third delivery succeeds: not earlier, and far
    // sooner than two ack_wait expiries (20 s) of a message left without its nak.
    CHECK(elapsed >= std::chrono::milliseconds(2 * 1200));
    CHECK(elapsed < std::chrono::seconds(10));
    CHECK(host.log_contains("retry requested (delivery 1 of 3)"));
    CHECK(host.log_contains("retry requested (delivery 2 of 3)"));
    std::string metrics;
    REQUIRE(eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return metric_value(metrics, "nomnom_messages_persisted_total{plugin=\"test_kv\"}") ==
                   1;
        },
        10s));
    CHECK(metric_value(metrics, "nomnom_messages_retried_total{plugin=\"test_kv\"}") == 2);
    CHECK(metric_value(metrics, "nomnom_messages_dead_lettered_total{plugin=\"test_kv\"}") == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("RETRY back-off delays are jittered within +-20% over 200 messages", "[faults][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "jitter.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbackoff_ms = [1000]\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    std::vector<std::string> messages;
    for (int i = 0; i < 200; ++i) {
        messages.push_back(R"({"k":"j)" + std::to_string(i) +
                           R"(","v":1,"action":"retry_until","until":2})");
    }
    JetStreamClient client(nats.url());
    client.publish_many("test.kv.jitter", messages);
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 200);
    // "retry in <ms> ms: retry requested (delivery 1 of 2)", once per message.
    const std::regex retry_line(R"(retry in (\d+) ms: retry requested)");
    const std::string log = host.log();
    std::vector<int> delays;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), retry_line);
         it != std::sregex_iterator(); ++it) {
        delays.push_back(std::stoi((*it)[1].str()));
    }
    REQUIRE(delays.size() == 200);
    const auto [shortest, longest] = std::minmax_element(delays.begin(), delays.end());
    CHECK(*shortest >= 800);
    CHECK(*longest <= 1200);
    // Spread over the range: 200 draws all above 900, or all below 1100, would be chance 1 in
    // 10^25.
    CHECK(*shortest < 900);
    CHECK(*longest > 1100);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a message that keeps asking for RETRY is dead-lettered at max_deliver",
          "[faults][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "exhaust.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nmax_deliver = 2\nbackoff_ms = [100]\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.retry", R"({"k":"x","v":1,"action":"retry_until","until":10})");
    REQUIRE(
        host.wait_log("dead-lettered (retries_exhausted) to nomnom.dlq.test_kv: after 2 "
                      "deliveries: retry requested (delivery 2 of 10)",
                      30s));
    REQUIRE(eventually(
        [&] { return client.consumer_info("TEST", "nomnom-test_kv").num_ack_pending == 0; }, 10s));
    const std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metric_value(metrics, "nomnom_messages_retried_total{plugin=\"test_kv\"}") == 1);
    CHECK(metric_value(metrics, "nomnom_messages_dead_lettered_total{plugin=\"test_kv\"}") == 1);
    CHECK(metric_value(metrics, "nomnom_messages_invalid_total{plugin=\"test_kv\"}") == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a message nak'ed at its last delivery comes back and is dead-lettered, never dropped",
          "[faults][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    client.ensure_stream("TEST", {"test.>", "sensors.>", "messages.ingest.>"});
    // Left by an older host: a server-side MaxDeliver, which drops a message nak'ed at its last
    // delivery.
    jsConsumerConfig old;
    jsConsumerConfig_Init(&old);
    old.Durable = "nomnom-test_kv";
    old.AckPolicy = js_AckExplicit;
    old.MaxDeliver = 2;
    old.FilterSubject = "test.kv.>";
    jsConsumerInfo* info = nullptr;
    REQUIRE(js_AddConsumer(&info, client.js(), "TEST", &old, nullptr, nullptr) == NATS_OK);
    jsConsumerInfo_Destroy(info);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "last_delivery.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nmax_deliver = 2\nbackoff_ms = [100]\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(js_GetConsumerInfo(&info, client.js(), "TEST", "nomnom-test_kv", nullptr, nullptr) ==
            NATS_OK);
    CHECK(info->Config->MaxDeliver == -1);
    jsConsumerInfo_Destroy(info);

    // Without its stream every dead-letter publish fails, so the last delivery ends in a nak.
    REQUIRE(js_DeleteStream(client.js(), "NOMNOM_DLQ", nullptr, nullptr) == NATS_OK);
    client.publish("test.kv.last", R"({"k":"last","v":1,"action":"retry_until","until":10})");
    INFO("host log:\n" << host.log());
    REQUIRE(host.wait_log("dead-lettering failed", 30s));
    REQUIRE(host.wait_log("delivery 3 exceeds max_deliver = 2", 30s));

    client.ensure_stream("NOMNOM_DLQ", {"nomnom.dlq.>"});
    REQUIRE(eventually([&] { return dlq_list(host).size() == 1; }, 30s));
    CHECK(dlq_list(host)[0].find("retries_exhausted") != std::string::npos);
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("INVALID and database-rejected messages are set aside - the rest commits",
          "[faults][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    // A CHECK the plugin knows nothing about: the database refuses negative values.
    pg.exec(
        "CREATE TABLE kv (k TEXT NOT NULL, v BIGINT NOT NULL CHECK (v >= 0), note TEXT, "
        "UNIQUE (k))");
    JetStreamClient client(nats.url());
    std::vector<std::string> messages;
    for (int i = 0; i < 200; ++i) {
        if (i % 50 == 7) {
            messages.push_back(R"({"k":"neg-)" + std::to_string(i) + R"(","v":-1})");
        } else if (i % 50 == 21) {
            messages.push_back(R"({"k":"bad", "v": )");
        } else if (i % 50 == 33) {
            messages.push_back(R"({"k":"typed","v":1,"action":"bad_type"})");
        } else {
            messages.push_back(R"({"k":"ok-)" + std::to_string(i) + R"(","v":)" +
                               std::to_string(i) + "}");
        }
    }
    publish_backlog(client, "test.kv.mixed", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 200\n"));
    host.start();
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 188; }, 60s));
    REQUIRE(eventually(
        [&] {
            const auto stats = client.consumer_info("TEST", "nomnom-test_kv");
            return stats.num_ack_pending == 0 && stats.num_pending == 0;
        },
        30s));
    const std::string log = host.log();
    CHECK(occurrences(log, "dead-lettered (data)") == 4);
    CHECK(occurrences(log, "violates check constraint") == 4);
    CHECK(occurrences(log, "is not valid JSON") == 4);
    CHECK(occurrences(log, "is i64, plugin wrote text") == 4);
    CHECK(pg.query_int64("SELECT count(*) FROM kv WHERE k LIKE 'neg-%'") == 0);
    // Broken JSON and a wrong type are invalid; they and the CHECK violations are dead-lettered.
    const std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metric_value(metrics, "nomnom_messages_persisted_total{plugin=\"test_kv\"}") == 188);
    CHECK(metric_value(metrics, "nomnom_messages_invalid_total{plugin=\"test_kv\"}") == 8);
    CHECK(metric_value(metrics, "nomnom_messages_dead_lettered_total{plugin=\"test_kv\"}") == 12);
    CHECK(metric_value(metrics, "nomnom_messages_retried_total{plugin=\"test_kv\"}") == 0);
    REQUIRE(host.terminate() == 0);
}
