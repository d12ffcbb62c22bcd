// End to end: messages published to a real nats-server end up as exact rows in SQLite and
// PostgreSQL, written by a real nomnom-host process.

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <functional>
#include <set>
#include <thread>

#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

using namespace nomnom::testing;

namespace {

// kv_messages(20, 90) on test.kvp.x, a fresh stream: the messages of v >= 100, stream sequences
// 11 to 20, are dead-lettered as data errors, each once, with `reason` in the reason.
void check_ten_data_errors(HostHarness& host, const std::string& reason) {
    std::set<uint64_t> sequences;
    for (const std::string& line : dlq_list(host)) {
        INFO(line);
        CHECK(line.find("test_kv_persist  data  test.kvp.x#") != std::string::npos);
        CHECK(line.find(reason) != std::string::npos);
        sequences.insert(std::stoull(line.substr(line.find('#') + 1)));
    }
    std::set<uint64_t> expected;
    for (uint64_t sequence = 11; sequence <= 20; ++sequence) expected.insert(sequence);
    CHECK(sequences == expected);
}

// kvp with a CHECK that the ten messages of v >= 100 of kv_messages(20, 90) violate.
const char* const kCheckedKvp =
    "CREATE TABLE kvp (k TEXT NOT NULL UNIQUE, v BIGINT NOT NULL CONSTRAINT kvp_v CHECK (v < 100), "
    "note TEXT)";
// MySQL indexes no TEXT column whole.
const char* const kCheckedKvpMariaDb =
    "CREATE TABLE kvp (k VARCHAR(255) NOT NULL UNIQUE, v BIGINT NOT NULL, note TEXT, "
    "CONSTRAINT kvp_v CHECK (v < 100))";

// test_kv_persist ignoring the errors of its statements on a kCheckedKvp table: the host, which
// saw each failure, bisects down to the ten culprits. `query` reads the database.
void persist_ignoring_errors(const std::string& database_url,
                             const std::function<int64_t(const std::string&)>& query) {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv_persist");
    host.write_config(test_config(nats.url(), database_url,
                                  "[plugins.test_kv_persist]\nbatch_size = 100\n"
                                  "[plugins.test_kv_persist.config]\nswallow_db_errors = true\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv_persist]", 20s));
    JetStreamClient client(nats.url());
    client.publish_many("test.kvp.x", kv_messages(20, 90));
    REQUIRE(eventually([&] { return consumer_drained(client, "nomnom-test_kv_persist"); }, 30s));
    CHECK(query("SELECT count(*) FROM kvp") == 10);
    CHECK(query("SELECT max(v) FROM kvp") == 99);
    check_ten_data_errors(host, "kvp_v");
    REQUIRE(host.terminate() == 0);
}

std::vector<std::string> sensor_lines(int count) {
    std::vector<std::string> lines;
    for (int i = 0; i < count; ++i) {
        lines.push_back("dev-" + std::to_string(i % 10) + "," + std::to_string(1700000000 + i) +
                        "," + std::to_string(20 + i % 7) + ".5," +
                        (i % 5 == 0 ? "" : std::to_string(i % 100)));
    }
    return lines;
}

// Starts `host` with test_kv on the shared PostgreSQL database and returns once it runs.
void start_on_shared_consumer(HostHarness& host, NatsServer& nats, PgTestDb& pg,
                              const std::string& plugin_settings = "") {
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), pg.url(),
                                  "[plugins.test_kv]\nbatch_size = 50\n" + plugin_settings));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
}

// nomnom_messages_persisted_total of test_kv on `host`.
double persisted(HostHarness& host) {
    return metric_value(host.http_get("/metrics").second,
                        "nomnom_messages_persisted_total{plugin=\"test_kv\"}");
}

}  // namespace

TEST_CASE("sensor_csv rows land in SQLite with exact values", "[e2e][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_shipped_plugin("sensor_csv");
    const auto database = host.dir() / "e2e.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [sensor_csv]", 20s));
    const auto [status, body] = host.http_get("/ready");
    CHECK(status == 200);
    CHECK(body == R"({"ready":true,"nats":"connected","database":"reachable",)"
                  R"("plugins":{"sensor_csv":"running"},"last_errors":{}})");
    const std::string idle = host.http_get("/metrics").second;
    CHECK(metric_value(idle, "nomnom_parse_seconds_count{plugin=\"sensor_csv\"}") == 0);
    CHECK(metric_value(idle, "nomnom_write_seconds_sum{plugin=\"sensor_csv\"}") == 0);

    JetStreamClient client(nats.url());
    client.publish_many("sensors.readings.lab", sensor_lines(500));
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT count(*) FROM readings") == 500; }, 60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM readings WHERE humidity IS NULL") == 100);
    CHECK(sqlite_int64(database,
                       "SELECT ts FROM readings WHERE device_id = 'dev-3' ORDER BY ts "
                       "LIMIT 1") == 1700000003);
    CHECK(sqlite_int64(database,
                       "SELECT CAST(temperature * 10 AS INTEGER) FROM readings WHERE "
                       "ts = 1700000013") == 265);

    REQUIRE(eventually([&] { return consumer_drained(client, "nomnom-sensor_csv"); }, 20s));
    // The worker still updates the batch's metrics after its last ack drained the consumer; a
    // batch's time is observed last, so equal counts mean every fetched batch is finished.
    std::string metrics;
    REQUIRE(eventually(
        [&] {
            metrics = host.http_get("/metrics").second;
            return metric_value(metrics, "nomnom_batch_seconds_count{plugin=\"sensor_csv\"}") ==
                   metric_value(metrics, "nomnom_batch_size_count{plugin=\"sensor_csv\"}");
        },
        10s));
    // A scrape reads the counters one after another, no snapshot: the next one sees every count
    // of the batches the last one saw finished.
    metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metrics.find("nomnom_messages_fetched_total{plugin=\"sensor_csv\"} 500\n") !=
          std::string::npos);
    CHECK(metrics.find("nomnom_messages_persisted_total{plugin=\"sensor_csv\"} 500\n") !=
          std::string::npos);
    CHECK(
        metrics.find("nomnom_rows_written_total{plugin=\"sensor_csv\",table=\"readings\"} 500\n") !=
        std::string::npos);
    CHECK(metrics.find("nomnom_plugin_up{plugin=\"sensor_csv\",version=\"1.0.0\"} 1\n") !=
          std::string::npos);
    CHECK(
        metrics.find(
            "nomnom_consumer_pending{plugin=\"sensor_csv\",consumer=\"nomnom-sensor_csv\"} 0\n") !=
        std::string::npos);
    CHECK(metrics.find("nomnom_batch_seconds_count{plugin=\"sensor_csv\"}") != std::string::npos);
    // Every persisted message has its end-to-end latency observed once.
    CHECK(metrics.find("nomnom_end_to_end_seconds_count{plugin=\"sensor_csv\"} 500\n") !=
          std::string::npos);
    const std::string last_marker =
        "nomnom_last_persisted_timestamp_seconds{plugin=\"sensor_csv\"} ";
    const size_t last_at = metrics.find(last_marker);
    REQUIRE(last_at != std::string::npos);
    const double last_persisted = std::stod(metrics.substr(last_at + last_marker.size()));
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(last_persisted > now - 60);
    CHECK(last_persisted <= now);
    CHECK(metric_value(metrics, "nomnom_nats_connected") == 1);
    // Batch size, parse and write time are observed once per batch; every batch parsed and
    // wrote, and both phases happen inside the batch's time.
    const double batches = metric_value(metrics, "nomnom_batches_total{plugin=\"sensor_csv\"}");
    CHECK(batches >= 1);
    CHECK(metric_value(metrics, "nomnom_batch_size_count{plugin=\"sensor_csv\"}") == batches);
    CHECK(metric_value(metrics, "nomnom_batch_size_sum{plugin=\"sensor_csv\"}") == 500);
    CHECK(metric_value(metrics, "nomnom_batch_size_bucket{plugin=\"sensor_csv\",le=\"+Inf\"}") ==
          batches);
    for (const std::string phase : {"nomnom_parse_seconds", "nomnom_write_seconds"}) {
        CHECK(metric_value(metrics, phase + "_count{plugin=\"sensor_csv\"}") == batches);
        CHECK(metric_value(metrics, phase + "_sum{plugin=\"sensor_csv\"}") > 0);
    }
    // Each sum is rounded to the microsecond per observation.
    CHECK(metric_value(metrics, "nomnom_parse_seconds_sum{plugin=\"sensor_csv\"}") +
              metric_value(metrics, "nomnom_write_seconds_sum{plugin=\"sensor_csv\"}") <=
          metric_value(metrics, "nomnom_batch_seconds_sum{plugin=\"sensor_csv\"}") +
              batches * 2e-6);
    REQUIRE(host.terminate() == 0);
    const ConsumerStats stats = client.consumer_info("TEST", "nomnom-sensor_csv");
    CHECK(stats.num_pending == 0);
    CHECK(stats.num_ack_pending == 0);
}

TEST_CASE(
    "sensor_csv and test_kv rows land in PostgreSQL and MariaDB: republishing duplicates "
    "nothing",
    "[e2e][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    NatsServer nats;
    const auto db = make_test_database(kind);
    TestDatabase& pg = *db;
    HostHarness host;
    host.add_shipped_plugin("sensor_csv");
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), pg.url(), R"(
[plugins.test_kv]
workers = 2
batch_size = 64
[plugins.test_kv.config]
note_prefix = "from-config"
)"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 2 plugin(s) running", 20s));

    JetStreamClient client(nats.url());
    client.publish_many("sensors.readings.lab", sensor_lines(300));
    client.publish_many("test.kv.a", kv_messages(1000));
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 1000; }, 60s));
    REQUIRE(
        eventually([&] { return pg.query_int64("SELECT count(*) FROM readings") == 300; }, 60s));
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == 999 * 1000 / 2);
    CHECK(pg.query_int64("SELECT count(*) FROM kv WHERE note = 'from-config'") == 1000);
    CHECK(pg.query_int64("SELECT count(*) FROM readings WHERE humidity IS NULL") == 60);

    // The same payloads again (new stream messages): upserts, not new rows.
    client.publish_many("test.kv.a", kv_messages(1000, 5));
    REQUIRE(eventually(
        [&] { return pg.query_int64("SELECT sum(v) FROM kv") == 999 * 1000 / 2 + 5 * 1000; }, 60s));
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == 1000);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("several messages with the same key in one batch apply in stream order",
          "[e2e][postgresql][mariadb][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> updates;
    for (int v = 1; v <= 50; ++v) {
        updates.push_back(R"({"k":"same","v":)" + std::to_string(v) + "}");
        updates.push_back(R"({"k":"other-)" + std::to_string(v % 3) + R"(","v":)" +
                          std::to_string(v) + "}");
    }
    publish_backlog(client, "test.kv.same", updates);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto sqlite = host.dir() / "order.db";
    SECTION("postgresql and mariadb") {
        const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
        CAPTURE(kind);
        const auto db = make_test_database(kind);
        TestDatabase& pg = *db;
        host.write_config(
            test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 500\n"));
        host.start();
        REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
        REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 4; }, 30s));
        REQUIRE(eventually(
            [&] { return pg.query_int64("SELECT v FROM kv WHERE k = 'same'") == 50; }, 30s));
        CHECK(pg.query_int64("SELECT v FROM kv WHERE k = 'other-0'") == 48);
        CHECK(pg.query_int64("SELECT v FROM kv WHERE k = 'other-1'") == 49);
    }
    SECTION("sqlite") {
        host.write_config(test_config(nats.url(), "sqlite:" + sqlite.string(),
                                      "[plugins.test_kv]\nbatch_size = 500\n"));
        host.start();
        REQUIRE(eventually(
            [&] { return sqlite_int64(sqlite, "SELECT v FROM kv WHERE k = 'same'") == 50; }, 30s));
        CHECK(sqlite_int64(sqlite, "SELECT count(*) FROM kv") == 4);
        CHECK(sqlite_int64(sqlite, "SELECT v FROM kv WHERE k = 'other-2'") == 50);
    }
    REQUIRE(host.terminate() == 0);
}

TEST_CASE(
    "the newest message of a key wins whatever order deliveries commit in: 2 hosts x 4 workers, "
    "retries",
    "[e2e][postgresql][mariadb][sqlite]") {
    const std::string database =
        GENERATE(std::string("postgresql"), std::string("mariadb"), std::string("sqlite"));
    NatsServer nats;
    JetStreamClient client(nats.url());
    // 20,000 updates of 10 keys, the value being the publish index; one in 20 is answered RETRY
    // at its first delivery, so that it commits after newer messages of its key.
    constexpr int kUpdates = 20000;
    std::vector<std::string> updates;
    for (int i = 0; i < kUpdates; ++i) {
        const std::string fields =
            R"("k":"k)" + std::to_string(i % 10) + R"(","v":)" + std::to_string(i);
        updates.push_back(i % 20 == 7 ? "{" + fields + R"(,"action":"retry_until","until":2})"
                                      : "{" + fields + "}");
    }
    publish_backlog(client, "test.kv.newest", updates);

    const auto server = database == "sqlite"
                            ? nullptr
                            : make_test_database(database == "postgresql" ? TestDbKind::Postgres
                                                                          : TestDbKind::MariaDb);
    HostHarness first;
    HostHarness second;
    const auto sqlite = first.dir() / "newest.db";
    const std::string url = server ? server->url() : "sqlite:" + sqlite.string();
    for (HostHarness* host : {&first, &second}) {
        host->add_test_plugin("test_kv");
        host->write_config(
            test_config(nats.url(), url, "[plugins.test_kv]\nbatch_size = 50\nworkers = 4\n"));
        host->start();
        REQUIRE(host->wait_log("startup summary: 1 plugin(s) running", 30s));
    }
    const auto value_of = [&](int key) {
        const std::string sql = "SELECT v FROM kv WHERE k = 'k" + std::to_string(key) + "'";
        return server ? server->query_int64(sql) : sqlite_int64(sqlite, sql);
    };
    INFO(database << "\n" << first.log() << second.log());
    REQUIRE(eventually([&] { return consumer_drained(client); }, 120s));
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    for (int key = 0; key < 10; ++key) {
        CHECK(value_of(key) == kUpdates - 10 + key);  // its last publish
    }
    REQUIRE(first.terminate() == 0);
    REQUIRE(second.terminate() == 0);
}

TEST_CASE("a persist plugin's SQL runs inside the host's transaction",
          "[e2e][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    NatsServer nats;
    const auto db = make_test_database(kind);
    TestDatabase& pg = *db;
    HostHarness host;
    host.add_test_plugin("test_kv_persist");
    host.write_config(test_config(nats.url(), pg.url()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv_persist]", 20s));
    JetStreamClient client(nats.url());
    client.publish_many("test.kvp.x", kv_messages(20));
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kvp") == 20; }, 30s));
    client.publish("test.kvp.x", R"({"k":"key-3","v":7})");
    // The plugin's ON CONFLICT clause adds 1000: proof that its SQL, not the host's, ran.
    REQUIRE(eventually(
        [&] { return pg.query_int64("SELECT v FROM kvp WHERE k = 'key-3'") == 1007; }, 30s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE(
    "the original nomnom envelope format is unwrapped, and a broken or 200 KB deep one is "
    "dead-lettered and the host keeps going",
    "[e2e][sqlite][hostile]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "envelope.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(), R"(
[plugins.test_kv]
format = "envelope"
subjects = ["messages.ingest.>"]
)"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    client.publish("messages.ingest.Kv",
                   R"({"message_id":"6f1c","body":"{\"k\":\"env\",\"v\":42}","entity_type":"Kv",)"
                   R"("received_at":"2025-11-09T21:27:00.123Z","retry_count":0,"source":null})");
    client.publish("messages.ingest.Kv", R"({"message_id":"broken","entity_type":"Kv"})");
    // RapidJSON's recursive parser would overflow the stack on it.
    client.publish("messages.ingest.Kv", std::string(200 * 1024, '['));
    client.publish("messages.ingest.Kv",
                   R"({"message_id":"after","body":"{\"k\":\"after\",\"v\":7}"})");
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT v FROM kv WHERE k='after'") == 7; }, 30s));
    CHECK(sqlite_int64(database, "SELECT v FROM kv WHERE k='env'") == 42);
    REQUIRE(host.wait_log("envelope has no string field \"body\"", 10s));
    REQUIRE(host.wait_log("envelope nests deeper than 256 levels", 10s));
    REQUIRE(eventually([&] { return client.stream_message_count("NOMNOM_DLQ") == 2; }, 10s));
    REQUIRE(host.process().running());
    REQUIRE(host.terminate() == 0);
}

// PostgreSQL also aborts the transaction at the first failure and turns its COMMIT into
// ROLLBACK; SQLite carries on and would commit the rest, so there only the host's record of the
// failure keeps the batch from being acked without the failed rows.
// MariaDB rolls the whole transaction back on a deadlock, after which statements would commit
// one by one: the host refuses every statement after a failed one, as PostgreSQL does.
TEST_CASE("a persist plugin that ignores a failed statement on PostgreSQL or MariaDB is bisected",
          "[e2e][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    const auto db = make_test_database(kind);
    TestDatabase& pg = *db;
    pg.exec(kind == TestDbKind::MariaDb ? kCheckedKvpMariaDb : kCheckedKvp);
    persist_ignoring_errors(pg.url(), [&](const std::string& sql) { return pg.query_int64(sql); });
}

TEST_CASE("a persist plugin that ignores a failed statement on SQLite is bisected",
          "[e2e][sqlite]") {
    TempDir dir("nomnom-swallow");
    const auto database = dir.path() / "swallow.db";
    sqlite_exec(database, kCheckedKvp);
    persist_ignoring_errors("sqlite:" + database.string(),
                            [&](const std::string& sql) { return sqlite_int64(database, sql); });
}

// A constraint checked at COMMIT (a deferred constraint trigger): every statement succeeds,
// the COMMIT fails, and the host bisects down to the messages that make it fail.
TEST_CASE("a batch whose COMMIT fails on a deferred constraint is bisected", "[e2e][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    pg.exec(
        "CREATE TABLE kvp (k TEXT NOT NULL UNIQUE, v BIGINT NOT NULL, note TEXT); "
        "CREATE FUNCTION kvp_v_below_100() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.v >= 100 THEN RAISE EXCEPTION 'v % is not below 100', NEW.v USING ERRCODE = "
        "'check_violation'; END IF; RETURN NULL; END $$; "
        "CREATE CONSTRAINT TRIGGER kvp_v_checked AFTER INSERT OR UPDATE ON kvp DEFERRABLE "
        "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kvp_v_below_100()");
    HostHarness host;
    host.add_test_plugin("test_kv_persist");
    host.write_config(
        test_config(nats.url(), pg.url(), "[plugins.test_kv_persist]\nbatch_size = 100\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv_persist]", 20s));
    JetStreamClient client(nats.url());
    client.publish_many("test.kvp.x", kv_messages(20, 90));
    REQUIRE(eventually([&] { return consumer_drained(client, "nomnom-test_kv_persist"); }, 30s));
    CHECK(pg.query_int64("SELECT count(*) FROM kvp") == 10);
    CHECK(pg.query_int64("SELECT max(v) FROM kvp") == 99);
    check_ten_data_errors(host, "is not below 100");
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("max_ack_pending below two batches per worker is warned of, and a backlog still drains",
          "[e2e][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    client.ensure_stream("TEST", {"test.>"});
    client.publish_many("test.kv.acks", kv_messages(300));
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "acks.db";
    host.write_config(
        test_config(nats.url(), "sqlite:" + database.string(),
                    "[plugins.test_kv]\nbatch_size = 20\nworkers = 2\nmax_ack_pending = 30\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    CHECK(host.log_contains("max_ack_pending = 30 is below 2 x workers x batch_size = 80"));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 300);
    CHECK(client.consumer_info("TEST", "nomnom-test_kv").num_redelivered == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("two hosts share one durable consumer: the work is split and every row lands once",
          "[e2e][postgresql][scale-out]") {
    NatsServer nats;
    PgTestDb pg;
    HostHarness first;
    HostHarness second;
    for (HostHarness* host : {&first, &second}) start_on_shared_consumer(*host, nats, pg);
    // Published once both are bound, so that neither drains it alone before the other starts.
    JetStreamClient client(nats.url());
    client.publish_many("test.kv.shared", kv_messages(20000));
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 20000; }, 120s));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == 19999LL * 20000 / 2);
    const double by_first = persisted(first);
    const double by_second = persisted(second);
    INFO("first host persisted " << by_first << ", second " << by_second);
    CHECK(by_first > 0);
    CHECK(by_second > 0);
    CHECK(by_first + by_second == 20000);
    REQUIRE(first.terminate() == 0);
    REQUIRE(second.terminate() == 0);
}

TEST_CASE("two hosts share one durable consumer: kill -9 one mid-way and the other finishes",
          "[e2e][postgresql][scale-out]") {
    NatsServer nats;
    PgTestDb pg;
    HostHarness doomed;
    HostHarness survivor;
    // A short ack_wait: what the killed host held comes back to the survivor within seconds.
    for (HostHarness* host : {&doomed, &survivor}) {
        start_on_shared_consumer(*host, nats, pg, "ack_wait_ms = 2000\n");
    }
    constexpr int kMessages = 20000;
    // Published steadily, so that the load is still going when one host dies.
    std::atomic<int> published{0};
    std::thread publisher([&] {
        publish_steadily(nats.url(), "test.kv.shared", kv_messages(kMessages), 100ms, published);
    });
    const auto rows = [&] { return pg.query_int64("SELECT count(*) FROM kv"); };
    const bool both_working = eventually(
        [&] { return persisted(doomed) > 0 && persisted(survivor) > 0 && rows() >= 4000; }, 60s);
    const double doomed_persisted = persisted(doomed);
    doomed.process().kill9();
    const int64_t rows_at_kill = rows();
    const double survivor_at_kill = persisted(survivor);
    publisher.join();
    INFO("at the kill: killed host persisted " << doomed_persisted << ", survivor "
                                               << survivor_at_kill << ", rows " << rows_at_kill);
    REQUIRE(both_working);
    CHECK(rows_at_kill < kMessages);

    REQUIRE(eventually([&] { return rows() == kMessages; }, 120s));
    JetStreamClient client(nats.url());
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(rows() == kMessages);
    CHECK(pg.query_int64("SELECT count(DISTINCT k) FROM kv") == kMessages);
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == (kMessages - 1LL) * kMessages / 2);
    CHECK(persisted(survivor) > survivor_at_kill);
    REQUIRE(survivor.terminate() == 0);
}

TEST_CASE("an existing stream and the dead-letter stream keep what their operator set",
          "[e2e][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    const auto add_stream = [&](const char* name, std::vector<const char*> subjects,
                                int64_t max_age_s, int64_t max_bytes, int64_t duplicate_window_s) {
        jsStreamConfig stream;
        jsStreamConfig_Init(&stream);
        stream.Name = name;
        stream.Description = "set by the operator";
        stream.Subjects = subjects.data();
        stream.SubjectsLen = static_cast<int>(subjects.size());
        stream.Storage = js_FileStorage;
        stream.MaxMsgs = 123456;
        stream.MaxMsgsPerSubject = 1000;
        stream.MaxAge = max_age_s * 1000000000LL;
        stream.MaxBytes = max_bytes;
        stream.Duplicates = duplicate_window_s * 1000000000LL;
        jsStreamInfo* info = nullptr;
        jsErrCode js_error = jsErrCode(0);
        const natsStatus status = js_AddStream(&info, client.js(), &stream, nullptr, &js_error);
        INFO(name << ": " << nats_GetLastError(nullptr) << " [" << js_error << "]");
        REQUIRE(status == NATS_OK);
        jsStreamInfo_Destroy(info);
    };
    // sensors.kitchen: narrower than test_config()'s sensors.>, which replaces it.
    add_stream("TEST", {"sensors.kitchen", "test.>", "operator.>"}, 3600, 50000000, 30);
    add_stream("NOMNOM_DLQ", {"nomnom.dlq.>", "audit.dlq.>"}, 86400, 20000000, 60);
    struct Settings {
        std::vector<std::string> subjects;
        int64_t max_age_s = 0;
        int64_t max_bytes = 0;
        int64_t duplicate_window_s = 0;
        int64_t max_msgs = 0;
        int64_t max_msgs_per_subject = 0;
        bool described = false;
    };
    const auto settings_of = [&](const char* name) {
        jsStreamInfo* info = nullptr;
        REQUIRE(js_GetStreamInfo(&info, client.js(), name, nullptr, nullptr) == NATS_OK);
        const jsStreamConfig& config = *info->Config;
        Settings settings{{},
                          config.MaxAge / 1000000000LL,
                          config.MaxBytes,
                          config.Duplicates / 1000000000LL,
                          config.MaxMsgs,
                          config.MaxMsgsPerSubject,
                          config.Description != nullptr};
        for (int i = 0; i < config.SubjectsLen; ++i)
            settings.subjects.emplace_back(config.Subjects[i]);
        jsStreamInfo_Destroy(info);
        return settings;
    };
    const auto check_kept = [&](int64_t test_max_age_s, int64_t dlq_max_age_s) {
        const Settings test = settings_of("TEST");
        // test_config()'s subjects the operator's test.> did not cover are added, sensors.> in
        // place of the sensors.kitchen it covers.
        CHECK(test.subjects == std::vector<std::string>{"test.>", "operator.>", "sensors.>",
                                                        "messages.ingest.>", "shop.>"});
        CHECK(test.max_age_s == test_max_age_s);
        CHECK(test.max_bytes == 50000000);
        CHECK(test.duplicate_window_s == 30);
        CHECK(test.max_msgs == 123456);
        CHECK(test.max_msgs_per_subject == 1000);
        CHECK(test.described);
        const Settings dlq = settings_of("NOMNOM_DLQ");
        CHECK(dlq.subjects == std::vector<std::string>{"nomnom.dlq.>", "audit.dlq.>"});
        CHECK(dlq.max_age_s == dlq_max_age_s);
        CHECK(dlq.max_bytes == 20000000);
        CHECK(dlq.duplicate_window_s == 60);
        CHECK(dlq.max_msgs == 123456);
    };

    HostHarness host;
    host.add_test_plugin("test_kv");
    const std::string base = test_config(nats.url(), "sqlite:" + (host.dir() / "s.db").string());
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    check_kept(3600, 86400);
    host.process().signal(SIGHUP);
    REQUIRE(host.wait_log("reload 1 succeeded", 20s));
    check_kept(3600, 86400);
    REQUIRE(host.terminate() == 0);

    // Set in worker.toml, a limit is applied, and only that one.
    std::string explicit_age = base;
    const std::string stream_name = "name = \"TEST\"\n";
    explicit_age.insert(explicit_age.find(stream_name) + stream_name.size(), "max_age_s = 7200\n");
    host.write_config(explicit_age + "[dlq]\nmax_age_s = 43200\n");
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    check_kept(7200, 43200);
    REQUIRE(host.terminate() == 0);
    const std::string log = host.log();
    INFO("host log:\n" << log);
    CHECK(occurrences(log,
                      "stream TEST: subjects [sensors.kitchen, test.>, operator.>] -> [test.>, "
                      "operator.>, sensors.>, messages.ingest.>, shop.>]\n") == 1);
    CHECK(occurrences(log, "stream TEST: max_age_s 3600 -> 7200\n") == 1);
    CHECK(occurrences(log, "stream NOMNOM_DLQ: max_age_s 86400 -> 43200\n") == 1);
    // Every other start found nothing to change, and said nothing.
    CHECK(occurrences(log, "stream TEST: ") == 2);
    CHECK(occurrences(log, "stream NOMNOM_DLQ: ") == 1);
}
