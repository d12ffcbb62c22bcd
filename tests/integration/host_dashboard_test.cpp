// The dashboard's JSON API (host/src/dashboard/README.md) against a running host: what the
// overview counts, the dead-letter list, payloads behind the admin token, replay after a fix,
// purge behind a confirmation, and the refusals that protect the actions. The page itself is
// driven in a real browser by tests/browser/.

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <Poco/Base64Decoder.h>

#include <sstream>

#include "host_harness.hpp"
#include "support/http_client.hpp"
#include "support/nats_server.hpp"

using namespace nomnom::testing;

namespace {

constexpr const char* kToken = "dashboard-test-token-0123";

rapidjson::Document json_of(const HttpReply& reply) {
    rapidjson::Document document;
    document.Parse(reply.body.c_str());
    if (document.HasParseError()) FAIL("not JSON (" << reply.status << "): " << reply.body);
    return document;
}

const std::map<std::string, std::string> kBearer = {
    {"Authorization", std::string("Bearer ") + kToken}};
const std::map<std::string, std::string> kCsrf = {{"X-Nomnom-Csrf", "1"}};

std::map<std::string, std::string> with(std::map<std::string, std::string> headers,
                                        const std::map<std::string, std::string>& more) {
    headers.insert(more.begin(), more.end());
    return headers;
}

// The plugin's entry of the overview; a Null value when it is not listed.
rapidjson::Value plugin_entry(rapidjson::Document& overview, const std::string& name) {
    for (auto& plugin : overview["plugins"].GetArray()) {
        if (plugin["name"].GetString() == name)
            return rapidjson::Value(plugin, overview.GetAllocator());
    }
    return rapidjson::Value();
}

std::string decode_base64(const std::string& text) {
    std::istringstream in(text);
    Poco::Base64Decoder decoder(in);
    return std::string(std::istreambuf_iterator<char>(decoder), {});
}

std::vector<uint64_t> listed_seqs(HostHarness& host, const std::string& query) {
    const rapidjson::Document page =
        json_of(http_request(host.port(), "GET", "/api/dead-letters" + query));
    std::vector<uint64_t> seqs;
    for (const auto& letter : page["letters"].GetArray()) seqs.push_back(letter["seq"].GetUint64());
    return seqs;
}

}  // namespace

TEST_CASE(
    "the dashboard counts, lists dead letters, shows payloads to the admin, replays and purges",
    "[dashboard][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "dashboard.db";
    // test_config() ends in [http].
    const std::string base = test_config(nats.url(), "sqlite:" + database.string(),
                                         std::string("admin_token = \"") + kToken + "\"\n");
    host.write_config(base);
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    for (const std::string& message : kv_messages(5)) client.publish("test.kv.ok", message);
    client.publish("test.kv.bad", R"({"k":"bad-1","v":1,"action":"invalid"})");
    client.publish("test.kv.bad", R"({"k":"<script>alert(1)</script>","v":2,"action":"invalid"})");
    const std::string not_utf8 = "{\"k\":\"\xff\xfe\",\"v\":3}";
    client.publish("test.kv.bad", not_utf8);

    // The overview follows the counters without anyone asking for them to be sampled.
    std::string last_overview;
    const bool counted = eventually(
        [&] {
            const HttpReply reply = http_request(host.port(), "GET", "/api/overview");
            last_overview = reply.body;
            rapidjson::Document overview = json_of(reply);
            const rapidjson::Value plugin = plugin_entry(overview, "test_kv");
            if (plugin.IsNull() || plugin["persisted"].GetInt64() != 5 ||
                plugin["dead_lettered"].GetInt64() != 3) {
                return false;
            }
            bool moved = false;
            for (const auto& point : plugin["rate"].GetArray()) {
                moved = moved || point["per_s"].GetDouble() > 0;
            }
            return moved && plugin["rows_by_table"]["kv"].GetInt64() == 5 &&
                   plugin["version"].GetString() == std::string("1.0.0") &&
                   plugin["state"].GetString() == std::string("running") &&
                   plugin["last_error"].IsObject() && overview["nats"]["connected"].GetBool() &&
                   overview["database"]["reachable"].GetBool() &&
                   overview["dead_letters"]["total"].GetUint64() == 3 &&
                   overview["admin"]["enabled"].GetBool() &&
                   !overview["admin"]["signed_in"].GetBool();
        },
        30s);
    if (!counted) FAIL("the last overview: " << last_overview);

    // Newest first, two a page, the cursor going on to the older ones.
    rapidjson::Document page =
        json_of(http_request(host.port(), "GET", "/api/dead-letters?limit=2"));
    REQUIRE(page["letters"].Size() == 2);
    CHECK(page["letters"][0]["seq"].GetUint64() == 3);
    CHECK(page["letters"][1]["seq"].GetUint64() == 2);
    CHECK(page["letters"][1]["class"].GetString() == std::string("invalid"));
    CHECK(page["letters"][1]["reason"].GetString() == std::string("action=invalid requested"));
    CHECK(page["letters"][1]["subject"].GetString() == std::string("test.kv.bad"));
    CHECK(page["total"].GetUint64() == 3);
    REQUIRE(page["next_before"].IsUint64());
    CHECK(listed_seqs(host, "?limit=2&before=" + std::to_string(page["next_before"].GetUint64())) ==
          std::vector<uint64_t>{1});
    CHECK(listed_seqs(host, "?plugin=other").empty());
    CHECK(listed_seqs(host, "?class=crashed").empty());
    CHECK(listed_seqs(host, "?class=invalid&since=1h").size() == 3);
    HttpReply reply = http_request(host.port(), "GET", "/api/dead-letters?class=bogus");
    CHECK(reply.status == 400);
    CHECK(reply.body.find("class 'bogus'") != std::string::npos);
    CHECK(http_request(host.port(), "GET", "/api/dead-letters?limit=many").status == 400);
    CHECK(http_request(host.port(), "GET", "/api/dead-letters?limit=0").status == 400);
    // A bare number is no age: read as text it would have matched every letter.
    reply = http_request(host.port(), "GET", "/api/dead-letters?since=1");
    CHECK(reply.status == 400);
    CHECK(reply.body.find("neither an age") != std::string::npos);
    CHECK(http_request(host.port(), "GET", "/api/dead-letters/99").status == 404);
    CHECK(http_request(host.port(), "GET", "/api/dead-letters/0").status == 404);
    CHECK(http_request(host.port(), "GET", "/api/dead-letters/replay").status == 405);
    CHECK(http_request(host.port(), "DELETE", "/api/dead-letters/1").status == 405);
    // Another site's name resolved to this address (DNS rebinding) reads nothing.
    reply = http_request(host.port(), "GET", "/api/overview", "", {{"Host", "attacker.example"}});
    CHECK(reply.status == 403);
    CHECK(reply.body.find("http.allowed_hosts") != std::string::npos);

    // Payloads are the admin's: without the token only the metadata.
    reply = http_request(host.port(), "GET", "/api/dead-letters/2");
    CHECK(reply.status == 200);
    CHECK(reply.body.find("payload_hidden") != std::string::npos);
    CHECK(reply.body.find("alert(1)") == std::string::npos);
    rapidjson::Document detail =
        json_of(http_request(host.port(), "GET", "/api/dead-letters/2", "", kBearer));
    CHECK(detail["payload"].GetString() ==
          std::string(R"({"k":"<script>alert(1)</script>","v":2,"action":"invalid"})"));
    CHECK(detail["payload_encoding"].GetString() == std::string("utf-8"));
    CHECK(detail["headers"].Size() > 5);
    detail = json_of(http_request(host.port(), "GET", "/api/dead-letters/3", "", kBearer));
    CHECK(detail["payload_encoding"].GetString() == std::string("base64"));
    CHECK(decode_base64(detail["payload"].GetString()) == not_utf8);

    // Actions: refused without the token, without the header only this dashboard's page sends,
    // and from another origin.
    const std::string all_invalid = R"({"filter":{"class":"invalid"}})";
    reply = http_request(host.port(), "POST", "/api/dead-letters/replay", all_invalid, kCsrf);
    CHECK(reply.status == 401);
    reply = http_request(host.port(), "POST", "/api/dead-letters/replay", all_invalid,
                         {{"Authorization", "Bearer wrong-token-wrong-token"}});
    CHECK(reply.status == 401);
    reply = http_request(host.port(), "POST", "/api/login", R"({"token":"wrong"})", kCsrf);
    CHECK(reply.status == 401);
    reply = http_request(host.port(), "POST", "/api/login",
                         std::string(R"({"token":")") + kToken + "\"}");
    CHECK(reply.status == 403);
    reply = http_request(host.port(), "POST", "/api/login",
                         std::string(R"({"token":")") + kToken + "\"}", kCsrf);
    REQUIRE(reply.status == 200);
    const std::string set_cookie = reply.headers["Set-Cookie"];
    CHECK(set_cookie.find("HttpOnly") != std::string::npos);
    CHECK(set_cookie.find("SameSite=Strict") != std::string::npos);
    CHECK(set_cookie.find(kToken) == std::string::npos);
    const std::map<std::string, std::string> cookie = {
        {"Cookie", set_cookie.substr(0, set_cookie.find(';'))}};
    reply = http_request(host.port(), "POST", "/api/dead-letters/replay", all_invalid, cookie);
    CHECK(reply.status == 403);
    CHECK(reply.body.find("X-Nomnom-Csrf") != std::string::npos);
    reply = http_request(host.port(), "POST", "/api/dead-letters/replay", all_invalid,
                         with(with(cookie, kCsrf), {{"Origin", "http://evil.example"}}));
    CHECK(reply.status == 403);
    CHECK(reply.body.find("evil.example") != std::string::npos);
    CHECK(sqlite_int64(database, "SELECT count(*) FROM kv") == 5);
    CHECK(
        json_of(http_request(host.port(), "GET", "/api/overview", "", cookie))["admin"]["signed_in"]
            .GetBool());

    // The fix: the plugin accepts what it refused; reloaded from the dashboard.
    host.write_config(base + "[plugins.test_kv.config]\naccept_invalid = true\n");
    reply = http_request(host.port(), "POST", "/api/reload", "", with(cookie, kCsrf));
    CHECK(reply.status == 202);
    REQUIRE(host.wait_log("reload 1 succeeded", 30s));
    reply = http_request(host.port(), "POST", "/api/dead-letters/replay", all_invalid,
                         with(cookie, kCsrf));
    REQUIRE(reply.status == 200);
    rapidjson::Document outcome = json_of(reply);
    CHECK(outcome["replayed"].Size() == 3);
    CHECK(outcome["failed"].Size() == 0);
    REQUIRE(eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 5 + 2; },
                       30s));
    // What is still wrong (not UTF-8) comes back once more, its replay counted.
    REQUIRE(eventually([&] { return listed_seqs(host, "").size() == 1; }, 30s));
    const uint64_t again = listed_seqs(host, "").front();
    detail = json_of(http_request(host.port(), "GET", "/api/dead-letters/" + std::to_string(again),
                                  "", kBearer));
    CHECK(detail["replays"].GetUint64() == 1);
    reply = http_request(host.port(), "POST", "/api/dead-letters/replay",
                         "{\"seqs\":[" + std::to_string(again) + ",1]}", kBearer);
    outcome = json_of(reply);
    CHECK(outcome["failed"].Size() == 1);  // 1 was replayed already
    CHECK(std::string(outcome["failed"][0]["error"].GetString()).find("no such dead letter") !=
          std::string::npos);

    // Purge asks for a confirmation.
    REQUIRE(eventually([&] { return listed_seqs(host, "").size() == 1; }, 30s));
    reply = http_request(host.port(), "POST", "/api/dead-letters/purge",
                         R"({"filter":{"plugin":"test_kv"}})", kBearer);
    CHECK(reply.status == 409);
    CHECK(reply.body.find("would delete 1 dead letter(s)") != std::string::npos);
    CHECK(json_of(reply)["would_delete"].GetUint64() == 1);
    reply = http_request(host.port(), "POST", "/api/dead-letters/purge",
                         R"({"filter":{"plugin":"test_kv"},"confirm":true})", kBearer);
    CHECK(reply.status == 200);
    CHECK(json_of(reply)["deleted"].GetUint64() == 1);
    CHECK(listed_seqs(host, "").empty());

    // Signed out, the cookie no longer works.
    CHECK(http_request(host.port(), "POST", "/api/logout", "", with(cookie, kCsrf)).status == 200);
    CHECK(!json_of(
               http_request(host.port(), "GET", "/api/overview", "", cookie))["admin"]["signed_in"]
               .GetBool());

    // A body nested a million deep is refused unparsed (RapidJSON would overflow its stack).
    reply = http_request(host.port(), "POST", "/api/login",
                         "{\"token\":" + std::string(1'000'000, '['), kCsrf);
    CHECK(reply.status == 400);
    CHECK(reply.body.find("nests deeper than") != std::string::npos);
    // Guessing the token as a Bearer counts like guessing it at the sign-in (two wrong tokens
    // above): ten a minute.
    for (int i = 0; i < 8; ++i) {
        CHECK(http_request(host.port(), "POST", "/api/reload", "",
                           {{"Authorization", "Bearer guess-guess-guess-guess"}})
                  .status == 401);
    }
    CHECK(http_request(host.port(), "POST", "/api/reload", "", kBearer).status == 429);
    CHECK(host.log_contains("a wrong admin token (Authorization: Bearer) from 127.0.0.1"));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("without http.admin_token the dashboard shows no payload and takes no action",
          "[dashboard][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "off.db").string()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    client.publish("test.kv.bad", R"({"k":"secret","v":1,"action":"invalid"})");
    REQUIRE(eventually([&] { return listed_seqs(host, "").size() == 1; }, 30s));
    const HttpReply detail = http_request(host.port(), "GET", "/api/dead-letters/1", "",
                                          {{"Authorization", "Bearer anything-at-all-here"}});
    CHECK(detail.body.find("secret") == std::string::npos);
    CHECK(detail.body.find("payload_hidden") != std::string::npos);
    for (const char* action :
         {"/api/dead-letters/replay", "/api/dead-letters/purge", "/api/reload"}) {
        const HttpReply reply = http_request(host.port(), "POST", action, R"({"seqs":[1]})",
                                             {{"Authorization", "Bearer anything-at-all-here"}});
        CHECK(reply.status == 403);
        CHECK(reply.body.find("admin actions are off: set http.admin_token") != std::string::npos);
    }
    CHECK(http_request(host.port(), "POST", "/api/login", R"({"token":"x"})", kCsrf).status == 403);
    // The page is there, with a policy that runs no inline script.
    const HttpReply page = http_request(host.port(), "GET", "/");
    CHECK(page.status == 200);
    CHECK(page.headers.at("Content-Security-Policy").find("script-src 'self'") !=
          std::string::npos);
    CHECK(http_request(host.port(), "GET", "/app.js").status == 200);
    CHECK(listed_seqs(host, "").size() == 1);
    REQUIRE(host.terminate() == 0);
}
