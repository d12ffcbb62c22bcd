// nomnom-api's connections: keep-alive clients, silent sockets and pipelined requests, with
// fewer request threads than connections.

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api_harness.hpp"
#include "host_harness.hpp"
#include "support/eventually.hpp"
#include "support/kept_connection.hpp"

using namespace nomnom::testing;

namespace {

KeptAnswer post(KeptConnection& connection, const std::string& body) {
    return connection.request("POST", "/ingest/message/kept", body);
}

std::string scrape(KeptConnection& connection) {
    return connection.request("GET", "/metrics").body;
}

}  // namespace

TEST_CASE(
    "idle keep-alive connections and silent sockets beyond http.max_threads hold up no "
    "other client",
    "[api][hostile]") {
    ApiOnNats setup("", "", {}, "max_threads = 2\nkeep_alive_timeout_ms = 120000\n");
    const uint16_t port = setup.api.port();
    std::vector<std::unique_ptr<KeptConnection>> kept;
    for (int i = 0; i < 8; ++i) {
        kept.push_back(std::make_unique<KeptConnection>(port));
        REQUIRE(post(*kept.back(), R"({"n":)" + std::to_string(i) + "}").status == 202);
    }
    // Connected, and never a byte: Poco's HTTPServer gave each a thread until the timeout.
    std::vector<std::unique_ptr<KeptConnection>> silent;
    for (int i = 0; i < 8; ++i) silent.push_back(std::make_unique<KeptConnection>(port));

    KeptConnection late(port);
    CHECK(post(late, R"({"n":"late"})").status == 202);
    // 8 kept, 8 silent, the late one and the scrape's own.
    CHECK(metric_value(setup.api.get("/metrics").body, "nomnom_api_http_connections") >= 18);
    // The idle ones were kept open, and are served again.
    for (auto& connection : kept) CHECK(post(*connection, R"({"n":"again"})").status == 202);
}

TEST_CASE("an idle connection is closed after http.keep_alive_timeout_ms, a silent one too",
          "[api]") {
    ApiOnNats setup("", "", {}, "keep_alive_timeout_ms = 300\n");
    KeptConnection used(setup.api.port());
    // Before the request: the server starts the idle clock only after answering it.
    const auto idle_since = std::chrono::steady_clock::now();
    REQUIRE(post(used, R"({"n":1})").status == 202);
    KeptConnection silent(setup.api.port());
    CHECK(used.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - idle_since >= std::chrono::milliseconds(300));
    CHECK(silent.closed_by_server());
}

TEST_CASE("at http.max_connections a new connection takes the longest idle one's place", "[api]") {
    ApiOnNats setup("", "", {},
                    "max_threads = 2\nmax_connections = 3\nkeep_alive_timeout_ms = 120000\n");
    const uint16_t port = setup.api.port();
    // Accepted in this order.
    KeptConnection first(port), second(port), third(port);
    REQUIRE(post(first, R"({"n":1})").status == 202);
    REQUIRE(post(second, R"({"n":2})").status == 202);
    // A connection is listed as idle again only after its answer is written, and its client may
    // be quicker than that: on the third (busy while it scrapes), wait until the first two are
    // listed, so that nothing done on a connection from now on comes before the second's turn.
    CHECK(eventually(
        [&] { return metric_value(scrape(third), "nomnom_api_http_idle_connections") == 2; },
        std::chrono::seconds(10)));
    REQUIRE(post(third, R"({"n":3})").status == 202);
    // Used again: now the second is the longest idle, though the first was accepted before it.
    REQUIRE(post(first, R"({"n":4})").status == 202);

    KeptConnection fourth(port);
    CHECK(post(fourth, R"({"n":5})").status == 202);
    CHECK(second.closed_by_server());
    CHECK(post(first, R"({"n":6})").status == 202);
    CHECK(post(third, R"({"n":7})").status == 202);
}

TEST_CASE("requests pipelined in one write are all answered, in order", "[api]") {
    ApiOnNats setup;
    KeptConnection connection(setup.api.port());
    connection.send(KeptConnection::request_bytes("POST", "/ingest/message/kept",
                                                  R"({"message_id":"piped-1"})") +
                    KeptConnection::request_bytes("POST", "/ingest/message/kept",
                                                  R"({"message_id":"piped-2"})") +
                    KeptConnection::request_bytes("GET", "/health"));
    const KeptAnswer first = connection.read_answer();
    const KeptAnswer second = connection.read_answer();
    const KeptAnswer third = connection.read_answer();
    CHECK(first.status == 202);
    CHECK(json_field(first.body, "message_id") == "piped-1");
    CHECK(second.status == 202);
    CHECK(json_field(second.body, "message_id") == "piped-2");
    CHECK(third.status == 200);
    CHECK(json_field(third.body, "status") == "healthy");
}

TEST_CASE("SIGTERM closes idle keep-alive connections at once and exits 0", "[api]") {
    ApiOnNats setup("", "", {}, "keep_alive_timeout_ms = 120000\n");
    KeptConnection idle(setup.api.port());
    REQUIRE(post(idle, R"({"n":1})").status == 202);
    CHECK(setup.api.terminate(std::chrono::seconds(20)) == 0);
    CHECK(idle.closed_by_server());
}

TEST_CASE(
    "request headers trickled a byte at a time get 408 once http.request_timeout_ms has "
    "passed",
    "[api][hostile]") {
    ApiOnNats setup("", "", {}, "max_threads = 1\nrequest_timeout_ms = 1000\n");
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", setup.api.port()));
    const std::string head = "POST /ingest/message HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    socket.sendBytes(head.data(), static_cast<int>(head.size()));
    // Each byte well within the socket's timeout: only a deadline for the whole head ends it.
    const std::string trickled = "X-Slow: " + std::string(400, 'a');
    const auto started = std::chrono::steady_clock::now();
    size_t sent = 0;
    while (sent < trickled.size() &&
           !socket.poll(Poco::Timespan(0, 100000), Poco::Net::Socket::SELECT_READ)) {
        socket.sendBytes(&trickled[sent++], 1);
    }
    socket.setReceiveTimeout(Poco::Timespan(10, 0));
    char answer[512];
    const int got = socket.receiveBytes(answer, sizeof answer);
    const auto took = std::chrono::steady_clock::now() - started;
    REQUIRE(got > 0);
    const std::string reply(answer, static_cast<size_t>(got));
    INFO(reply);
    CHECK(reply.starts_with("HTTP/1.1 408"));
    CHECK(sent < trickled.size());
    CHECK(took >= std::chrono::milliseconds(900));
    // Its one request thread is free again.
    KeptConnection next(setup.api.port());
    CHECK(post(next, R"({"n":1})").status == 202);
}
