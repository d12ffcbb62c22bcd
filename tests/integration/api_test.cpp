// nomnom-api against a real nats-server (and, end to end, a real nomnom-host and PostgreSQL):
// every route and error code, idempotency, outages, auth and status tracking.

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include "api_harness.hpp"
#include "host_harness.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

TEST_CASE("nomnom-api publishes the original envelope and answers 202 after the PubAck", "[api]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;

    const HttpReply plain = api.post("/ingest/message", R"({"a":1})");
    CHECK(plain.status == 202);
    const std::string id = json_field(plain.body, "message_id");
    CHECK(json_field(plain.body, "status") == "accepted");
    CHECK_FALSE(json_field(plain.body, "timestamp").empty());
    StoredMessage stored = last_message(client, "messages.ingest.default");
    CHECK(stored.headers["Nats-Msg-Id"] == id);
    CHECK(stored.headers["Nomnom-Ingest-Id"] == id);
    const rapidjson::Document envelope = parse_json(stored.data);
    CHECK(std::string(envelope["message_id"].GetString()) == id);
    CHECK(std::string(envelope["body"].GetString()) == R"({"a":1})");
    // No entity given: the original's null, on the default entity's subject.
    CHECK(envelope["entity_type"].IsNull());
    CHECK_FALSE(stored.headers.contains("Nomnom-Entity-Type"));
    CHECK(stored.headers["Nomnom-Received-At"] == json_field(plain.body, "timestamp"));
    CHECK(std::string(envelope["received_at"].GetString()) == json_field(plain.body, "timestamp"));
    CHECK(envelope["retry_count"].GetInt() == 0);
    CHECK(envelope["source"].IsNull());

    CHECK(api.post("/ingest/message", R"({"entity_type":"Order","x":2})").status == 202);
    stored = last_message(client, "messages.ingest.Order");
    CHECK(parse_json(stored.data)["body"].GetString() ==
          std::string(R"({"entity_type":"Order","x":2})"));
    CHECK(parse_json(stored.data)["entity_type"].GetString() == std::string("Order"));
    CHECK(stored.headers["Nomnom-Entity-Type"] == "Order");
    CHECK(api.post("/ingest/message/Line_item", "[1,2]").status == 202);
    stored = last_message(client, "messages.ingest.Line_item");
    CHECK(stored.data.find(R"("body":"[1,2]","entity_type":"Line_item")") != std::string::npos);
    CHECK(api.post("/ingest/message", R"({"entity_type":""})").status == 400);
    CHECK(client.stream_message_count("TEST") == 3);

    // "accepted" is written without waiting, right after the PubAck.
    HttpReply status;
    CHECK(eventually(
        [&] {
            status = api.get("/ingest/status/" + id);
            return status.status == 200;
        },
        5s));
    CHECK(json_field(status.body, "status") == "accepted");
    CHECK(json_field(status.body, "message_id") == id);
    CHECK(json_field(status.body, "subject") == "messages.ingest.default");
    CHECK(parse_json(status.body)["entity_type"].IsNull());
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("raw format: the body as sent, its metadata in headers", "[api]") {
    ApiOnNats setup("format = \"raw\"\n");
    auto& [nats, api, client] = setup;

    const std::string body = R"({"k":"v",  "n":[1, 2]})";
    const HttpReply reply = api.post("/ingest/message/Order", body, {{"Idempotency-Key", "raw-1"}});
    REQUIRE(reply.status == 202);
    StoredMessage stored = last_message(client, "messages.ingest.Order");
    CHECK(stored.data == body);
    CHECK(stored.headers["Content-Type"] == "application/json");
    CHECK(stored.headers["Nomnom-Entity-Type"] == "Order");
    CHECK(stored.headers["Nomnom-Ingest-Id"] == "raw-1");
    CHECK(stored.headers["Nats-Msg-Id"] == "raw-1");
    CHECK(stored.headers["Nomnom-Received-At"] == json_field(reply.body, "timestamp"));

    REQUIRE(api.post("/ingest/message", "[1]").status == 202);
    stored = last_message(client, "messages.ingest.default");
    CHECK(stored.data == "[1]");
    CHECK(stored.headers["Content-Type"] == "application/json");
    CHECK_FALSE(stored.headers.contains("Nomnom-Entity-Type"));
    CHECK(client.stream_message_count("TEST") == 2);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("a chunked body is read up to ingest.max_body_bytes: 413 over it", "[api]") {
    ApiOnNats setup("max_body_bytes = 1024\n");
    auto& [nats, api, client] = setup;
    const std::map<std::string, std::string> chunked{{"Transfer-Encoding", "chunked"}};

    const std::string error_body =
        "{\"error\":\"request body larger than ingest.max_body_bytes (1024 bytes)\"}";
    const std::string fits = "[" + std::string(1000, ' ') + "]";
    CHECK(api.post("/ingest/message", fits, chunked).status == 202);
    HttpReply reply = api.post("/ingest/message", "[" + std::string(4000, ' ') + "]", chunked);
    CHECK(reply.status == 413);
    CHECK(reply.body == error_body);
    CHECK(reply.headers["Connection"] == "Close");
    reply = api.post("/ingest/batch", std::string(1025, '\n'), chunked);
    CHECK(reply.status == 413);
    CHECK(client.stream_message_count("TEST") == 1);
    CHECK(metric_line(api.get("/metrics").body,
                      R"(nomnom_api_requests_total{route="/ingest/message",code="413"} 1)"));
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("a body nested 200 KB deep is a 400, and nomnom-api keeps serving", "[api][hostile]") {
    ApiOnNats setup("max_body_bytes = 1048576\n", "[status]\nenabled = false\n");
    auto& [nats, api, client] = setup;
    const std::string deep(200 * 1024, '[');
    HttpReply reply = api.post("/ingest/message/Order", deep);
    CHECK(reply.status == 400);
    CHECK(reply.body == R"({"error":"Invalid JSON: nested deeper than 256 levels"})");
    reply = api.post("/ingest/batch", "{}\n" + deep + "\n");
    CHECK(reply.status == 207);
    CHECK(reply.body.find("Line 2: Invalid JSON: nested deeper than 256 levels") !=
          std::string::npos);
    CHECK(api.post("/ingest/message/Order", R"({"a":1})").status == 202);
    CHECK(client.stream_message_count("TEST") == 2);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("a message over the NATS server's max_payload is a 413 naming the limit, not a 503",
          "[api][hostile]") {
    // ingest.max_body_bytes (2 MiB by default) is above nats-server's 1 MiB max_payload.
    ApiOnNats setup("", "[status]\nenabled = false\n");
    auto& [nats, api, client] = setup;
    const std::string big = R"({"pad":")" + std::string(1536 * 1024, 'x') + R"("})";
    HttpReply reply = api.post("/ingest/message/Order", big);
    CHECK(reply.status == 413);
    CHECK(reply.headers.count("Retry-After") == 0);
    CHECK(reply.body.find("max_payload of 1048576 bytes") != std::string::npos);
    CHECK(api.post("/ingest/message/Order", R"({"a":1})").status == 202);
    CHECK(client.stream_message_count("TEST") == 1);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("nomnom-api error codes: 400 413 404 405 and 501 name what is wrong", "[api]") {
    ApiOnNats setup("max_body_bytes = 1024\nmax_batch_lines = 5\n", "[status]\nenabled = false\n");
    auto& [nats, api, client] = setup;

    HttpReply reply = api.post("/ingest/message", R"({"a":1,)");
    CHECK(reply.status == 400);
    CHECK(reply.body ==
          R"({"error":"Invalid JSON: Missing a name for object member at byte offset 7"})");
    CHECK(api.post("/ingest/message", "").status == 400);
    reply = api.post("/ingest/message", "{\"note\":\"two\tcolumns\"}");
    CHECK(reply.status == 400);
    CHECK(reply.body == R"({"error":"Invalid JSON: unescaped control character 0x09 in a string )"
                        R"((JSON needs it written as \\t) at byte offset 12"})");
    reply = api.post("/ingest/message/a.b", "{}");
    CHECK(reply.status == 400);
    CHECK(reply.body.find("entity 'a.b' is not valid") != std::string::npos);
    reply = api.post("/ingest/message", R"({"entity_type":"x>"})");
    CHECK(reply.status == 400);
    reply = api.post("/ingest/message", "{}", {{"Idempotency-Key", "has space"}});
    CHECK(reply.status == 400);
    CHECK(reply.body.find("Idempotency-Key 'has space' is not valid") != std::string::npos);
    reply = api.post("/ingest/message", R"({"message_id":"a.b"})");
    CHECK(reply.status == 400);
    CHECK(reply.body.find("message_id field 'a.b' is not valid") != std::string::npos);

    reply = api.post("/ingest/message", "[" + std::string(2000, ' ') + "]");
    CHECK(reply.status == 413);
    CHECK(reply.body.find("ingest.max_body_bytes (1024 bytes)") != std::string::npos);
    reply = api.post("/ingest/batch", "{}\n{}\n{}\n{}\n{}\n{}\n");
    CHECK(reply.status == 413);
    CHECK(reply.body.find("the batch has 6 lines; ingest.max_batch_lines is 5") !=
          std::string::npos);
    CHECK(api.post("/ingest/batch", "\n  \n").status == 400);

    reply = api.get("/nope");
    CHECK(reply.status == 404);
    reply = api.get("/ingest/message");
    CHECK(reply.status == 405);
    CHECK(reply.headers["Allow"] == "POST");
    CHECK(api.post("/health", "").status == 405);
    // The unread body would be parsed as the next request: the connection is closed instead.
    reply = api.post("/health", "{}");
    CHECK(reply.status == 405);
    CHECK(reply.headers["Connection"] == "Close");
    reply = api.get("/ingest/status/abc");
    CHECK(reply.status == 501);
    CHECK(client.stream_message_count("TEST") == 0);

    CHECK(api.get("/health").status == 200);
    CHECK(api.get("/ready").status == 200);
    const std::string metrics = api.get("/metrics").body;
    INFO(metrics);
    CHECK(
        metric_line(metrics, R"(nomnom_api_requests_total{route="/ingest/message",code="400"} 6)"));
    CHECK(
        metric_line(metrics, R"(nomnom_api_requests_total{route="/ingest/message",code="413"} 1)"));
    CHECK(metric_line(metrics, R"(nomnom_api_requests_total{route="unmatched",code="404"} 1)"));
    CHECK(metric_line(metrics, "nomnom_api_nats_connected 1"));
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("POST /ingest/batch reports every line: 202 207 400", "[api]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;

    HttpReply reply = api.post("/ingest/batch", "{\"a\":1}\r\n\n{\"message_id\":\"m-2\"}\n");
    CHECK(reply.status == 202);
    rapidjson::Document body = parse_json(reply.body);
    CHECK(std::string(body["status"].GetString()) == "success");
    CHECK(body["inserted"].GetInt() == 2);
    CHECK(body["results"][1]["line"].GetInt() == 3);
    CHECK(std::string(body["results"][1]["message_id"].GetString()) == "m-2");

    reply = api.post("/ingest/batch", "{\"ok\":1}\nnot json\n{\"entity_type\":\"Order\"}\n");
    CHECK(reply.status == 207);
    body = parse_json(reply.body);
    CHECK(std::string(body["status"].GetString()) == "partial");
    CHECK(body["failed"].GetInt() == 1);
    CHECK(std::string(body["errors"][0].GetString()) ==
          "Line 2: Invalid JSON: Invalid value at byte offset 1");
    CHECK(std::string(body["results"][1]["error"].GetString()) ==
          "Invalid JSON: Invalid value at byte offset 1");
    // A line's own "entity_type" routes it, as on /ingest/message (a deliberate difference: the
    // original puts every batch line on messages.ingest.default with a null entity_type).
    CHECK(parse_json(last_message(client, "messages.ingest.Order").data)["entity_type"] == "Order");
    const StoredMessage plain = last_message(client, "messages.ingest.default");
    CHECK(parse_json(plain.data)["body"] == "{\"ok\":1}");
    CHECK(parse_json(plain.data)["entity_type"].IsNull());

    reply = api.post("/ingest/batch", "nope\n[\n");
    CHECK(reply.status == 400);
    CHECK(std::string(parse_json(reply.body)["status"].GetString()) == "failed");
    CHECK(client.stream_message_count("TEST") == 4);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("a retried POST with the same Idempotency-Key is stored once", "[api]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;

    const HttpReply first = api.post("/ingest/message", R"({"n":1})", {{"Idempotency-Key", "k-1"}});
    std::this_thread::sleep_for(20ms);
    const HttpReply again = api.post("/ingest/message", R"({"n":1})", {{"Idempotency-Key", "k-1"}});
    CHECK(first.status == 202);
    CHECK(again.status == 202);
    CHECK(json_field(first.body, "message_id") == "k-1");
    CHECK(json_field(again.body, "message_id") == "k-1");
    CHECK(parse_json(again.body)["duplicate"].GetBool());
    // The retry is answered with the time of the first acceptance.
    CHECK(json_field(again.body, "timestamp") == json_field(first.body, "timestamp"));
    CHECK(api.post("/ingest/message", R"({"message_id":"own-7"})").status == 202);
    CHECK(api.post("/ingest/message", R"({"message_id":"own-7"})").status == 202);
    const std::string batch = "{\"n\":1}\n{\"n\":2}\n";
    CHECK(api.post("/ingest/batch", batch, {{"Idempotency-Key", "b"}}).status == 202);
    const HttpReply batch_again = api.post("/ingest/batch", batch, {{"Idempotency-Key", "b"}});
    CHECK(parse_json(batch_again.body)["duplicates"].GetInt() == 2);
    CHECK(client.stream_message_count("TEST") == 4);
    CHECK(api.get("/metrics").body.find("nomnom_api_duplicates_total 4\n") != std::string::npos);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("bearer tokens guard /ingest with 401 and 403 and leave the probes open", "[api]") {
    ApiOnNats setup("", "[auth]\ntokens_env = \"TEST_API_TOKENS\"\n",
                    {{"TEST_API_TOKENS", "t-one,t-two"}});
    ApiHarness& api = setup.api;

    HttpReply reply = api.post("/ingest/message", "{}");
    CHECK(reply.status == 401);
    CHECK(reply.headers["WWW-Authenticate"] == "Bearer");
    CHECK(api.post("/ingest/message", "{}", {{"Authorization", "Bearer t-three"}}).status == 403);
    CHECK(api.get("/ingest/status/x", {{"Authorization", "Bearer nope"}}).status == 403);
    CHECK(api.post("/ingest/message", "{}", {{"Authorization", "Bearer t-two"}}).status == 202);
    CHECK(api.get("/health").status == 200);
    CHECK(api.get("/ready").status == 200);
    CHECK(api.get("/metrics").status == 200);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("nats-server down gives 503 with Retry-After and never 202 - then recovery",
          "[api][faults]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;
    CHECK(api.post("/ingest/message", R"({"before":1})").status == 202);

    nats.stop();
    HttpReply reply = api.post("/ingest/message", R"({"during":1})");
    CHECK(reply.status == 503);
    CHECK(reply.headers["Retry-After"] == "2");
    reply = api.post("/ingest/batch", "{\"a\":1}\n{\"b\":2}\n");
    CHECK(reply.status == 503);
    CHECK(parse_json(reply.body)["inserted"].GetInt() == 0);
    CHECK(api.get("/ready").status == 503);
    CHECK(api.get("/ingest/status/abc").status == 503);
    CHECK(api.get("/health").status == 200);

    nats.restart();
    REQUIRE(eventually([&] { return api.get("/ready").status == 200; }, 20s));
    CHECK(api.post("/ingest/message", R"({"after":1})").status == 202);
    CHECK(client.stream_message_count("TEST") == 2);
    const std::string metrics = api.get("/metrics").body;
    CHECK(metrics.find("nomnom_api_publish_failures_total 2\n") != std::string::npos);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("SIGTERM lets a request in flight finish and exits 0", "[api]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;
    // A request whose body arrives slowly is in flight when SIGTERM comes.
    Poco::Net::HTTPClientSession session("127.0.0.1", api.port());
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request("POST", "/ingest/message", Poco::Net::HTTPMessage::HTTP_1_1);
    request.setContentLength(10);
    std::ostream& out = session.sendRequest(request);
    out << "{\"slow\"" << std::flush;
    REQUIRE(eventually(
        [&] { return api.get("/metrics").body.find("in_flight 2\n") != std::string::npos; }, 5s));
    api.process().signal(SIGTERM);
    std::this_thread::sleep_for(300ms);
    out << ":1}" << std::flush;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::string body(std::istreambuf_iterator<char>(in), {});
    CHECK(response.getStatus() == 202);
    CHECK(body.find("accepted") != std::string::npos);
    CHECK(api.process().wait_exit(10s) == 0);
}

TEST_CASE("nomnom-api serves its OpenAPI document without a token", "[api][openapi]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;
    const HttpReply reply = api.get("/api-docs/openapi.json");
    CHECK(reply.status == 200);
    CHECK(reply.body.find(R"("openapi": "3.0.3")") != std::string::npos);
    CHECK(reply.body.find(R"("/ingest/message/{entity}")") != std::string::npos);
    CHECK(api.post("/api-docs/openapi.json", "{}").status == 405);
}
