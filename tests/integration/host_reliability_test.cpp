// What happens when things go wrong, counted: poison messages, crashes, a database outage, a
// NATS restart, retries running out, and the dead-letter queue round trip.

#include <catch2/catch.hpp>

#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/private_mariadb.hpp"
#include "support/test_database.hpp"

using namespace nomnom::testing;

namespace {

// One message in 50 is poison, in four ways: broken JSON, a missing field, a value of the wrong
// type for its column, and a value the database's CHECK constraint refuses.
struct PoisonMix {
    std::vector<std::string> messages;
    int64_t good = 0;
    int64_t good_sum = 0;
    // Per stream sequence of a poison message (published first to a new stream): the error
    // class of its dead letter and a piece of its reason.
    std::map<uint64_t, std::pair<std::string, std::string>> poison;
};

// `check_failure`: a piece of the server's message for a row its CHECK constraint refuses.
PoisonMix poison_mix(int count, const std::string& check_failure) {
    PoisonMix mix;
    for (int i = 0; i < count; ++i) {
        const std::string key = "key-" + std::to_string(i);
        if (i % 50 != 49) {
            mix.messages.push_back(R"({"k":")" + key + R"(","v":)" + std::to_string(i) + "}");
            ++mix.good;
            mix.good_sum += i;
            continue;
        }
        const uint64_t sequence = static_cast<uint64_t>(i) + 1;
        switch ((i / 50) % 4) {
            case 0:
                mix.messages.push_back(R"({"k":")" + key + R"(","v":)");
                mix.poison[sequence] = {"invalid", "is not valid JSON"};
                break;
            case 1:
                mix.messages.push_back(R"({"k":")" + key + R"("})");
                mix.poison[sequence] = {"invalid", "field 'v' is missing"};
                break;
            case 2:
                mix.messages.push_back(R"({"k":")" + key + R"(","v":1,"action":"bad_type"})");
                mix.poison[sequence] = {"invalid", "is i64, plugin wrote text"};
                break;
            default:
                mix.messages.push_back(R"({"k":")" + key + R"(","v":-5})");
                mix.poison[sequence] = {"data", check_failure};
        }
    }
    return mix;
}

// kv_messages(count) drained, each stored once and delivered once (a redelivery takes a consumer
// sequence of its own), nothing dead-lettered; `query` reads one number from the database.
void check_each_written_once(JetStreamClient& client, HostHarness& host, int count,
                             const std::function<int64_t(const std::string&)>& query) {
    REQUIRE(eventually([&] { return consumer_drained(client); }, 120s));
    CHECK(query("SELECT count(*) FROM kv") == count);
    CHECK(query("SELECT sum(v) FROM kv") == int64_t{count - 1} * count / 2);
    CHECK(client.consumer_info("TEST", "nomnom-test_kv").delivered_consumer_seq ==
          static_cast<uint64_t>(count));
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(host.terminate() == 0);
}

const char* const kCheckedKv =
    "CREATE TABLE kv (k TEXT NOT NULL, v BIGINT NOT NULL CHECK (v >= 0), note TEXT, UNIQUE (k))";
// MySQL indexes no TEXT column whole.
const char* const kCheckedKvMariaDb =
    "CREATE TABLE kv (k VARCHAR(255) NOT NULL, v BIGINT NOT NULL CHECK (v >= 0), note TEXT, "
    "UNIQUE (k))";

// A fresh database of `kind` with the kv table whose CHECK refuses negative values.
std::unique_ptr<TestDatabase> checked_kv_database(TestDbKind kind) {
    auto db = make_test_database(kind);
    db->exec(kind == TestDbKind::MariaDb ? kCheckedKvMariaDb : kCheckedKv);
    return db;
}

}  // namespace

TEST_CASE("kill -9 at random points of a 20k poison-mixed load: exact rows and dead letters",
          "[reliability][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    NatsServer nats;
    const auto db = checked_kv_database(kind);
    TestDatabase& pg = *db;
    JetStreamClient client(nats.url());
    const PoisonMix mix =
        poison_mix(20000, kind == TestDbKind::MariaDb ? "CONSTRAINT `kv.v` failed"
                                                      : "violates check constraint");
    publish_backlog(client, "test.kv.mix", mix.messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 200\n"));
    std::mt19937 random(20000);
    int64_t threshold = 0;
    for (int kill = 0; kill < 3; ++kill) {
        host.start();
        threshold += std::uniform_int_distribution<int64_t>(1000, 5000)(random);
        REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") >= threshold; },
                           60s));
        host.process().kill9();
    }
    host.start();
    REQUIRE(eventually([&] { return consumer_drained(client); }, 120s));
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == mix.good);
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == mix.good_sum);
    REQUIRE(host.terminate() == 0);

    // Exactly the poison messages, each once, with its class and reason: "<seq>  <time>  test_kv
    // <class>  test.kv.mix#<stream seq>  <reason>".
    std::map<uint64_t, std::pair<std::string, std::string>> found;
    for (const std::string& line : dlq_list(host)) {
        INFO(line);
        const size_t subject = line.find("test.kv.mix#");
        REQUIRE(subject != std::string::npos);
        const size_t class_start = line.rfind("test_kv  ", subject) + 9;
        const uint64_t sequence = std::stoull(line.substr(subject + 12));
        CHECK_FALSE(found.contains(sequence));
        found[sequence] = {line.substr(class_start, line.find("  ", class_start) - class_start),
                           line.substr(line.find("  ", subject) + 2)};
    }
    REQUIRE(found.size() == mix.poison.size());
    for (const auto& [sequence, expected] : mix.poison) {
        INFO("stream seq " << sequence);
        REQUIRE(found.contains(sequence));
        CHECK(found[sequence].first == expected.first);
        INFO("reason: " << found[sequence].second);
        CHECK(found[sequence].second.find(expected.second) != std::string::npos);
    }
}

// Bisection costs O(k log n) transactions: 1 + 2 log2(1024) = 21 for one bad message in a
// batch of 1024, 55 for three (at 100, 500 and 900), where writing one by one would take 1024.
TEST_CASE("bisection finds 1 and then 3 bad messages among 1024 in 21 and 55 transactions",
          "[reliability][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    NatsServer nats;
    const auto db = checked_kv_database(kind);
    TestDatabase& pg = *db;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(1024);
    std::vector<std::string> updates = kv_messages(1024, 5000);
    messages[700] = R"({"k":"key-700","v":-5})";
    for (const int bad : {100, 500, 900}) {
        updates[bad] = R"({"k":"key-)" + std::to_string(bad) + R"(","v":-5})";
    }
    messages.insert(messages.end(), updates.begin(), updates.end());
    publish_backlog(client, "test.kv.bisect", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 1024\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    // The worker still counts a batch after its last ack drained the consumer; a batch's time is
    // observed last, so two observed means both batches are counted in full.
    std::string metrics;
    REQUIRE(eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return metric_value(metrics, R"(nomnom_batch_seconds_count{plugin="test_kv"})") >= 2;
        },
        30s));
    // A scrape reads the counters one after another, no snapshot: the one that saw the second
    // time may have read the batch count just before it moved. The next sees it.
    metrics = host.http_get("/metrics").second;
    CHECK(metric_value(metrics, R"(nomnom_batches_total{plugin="test_kv"})") == 2);
    CHECK(metric_value(metrics, R"(nomnom_write_transactions_total{plugin="test_kv"})") == 21 + 55);
    CHECK(metric_value(metrics, R"(nomnom_messages_dead_lettered_total{plugin="test_kv"})") == 4);
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == 1024);
    // Every key holds its update but key-100, 500 and 900, which keep their first value.
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == 1023LL * 1024 / 2 + 5000LL * (1024 - 3));
    REQUIRE(host.terminate() == 0);
}

namespace {

// `server` (PrivatePostgres, PrivateMariaDb) stopped for 12 s under load.
template <typename Server>
void outage_waited_out(Server& pg_server) {
    NatsServer nats;
    JetStreamClient client(nats.url());
    publish_backlog(client, "test.kv.outage", kv_messages(6000));

    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), pg_server.url(),
                                  "[plugins.test_kv]\nbatch_size = 20\nmax_deliver = 3\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    pg_server.stop();
    REQUIRE(host.wait_log("database unreachable, holding", 30s));
    const auto [down_status, down_body] = host.http_get("/ready");
    CHECK(down_status == 503);
    CHECK(down_body.find(R"("database":"unreachable")") != std::string::npos);
    CHECK(down_body.find(R"("test_kv":"waiting for the database")") != std::string::npos);
    // Longer than ack_wait (5 s) and than max_deliver x back-off: neither may lose a message.
    std::this_thread::sleep_for(12s);
    pg_server.start();
    REQUIRE(host.wait_log("database reachable again", 60s));
    CHECK(host.http_get("/ready").first == 200);
    // No delivery burned: the held batch was kept in progress, nothing nak'ed or redelivered.
    check_each_written_once(client, host, 6000,
                            [&](const std::string& sql) { return pg_server.query_int64(sql); });
    CHECK_FALSE(host.log_contains("dead-lettered"));
}

}  // namespace

TEST_CASE("a PostgreSQL outage mid-load is waited out: nothing dead-lettered, everything lands",
          "[reliability][postgresql]") {
    PrivatePostgres server;
    outage_waited_out(server);
}

TEST_CASE("a MariaDB outage mid-load is waited out: nothing dead-lettered, everything lands",
          "[reliability][mariadb]") {
    PrivateMariaDb server;
    outage_waited_out(server);
}

TEST_CASE("a plugin that cannot start while PostgreSQL is down starts by itself once it is back",
          "[reliability][postgresql]") {
    const std::string mode = GENERATE(std::string("process"), std::string("thread"));
    NatsServer nats;
    PrivatePostgres pg_server;
    JetStreamClient client(nats.url());
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(
        test_config(nats.url(), pg_server.url(), "[plugins]\nisolation = \"" + mode + "\"\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 30s));
    pg_server.stop();
    host.add_test_plugin("test_kv_persist");
    host.process().signal(SIGHUP);
    const bool waiting = eventually(
        [&] {
            try {
                const auto [code, body] = host.http_get("/ready");
                return code == 503 &&
                       body.find(R"("test_kv_persist":"waiting to start: )") != std::string::npos;
            } catch (const std::exception&) {
                return false;  // the log below says why
            }
        },
        30s);
    INFO(mode << "\n" << host.log());
    REQUIRE(waiting);
    client.publish_many("test.kvp.later", kv_messages(100));
    pg_server.start();
    // No reload: it starts on its own and drains what waited for it.
    REQUIRE(eventually(
        [&] {
            const auto [code, metrics] = host.http_get("/metrics");
            return metric_value(metrics,
                                R"(nomnom_messages_persisted_total{plugin="test_kv_persist"})") ==
                   100;
        },
        90s));
    REQUIRE(eventually([&] { return host.http_get("/ready").first == 200; }, 30s));
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a PostgreSQL turned read-only (a failover to a replica) is waited out like an outage",
          "[reliability][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    JetStreamClient client(nats.url());
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(
        test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 20\nmax_deliver = 3\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    // New sessions are read-only; the host's are ended, so that it reconnects into one.
    pg.exec("ALTER DATABASE " + pg.name() + " SET default_transaction_read_only = on");
    pg.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    for (const std::string& message : kv_messages(6000))
        client.publish("test.kv.readonly", message);
    REQUIRE(host.wait_log("in a read-only transaction", 30s));
    const auto [down_status, down_body] = host.http_get("/ready");
    CHECK(down_status == 503);
    CHECK(down_body.find(R"("test_kv":"waiting for the database")") != std::string::npos);
    // Longer than ack_wait (5 s) and than max_deliver x back-off: neither may lose a message.
    std::this_thread::sleep_for(12s);
    pg.exec("BEGIN READ WRITE; ALTER DATABASE " + pg.name() +
            " SET default_transaction_read_only = off; COMMIT");
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 6000; }, 120s));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == 5999LL * 6000 / 2);
    REQUIRE(host.terminate() == 0);
    CHECK(dlq_list(host).empty());
    CHECK_FALSE(host.log_contains("dead-lettered"));
}

// InProgress comes from a thread of its own: the workers below are blocked inside one statement
// or waiting for a pooled connection for 8 times ack_wait, and not one delivery may time out.
TEST_CASE("a table locked for 40 s with workers waiting for the pool: no redelivery",
          "[reliability][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    JetStreamClient client(nats.url());
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(
        test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 50\nworkers = 4\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    pg.exec("BEGIN; LOCK TABLE kv IN ACCESS EXCLUSIVE MODE");
    client.publish_many("test.kv.locked", kv_messages(2000));
    // Both pooled connections wait for the lock; the other two workers wait for a connection.
    REQUIRE(eventually([&] { return pg.lock_waiters() == 2; }, 30s));
    std::this_thread::sleep_for(40s);
    pg.exec("COMMIT");

    check_each_written_once(client, host, 2000,
                            [&](const std::string& sql) { return pg.query_int64(sql); });
}

// The consumer exists already, made by an operator with a shorter ack_wait than worker.toml's:
// the server's is the one that redelivers, so keep-alives must follow it.
TEST_CASE("a parse slower than the server's ack_wait keeps its batch in progress: no redelivery",
          "[reliability][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    client.ensure_stream("TEST", {"test.>"});
    jsConsumerConfig consumer;
    jsConsumerConfig_Init(&consumer);
    consumer.Durable = "nomnom-test_kv";
    consumer.AckPolicy = js_AckExplicit;
    consumer.AckWait = 3'000'000'000;
    consumer.FilterSubject = "test.kv.>";
    jsConsumerInfo* created = nullptr;
    REQUIRE(js_AddConsumer(&created, client.js(), "TEST", &consumer, nullptr, nullptr) == NATS_OK);
    jsConsumerInfo_Destroy(created);
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "slow.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbatch_size = 20\nack_wait_ms = 30000\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    std::vector<std::string> messages = kv_messages(100);
    // 8 s, past ack_wait (3 s) and inside parse_timeout_ms (10 s): the 19 others of its batch
    // wait with it.
    messages[50] = R"({"k":"key-50","v":50,"action":"slow","ms":8000})";
    client.publish_many("test.kv.slow", messages);

    check_each_written_once(client, host, 100,
                            [&](const std::string& sql) { return sqlite_int64(database, sql); });
}

TEST_CASE("a second SQLite writer holding the database past the busy timeout is waited out",
          "[reliability][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "busy.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbatch_size = 20\nmax_deliver = 3\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));

    // Another process's writer, as a migration or a backup tool would hold it: every write of
    // the host waits out its 30 s busy timeout, then gets SQLITE_BUSY.
    auto writer = std::make_unique<SqliteWriteLock>(database);
    client.publish_many("test.kv.busy", kv_messages(2000));
    const bool held = host.wait_log("database unreachable, holding", 60s);
    const auto [busy_status, busy_body] = host.http_get("/ready");
    writer.reset();
    INFO(host.log());
    REQUIRE(held);
    CHECK(busy_status == 503);
    CHECK(busy_body.find(R"("test_kv":"waiting for the database")") != std::string::npos);

    REQUIRE(eventually([&] { return consumer_drained(client); }, 120s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 2000);
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 1999LL * 2000 / 2);
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a nats-server killed with a batch in flight: the host reconnects, exact counts",
          "[reliability][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(10000);
    // Batches of 20 come in order: rows stop at 600 for 3 s while 600-619 is in the host's hands.
    messages[600] = R"({"k":"key-600","v":600,"action":"slow","ms":3000})";
    publish_backlog(client, "test.kv.restart", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "restart.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbatch_size = 20\n"));
    host.start();
    REQUIRE(
        eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") >= 600; }, 60s));
    nats.kill9();
    REQUIRE(host.wait_log("NATS connection lost", 20s));
    nats.restart();
    REQUIRE(host.wait_log("NATS connection re-established", 60s));
    REQUIRE(eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 10000; },
                       120s));
    JetStreamClient after(nats.url());
    REQUIRE(eventually([&] { return consumer_drained(after); }, 60s));
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 9999LL * 10000 / 2);
    // Whether JetStream delivered the batch in hand again depends on whether the acks the
    // client buffered while the server was down reached the restarted server before its
    // ack_wait: both are correct, so the count is only reported.
    INFO("deliveries: " << after.consumer_info("TEST", "nomnom-test_kv").delivered_consumer_seq);
    REQUIRE(host.terminate() == 0);
    CHECK(dlq_list(host).empty());
}

TEST_CASE("dead letters carry the payload and the reason and replay once the cause is fixed",
          "[reliability][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "replay.db";
    const std::string base = test_config(nats.url(), "sqlite:" + database.string());
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    for (int i = 0; i < 3; ++i) {
        client.publish("test.kv.fix", R"({"k":"fix-)" + std::to_string(i) + R"(","v":)" +
                                          std::to_string(i) + R"(,"action":"invalid"})");
    }
    client.publish("test.kv.fix", R"({"k":"fine","v":7})");
    REQUIRE(
        eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 1; }, 30s));
    REQUIRE(eventually([&] { return dlq_list(host).size() == 3; }, 30s));
    const std::vector<std::string> letters = dlq_list(host);
    CHECK(letters[0].find("test_kv  invalid  test.kv.fix#1  action=invalid requested") !=
          std::string::npos);

    auto [code, output] =
        host.run_cli({"dlq", "show", "--config", host.config_path().string(), "--seq", "1"});
    CHECK(code == 0);
    CHECK(output.find("Nomnom-Error-Class: invalid") != std::string::npos);
    CHECK(output.find("Nomnom-Stream-Seq: 1") != std::string::npos);
    CHECK(output.find("Nomnom-Plugin-Version: 1.0.0") != std::string::npos);
    CHECK(output.find(R"({"k":"fix-0","v":0,"action":"invalid"})") != std::string::npos);

    // The fix: the plugin now accepts these messages. Restart with it, then replay.
    std::tie(code, output) = restart_fixed_and_replay(host, base);
    CHECK(code == 0);
    CHECK(output.find("3 replayed, 0 not replayed") != std::string::npos);
    REQUIRE(
        eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 4; }, 30s));
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 0 + 1 + 2 + 7);
    CHECK(dlq_list(host).empty());
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("replay loops are cut at dlq.max_replays and purge asks for confirmation",
          "[reliability][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "loop.db";
    host.write_config(
        test_config(nats.url(), "sqlite:" + database.string(), "[dlq]\nmax_replays = 1\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.loop", R"({"k":"again","v":1,"action":"invalid"})");
    REQUIRE(eventually([&] { return dlq_list(host).size() == 1; }, 30s));

    const std::string config = host.config_path().string();
    auto [code, output] = host.run_cli({"dlq", "replay", "--config", config});
    CHECK(code == 0);
    // Still broken: dead-lettered again, now carrying its replay count.
    REQUIRE(eventually(
        [&] {
            const auto letters = dlq_list(host);
            return letters.size() == 1 && letters[0].find("#2 ") != std::string::npos;
        },
        30s));
    std::tie(code, output) = host.run_cli({"dlq", "replay", "--config", config});
    CHECK(code == 1);
    CHECK(output.find("was replayed 1 times already (dlq.max_replays = 1)") != std::string::npos);

    std::tie(code, output) =
        host.run_cli({"dlq", "purge", "--config", config, "--plugin", "test_kv"});
    CHECK(code == 1);
    CHECK(output.find("would delete 1 dead letter(s); run again with --yes") != std::string::npos);
    std::tie(code, output) =
        host.run_cli({"dlq", "purge", "--config", config, "--plugin", "test_kv", "--yes"});
    CHECK(code == 0);
    CHECK(dlq_list(host).empty());
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a JetStream cluster loses its stream leader mid-load: exact rows, no dead letters",
          "[reliability][cluster][postgresql]") {
    NatsCluster cluster;
    PgTestDb pg;
    HostHarness host;
    host.add_test_plugin("test_kv");
    // The host is given every member; its streams (and the dead letters') keep 3 replicas.
    std::string config = test_config(cluster.urls(), pg.url(),
                                     "[dlq]\nreplicas = 3\n[plugins.test_kv]\nbatch_size = 20\n");
    const std::string stream = "name = \"TEST\"\n";
    config.replace(config.find(stream), stream.size(), stream + "replicas = 3\n");
    host.write_config(config);
    host.start();
    const bool started = host.wait_log("startup summary: 1 plugin(s) running", 60s);
    INFO(host.log());
    REQUIRE(started);

    constexpr int kMessages = 20000;
    JetStreamClient client(cluster.urls());
    client.publish_many("test.kv.cluster", kv_messages(kMessages), 120s);
    const auto rows = [&] { return pg.query_int64("SELECT count(*) FROM kv"); };
    REQUIRE(eventually([&] { return rows() >= 2000; }, 60s));
    const std::string leader = client.stream_leader("TEST");
    REQUIRE(!leader.empty());
    cluster.kill9(cluster.index_of(leader));
    INFO("killed the leader of TEST, " << leader << ", at " << rows() << " rows");

    REQUIRE(eventually([&] { return rows() == kMessages; }, 180s));
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == (kMessages - 1LL) * kMessages / 2);
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    // A JetStream request may time out while the cluster settles after the kill.
    const auto settled = [&](const std::function<bool()>& check) {
        return eventually(
            [&] {
                try {
                    return check();
                } catch (const std::exception&) {
                    return false;
                }
            },
            30s);
    };
    CHECK(settled([&] {
        const std::string now = client.stream_leader("TEST");
        return !now.empty() && now != leader;
    }));
    CHECK(settled([&] { return client.stream_message_count("NOMNOM_DLQ") == 0; }));
    CHECK(host.process().running());
    REQUIRE(host.terminate() == 0);
}
