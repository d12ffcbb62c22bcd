// What the host writes to its log: JSON lines with the message's fields as separate fields, and
// never a secret from the configuration.

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <sstream>

#include "host_harness.hpp"
#include "support/free_port.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

namespace {

// Every line of `log` that is a JSON object (the harness adds "---- start N ----" lines).
std::vector<rapidjson::Document> json_lines(const std::string& log) {
    std::vector<rapidjson::Document> lines;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("----")) continue;
        rapidjson::Document document;
        document.Parse(line.c_str());
        INFO(line);
        REQUIRE_FALSE(document.HasParseError());
        REQUIRE(document.IsObject());
        lines.push_back(std::move(document));
    }
    return lines;
}

std::string text_field(const rapidjson::Document& line, const char* name) {
    const auto member = line.FindMember(name);
    return member != line.MemberEnd() && member->value.IsString() ? member->value.GetString() : "";
}

// The first line whose msg contains `needle`, or nullptr.
const rapidjson::Document* find_line(const std::vector<rapidjson::Document>& lines,
                                     const std::string& needle) {
    for (const auto& line : lines) {
        if (text_field(line, "msg").find(needle) != std::string::npos) return &line;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("JSON log lines carry plugin - subject - stream_seq and message_id as fields",
          "[logs][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "logs.db").string(),
                                  "[plugins.test_kv]\nmax_deliver = 3\nbackoff_ms = [100]\n"
                                  "[log]\nformat = \"json\"\n"));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    const uint64_t invalid_seq =
        client.publish("test.kv.bad", R"({"k":"a","v":1,"action":"invalid"})", "bad-\"1\"");
    const uint64_t retry_seq =
        client.publish("test.kv.slow", R"({"k":"b","v":2,"action":"retry_until","until":2})");
    REQUIRE(host.wait_log("dead-lettered (invalid)", 20s));
    REQUIRE(host.wait_log("retry in ", 20s));
    REQUIRE(host.terminate() == 0);

    const auto lines = json_lines(host.log());
    REQUIRE(lines.size() > 3);
    for (const auto& line : lines) {
        CHECK(line["ts_ms"].IsInt64());
        CHECK(line["level"].IsString());
        CHECK(line["msg"].IsString());
    }

    const auto* dead = find_line(lines, "dead-lettered (invalid) to nomnom.dlq.test_kv");
    REQUIRE(dead != nullptr);
    CHECK(text_field(*dead, "level") == "error");
    CHECK(text_field(*dead, "plugin") == "test_kv");
    CHECK(text_field(*dead, "subject") == "test.kv.bad");
    REQUIRE((*dead)["stream_seq"].IsUint64());
    CHECK((*dead)["stream_seq"].GetUint64() == invalid_seq);
    CHECK((*dead)["delivery"].GetUint64() == 1);
    CHECK(text_field(*dead, "message_id") == "bad-\"1\"");
    // The fields are not repeated inside the text.
    CHECK(text_field(*dead, "msg").find("plugin=") == std::string::npos);

    const auto* retry = find_line(lines, "retry in ");
    REQUIRE(retry != nullptr);
    CHECK(text_field(*retry, "plugin") == "test_kv");
    CHECK(text_field(*retry, "subject") == "test.kv.slow");
    CHECK((*retry)["stream_seq"].GetUint64() == retry_seq);
    CHECK(text_field(*retry, "message_id") == "TEST:" + std::to_string(retry_seq));

    // A line that is not about one message has no message fields.
    const auto* summary = find_line(lines, "startup summary");
    REQUIRE(summary != nullptr);
    CHECK_FALSE(summary->HasMember("plugin"));
    CHECK_FALSE(summary->HasMember("stream_seq"));
}

TEST_CASE("text log lines keep the bracketed message fields", "[logs][sqlite]") {
    NatsServer nats;
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), "sqlite:" + (host.dir() / "text.db").string()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    JetStreamClient client(nats.url());
    const uint64_t seq =
        client.publish("test.kv.bad", R"({"k":"a","v":1,"action":"invalid"})", "id-7");
    REQUIRE(host.wait_log("[plugin=test_kv subject=test.kv.bad seq=" + std::to_string(seq) +
                              " delivery=1 id=id-7] dead-lettered (invalid)",
                          20s));
    REQUIRE(host.terminate() == 0);
}

TEST_CASE("passwords and tokens from the config never reach the log or the CLI output",
          "[logs][secrets]") {
    const std::string pg_secret = "PgPass-4711-secret";
    const std::string nats_secret = "NatsPass-0815-secret";
    const std::string token_secret = "NatsToken-2342-secret";
    const std::string closed = std::to_string(free_tcp_port());

    SECTION("a PostgreSQL url with a password that fails to connect, text and JSON logs") {
        // libpq reads '?' and '#' inside the user info as part of the password.
        for (const auto& [format, pg_password] :
             {std::pair{"text", pg_secret}, std::pair{"json", std::string("PgPass?4711#secret")}}) {
            HostHarness host;
            host.add_test_plugin("test_kv");
            host.write_config(test_config(
                "nats://nomnom:" + nats_secret + "@127.0.0.1:" + closed,
                "postgresql://nomnom:" + pg_password + "@127.0.0.1:" + closed + "/nomnom",
                "[log]\nformat = \"" + std::string(format) + "\"\n"));
            host.start();
            REQUIRE(host.wait_log("(attempt 2,", 30s));
            REQUIRE(host.terminate() == 0);
            const std::string log = host.log();
            CHECK(log.find("nomnom:***@127.0.0.1:" + closed) != std::string::npos);
            CHECK(log.find(pg_password) == std::string::npos);
            CHECK(log.find(nats_secret) == std::string::npos);
        }
    }
    SECTION("NATS user:password and token urls and nats.password / nats.token that fail") {
        HostHarness host;
        host.add_test_plugin("test_kv");
        const std::string database = "sqlite:" + (host.dir() / "secret.db").string();
        host.write_config("[nats]\nurl = \"nats://nomnom:" + nats_secret + "@127.0.0.1:" + closed +
                          ",nats://" + token_secret + "@127.0.0.1:" + closed +
                          "\"\nuser = \"nomnom\"\npassword = \"${NOMNOM_TEST_NATS_PASSWORD}\"\n"
                          "[stream]\nname = \"TEST\"\nsubjects = [\"test.>\"]\n"
                          "[database]\nurl = \"" +
                          database + "\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
        host.start({{"NOMNOM_TEST_NATS_PASSWORD", pg_secret}});
        REQUIRE(host.wait_log("(attempt 2,", 30s));
        REQUIRE(host.terminate() == 0);
        const std::string log = host.log();
        CHECK(log.find("nats://nomnom:***@127.0.0.1:" + closed +
                       ",nats://***@127.0.0.1:" + closed) != std::string::npos);
        CHECK(log.find(pg_secret) == std::string::npos);
        CHECK(log.find(nats_secret) == std::string::npos);
        CHECK(log.find(token_secret) == std::string::npos);

        for (const std::vector<std::string>& command :
             {std::vector<std::string>{"--check-config"}, std::vector<std::string>{"dlq", "list"},
              std::vector<std::string>{"status"}}) {
            std::vector<std::string> args = command;
            args.insert(args.end(), {"--config", host.config_path().string()});
            const auto [code, output] =
                host.run_cli(args, {{"NOMNOM_TEST_NATS_PASSWORD", pg_secret}});
            INFO(output);
            CHECK(output.find("environment variable") == std::string::npos);
            CHECK(output.find(pg_secret) == std::string::npos);
            CHECK(output.find(nats_secret) == std::string::npos);
            CHECK(output.find(token_secret) == std::string::npos);
        }
    }
    SECTION("a database url the config refuses is shown masked") {
        HostHarness host;
        host.write_config("[database]\nurl = \"mysql://root:" + pg_secret +
                          "@127.0.0.1/x?sslmode=on\"\n");
        const auto [code, output] =
            host.run_cli({"--config", host.config_path().string(), "--check-config"});
        CHECK(code == 2);
        CHECK(output.find("mysql://root:***@127.0.0.1/x?sslmode=on: unknown parameter 'sslmode'") !=
              std::string::npos);
        CHECK(output.find(pg_secret) == std::string::npos);
    }
}

TEST_CASE("the database label of /metrics shows the PostgreSQL url with the password masked",
          "[logs][secrets][postgresql]") {
    const std::string secret = "PgPass-0042-secret";
    NatsServer nats;
    PgTestDb pg;
    // The test cluster trusts its clients: the password travels along and is not checked.
    const auto with_password = [&](const std::string& password) {
        std::string url = pg.url();
        return url.insert(url.find('@'), ":" + password);
    };
    HostHarness host;
    host.add_test_plugin("test_kv");
    host.write_config(test_config(nats.url(), with_password(secret)));
    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    const std::string metrics = host.http_get("/metrics").second;
    INFO(metrics);
    CHECK(metric_value(metrics, "nomnom_db_pool_connections{database=\"" + with_password("***") +
                                    "\"}") == 2);
    CHECK(metrics.find(secret) == std::string::npos);
    CHECK(host.http_get("/ready").second.find(secret) == std::string::npos);
    REQUIRE(host.terminate() == 0);
    CHECK(host.log().find(secret) == std::string::npos);
}

TEST_CASE("a plugin draining a backlog logs its rate - lag and ETA every interval",
          "[logs][progress][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    publish_backlog(client, "test.kv.backlog", kv_messages(20000));

    HostHarness host;
    host.add_test_plugin("test_kv");
    const auto database = host.dir() / "backlog.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.test_kv]\nbatch_size = 5\n"
                                  "[log]\nprogress_interval_s = 1\n"));
    host.start();
    REQUIRE(host.wait_log("[plugin=test_kv] progress: ", 30s));
    const std::string log = host.log();
    const size_t line = log.find("[plugin=test_kv] progress: ");
    const std::string progress = log.substr(line, log.find('\n', line) - line);
    INFO(progress);
    CHECK(progress.find(" msg/s over the last ") != std::string::npos);
    CHECK(progress.find(" pending, ") != std::string::npos);
    CHECK(progress.find(" in flight, ETA ") != std::string::npos);
    REQUIRE(host.wait_log("[plugin=test_kv] progress: backlog drained", 180s));
    // "Drained" means nothing is left undelivered; the last batch may still be committing.
    CHECK(eventually([&] { return sqlite_int64(database, "SELECT count(*) FROM kv") == 20000; },
                     30s));
    REQUIRE(host.terminate() == 0);
    // Nothing pending: no further progress lines.
    const std::string after = host.log().substr(host.log().find("backlog drained"));
    CHECK(after.find("progress: ") == std::string::npos);
}
