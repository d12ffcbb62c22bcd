// Messages near the NATS server's max_payload (1 MiB here): a fetch holds a bounded number of
// bytes, and one whose dead letter would not fit still leaves the stream and can be replayed.

#include <catch2/catch.hpp>

#include "host_harness.hpp"
#include "support/nats_server.hpp"

using namespace nomnom::testing;

namespace {

// A test_kv message of exactly `bytes`, padded by a field the plugin ignores.
std::string padded_message(const std::string& key, int value, const std::string& action,
                           size_t bytes) {
    const std::string head = R"({"k":")" + key + R"(","v":)" + std::to_string(value) +
                             R"(,"action":")" + action + R"(","pad":")";
    const std::string tail = "\"}";
    return head + std::string(bytes - head.size() - tail.size(), 'x') + tail;
}

}  // namespace

TEST_CASE("a fetch is bounded in bytes: large messages come a few at a time, not batch_size",
          "[large][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    client.ensure_stream("TEST", {"test.>"});
    std::vector<std::string> messages;
    for (int i = 0; i < 40; ++i)
        messages.push_back(padded_message("key-" + std::to_string(i), i, "ok", 300 * 1024));
    client.publish_many("test.kv.large", messages);

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "large.db";
    // Below the server's max_payload: raised to it, or the largest message could never come.
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbatch_size = 100\nfetch_max_bytes = 1\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 40);
    CHECK(sqlite_int64(database, "SELECT sum(v) FROM kv") == 39 * 40 / 2);
    // 40 messages of 300 KiB against about 1.1 MiB a fetch: at most 4 per batch.
    const std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    const double batches = metric_value(metrics, R"(nomnom_batch_size_count{plugin="test_kv"})");
    CHECK(batches >= 10);
    CHECK(metric_value(metrics, R"(nomnom_batch_size_bucket{plugin="test_kv",le="10"})") ==
          batches);
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("a message too large to copy into a dead letter is set aside by reference and replays",
          "[large][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "pointer.db";
    const std::string base = test_config(nats.url(), "sqlite:" + database.string());
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    // 200 bytes below max_payload: the message fits, the message with a dead letter's
    // headers does not.
    const std::string big = padded_message("big", 5, "invalid", 1024 * 1024 - 200);
    const uint64_t big_seq = client.publish("test.kv.big", big);
    client.publish("test.kv.big", R"({"k":"fine","v":7})");
    REQUIRE(eventually([&] { return consumer_drained(client); }, 60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 1);
    const std::vector<std::string> letters = dlq_list(host);
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].find("invalid  test.kv.big#" + std::to_string(big_seq)) != std::string::npos);
    CHECK(host.log_contains("too large to copy: the letter points at the original"));

    auto [code, output] =
        host.run_cli({"dlq", "show", "--config", host.config_path().string(), "--seq", "1"});
    CHECK(code == 0);
    CHECK(output.find("Nomnom-Payload: in-stream") != std::string::npos);
    CHECK(output.find("original, read from stream TEST seq " + std::to_string(big_seq)) !=
          std::string::npos);
    CHECK(output.find(big) != std::string::npos);

    // Fixed: the plugin now stores what it refused; the replay brings the original back.
    std::tie(code, output) = restart_fixed_and_replay(host, base);
    CHECK(code == 0);
    CHECK(output.find("1 replayed, 0 not replayed") != std::string::npos);
    REQUIRE(
        eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 2; }, 30s));
    CHECK(sqlite_int64(database, "SELECT v FROM kv WHERE k = 'big'") == 5);
    CHECK(dlq_list(host).empty());
    REQUIRE(host.terminate() == 0);
}
