// `nomnom-host status`: what JetStream and the running host say about each plugin.

#include <catch2/catch.hpp>

#include "host_harness.hpp"
#include "support/free_port.hpp"
#include "support/nats_server.hpp"

using namespace nomnom::testing;

namespace {

// test_config() with the HTTP endpoint on a fixed port, so that `status` finds it.
std::string config_on_port(const std::string& nats_url, const std::string& database, uint16_t port,
                           const std::string& extra = "") {
    std::string toml = test_config(nats_url, database, extra);
    const std::string any = "listen = \"127.0.0.1:0\"";
    toml.replace(toml.find(any), any.size(), "listen = \"127.0.0.1:" + std::to_string(port) + "\"");
    return toml;
}

}  // namespace

TEST_CASE("status shows consumer state from JetStream and the running host's plugin state",
          "[status][cli][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    publish_backlog(client, "test.kv.status", kv_messages(50));
    HostHarness host;
    host.add_test_plugin("test_kv");
    const uint16_t port = free_tcp_port();
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
    host.write_config(
        config_on_port(nats.url(), "sqlite:" + (host.dir() / "status.db").string(), port));
    const std::vector<std::string> status{"status", "--config", host.config_path().string()};

    // No host has ever run: no consumer, and nobody answers.
    auto [code, output] = host.run_cli(status);
    INFO(output);
    CHECK(code == 0);
    CHECK(output.find("nats    " + nats.url() + ": connected") != std::string::npos);
    CHECK(output.find("no host answers at " + endpoint) != std::string::npos);
    CHECK(output.find("plugin test_kv 1.0.0 (test_kv.so)") != std::string::npos);
    CHECK(output.find("consumer nomnom-test_kv (test.kv.>): not created yet") != std::string::npos);

    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(eventually([&] { return consumer_drained(client); }, 30s));
    std::tie(code, output) = host.run_cli(status);
    INFO(output);
    CHECK(output.find("  host counts  persisted 50, dead-lettered 0, retried 0\n"
                      "  last error   none\n") != std::string::npos);

    // A poison message: the host remembers what failed last, and when.
    const uint64_t poison =
        client.publish("test.kv.status", R"({"k":"x","v":1,"action":"invalid"})");
    REQUIRE(host.wait_log("dead-lettered (invalid)", 20s));
    // The line is logged when the dead letter is published; counts, last error and the term
    // follow it, and the term is last.
    REQUIRE(eventually([&] { return consumer_drained(client); }, 20s));
    const std::string reason = "dead-lettered (invalid) test.kv.status seq " +
                               std::to_string(poison) + ": action=invalid requested";
    const std::string ready = host.http_get("/ready").second;
    INFO(ready);
    CHECK(ready.find(R"("last_errors":{"test_kv":{"time":"20)") != std::string::npos);
    CHECK(ready.find(R"(,"reason":")" + reason + "\"}}") != std::string::npos);
    std::tie(code, output) = host.run_cli(status);
    INFO(output);
    CHECK(code == 0);
    CHECK(output.find("  last error   20") != std::string::npos);
    CHECK(output.find(" s ago): " + reason + "\n") != std::string::npos);
    CHECK(output.find("host    " + endpoint + ": ready, nats connected, database reachable") !=
          std::string::npos);
    CHECK(output.find("  host state   running\n") != std::string::npos);
    CHECK(output.find("  host counts  persisted 50, dead-lettered 1, retried 0\n") !=
          std::string::npos);
    CHECK(output.find("consumer nomnom-test_kv (test.kv.>): pending 0, ack pending 0, "
                      "redelivered 0, waiting pulls ") != std::string::npos);
    CHECK(output.find("last delivered 20") != std::string::npos);

    // A FATAL plugin: the host's state carries the reason; the message stays pending.
    client.publish("test.kv.status", R"({"k":"y","v":2,"action":"fatal"})");
    REQUIRE(host.wait_log("FATAL: action=fatal requested", 20s));
    std::tie(code, output) = host.run_cli(status);
    INFO(output);
    CHECK(code == 0);
    CHECK(output.find(": NOT ready, nats connected, database reachable") != std::string::npos);
    CHECK(output.find("  host state   fatal: action=fatal requested\n") != std::string::npos);
    CHECK(output.find(" s ago): FATAL: action=fatal requested\n") != std::string::npos);
    REQUIRE(host.terminate() == 0);

    // The host is gone: JetStream still answers, and the output says no host does.
    std::tie(code, output) = host.run_cli(status);
    INFO(output);
    CHECK(code == 0);
    CHECK(output.find("no host answers at " + endpoint) != std::string::npos);
    CHECK(output.find("host state") == std::string::npos);
    // The message the FATAL plugin handed back waits in JetStream for the next host.
    CHECK(output.find("consumer nomnom-test_kv (test.kv.>): pending 0, ack pending 1, ") !=
          std::string::npos);
}

TEST_CASE("status with NATS down still reports and exits 0", "[status][cli]") {
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(
        test_config("nats://127.0.0.1:" + std::to_string(free_tcp_port()), "sqlite:down.db"));
    const auto [code, output] = host.run_cli({"status", "--config", host.config_path().string()});
    INFO(output);
    CHECK(code == 0);
    CHECK(output.find("connecting to NATS at ") != std::string::npos);
    CHECK(output.find("no endpoint to ask") != std::string::npos);
    CHECK(output.find("consumer nomnom-test_kv (test.kv.>): unknown (NATS unreachable)") !=
          std::string::npos);
}

TEST_CASE("probe exits 0 on HTTP 2xx and 1 otherwise", "[status][cli][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const uint16_t port = free_tcp_port();
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
    host.write_config(
        config_on_port(nats.url(), "sqlite:" + (host.dir() / "probe.db").string(), port));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    CHECK(eventually([&] { return host.run_cli({"probe", endpoint + "/ready"}).first == 0; }, 10s));
    auto [code, output] = host.run_cli({"probe", endpoint + "/health"});
    CHECK(code == 0);
    CHECK(output.find("200 {\"status\":\"alive\"}") != std::string::npos);
    CHECK(host.run_cli({"probe", endpoint + "/nothing"}).first == 1);
    CHECK(host.run_cli({"probe", "127.0.0.1:" + std::to_string(port)}).first == 1);
    REQUIRE(host.terminate() == 0);
    std::tie(code, output) = host.run_cli({"probe", endpoint + "/ready"});
    CHECK(code == 1);
    CHECK(output.find("probe " + endpoint + "/ready: ") != std::string::npos);
}
