// GET /ingest/status/{message_id} against a real nats-server: the answers for unknown and
// malformed ids, and the rule that the API's "accepted" never replaces a later status.

#include <catch2/catch.hpp>

#include "api_harness.hpp"
#include "host_harness.hpp"
#include "nomnom/common/status_store.hpp"

using namespace nomnom::testing;

TEST_CASE("GET /ingest/status: 404 for an unknown id, 400 for one that cannot be an id",
          "[api][status]") {
    ApiOnNats setup;
    ApiHarness& api = setup.api;

    HttpReply reply = api.get("/ingest/status/never-accepted-1");
    CHECK(reply.status == 404);
    CHECK(reply.body ==
          R"({"message_id":"never-accepted-1","status":"unknown","error":"no status for this )"
          R"(message id: never accepted, or older than status.ttl_s"})");

    for (const std::string& id :
         std::vector<std::string>{"a.b", "a%20b", "%2A", std::string(129, 'x')}) {
        reply = api.get("/ingest/status/" + id);
        INFO(id);
        CHECK(reply.status == 400);
        CHECK(reply.body ==
              "{\"error\":\"'" + id + "' is not a message id (1-128 of A-Z a-z 0-9 _ - =)\"}");
    }
    CHECK(api.get("/ingest/status/" + std::string(128, 'x')).status == 404);
    REQUIRE(api.terminate() == 0);
}

TEST_CASE("the API's accepted never overwrites a status a host wrote first", "[api][status]") {
    ApiOnNats setup;
    auto& [nats, api, client] = setup;

    // A host recorded "persisted" before the API's "accepted" for the same id arrived (the
    // status writes race), or a client re-sent an id after the stream forgot it: either way
    // the publish is new to JetStream, not a duplicate it would drop.
    const std::string persisted =
        R"({"time":"2026-01-01T00:00:00.000Z","status":"persisted","plugin":"test_kv"})";
    client.publish(nomnom::status_subject("NOMNOM_STATUS", "early-1"), persisted);
    const HttpReply first =
        api.post("/ingest/message", R"({"n":1})", {{"Idempotency-Key", "early-1"}});
    REQUIRE(first.status == 202);
    CHECK_FALSE(parse_json(first.body).HasMember("duplicate"));

    // The API writes statuses in order on one connection: once the next id's "accepted" is
    // visible, the write for early-1 has been decided.
    REQUIRE(api.post("/ingest/message", R"({"n":2})", {{"Idempotency-Key", "later-2"}}).status ==
            202);
    REQUIRE(eventually([&] { return status_of(api, "later-2") == "accepted"; }, 5s));
    const HttpReply status = api.get("/ingest/status/early-1");
    CHECK(status.status == 200);
    CHECK(status.body == R"({"message_id":"early-1",)" + persisted.substr(1));
    CHECK(client.stream_message_count("TEST") == 2);
    REQUIRE(api.terminate() == 0);
}
