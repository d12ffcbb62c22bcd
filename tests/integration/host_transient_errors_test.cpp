// Transient database errors produced for real on PostgreSQL and MariaDB, not simulated: a
// serialization failure (40001), a deadlock (40P01, MySQL error 1213) and a lock timeout (55P03).
// The first two are retried after the back-off delay, the third is waited out like an outage;
// none is dead-lettered, and the rows end with the values of the last messages.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/test_database.hpp"

using namespace nomnom::testing;

namespace {

// A host running test_kv with one worker and `backoff_ms` of back-off; key-0 and key-1 stored
// with the values 0 and 1 once started.
struct TransientFixture {
    explicit TransientFixture(const std::string& database_setting = "",
                              TestDbKind kind = TestDbKind::Postgres)
        : database(make_test_database(kind)), pg(*database) {
        if (!database_setting.empty())
            pg.exec("ALTER DATABASE " + pg.name() + " SET " + database_setting);
        host.add_test_plugin("test_kv");
        host.write_config(test_config(nats.url(), pg.url(),
                                      "[plugins.test_kv]\nbatch_size = 20\nbackoff_ms = [" +
                                          std::to_string(kBackoffMs) + "]\nmax_deliver = 3\n"));
        host.start();
        REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
        client.publish_many("test.kv.t", kv_messages(2));
        REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == 2; }, 30s));
    }

    int64_t value(const std::string& key) {
        return pg.query_int64("SELECT v FROM kv WHERE k = '" + key + "'");
    }
    double metric(const std::string& family) {
        return metric_value(host.http_get("/metrics").second, family + R"({plugin="test_kv"})");
    }

    static constexpr int64_t kBackoffMs = 1500;
    NatsServer nats;
    std::unique_ptr<TestDatabase> database;
    TestDatabase& pg;
    JetStreamClient client{nats.url()};
    HostHarness host;
};

}  // namespace

TEST_CASE("a serialization failure (40001) is retried after the back-off, not dead-lettered",
          "[transient][postgresql]") {
    TransientFixture f("default_transaction_isolation = 'repeatable read'");
    f.pg.exec("BEGIN; UPDATE kv SET note = 'test' WHERE k = 'key-0'");
    f.client.publish("test.kv.t", R"({"k":"key-0","v":100})");
    // The host's snapshot is older than the test's update: once that commits, repeatable read
    // refuses the host's.
    REQUIRE(eventually([&] { return f.pg.lock_waiters() == 1; }, 30s));
    f.pg.exec("COMMIT");
    const auto failed = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return f.value("key-0") == 100; }, 30s));
    const auto retried_after = std::chrono::steady_clock::now() - failed;
    CHECK(f.host.log_contains("could not serialize access due to concurrent update"));
    CHECK(f.metric("nomnom_messages_retried_total") == 1);
    // The back-off's jitter is +-20%.
    CHECK(retried_after >= std::chrono::milliseconds(TransientFixture::kBackoffMs * 8 / 10));
    CHECK(f.client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(f.host.terminate() == 0);
}

namespace {

// The test's session runs `hold_key_1` (a transaction that holds key-1) while the host writes
// key-0 then key-1 in one batch, then takes key-0 itself: the server cancels the host's
// transaction with `message`, which is retried after the back-off.
void deadlock_is_retried(TransientFixture& f, const std::string& hold_key_1,
                         const std::string& message) {
    f.pg.exec(hold_key_1);
    // key-0 then key-1 in one batch: the worker is busy with a slow message while both arrive.
    f.client.publish("test.kv.t", R"({"k":"slow","v":7,"action":"slow","ms":3000})");
    REQUIRE(eventually(
        [&] { return f.client.consumer_info("TEST", "nomnom-test_kv").num_ack_pending == 1; },
        30s));
    f.client.publish_many("test.kv.t", kv_messages(2, 100));
    // The host holds key-0 and waits for key-1; taking key-0 closes the cycle.
    REQUIRE(eventually([&] { return f.pg.lock_waiters() == 1; }, 30s));
    f.pg.exec("UPDATE kv SET note = 'test' WHERE k = 'key-0'");
    const auto failed = std::chrono::steady_clock::now();
    f.pg.exec("COMMIT");
    REQUIRE(eventually([&] { return f.value("key-0") == 100 && f.value("key-1") == 101; }, 30s));
    const auto retried_after = std::chrono::steady_clock::now() - failed;
    CHECK(f.host.log_contains(message));
    CHECK(f.metric("nomnom_messages_retried_total") == 2);
    CHECK(retried_after >= std::chrono::milliseconds(TransientFixture::kBackoffMs * 8 / 10));
    CHECK(f.client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(f.host.terminate() == 0);
}

}  // namespace

TEST_CASE("a deadlock (40P01) is retried after the back-off, not dead-lettered",
          "[transient][postgresql]") {
    TransientFixture f;
    // The test's session waits far longer than the host's before looking for a deadlock, so the
    // host's transaction is the one PostgreSQL cancels.
    deadlock_is_retried(
        f, "SET deadlock_timeout = '60s'; BEGIN; UPDATE kv SET note = 'test' WHERE k = 'key-1'",
        "deadlock detected");
}

TEST_CASE("a MariaDB deadlock (1213) is retried after the back-off, not dead-lettered",
          "[transient][mariadb]") {
    TransientFixture f("", TestDbKind::MariaDb);
    // InnoDB rolls back the transaction that changed fewer rows: the test's changes 1,000 more,
    // so the host's is the one.
    deadlock_is_retried(f,
                        "CREATE TABLE pad (n BIGINT); BEGIN; INSERT INTO pad SELECT seq FROM "
                        "seq_1_to_1000; UPDATE kv SET note = 'test' WHERE k = 'key-1'",
                        "Deadlock found when trying to get lock");
}

TEST_CASE("lock timeouts (55P03) on a table held for 10 s are waited out: no delivery burned",
          "[transient][postgresql]") {
    TransientFixture f("lock_timeout = '300ms'");
    f.pg.exec("BEGIN; LOCK TABLE kv IN ACCESS EXCLUSIVE MODE");
    f.client.publish_many("test.kv.t", kv_messages(500, 1000));
    REQUIRE(f.host.wait_log("database unreachable, holding", 30s));
    CHECK(f.host.log_contains("lock timeout"));
    // Longer than ack_wait (5 s) and max_deliver (3) x back-off.
    std::this_thread::sleep_for(10s);
    f.pg.exec("COMMIT");
    REQUIRE(eventually([&] { return consumer_drained(f.client); }, 60s));
    CHECK(f.pg.query_int64("SELECT count(*) FROM kv") == 500);
    CHECK(f.pg.query_int64("SELECT sum(v) FROM kv") == 499 * 500 / 2 + 1000 * 500);
    // 2 before, 500 since, each delivered once.
    CHECK(f.client.consumer_info("TEST", "nomnom-test_kv").delivered_consumer_seq == 502);
    CHECK(f.client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(f.host.terminate() == 0);
}
