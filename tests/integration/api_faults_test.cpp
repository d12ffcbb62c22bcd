// nomnom-api when things go wrong, against a real nats-server: a server that stops answering,
// and clients that send their body too slowly.

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "api_harness.hpp"
#include "host_harness.hpp"

using namespace nomnom::testing;

namespace {

struct Trickled {
    std::string response;  // status line, headers and body as received
    size_t bytes_sent = 0;
    std::chrono::milliseconds took{0};
};

// POSTs a JSON body of `length` bytes to /ingest/message, one byte every `pause`, until the
// body is complete or the server answers; then reads the answer (until the server closes, at
// most 10 s).
Trickled trickle_post(uint16_t port, size_t length, std::chrono::milliseconds pause) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", port));
    const std::string head =
        "POST /ingest/message HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Connection: close\r\nContent-Length: " +
        std::to_string(length) + "\r\n\r\n";
    socket.sendBytes(head.data(), static_cast<int>(head.size()));
    const std::string body = "[" + std::string(length - 2, ' ') + "]";
    const auto started = std::chrono::steady_clock::now();
    Trickled result;
    const Poco::Timespan wait(std::chrono::duration_cast<std::chrono::microseconds>(pause).count());
    while (result.bytes_sent < length && !socket.poll(wait, Poco::Net::Socket::SELECT_READ)) {
        socket.sendBytes(&body[result.bytes_sent], 1);
        ++result.bytes_sent;
    }
    socket.setReceiveTimeout(Poco::Timespan(10, 0));
    char buffer[4096];
    try {
        for (int got; (got = socket.receiveBytes(buffer, sizeof buffer)) > 0;) {
            result.response.append(buffer, static_cast<size_t>(got));
        }
    } catch (const Poco::TimeoutException&) {
        // A kept-alive connection: the answer is complete.
    }
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return result;
}

// A reply, and how long its request waited for it.
struct Posted {
    HttpReply reply;
    std::chrono::steady_clock::duration waited{};
};

// Posts `count` messages to /ingest/message at once, each `{"<field>":i}` from a thread of its
// own (with the Idempotency-Key `<field>-i` when `keyed`), so that they wait together.
std::vector<std::future<Posted>> post_together(ApiHarness& api, const std::string& field, int count,
                                               bool keyed = false) {
    std::vector<std::future<Posted>> posted;
    for (int i = 0; i < count; ++i) {
        posted.push_back(std::async(std::launch::async, [&api, field, i, keyed] {
            const std::string n = std::to_string(i);
            std::map<std::string, std::string> headers;
            if (keyed) headers["Idempotency-Key"] = field + "-" + n;
            const auto started = std::chrono::steady_clock::now();
            HttpReply reply = api.post("/ingest/message", "{\"" + field + "\":" + n + "}", headers);
            return Posted{std::move(reply), std::chrono::steady_clock::now() - started};
        }));
    }
    return posted;
}

}  // namespace

TEST_CASE("a PubAck that never comes gives 503 with Retry-After, never 202 - then recovery",
          "[api][faults]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;
    REQUIRE(api.post("/ingest/message", R"({"before":1})").status == 202);
    {
        // Connected, but nothing answers: each publish waits publish_timeout_ms (2 s).
        const NatsServer::Frozen frozen = nats.freeze();
        const auto started = std::chrono::steady_clock::now();
        HttpReply reply =
            api.post("/ingest/message", R"({"during":1})", {{"Idempotency-Key", "hung-1"}});
        const auto waited = std::chrono::steady_clock::now() - started;
        CHECK(reply.status == 503);
        CHECK(reply.headers["Retry-After"] == "2");
        CHECK(reply.body.find("JetStream publish to messages.ingest.default failed: Timeout") !=
              std::string::npos);
        CHECK(waited >= 1900ms);
        CHECK(waited < 8s);
        reply = api.post("/ingest/batch", "{\"a\":1}\n{\"b\":2}\n", {{"Idempotency-Key", "hb"}});
        CHECK(reply.status == 503);
        CHECK(reply.headers["Retry-After"] == "2");
        const rapidjson::Document batch = parse_json(reply.body);
        CHECK(batch["inserted"].GetInt() == 0);
        CHECK(batch["failed"].GetInt() == 2);
    }
    // Resumed, the server works through what it received while stopped, so the timed-out
    // publishes may be stored after all: a retry with the same Idempotency-Key is then a
    // duplicate, and each message is stored once.
    REQUIRE(eventually([&] { return api.get("/ready").status == 200; }, 20s));
    const HttpReply retried =
        api.post("/ingest/message", R"({"during":1})", {{"Idempotency-Key", "hung-1"}});
    CHECK(retried.status == 202);
    CHECK(json_field(retried.body, "message_id") == "hung-1");
    CHECK(api.post("/ingest/batch", "{\"a\":1}\n{\"b\":2}\n", {{"Idempotency-Key", "hb"}}).status ==
          202);
    CHECK(client.stream_message_count("TEST") == 4);
    const std::string metrics = api.get("/metrics").body;
    // The message and both lines of the batch: a batch sends every line before it waits.
    CHECK(metric_line(metrics, "nomnom_api_publish_failures_total 3"));
    REQUIRE(api.terminate() == 0);
}

TEST_CASE(
    "the PubAck window: requests finding it full get 503 within publish_timeout_ms; requests "
    "share it and each gets its own PubAck",
    "[api][faults]") {
    ApiOnNats setup("max_pending_acks = 1", "", {}, "max_threads = 16");
    auto& [nats, api, client] = setup;
    {
        // One publish holds the only slot until its PubAck times out (2 s). Each of the others
        // is answered within its own 2 s all the same: "no room" if it never got the slot, else
        // the timeout of the publish it sent in the time left.
        const NatsServer::Frozen frozen = nats.freeze();
        for (auto& posted : post_together(api, "frozen", 4)) {
            const auto [got, waited] = posted.get();
            INFO(got.body);
            CHECK(got.status == 503);
            CHECK(got.headers.at("Retry-After") == "2");
            const bool no_room = got.body.find(
                                     "no room among the 1 publishes awaiting their PubAck "
                                     "(ingest.max_pending_acks) within ingest.publish_timeout_ms "
                                     "(2000 ms): JetStream is not keeping up") != std::string::npos;
            const bool timed_out =
                got.body.find("JetStream publish to messages.ingest.default failed: Timeout") !=
                std::string::npos;
            CHECK((no_room || timed_out));
            CHECK(waited < 2500ms);
        }
    }
    REQUIRE(eventually([&] { return api.get("/ready").status == 200; }, 20s));
    const uint64_t before = client.stream_message_count("TEST");
    // Eight clients through the one slot: every request waits for its own PubAck, with the id
    // and sequence of its own message.
    std::vector<std::thread> clients;
    std::atomic<int> accepted{0};
    for (int c = 0; c < 8; ++c) {
        clients.emplace_back([&api, &accepted, c] {
            for (int n = 0; n < 25; ++n) {
                const std::string id = "w-" + std::to_string(c) + "-" + std::to_string(n);
                const HttpReply reply =
                    api.post("/ingest/message", R"({"n":1})", {{"Idempotency-Key", id}});
                if (reply.status == 202 && reply.body.find(id) != std::string::npos) ++accepted;
            }
        });
    }
    for (auto& thread : clients) thread.join();
    CHECK(accepted.load() == 200);
    CHECK(client.stream_message_count("TEST") == before + 200);
    // A batch sends all its lines before awaiting their PubAcks: through a window of one, each
    // send waits for the line before it to be acknowledged.
    std::string lines;
    for (int n = 1; n <= 300; ++n) lines += "{\"line\":" + std::to_string(n) + "}\n";
    const HttpReply batch = api.post("/ingest/batch", lines, {{"Idempotency-Key", "wb"}});
    INFO(batch.body);
    CHECK(batch.status == 202);
    const rapidjson::Document summary = parse_json(batch.body);
    CHECK(summary["inserted"].GetInt() == 300);
    CHECK(summary["results"][299]["message_id"].GetString() == std::string("wb-300"));
    CHECK(client.stream_message_count("TEST") == before + 500);
    {
        // Once a line's PubAck has timed out, the lines not yet sent are not tried: line 2 waits
        // for the slot line 1 holds, then line 1 is found timed out.
        const NatsServer::Frozen frozen = nats.freeze();
        const HttpReply stalled =
            api.post("/ingest/batch", "{\"s\":1}\n{\"s\":2}\n{\"s\":3}\n{\"s\":4}\n");
        INFO(stalled.body);
        CHECK(stalled.status == 503);
        const rapidjson::Document refused = parse_json(stalled.body);
        CHECK(refused["inserted"].GetInt() == 0);
        CHECK(refused["results"][0]["error"].GetString() ==
              std::string("JetStream publish to messages.ingest.default failed: Timeout"));
        for (const int line : {2, 3}) {
            CHECK(refused["results"][line]["error"].GetString() ==
                  std::string("not attempted: JetStream unavailable"));
        }
    }
    REQUIRE(api.terminate() == 0);
}

TEST_CASE(
    "requests awaiting their PubAck hold no serving thread: with http.max_threads = 2 and NATS "
    "hung, six wait together, /health answers beside them, and all six are stored once it "
    "resumes",
    "[api][faults]") {
    ApiOnNats setup("publish_timeout_ms = 30000", "", {}, "max_threads = 2");
    auto& [nats, api, client] = setup;
    const uint64_t before = client.stream_message_count("TEST");
    std::vector<std::future<Posted>> replies;
    {
        const NatsServer::Frozen frozen = nats.freeze();
        replies = post_together(api, "hung", 6, true);
        // The six and this /metrics request. Before, two of the six held both threads, and the
        // rest (this request too) waited for them.
        CHECK(eventually(
            [&] {
                return metric_line(api.get("/metrics").body, "nomnom_api_requests_in_flight 7");
            },
            20s));
        CHECK(api.get("/health").status == 200);
        for (auto& reply : replies) CHECK(reply.wait_for(0s) == std::future_status::timeout);
    }
    for (auto& reply : replies) {
        const HttpReply got = reply.get().reply;
        INFO(got.body);
        CHECK(got.status == 202);
    }
    CHECK(client.stream_message_count("TEST") == before + 6);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE(
    "messages whose PubAck never comes get 503 after publish_timeout_ms, those waiting without "
    "a thread too",
    "[api][faults]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;
    const NatsServer::Frozen frozen = nats.freeze();
    // One publishes into the empty window and waits on its thread; the others find it taken,
    // and their answers wait for cnats' timeout of their PubAck.
    for (auto& future : post_together(api, "lost", 4)) {
        const auto [reply, waited] = future.get();
        INFO(reply.body);
        CHECK(reply.status == 503);
        CHECK(reply.headers.at("Retry-After") == "2");
        CHECK(reply.body.find("JetStream publish to messages.ingest.default failed: Timeout") !=
              std::string::npos);
        CHECK(waited >= 1900ms);
        CHECK(waited < 8s);
    }
}

TEST_CASE(
    "a request that waited for room in the PubAck window is still answered within "
    "publish_timeout_ms of its start, its publish awaited on its thread or later",
    "[api][faults]") {
    // With one slot, the last request finds the window empty once it gets room, and publishes
    // synchronously; with two, another publish is still pending then, and its answer is left
    // for later.
    const int slots = GENERATE(1, 2);
    CAPTURE(slots);
    ApiOnNats setup("max_pending_acks = " + std::to_string(slots), "", {}, "max_threads = 4");
    auto& [nats, api, client] = setup;
    const NatsServer::Frozen frozen = nats.freeze();
    // Each takes a slot until its PubAck times out, 2 s on, the first (alone) synchronously.
    // The offsets are the scenario: 0.5 s apart, the slots free one at a time.
    std::vector<std::future<Posted>> held;
    for (int i = 1; i <= slots; ++i) {
        if (i > 1) std::this_thread::sleep_for(500ms);
        held.push_back(std::move(post_together(api, "held-" + std::to_string(i), 1)[0]));
        REQUIRE(eventually(
            [&] {
                return metric_line(api.get("/metrics").body,
                                   "nomnom_api_requests_in_flight " + std::to_string(i + 1));
            },
            20s));
    }
    std::this_thread::sleep_for(slots == 1 ? 1000ms : 500ms);
    // About 1 s after the first: it waits that long for room, then for its PubAck. Awaited from
    // its send on, that publish would be answered 3 s after the request.
    const auto [reply, waited] = post_together(api, "late", 1)[0].get();
    INFO(reply.body);
    CHECK(reply.status == 503);
    CHECK(reply.body.find("JetStream publish to messages.ingest.default failed: Timeout") !=
          std::string::npos);
    CHECK(waited >= 1900ms);
    CHECK(waited < 2500ms);
    for (auto& earlier : held) CHECK(earlier.get().reply.status == 503);
}

TEST_CASE("SIGTERM waits for the messages awaiting their PubAck: each is answered 202 and stored",
          "[api][faults]") {
    ApiOnNats setup("publish_timeout_ms = 30000");
    auto& [nats, api, client] = setup;
    const uint64_t before = client.stream_message_count("TEST");
    std::vector<std::future<Posted>> replies;
    {
        const NatsServer::Frozen frozen = nats.freeze();
        replies = post_together(api, "stopping", 3);
        REQUIRE(eventually(
            [&] {
                return metric_line(api.get("/metrics").body, "nomnom_api_requests_in_flight 4");
            },
            20s));
        api.process().signal(SIGTERM);
        CHECK(api.process().running());
    }
    for (auto& reply : replies) {
        const HttpReply got = reply.get().reply;
        INFO(got.body);
        CHECK(got.status == 202);
    }
    CHECK(api.process().wait_exit(20s) == 0);
    CHECK(client.stream_message_count("TEST") == before + 3);
}

TEST_CASE("a body trickled a byte at a time gets 408 once http.request_timeout_ms has passed",
          "[api][faults]") {
    ApiOnNats setup("", "", {}, "request_timeout_ms = 1000\n");
    auto& [nats, api, client] = setup;

    // Each byte arrives well within the socket timeout; the whole body would take 10 s.
    const Trickled slow = trickle_post(api.port(), 100, 100ms);
    INFO(slow.response);
    CHECK(slow.response.starts_with("HTTP/1.1 408"));
    CHECK(slow.response.find("Connection: Close") != std::string::npos);
    CHECK(slow.response.find("not received within http.request_timeout_ms") != std::string::npos);
    CHECK(slow.bytes_sent < 30);
    CHECK(slow.took < 4s);

    // A client that stops sending gets the same answer.
    const Trickled stalled = trickle_post(api.port(), 10, 5s);
    CHECK(stalled.response.starts_with("HTTP/1.1 408"));
    CHECK(stalled.took < 4s);

    // A client that gives up half-way: what arrived is not taken for the whole body.
    Poco::Net::StreamSocket gave_up(Poco::Net::SocketAddress("127.0.0.1", api.port()));
    const std::string half = "POST /ingest/message HTTP/1.1\r\nContent-Length: 10\r\n\r\n[1] ";
    gave_up.sendBytes(half.data(), static_cast<int>(half.size()));
    gave_up.shutdownSend();
    gave_up.setReceiveTimeout(Poco::Timespan(10, 0));
    char answer[1024];
    const int got = gave_up.receiveBytes(answer, sizeof answer);
    CHECK(std::string(answer, static_cast<size_t>(std::max(got, 0)))
              .find("request body ended after 4 of its Content-Length 10 bytes") !=
          std::string::npos);

    // A body that arrives in time is accepted, however it is split.
    const Trickled quick = trickle_post(api.port(), 10, 20ms);
    CHECK(quick.response.starts_with("HTTP/1.1 202"));
    CHECK(client.stream_message_count("TEST") == 1);
    CHECK(metric_line(api.get("/metrics").body,
                      R"(nomnom_api_requests_total{route="/ingest/message",code="408"} 2)"));
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("/ready is 503 naming ingest.subject while the stream does not capture it",
          "[api][faults]") {
    ApiOnNats setup("subject = \"elsewhere.{entity}\"\n");
    auto& [nats, api, client] = setup;
    HttpReply reply = api.post("/ingest/message", "{}");
    CHECK(reply.status == 503);
    CHECK(reply.headers["Retry-After"] == "2");
    CHECK(reply.body.find("elsewhere.default") != std::string::npos);
    reply = api.get("/ready");
    CHECK(reply.status == 503);
    CHECK(reply.headers["Retry-After"] == "2");
    CHECK(json_field(reply.body, "error") ==
          "stream TEST (subjects: test.>, sensors.>, messages.ingest.>) does not capture "
          "ingest.subject elsewhere.{entity}: every publish would fail");

    // Some entities captured: ready, with a warning; all of them: ready.
    client.ensure_stream("TEST", {"test.>", "elsewhere.Order"});
    reply = api.get("/ready");
    CHECK(reply.status == 200);
    CHECK(json_field(reply.body, "warning") ==
          "stream TEST (subjects: test.>, elsewhere.Order) captures ingest.subject "
          "elsewhere.{entity} for some entities only: publishes for the others fail");
    CHECK(api.post("/ingest/message/Order", "{}").status == 202);
    CHECK(api.post("/ingest/message/Line", "{}").status == 503);
    client.ensure_stream("TEST", {"elsewhere.*"});
    reply = api.get("/ready");
    CHECK(reply.status == 200);
    CHECK_FALSE(parse_json(reply.body).HasMember("warning"));
    CHECK(api.post("/ingest/message/Line", "{}").status == 202);

    REQUIRE(js_DeleteStream(client.js(), "TEST", nullptr, nullptr) == NATS_OK);
    reply = api.get("/ready");
    CHECK(reply.status == 503);
    CHECK(json_field(reply.body, "error") == "stream TEST does not exist");
    REQUIRE(api.terminate() == 0);
}
