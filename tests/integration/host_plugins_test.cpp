// Plugin loading as an operator sees it: bad plugins are refused with the reason while the good
// ones run; a FATAL plugin stops alone; --check-config and config errors.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <set>

#include "host_harness.hpp"
#include "support/mariadb_test_db.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

TEST_CASE("bad plugins are refused with the reason - the good one keeps running",
          "[plugins][sqlite]") {
    NatsServer nats;
    HostHarness host;
    for (const char* name : {"test_kv", "test_bad_major", "test_no_symbol", "test_bad_descriptor",
                             "test_kv_persist"}) {
        host.add_test_plugin(name);
    }
    // A plugin file others could have replaced is never loaded.
    std::filesystem::copy_file(std::filesystem::path(NOMNOM_PLUGINS_BUILD_DIR) / "sensor_csv.so",
                               host.plugins_dir() / "world_writable.so");
    ::chmod((host.plugins_dir() / "world_writable.so").c_str(), 0666);
    const auto database = host.dir() / "refusals.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(), R"(
[plugins.test_kv_persist.config]
fail_create = true
)"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv], 5 refused", 20s));
    CHECK(host.log_contains("test_bad_major.so refused: plugin ABI major 2, host supports 1"));
    CHECK(host.log_contains("test_no_symbol.so refused: missing entry symbol nomnom_plugin_v1"));
    CHECK(
        host.log_contains("test_bad_descriptor.so refused: table 'defective': conflict key "
                          "'missing_col' is not one of its "
                          "columns"));
    CHECK(host.log_contains(
        "test_kv_persist.so refused: create failed: fail_create requested by config"));
    CHECK(host.log_contains("world_writable.so is writable by group or others (mode 666)"));
    const std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metric_value(metrics, "nomnom_plugins_refused") == 5);
    CHECK(occurrences(metrics, "\nnomnom_plugin_refused{") == 5);
    for (const char* file : {"test_bad_major.so", "test_no_symbol.so", "test_bad_descriptor.so",
                             "test_kv_persist.so", "world_writable.so"}) {
        CHECK(metric_value(metrics, "nomnom_plugin_refused{file=\"" + std::string(file) + "\"}") ==
              1);
    }
    CHECK(metric_value(metrics, "nomnom_plugin_up{plugin=\"test_kv\",version=\"1.0.0\"}") == 1);

    JetStreamClient client(nats.url());
    client.publish("test.kv.alive", R"({"k":"alive","v":1})");
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT v FROM kv WHERE k='alive'") == 1; }, 30s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("plugins built against the frozen ABI 1.0 header store their rows, upsert and persist",
          "[plugins][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_abi_1_0");
    host.add_test_plugin("test_abi_1_0_persist");
    const auto database = host.dir() / "abi_1_0.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string()));
    host.start();
    REQUIRE(host.wait_log(
        "startup summary: 2 plugin(s) running [test_abi_1_0, test_abi_1_0_persist]", 20s));
    CHECK(host.log_contains("[plugin=test_abi_1_0] built against the frozen ABI 1.0 header"));
    JetStreamClient client(nats.url());
    client.publish_many("test.abi10.x", {"a", "b", "c"});
    client.publish_many("test.abi10p.xy", {"a", "b"});
    REQUIRE(eventually(
        [&] {
            return sqlite_int64(database, "SELECT count(*) FROM abi10") == 3 &&
                   sqlite_int64(database, "SELECT count(*) FROM abi10p") == 2;
        },
        30s));
    // Every column as the plugin wrote it; persist's note proves its SQL ran, not the host's.
    CHECK(sqlite_int64(database,
                       "SELECT count(*) FROM abi10 WHERE half * 2 = seq AND odd = seq % 2 AND "
                       "doc = '{\"subject_length\":12}' AND note IS NULL") == 3);
    CHECK(sqlite_int64(database,
                       "SELECT count(*) FROM abi10p WHERE half * 2 = seq AND odd = seq % 2 AND "
                       "doc = '{\"subject_length\":14}' AND note = 'sqlite'") == 2);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a FATAL plugin stops its consumer only and its message stays in JetStream",
          "[plugins][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.add_test_plugin("test_kv_persist");
    host.write_config(test_config(nats.url(), pg.url()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 2 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.f", R"({"k":"doomed","action":"fatal"})");
    REQUIRE(host.wait_log("[plugin=test_kv] FATAL: action=fatal requested", 20s));
    const auto [status, body] = host.http_get("/ready");
    CHECK(status == 503);
    CHECK(body.find(R"("test_kv":"fatal: action=fatal requested")") != std::string::npos);
    CHECK(body.find(R"("test_kv_persist":"running")") != std::string::npos);
    CHECK(host.http_get("/health").first == 200);
    // Its consumer fetches nothing more; the other plugin's keeps going meanwhile.
    client.publish_many("test.kv.f", kv_messages(5));
    client.publish("test.kvp.f", R"({"k":"still","v":5})");
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kvp") == 1; }, 30s));
    client.publish("test.kvp.f", R"({"k":"still-2","v":6})");
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM kvp") == 2; }, 30s));
    const ConsumerStats stats = client.consumer_info("TEST", "nomnom-test_kv");
    CHECK(stats.delivered_consumer_seq == 1);
    CHECK(stats.num_pending == 5);
    // Not acked, not terminated: the FATAL message waits for a fixed plugin, with the 5 others.
    CHECK(stats.num_pending + static_cast<uint64_t>(stats.num_ack_pending) == 6);
    const std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metric_value(metrics, "nomnom_plugin_up{plugin=\"test_kv\",version=\"1.0.0\"}") == 0);
    CHECK(metric_value(metrics, "nomnom_plugin_up{plugin=\"test_kv_persist\",version=\"1.0.0\"}") ==
          1);
    // Nobody fetches for the FATAL plugin any more: the gauges read what JetStream reports.
    const std::string consumer = "{plugin=\"test_kv\",consumer=\"nomnom-test_kv\"}";
    CHECK(metric_value(metrics, "nomnom_consumer_pending" + consumer) ==
          static_cast<double>(stats.num_pending));
    CHECK(metric_value(metrics, "nomnom_consumer_ack_pending" + consumer) ==
          static_cast<double>(stats.num_ack_pending));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("auto_migrate off: the host names the missing tables and refuses the plugin",
          "[plugins][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    pg.exec("CREATE TABLE kvp (k TEXT PRIMARY KEY, v BIGINT)");
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.add_test_plugin("test_kv_persist");
    std::string config = test_config(nats.url(), pg.url());
    config.replace(config.find("pool_size = 2"), 13, "pool_size = 2\nauto_migrate = false");
    host.write_config(config);
    host.start();
    REQUIRE(host.wait_log("startup summary: 0 plugin(s) running", 20s));
    INFO(host.log());
    CHECK(host.log_contains("database lacks table kv (auto_migrate is off: create them first)"));
    CHECK(host.log_contains("database lacks column kvp.note"));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a table without a unique index on the conflict keys refuses the plugin that upserts",
          "[plugins][postgresql]") {
    NatsServer nats;
    PgTestDb pg;
    // kv: the keys are indexed, but not uniquely; kvp: written by its plugin's own SQL.
    pg.exec(
        "CREATE TABLE kv (k TEXT, v BIGINT, note TEXT); CREATE INDEX ON kv (k); "
        "CREATE TABLE kvp (k TEXT, v BIGINT, note TEXT)");
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.add_test_plugin("test_kv_persist");
    std::string config = test_config(nats.url(), pg.url());
    config.replace(config.find("pool_size = 2"), 13, "pool_size = 2\nauto_migrate = false");
    host.write_config(config);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv_persist]", 20s));
    CHECK(host.log_contains(
        "database lacks a unique index on kv (k), its conflict keys (auto_migrate is off"));
    pg.exec("CREATE UNIQUE INDEX ON kv (k) WHERE k <> ''");  // partial: no conflict target
    host.process().signal(SIGHUP);
    REQUIRE(host.wait_log("reload 1 finished with errors", 20s));
    pg.exec("CREATE UNIQUE INDEX ON kv (k)");
    host.process().signal(SIGHUP);
    REQUIRE(host.wait_log("reload 2 succeeded", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.x", R"({"k":"a","v":1})");
    client.publish("test.kv.x", R"({"k":"a","v":2})");
    REQUIRE(
        eventually([&] { return pg.query_int64("SELECT coalesce(max(v), 0) FROM kv") == 2; }, 30s));
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == 1);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("MariaDB: a unique index beside the conflict keys is warned of, an AUTO_INCREMENT id not",
          "[plugins][mariadb]") {
    NatsServer nats;
    MariaDbTestDb db;
    db.exec(
        "CREATE TABLE kv (id BIGINT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) NOT NULL, v BIGINT, "
        "note VARCHAR(20), UNIQUE (k), UNIQUE (note))");
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), db.url()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));
    CHECK(
        host.log_contains("table kv has a unique index on (note) beside its conflict keys (k): on "
                          "MySQL a row that collides there updates the row it collides with"));
    CHECK(occurrences(host.log(), "has a unique index on") == 1);
    // What it warns of: the second key's row lands on the first's, PostgreSQL would refuse it.
    JetStreamClient client(nats.url());
    client.publish("test.kv.x", R"({"k":"a","v":1,"note":"same"})");
    REQUIRE(eventually([&] { return db.query_int64("SELECT count(*) FROM kv") == 1; }, 30s));
    client.publish("test.kv.x", R"({"k":"b","v":2,"note":"same"})");
    REQUIRE(
        eventually([&] { return db.query_int64("SELECT coalesce(max(v), 0) FROM kv") == 2; }, 30s));
    CHECK(db.query_int64("SELECT count(*) FROM kv") == 1);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("check-config mode validates config and plugins without consuming", "[plugins][cli]") {
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config("nats://127.0.0.1:1", "sqlite:check.db"));
    auto [code, output] = host.run_cli({"--config", host.config_path().string(), "--check-config"});
    CHECK(code == 0);
    CHECK(output.find("test_kv 1.0.0 (subjects [test.kv.>], tables [kv], host upsert)") !=
          std::string::npos);

    host.add_test_plugin("test_bad_major");
    std::tie(code, output) =
        host.run_cli({"--config", host.config_path().string(), "--check-config"});
    CHECK(code == 1);
    CHECK(output.find("REFUSED: plugin ABI major 2, host supports 1") != std::string::npos);

    host.remove_plugin("test_bad_major.so");
    host.write_config(test_config("nats://127.0.0.1:1", "sqlite:check.db",
                                  "[plugins.test_kv.outputs]\nkv = \"both\"\nnope = "
                                  "\"publish\"\n"));
    std::tie(code, output) =
        host.run_cli({"--config", host.config_path().string(), "--check-config"});
    CHECK(code == 1);
    CHECK(output.find("REFUSED: plugins.test_kv.outputs.nope: the plugin has no table 'nope' "
                      "(its tables: kv)") != std::string::npos);
}

TEST_CASE("config errors name the file - line and key", "[plugins][cli]") {
    HostHarness host;
    host.write_config(
        "[nats]\nurl = \"nats://127.0.0.1:4222\"\n\n[database]\npool_size = \"four\"\n");
    auto [code, output] = host.run_cli({"--config", host.config_path().string()});
    CHECK(code == 2);
    CHECK(output.find("worker.toml:5: database.pool_size: expected an integer, found a string") !=
          std::string::npos);

    host.write_config("[nats]\nurll = \"nats://x\"\n");
    std::tie(code, output) = host.run_cli({"--config", host.config_path().string()});
    CHECK(code == 2);
    CHECK(output.find("worker.toml:2: nats.urll: unknown key") != std::string::npos);
}

TEST_CASE("a host killed by SIGKILL leaves its private plugin copies for the next start to remove",
          "[plugins][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "kv.db").string()));
    const std::filesystem::path tmp = host.dir() / "tmp";
    std::filesystem::create_directories(tmp);
    // One without an owner lock (an older host's) stays.
    std::filesystem::create_directories(tmp / "nomnom-plugins-older");
    const auto copies = [&] {
        std::set<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(tmp)) {
            names.insert(entry.path().filename().string());
        }
        names.erase("nomnom-plugins-older");
        return names;
    };
    // Whether no process holds the directory's owner lock any more.
    const auto ownerless = [&](const std::string& name) {
        const int lock = ::open((tmp / name / ".owner-lock").c_str(), O_RDONLY | O_CLOEXEC);
        const bool free = lock >= 0 && ::flock(lock, LOCK_EX | LOCK_NB) == 0;
        if (lock >= 0) ::close(lock);
        return free;
    };
    host.start({{"TMPDIR", tmp.string()}});
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));
    // The host's, and in process isolation its worker's.
    const std::set<std::string> killed = copies();
    REQUIRE(!killed.empty());
    for (const std::string& name : killed) CHECK_FALSE(ownerless(name));
    host.process().kill9();
    // The worker follows its parent (PR_SET_PDEATHSIG).
    REQUIRE(eventually([&] { return std::all_of(killed.begin(), killed.end(), ownerless); }, 20s));
    CHECK(copies() == killed);

    host.start({{"TMPDIR", tmp.string()}});
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));
    CHECK(host.log_contains("removed " + std::to_string(killed.size()) +
                            " private plugin directories in " + tmp.string() +
                            " left by hosts that were killed"));
    const std::set<std::string> running = copies();
    CHECK(running.size() == killed.size());
    for (const std::string& name : killed) CHECK_FALSE(running.contains(name));
    REQUIRE(host.terminate() == 0);
    CHECK(copies().empty());
    CHECK(std::filesystem::exists(tmp / "nomnom-plugins-older"));
}
