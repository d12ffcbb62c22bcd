// Hot reload: plugins added, replaced, removed and reconfigured under load, by SIGHUP or by
// watching the directory; nothing lost, nothing duplicated, a broken new build never replaces a
// working one.

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/test_database.hpp"

using namespace nomnom::testing;

namespace {

const std::filesystem::path kPlugins = NOMNOM_TEST_PLUGINS_DIR;

// {"k":"<prefix>-<i>","v":<i>} for i in [0, count): rows of test_kv with keys of their own.
std::vector<std::string> keyed_messages(const std::string& prefix, int count) {
    std::vector<std::string> messages;
    for (int i = 0; i < count; ++i) {
        messages.push_back(R"({"k":")" + prefix + "-" + std::to_string(i) + R"(","v":)" +
                           std::to_string(i) + "}");
    }
    return messages;
}

// The consumers of stream TEST filtering `subject`: names and deliveries (redeliveries
// included) in all.
std::pair<std::vector<std::string>, uint64_t> consumers_of(JetStreamClient& client,
                                                           const std::string& subject) {
    std::pair<std::vector<std::string>, uint64_t> found{{}, 0};
    for (const ListedConsumer& consumer : client.consumers("TEST")) {
        if (consumer.filter_subject != subject) continue;
        found.first.push_back(consumer.name);
        found.second += consumer.stats.delivered_consumer_seq;
    }
    return found;
}

// No consumer of stream TEST has a message waiting or in flight.
bool every_consumer_drained(JetStreamClient& client) {
    for (const ListedConsumer& consumer : client.consumers("TEST")) {
        if (consumer.stats.num_pending != 0 || consumer.stats.num_ack_pending != 0) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("plugins are added, replaced and removed under load without losing a message",
          "[reload][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    NatsServer nats;
    const auto db = make_test_database(kind);
    TestDatabase& pg = *db;
    HostHarness host;
    host.install_plugin(kPlugins / "v1" / "test_kv.so", "test_kv.so");
    host.add_shipped_plugin("sensor_csv");
    const std::string base =
        test_config(nats.url(), pg.url(), "[plugins.test_kv]\nbatch_size = 50\n");
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 2 plugin(s) running", 20s));

    // 20k messages published steadily while the host is reloaded.
    constexpr int kMessages = 20000;
    std::atomic<int> published{0};
    std::thread publisher([&] {
        publish_steadily(nats.url(), "test.kv.load", kv_messages(kMessages), 150ms, published);
    });
    const auto reload_when = [&](int at_least) {
        REQUIRE(eventually([&] { return published.load() >= at_least; }, 60s));
        host.process().signal(SIGHUP);
    };

    host.add_test_plugin("test_kv_persist");
    reload_when(3000);
    REQUIRE(host.wait_log("plugin test_kv_persist 1.0.0", 20s));

    host.install_plugin(kPlugins / "v2" / "test_kv.so", "test_kv.so");
    reload_when(7000);
    REQUIRE(host.wait_log("plugin test_kv replaced: 1.0.0 -> test_kv 2.0.0", 20s));

    host.remove_plugin("sensor_csv.so");
    reload_when(11000);
    REQUIRE(host.wait_log("plugin sensor_csv 1.0.0 removed", 20s));

    REQUIRE(eventually([&] { return published.load() >= 14000; }, 60s));
    for (int i = 0; i < 9; ++i) host.process().signal(SIGHUP);
    // The tenth comes with a config change: it must be applied even though it arrives while
    // earlier reloads are running (it stays pending, it is never dropped).
    host.write_config(base + "[log]\nlevel = \"debug\"\n");
    host.process().signal(SIGHUP);
    publisher.join();

    REQUIRE(
        eventually([&] { return pg.query_int64("SELECT count(*) FROM kv") == kMessages; }, 120s));
    JetStreamClient client(nats.url());
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == (kMessages - 1LL) * kMessages / 2);
    // Every message was written by exactly one version, and the switch happened once, at one
    // stream position: all of 1.0.0's rows come before all of 2.0.0's.
    const int64_t v1_rows = pg.query_int64("SELECT count(*) FROM kv WHERE note = '1.0.0'");
    const int64_t v2_rows = pg.query_int64("SELECT count(*) FROM kv WHERE note = '2.0.0'");
    CHECK(v1_rows > 0);
    CHECK(v2_rows > 0);
    CHECK(v1_rows + v2_rows == kMessages);
    CHECK(pg.query_int64("SELECT max(v) FROM kv WHERE note = '1.0.0'") + 1 ==
          pg.query_int64("SELECT min(v) FROM kv WHERE note = '2.0.0'"));
    REQUIRE(host.wait_log("reload: log level info -> debug", 20s));
    REQUIRE(host.terminate() == 0);
    const std::string log = host.log();
    INFO("host log:\n" << log);
    CHECK(occurrences(log, "plugin test_kv replaced") == 1);
    CHECK(occurrences(log, "finished with errors") == 0);
    CHECK(log.find("dead-lettered") == std::string::npos);
}

TEST_CASE("a broken new build or a failing create keeps the old version serving",
          "[reload][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.install_plugin(kPlugins / "v1" / "test_kv.so", "test_kv.so");
    const auto database = host.dir() / "broken.db";
    const std::string base = test_config(nats.url(), "sqlite:" + database.string());
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));
    JetStreamClient client(nats.url());
    int published = 0;
    const auto note_of_next_row = [&] {
        const std::string key = "probe-" + std::to_string(++published);
        client.publish("test.kv.probe", R"({"k":")" + key + R"(","v":1})");
        std::string note;
        eventually(
            [&] {
                return sqlite_int64(database, "SELECT count(*) FROM kv WHERE k = '" + key + "'") ==
                       1;
            },
            20s);
        for (const char* version : {"1.0.0", "2.0.0"}) {
            if (sqlite_int64(database, "SELECT count(*) FROM kv WHERE k = '" + key +
                                           "' AND note = '" + version + "'") == 1) {
                note = version;
            }
        }
        return note;
    };
    const auto reload = [&](int number) {
        host.process().signal(SIGHUP);
        INFO("host log:\n" << host.log());
        const std::string prefix = "reload " + std::to_string(number);
        REQUIRE(eventually(
            [&] {
                return host.log_contains(prefix + " succeeded") ||
                       host.log_contains(prefix + " finished with errors");
            },
            20s));
    };

    host.install_plugin(kPlugins / "test_bad_major.so", "test_kv.so");
    reload(1);
    CHECK(host.log_contains(
        "test_kv.so refused: plugin ABI major 2, host supports 1; version 1.0.0 keeps running"));
    CHECK(note_of_next_row() == "1.0.0");
    std::string metrics = host.http_get("/metrics").second;
    CHECK(metric_value(metrics, "nomnom_plugins_refused") == 1);
    CHECK(metric_value(metrics, "nomnom_plugin_refused{file=\"test_kv.so\"}") == 1);
    CHECK(metric_value(metrics, "nomnom_plugin_up{plugin=\"test_kv\",version=\"1.0.0\"}") == 1);

    host.install_plugin(kPlugins / "test_no_symbol.so", "test_kv.so");
    reload(2);
    CHECK(
        host.log_contains("missing entry symbol nomnom_plugin_v1 (not a nomnom ABI v1 plugin); "
                          "version 1.0.0 keeps running"));
    CHECK(note_of_next_row() == "1.0.0");

    host.install_plugin(kPlugins / "v2" / "test_kv.so", "test_kv.so");
    host.write_config(base + "[plugins.test_kv.config]\nfail_create = true\n");
    reload(3);
    CHECK(host.log_contains(
        "create failed: fail_create requested by config; version 1.0.0 keeps running"));
    CHECK(note_of_next_row() == "1.0.0");

    // A second plugin may not claim the same name or the same subjects.
    host.install_plugin(kPlugins / "v2" / "test_kv.so", "copy_of_kv.so");
    host.add_test_plugin("test_kv_persist");
    host.write_config(base + "[plugins.test_kv_persist]\nsubjects = [\"test.kv.>\"]\n");
    reload(4);
    CHECK(host.log_contains("copy_of_kv.so refused: plugin name 'test_kv' is already used by"));
    CHECK(
        host.log_contains("test_kv_persist.so refused: subject 'test.kv.>' overlaps 'test.kv.>' "
                          "of plugin test_kv"));
    CHECK(host.http_get("/ready").first == 503);
    CHECK(note_of_next_row() == "2.0.0");
    metrics = host.http_get("/metrics").second;
    CHECK(metric_value(metrics, "nomnom_plugins_refused") == 2);
    CHECK(metric_value(metrics, "nomnom_plugin_refused{file=\"copy_of_kv.so\"}") == 1);
    CHECK(metric_value(metrics, "nomnom_plugin_refused{file=\"test_kv_persist.so\"}") == 1);
    CHECK(metric_value(metrics, "nomnom_plugin_up{plugin=\"test_kv\",version=\"2.0.0\"}") == 1);

    host.remove_plugin("copy_of_kv.so");
    host.remove_plugin("test_kv_persist.so");
    reload(5);
    CHECK(host.log_contains("reload 5 succeeded"));
    CHECK(host.http_get("/ready").first == 200);
    metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metric_value(metrics, "nomnom_reloads_total") == 5);
    CHECK(metric_value(metrics, "nomnom_reload_failures_total") == 4);
    CHECK(metric_value(metrics, "nomnom_plugins_refused") == 0);
    CHECK(occurrences(metrics, "\nnomnom_plugin_refused{") == 0);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a reload that changes a plugin's subjects moves its durable consumer to them",
          "[reload][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "subjects.db";
    const std::string base = test_config(nats.url(), "sqlite:" + database.string());
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.before", R"({"k":"before","v":1})");
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT count(*) FROM kv WHERE k='before'") == 1; },
        20s));

    // Stored before the reload on a subject the plugin did not consume: the new subject shares
    // no message with the old one, so it is read from the start and this one is not skipped.
    client.publish("test.moved.early", R"({"k":"early","v":3})");
    host.write_config(base + "[plugins.test_kv]\nsubjects = [\"test.moved.>\"]\n");
    host.process().signal(SIGHUP);
    REQUIRE(host.wait_log("reload 1 succeeded", 20s));
    INFO("host log:\n" << host.log());
    CHECK(host.log_contains(
        "created durable consumer nomnom-test_kv-1 on stream TEST filtering test.moved.>"));
    CHECK_FALSE(host.log_contains("takes over"));
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT count(*) FROM kv WHERE k='early'") == 1; },
        20s));
    client.publish("test.moved.after", R"({"k":"after","v":2})");
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT count(*) FROM kv WHERE k='after'") == 1; },
        20s));
    CHECK(host.http_get("/ready").first == 200);
    REQUIRE(host.terminate() == 0);
}

namespace {

// test_kv run on test.kv.a alone until it wrote the messages stored there, to be reloaded with
// other subjects.
struct SubjectChange {
    static constexpr int kBacklog = 500;

    SubjectChange() {
        // Stored before the plugin consumed anything: a subject it lists later for the first
        // time is new to it, and read from the start.
        publish_backlog(client, "test.third.x", keyed_messages("third", 10));
        client.publish_many("test.kv.a", keyed_messages("a", kBacklog));
        host.add_test_plugin("test_kv");
        host.write_config(base + "subjects = [\"test.kv.a\"]\n");
        host.start();
        REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));
        settle(kBacklog);
    }

    int64_t rows() const { return sqlite_int64(database, "SELECT count(*) FROM kv"); }
    // Until the table holds `count` rows and no consumer has anything left.
    void settle(int64_t count) {
        REQUIRE(eventually([&] { return rows() == count; }, 30s));
        REQUIRE(eventually([&] { return every_consumer_drained(client); }, 30s));
    }
    // Reloads with `subjects`, then publishes `count` new messages on each of `published`.
    void reload_with(const std::string& subjects,
                     const std::vector<std::pair<std::string, int>>& published = {}) {
        host.write_config(base + "subjects = [" + subjects + "]\n");
        host.process().signal(SIGHUP);
        REQUIRE(host.wait_log("reload " + std::to_string(++reloads) + " succeeded", 20s));
        for (const auto& [subject, count] : published) {
            client.publish_many(subject, keyed_messages(subject, count));
        }
    }

    NatsServer nats;
    JetStreamClient client{nats.url()};
    HostHarness host;
    std::filesystem::path database = host.dir() / "kv.db";
    std::string base = test_config(nats.url(), "sqlite:" + database.string(),
                                   "[plugins.test_kv]\nbatch_size = 50\n");
    int reloads = 0;
};

}  // namespace

TEST_CASE("a plugin given a second subject keeps its consumer and replays nothing",
          "[reload][sqlite]") {
    SubjectChange run;
    run.reload_with("\"test.kv.a\", \"test.kv.b\"", {{"test.kv.a", 100}, {"test.kv.b", 50}});
    run.settle(SubjectChange::kBacklog + 150);
    INFO("host log:\n" << run.host.log());
    // The subject it had stays with its consumer, which goes on from where it was.
    const auto [on_a, delivered_a] = consumers_of(run.client, "test.kv.a");
    CHECK(on_a == std::vector<std::string>{"nomnom-test_kv"});
    CHECK(delivered_a == SubjectChange::kBacklog + 100);
    const auto [on_b, delivered_b] = consumers_of(run.client, "test.kv.b");
    REQUIRE(on_b.size() == 1);
    CHECK(delivered_b == 50);
    CHECK(run.client.consumers("TEST").size() == 2);
    // The lag gauges and `nomnom-host status` name the consumers in use.
    const std::string metrics = run.host.http_get("/metrics").second;
    for (const std::string& consumer : {std::string("nomnom-test_kv"), on_b.front()}) {
        CHECK(metric_value(metrics, R"(nomnom_consumer_pending{plugin="test_kv",consumer=")" +
                                        consumer + "\"}") == 0);
    }
    const auto [code, status] =
        run.host.run_cli({"status", "--config", run.host.config_path().string()});
    INFO("status:\n" << status);
    CHECK(code == 0);
    CHECK(status.find("consumer nomnom-test_kv (test.kv.a): pending 0") != std::string::npos);
    CHECK(status.find("consumer " + on_b.front() + " (test.kv.b): pending 0") != std::string::npos);
    REQUIRE(run.host.terminate() == 0);
}

TEST_CASE("a plugin whose subject is replaced takes over where its old consumer stood",
          "[reload][sqlite]") {
    SubjectChange run;
    // test.kv.> covers what test.kv.a was: read from the start, it would deliver the backlog
    // again.
    run.reload_with("\"test.kv.>\", \"test.other.>\"", {{"test.kv.c", 100}, {"test.other.x", 50}});
    run.settle(SubjectChange::kBacklog + 150);
    INFO("host log:\n" << run.host.log());
    CHECK(consumers_of(run.client, "test.kv.>").second == 100);
    CHECK(consumers_of(run.client, "test.other.>").second == 50);
    // The old consumer is left as it was (a host still running the old version reads it).
    const auto [on_a, delivered_a] = consumers_of(run.client, "test.kv.a");
    CHECK(on_a == std::vector<std::string>{"nomnom-test_kv"});
    CHECK(delivered_a == SubjectChange::kBacklog);
    CHECK(run.host.log_contains("filters 'test.kv.a', which test_kv no longer consumes: kept"));
    const auto [code, status] =
        run.host.run_cli({"status", "--config", run.host.config_path().string()});
    INFO("status:\n" << status);
    CHECK(status.find("left behind: consumer nomnom-test_kv filters 'test.kv.a'") !=
          std::string::npos);

    // Its position was taken over once: a subject added later is new, read from the start.
    run.reload_with("\"test.kv.>\", \"test.other.>\", \"test.third.>\"");
    run.settle(SubjectChange::kBacklog + 160);
    CHECK(consumers_of(run.client, "test.third.>").second == 10);
    CHECK(consumers_of(run.client, "test.kv.>").second == 100);
    REQUIRE(run.host.terminate() == 0);
}

TEST_CASE("/ready and /metrics answer at once while a reload is busy starting a plugin",
          "[reload][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const std::string base = test_config(nats.url(), "sqlite:" + (host.dir() / "busy.db").string());
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [test_kv]", 20s));

    host.add_test_plugin("test_kv_persist");
    host.write_config(base +
                      "[plugins.test_kv_persist]\nworkers = 1\n"
                      "[plugins.test_kv_persist.config]\ncreate_delay_ms = 3000\n");
    host.process().signal(SIGHUP);
    REQUIRE(host.wait_log("reload 1 (SIGHUP)", 10s));
    std::this_thread::sleep_for(300ms);
    for (const char* path : {"/ready", "/metrics"}) {
        const auto asked = std::chrono::steady_clock::now();
        const auto [status, body] = host.http_get(path);
        const auto waited = std::chrono::steady_clock::now() - asked;
        INFO(path << " answered " << status << ": " << body);
        CHECK(status == 200);
        CHECK(waited < 1000ms);
    }
    CHECK_FALSE(host.log_contains("reload 1 succeeded"));
    REQUIRE(host.wait_log("reload 1 succeeded", 20s));
    CHECK(host.http_get("/ready").second.find(R"("test_kv_persist":"running")") !=
          std::string::npos);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a watched directory reloads on its own and never loads a half-written file",
          "[reload][sqlite]") {
    NatsServer nats;
    HostHarness host;
    const auto database = host.dir() / "watch.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins]\nwatch = true\nsettle_ms = 300\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 0 plugin(s) running", 20s));
    REQUIRE(host.wait_log("watching", 5s));

    // Written in two halves with a pause longer than the settle time in between.
    std::ifstream source(kPlugins / "test_kv.so", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(source)), {});
    const auto target = host.plugins_dir() / "test_kv.so";
    {
        std::ofstream out(target, std::ios::binary);
        std::filesystem::permissions(target, std::filesystem::perms(0755));
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
        out.flush();
        std::this_thread::sleep_for(1500ms);
        INFO("host log:\n" << host.log());
        CHECK_FALSE(host.log_contains("plugin test_kv 1.0.0"));
        out.write(bytes.data() + bytes.size() / 2,
                  static_cast<std::streamsize>(bytes.size() - bytes.size() / 2));
    }
    REQUIRE(host.wait_log("plugin test_kv 1.0.0", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.watch", R"({"k":"watched","v":3})");
    REQUIRE(eventually(
        [&] { return sqlite_int64(database, "SELECT v FROM kv WHERE k='watched'") == 3; }, 20s));

    host.remove_plugin("test_kv.so");
    REQUIRE(host.wait_log("plugin test_kv 1.0.0 removed", 20s));
    REQUIRE(host.terminate() == 0);
}
