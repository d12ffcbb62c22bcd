// Plugins that take the whole process down: the host, restarted after each death as systemd or
// Kubernetes would, sets aside exactly the message that killed it and loses nothing else.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host_harness.hpp"
#include "support/nats_server.hpp"

using namespace nomnom::testing;
using namespace std::chrono_literals;

namespace {

// The host's own process runs the plugins: a crash takes it down.
const std::string kThreadMode = "[plugins]\nisolation = \"thread\"\n";

// Restarts the host whenever it dies, until `done` holds; returns the deaths seen. Bounded by
// `max_deaths` restarts and 120 s.
int restart_until(HostHarness& host, const std::function<bool()>& done, int max_deaths) {
    int deaths = 0;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        if (host.process().running()) {
            eventually([&] { return done() || !host.process().running(); }, 5s);
            continue;
        }
        if (++deaths > max_deaths) break;
        host.start();
    }
    return deaths;
}

std::vector<std::string> lines_with(const std::vector<std::string>& lines,
                                    const std::string& text) {
    std::vector<std::string> found;
    std::copy_if(lines.begin(), lines.end(), std::back_inserter(found),
                 [&](const std::string& line) { return line.find(text) != std::string::npos; });
    return found;
}

}  // namespace

TEST_CASE("thread mode: a plugin that kills the host costs its message only, and only once",
          "[isolation][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(1000);
    // Three in one batch: its other messages go through three deaths with max_deliver = 3, and
    // are still not dead-lettered, since deliveries lost to a death they did not cause are not
    // counted.
    messages.insert(messages.begin() + 100, R"({"k":"poison-segv","v":1,"action":"segfault"})");
    messages.insert(messages.begin() + 101, R"({"k":"poison-abort","v":1,"action":"abort"})");
    messages.insert(messages.begin() + 102, R"({"k":"poison-segv2","v":1,"action":"segfault"})");
    publish_backlog(client, "test.kv.mixed", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "isolation.db";
    host.write_config(
        test_config(nats.url(), "sqlite:" + database.string(),
                    kThreadMode + "[plugins.test_kv]\nbatch_size = 64\nmax_deliver = 3\n"));
    host.start();
    const auto all_in = [&] {
        return sqlite_int64(database, "SELECT count(*) FROM kv") == 1000 &&
               client.stream_message_count("NOMNOM_DLQ") == 3;
    };
    const int deaths = restart_until(host, all_in, 8);
    REQUIRE(all_in());
    CHECK(deaths == 3);
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 999 * 1000 / 2);
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv WHERE k LIKE 'poison%'") == 0);
    const std::vector<std::string> letters = dlq_list(host);
    INFO(host.log());
    REQUIRE(lines_with(letters, "  crashed  ").size() == 3);
    CHECK(lines_with(letters, "while the plugin was parsing this message").size() == 3);
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("thread mode: a persist callback that kills the host is narrowed to its message",
          "[isolation][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages;
    for (int i = 0; i < 200; ++i) {
        messages.push_back(R"({"k":"key-)" + std::to_string(i) + R"(","v":)" + std::to_string(i) +
                           "}");
    }
    messages.insert(messages.begin() + 40, R"({"k":"poison","v":1,"action":"crash_in_persist"})");
    publish_backlog(client, "test.kvp.mixed", messages);

    HostHarness host;
    host.add_test_plugin("test_kv_persist");
    const auto database = host.dir() / "persist.db";
    host.write_config(
        test_config(nats.url(), "sqlite:" + database.string(),
                    kThreadMode + "[plugins.test_kv_persist]\nbatch_size = 64\nmax_deliver = 3\n"));
    host.start();
    const auto all_in = [&] {
        return sqlite_int64(database, "SELECT count(*) FROM kvp") == 200 &&
               client.stream_message_count("NOMNOM_DLQ") == 1;
    };
    // The first death names the batch being persisted; each of its messages is then written
    // alone, and the second death names the one.
    const int deaths = restart_until(host, all_in, 4);
    REQUIRE(all_in());
    CHECK(deaths == 2);
    // The plugin's upsert adds 1000 on a conflict: no message was written twice.
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kvp") == 199 * 200 / 2);
    const std::vector<std::string> letters = dlq_list(host);
    INFO(host.log());
    REQUIRE(lines_with(letters, "  crashed  ").size() == 1);
    CHECK(lines_with(letters, "while the plugin was persisting this message").size() == 1);
    REQUIRE(eventually([&] { return consumer_drained(client, "nomnom-test_kv_persist"); }, 30s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE(
    "thread mode: a kill from outside during a plugin call convicts a message held alone twice",
    "[isolation][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(20);
    messages.insert(messages.begin() + 10, R"({"k":"hangs","v":1,"action":"hang"})");
    publish_backlog(client, "test.kv.hang", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "hang.db";
    // parse_timeout_ms only makes /ready say "stuck" in thread mode: the sign that the hanging
    // message is in the plugin's hands.
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  kThreadMode +
                                      "parse_timeout_ms = 300\n"
                                      "[plugins.test_kv]\nbatch_size = 1\nmax_deliver = 5\n"));
    const auto rows = [&] { return sqlite_int64(database, "SELECT count(*) FROM kv"); };
    const auto start_and_wait_for_the_hang = [&] {
        host.start();
        REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
        REQUIRE(eventually(
            [&] {
                return rows() == 10 &&
                       host.http_get("/ready").second.find("stuck: a call") != std::string::npos;
            },
            30s));
    };
    start_and_wait_for_the_hang();
    // A SIGKILL leaves no signal in the record: the first only makes the message a suspect...
    host.process().kill9();
    start_and_wait_for_the_hang();
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    // ... held alone again when the second lands, it is the one.
    host.process().kill9();
    host.start();
    REQUIRE(eventually([&] { return rows() == 20; }, 30s));
    REQUIRE(eventually([&] { return client.stream_message_count("NOMNOM_DLQ") == 1; }, 10s));
    const std::vector<std::string> letters = dlq_list(host);
    INFO(host.log());
    REQUIRE(lines_with(letters, "  crashed  ").size() == 1);
    CHECK(lines_with(letters, "killed from outside").size() == 1);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a plugins.state_dir that cannot be created stops the host at once, naming the key",
          "[isolation][config]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "x.db").string(),
                                  "[plugins]\nstate_dir = \"/proc/nomnom-state\"\n"));
    host.start();
    REQUIRE(host.process().wait_exit(20s) == 1);
    CHECK(host.log().find("plugins.state_dir /proc/nomnom-state: ") != std::string::npos);
}

TEST_CASE(
    "process mode: a segfault, an abort, a hang and a leak cost their message only, and the host "
    "and the other plugin never stop",
    "[isolation][process][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(1000);
    messages.insert(messages.begin() + 100, R"({"k":"poison-segv","v":1,"action":"segfault"})");
    messages.insert(messages.begin() + 300, R"({"k":"poison-abort","v":1,"action":"abort"})");
    messages.insert(messages.begin() + 500, R"({"k":"poison-hang","v":1,"action":"hang"})");
    messages.insert(messages.begin() + 700, R"({"k":"poison-leak","v":1,"action":"allocate"})");
    publish_backlog(client, "test.kv.mixed", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    host.add_test_plugin("test_kv_persist");
    const auto database = host.dir() / "isolation.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins]\n"
                                  "isolation = \"process\"\n"
                                  "parse_timeout_ms = 5000\n"
                                  "max_memory_mb = 400\n"
                                  "restart_backoff_ms = 200\n"
                                  "[plugins.test_kv]\nbatch_size = 64\nmax_deliver = 3\n"
                                  "[plugins.test_kv_persist]\nbatch_size = 64\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 2 plugin(s) running", 60s));
    const pid_t parent = host.process().pid();

    // The second plugin's messages arrive all along, while the first one's workers die.
    std::atomic<int> published{0};
    std::thread publisher(publish_steadily, nats.url(), "test.kvp.steady", kv_messages(10000),
                          500ms, std::ref(published));
    const auto kvp_rows = [&] { return sqlite_int64(database, "SELECT count(*) FROM kvp"); };
    const auto all_in = [&] {
        return sqlite_int64(database, "SELECT count(*) FROM kv") == 1000 && kvp_rows() == 10000 &&
               client.stream_message_count("NOMNOM_DLQ") == 4;
    };
    // The longest time the second plugin had messages waiting and wrote none.
    auto longest_stall = 0ms;
    auto last_progress = std::chrono::steady_clock::now();
    int64_t last_rows = 0;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (!all_in() && std::chrono::steady_clock::now() < deadline && host.process().running()) {
        const int64_t rows = kvp_rows();
        const auto now = std::chrono::steady_clock::now();
        if (rows > last_rows || rows >= published.load()) {
            last_rows = rows;
            last_progress = now;
        }
        longest_stall =
            std::max(longest_stall,
                     std::chrono::duration_cast<std::chrono::milliseconds>(now - last_progress));
        std::this_thread::sleep_for(100ms);
    }
    publisher.join();
    INFO(host.log());
    REQUIRE(all_in());
    CHECK(host.process().running());
    CHECK(host.process().pid() == parent);
    CHECK(longest_stall < 5s);
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 999 * 1000 / 2);
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv WHERE k LIKE 'poison%'") == 0);
    // test_kv_persist adds 1000 to a row written twice.
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kvp") == int64_t{9999} * 10000 / 2);

    const std::vector<std::string> letters = dlq_list(host);
    std::string listed;
    for (const std::string& letter : letters) listed += letter + "\n";
    INFO(listed);
    CHECK(lines_with(letters, "  crashed  ").size() == 3);
    CHECK(lines_with(letters, "  timeout  ").size() == 1);
    CHECK(lines_with(letters, "of SIGSEGV while the plugin was parsing this message").size() == 1);
    CHECK(lines_with(letters, "of SIGABRT while the plugin was parsing this message").size() == 1);
    CHECK(lines_with(letters, "past parse_timeout_ms = 5000").size() == 1);
    CHECK(lines_with(letters, "past max_memory_mb = 400").size() == 1);
    const auto [code, metrics] = host.http_get("/metrics");
    REQUIRE(code == 200);
    CHECK(metric_value(metrics,
                       R"(nomnom_plugin_worker_deaths_total{plugin="test_kv",cause="timeout"})") ==
          1);
    CHECK(metric_value(metrics,
                       R"(nomnom_plugin_worker_deaths_total{plugin="test_kv",cause="memory"})") ==
          1);
    CHECK(metric_value(metrics, R"(nomnom_messages_persisted_total{plugin="test_kv_persist"})") ==
          10000);
    CHECK(occurrences(metrics, "# TYPE nomnom_messages_persisted_total ") == 1);
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    REQUIRE(host.terminate() == 0);
}

// Each worker fetches its next batch while it processes one (Prefetcher): a death of the process
// costs the next batch's messages no delivery either, or max_deliver = 1 would dead-letter them.
TEST_CASE("a batch fetched ahead is not charged the death of the worker process holding it",
          "[isolation][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(20);
    // In the first batch of 10: a slow parse, while which the second batch is fetched, then a
    // parse that kills the worker process.
    messages.insert(messages.begin() + 4, R"({"k":"slow","v":1000,"action":"slow","ms":4000})");
    messages.insert(messages.begin() + 5, R"({"k":"poison-segv","v":1,"action":"segfault"})");
    publish_backlog(client, "test.kv.ahead", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "ahead.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins]\n"
                                  "isolation = \"process\"\n"
                                  "restart_backoff_ms = 200\n"
                                  "[plugins.test_kv]\nbatch_size = 10\nmax_deliver = 1\n"));
    host.start();
    // The worker process died holding both batches: the second, fetched during the slow parse,
    // was in its own record, so the recovery handed it back with the first.
    REQUIRE(host.wait_log(
        "died holding 10 messages of stream TEST, 0 of them in the plugin's hands", 60s));
    const auto all_in = [&] {
        return sqlite_int64(database, "SELECT count(*) FROM kv") == 21 &&
               client.stream_message_count("NOMNOM_DLQ") == 1;
    };
    REQUIRE(eventually(all_in, 60s));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 19 * 20 / 2 + 1000);
    const std::vector<std::string> letters = dlq_list(host);
    INFO(host.log());
    REQUIRE(letters.size() == 1);
    CHECK(lines_with(letters, "of SIGSEGV while the plugin was parsing this message").size() == 1);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("SIGTERM during a plugin call that never returns finishes within shutdown_timeout_ms",
          "[isolation][process][sqlite]") {
    const std::string mode = GENERATE(std::string("process"), std::string("thread"));
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(10);
    messages.push_back(R"({"k":"hangs","v":1,"action":"hang"})");
    publish_backlog(client, "test.kv.hang", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "hang.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins]\nisolation = \"" + mode +
                                      "\"\nparse_timeout_ms = 0\nshutdown_timeout_ms = 2000\n"
                                      "[plugins.test_kv]\nbatch_size = 1\n"));
    host.start();
    REQUIRE(eventually(
        [&] {
            return sqlite_int64(database, "SELECT count(*) FROM kv") == 10 &&
                   client.consumer_info("TEST", "nomnom-test_kv").delivered_consumer_seq == 11;
        },
        30s));
    INFO(mode << "\n" << host.log());
    const auto asked = std::chrono::steady_clock::now();
    const std::optional<int> code = host.terminate(15s);
    REQUIRE(code.has_value());
    CHECK(std::chrono::steady_clock::now() - asked < 10s);
    // A worker process is killed and the host drains cleanly; a stuck thread cannot be killed,
    // so the host leaves without it and says so.
    CHECK(*code == (mode == "process" ? 0 : 1));
    CHECK(host.log_contains("shutdown_timeout_ms"));
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
}

TEST_CASE("a plugin whose worker keeps dying is quarantined until SIGHUP, and the others run on",
          "[isolation][process][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> messages = kv_messages(20);
    messages.insert(messages.begin() + 15, R"({"k":"poison-c","v":1,"action":"segfault"})");
    messages.insert(messages.begin() + 10, R"({"k":"poison-b","v":1,"action":"segfault"})");
    messages.insert(messages.begin() + 5, R"({"k":"poison-a","v":1,"action":"segfault"})");
    publish_backlog(client, "test.kv.quarantine", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    host.add_test_plugin("test_kv_persist");
    const auto database = host.dir() / "quarantine.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins]\nisolation = \"process\"\nquarantine_deaths = 2\n"
                                  "restart_backoff_ms = 100\n"
                                  "[plugins.test_kv]\nbatch_size = 64\n"));
    host.start();
    // Two deaths within the window: the second worker's message is dead-lettered by the parent,
    // and the third poison message waits in JetStream.
    REQUIRE(eventually(
        [&] {
            const auto [code, body] = host.http_get("/ready");
            return code == 503 &&
                   body.find(R"("test_kv":"quarantined: worker process )") != std::string::npos;
        },
        60s));
    INFO(host.log());
    REQUIRE(eventually([&] { return client.stream_message_count("NOMNOM_DLQ") == 2; }, 10s));
    const auto [code, metrics] = host.http_get("/metrics");
    CHECK(metric_value(metrics, R"(nomnom_plugin_up{plugin="test_kv",version="1.0.0"})") == 0);
    CHECK(host.log_contains("plugin test_kv is quarantined"));

    // The other plugin is not held up meanwhile.
    client.publish_many("test.kvp.during", kv_messages(100));
    REQUIRE(
        eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kvp") == 100; }, 30s));

    host.process().signal(SIGHUP);
    REQUIRE(eventually(
        [&] {
            return sqlite_int64(database, "SELECT count(*) FROM kv") == 20 &&
                   client.stream_message_count("NOMNOM_DLQ") == 3;
        },
        60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv WHERE k LIKE 'poison%'") == 0);
    const std::vector<std::string> letters = dlq_list(host);
    CHECK(lines_with(letters, "  crashed  ").size() == 3);
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    REQUIRE(host.terminate() == 0);
}
