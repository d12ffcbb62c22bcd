// Operating nomnom-api against a real nats-server: what /metrics counts after known requests,
// what reaches the log, and reloading on SIGHUP.

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "api_harness.hpp"
#include "host_harness.hpp"

using namespace nomnom::testing;

TEST_CASE("/metrics counts requests, body bytes and PubAck latency exactly", "[api][metrics]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;

    REQUIRE(api.post("/ingest/message", R"({"a":1})").status == 202);
    REQUIRE(api.post("/ingest/message/Order", R"({"b":22})").status == 202);
    REQUIRE(api.post("/ingest/message", R"({"n":1})", {{"Idempotency-Key", "d-1"}}).status == 202);
    REQUIRE(api.post("/ingest/message", R"({"n":1})", {{"Idempotency-Key", "d-1"}}).status == 202);
    REQUIRE(api.post("/ingest/message", R"({"a":)").status == 400);
    REQUIRE(api.post("/ingest/batch", "{\"x\":1}\n{\"y\":2}\n").status == 202);
    REQUIRE(api.get("/ingest/status/none").status == 404);
    // A publish that fails is counted as a failure, not as a PubAck latency.
    nats.stop();
    REQUIRE(api.post("/ingest/message", R"({"z":3})").status == 503);
    nats.restart();
    REQUIRE(eventually([&] { return api.get("/ready").status == 200; }, 20s));

    const std::string metrics = api.get("/metrics").body;
    INFO(metrics);
    const auto requests = [&](const std::string& route, int code, int count) {
        return metric_line(metrics, "nomnom_api_requests_total{route=\"" + route + "\",code=\"" +
                                        std::to_string(code) + "\"} " + std::to_string(count));
    };
    CHECK(requests("/ingest/message", 202, 3));
    CHECK(requests("/ingest/message", 400, 1));
    CHECK(requests("/ingest/message", 503, 1));
    CHECK(requests("/ingest/message/{entity}", 202, 1));
    CHECK(requests("/ingest/batch", 202, 1));
    CHECK(requests("/ingest/status/{message_id}", 404, 1));
    // Every body byte received: 7 + 7 + 7 + 5 + 7, 8 and 16.
    CHECK(metric_line(metrics, R"(nomnom_api_request_bytes_total{route="/ingest/message"} 33)"));
    CHECK(metric_line(metrics,
                      R"(nomnom_api_request_bytes_total{route="/ingest/message/{entity}"} 8)"));
    CHECK(metric_line(metrics, R"(nomnom_api_request_bytes_total{route="/ingest/batch"} 16)"));
    CHECK(metric_line(metrics,
                      R"(nomnom_api_request_bytes_total{route="/ingest/status/{message_id}"} 0)"));
    // Six PubAcks (the duplicate's included), each well under 5 s on loopback.
    CHECK(metric_line(metrics, R"(nomnom_api_publish_seconds_count{stream="TEST"} 6)"));
    CHECK(metric_line(metrics, R"(nomnom_api_publish_seconds_bucket{stream="TEST",le="5"} 6)"));
    CHECK(metric_line(metrics, R"(nomnom_api_publish_seconds_bucket{stream="TEST",le="+Inf"} 6)"));
    const std::string sum_prefix = "nomnom_api_publish_seconds_sum{stream=\"TEST\"} ";
    const size_t sum_at = metrics.find(sum_prefix);
    REQUIRE(sum_at != std::string::npos);
    const double sum = std::stod(metrics.substr(sum_at + sum_prefix.size()));
    CHECK(sum > 0);
    CHECK(sum < 30);
    CHECK(metric_line(metrics, "nomnom_api_messages_published_total 5"));
    CHECK(metric_line(metrics, "nomnom_api_duplicates_total 1"));
    CHECK(metric_line(metrics, "nomnom_api_publish_failures_total 1"));
    CHECK(client.stream_message_count("TEST") == 5);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("payload content reaches the log only at debug", "[api][logs]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;
    const std::string marker = "Zq7-payload-marker";
    const auto post_every_kind = [&] {
        CHECK(api.post("/ingest/message", R"({"secret":")" + marker + "\"}").status == 202);
        CHECK(api.post("/ingest/message/Order", R"({"secret":")" + marker + "\",").status == 400);
        CHECK(api.post("/ingest/batch", "{\"ok\":1}\n{\"secret\":\"" + marker + "\"\n").status ==
              207);
        nats.stop();
        CHECK(api.post("/ingest/message", R"({"secret":")" + marker + "\"}").status == 503);
        nats.restart();
        REQUIRE(eventually([&] { return api.get("/ready").status == 200; }, 20s));
    };

    post_every_kind();
    REQUIRE(api.terminate() == 0);
    const std::string log = api.log();
    INFO(log);
    CHECK(log.find("publish of ") != std::string::npos);  // the failed publish was logged
    CHECK(log.find(marker) == std::string::npos);

    // At debug a rejected body is logged (its first 256 bytes), to see what a client sent.
    api.write_config(api_test_config(nats.url(), "", "[log]\nlevel = \"debug\"\n"));
    api.start();
    post_every_kind();
    REQUIRE(api.terminate() == 0);
    const std::string debug_part = api.current_log();
    CHECK(occurrences(debug_part, marker) == 1);
    CHECK(debug_part.find("rejected body (Invalid JSON") != std::string::npos);
}

TEST_CASE("SIGHUP re-reads the tokens file and log.level, other changes wait for a restart",
          "[api][reload][auth]") {
    NatsServer nats;
    ApiHarness api;
    const auto tokens_file = api.config_path().parent_path() / "tokens";
    const auto write_tokens = [&](const std::string& text) {
        // As an operator rotates them: a new file renamed over the old one.
        const auto next = tokens_file.string() + ".new";
        std::ofstream(next) << text;
        std::filesystem::rename(next, tokens_file);
    };
    // tokens_file is relative: it is found next to api.toml.
    const auto config = [&](const std::string& level, int max_body_bytes) {
        return api_test_config(
            nats.url(), "max_body_bytes = " + std::to_string(max_body_bytes),
            "[auth]\ntokens_file = \"tokens\"\n[log]\nlevel = \"" + level + "\"\n");
    };
    const auto post = [&](const std::string& token, const std::string& body = "{}") {
        return api.post("/ingest/message", body, {{"Authorization", "Bearer " + token}}).status;
    };
    const std::string marker = "Zq7-reload-marker";
    const std::string rejected = R"({"secret":")" + marker + "\",";

    write_tokens("# rotated monthly\nold-token\n");
    api.write_config(config("info", 1024));
    api.start();
    CHECK(post("old-token") == 202);
    CHECK(post("new-token") == 403);
    CHECK(api.post("/ingest/message", "{}").status == 401);
    CHECK(post("old-token", rejected) == 400);

    write_tokens("new-token\n");
    api.write_config(config("debug", 4096));
    api.process().signal(SIGHUP);
    REQUIRE(
        eventually([&] { return api.log().find("reload 1 succeeded") != std::string::npos; }, 10s));
    CHECK(post("old-token") == 403);
    CHECK(post("new-token") == 202);
    const std::string log = api.log();
    CHECK(log.find("reload: auth 1 bearer token(s)") != std::string::npos);
    CHECK(log.find("reload: log level info -> debug") != std::string::npos);
    CHECK(log.find("reload: [ingest] changed in the config file; it needs a restart, the running "
                   "value stays") != std::string::npos);
    // The running body limit stays; the debug level shows rejected bodies from now on.
    CHECK(post("new-token", "[" + std::string(2000, ' ') + "]") == 413);
    CHECK(occurrences(api.log(), marker) == 0);
    CHECK(post("new-token", rejected) == 400);
    CHECK(eventually([&] { return occurrences(api.log(), marker) == 1; }, 5s));

    // A tokens file left empty by mistake keeps the tokens in use.
    write_tokens("# nothing yet\n");
    api.process().signal(SIGHUP);
    REQUIRE(eventually(
        [&] { return api.log().find("reload 2 finished with errors") != std::string::npos; }, 10s));
    CHECK(api.log().find(": no tokens in it; the tokens in use stay") != std::string::npos);
    CHECK(post("new-token") == 202);
    CHECK(post("old-token") == 403);
    REQUIRE(api.terminate() == 0);
}
