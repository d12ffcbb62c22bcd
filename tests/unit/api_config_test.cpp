#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <set>

#include "api_config.hpp"
#include "bearer_auth.hpp"
#include "jetstream_publisher.hpp"
#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/status_store.hpp"
#include "support/temp_dir.hpp"

using namespace nomnom::api;

namespace {

std::string error_of(const std::string& toml) {
    try {
        parse_api_config(toml, "/etc/nomnom/api.toml");
    } catch (const nomnom::ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("the annotated api.example.toml in docker/ is valid and holds the defaults",
          "[api][config]") {
    const ApiConfig config = load_api_config(NOMNOM_SOURCE_DIR "/docker/api.example.toml");
    const ApiConfig defaults = default_api_config();
    CHECK(config.http == defaults.http);
    CHECK(config.ingest.subject == "messages.ingest.{entity}");
    CHECK(config.ingest.format == PublishFormat::Envelope);
    CHECK(config.ingest.max_body_bytes == defaults.ingest.max_body_bytes);
    CHECK(config.ingest.max_pending_acks == defaults.ingest.max_pending_acks);
    CHECK(config.stream.name == "MESSAGES");
    CHECK(config.status.enabled);
    CHECK(config.status.bucket == "NOMNOM_STATUS");
    CHECK(config.status.record_accepted);
    CHECK(config.auth.tokens_file.empty());
}

TEST_CASE("api.toml errors name the line and the key", "[api][config]") {
    CHECK(error_of("[ingest]\nformat = \"xml\"\n") ==
          "/etc/nomnom/api.toml:2: ingest.format: 'xml' is not one of: envelope, raw");
    CHECK(error_of("[ingest]\nsubject = \"messages.>\"\n") ==
          "/etc/nomnom/api.toml:2: ingest.subject: 'messages.>' must contain {entity} and no "
          "wildcards or spaces");
    CHECK(error_of("[ingest]\ndefault_entity = \"a.b\"\n") ==
          "/etc/nomnom/api.toml:2: ingest.default_entity: 'a.b' is not an entity name (1-64 of "
          "A-Z a-z 0-9 _ -)");
    CHECK(error_of("[http]\nmax_threads = 0\n") ==
          "/etc/nomnom/api.toml:2: http.max_threads: value 0 is out of range [1, 1024]");
    CHECK(error_of("[http]\nkeep_alive_timeout_ms = 10\n") ==
          "/etc/nomnom/api.toml:2: http.keep_alive_timeout_ms: value 10 is out of range [100, "
          "3600000]");
    CHECK(error_of("[ingest]\nmax_pending_acks = 0\n") ==
          "/etc/nomnom/api.toml:2: ingest.max_pending_acks: value 0 is out of range [1, 1000000]");
    CHECK(error_of("[status]\nflush_ms = 5\n") ==
          "/etc/nomnom/api.toml:2: status.flush_ms: unknown key");
    CHECK(error_of("[nats]\nurll = \"x\"\n") == "/etc/nomnom/api.toml:2: nats.urll: unknown key");
}

TEST_CASE("NATS_URL and PORT override the file", "[api][config]") {
    ApiConfig config = parse_api_config("[http]\nlisten = \"127.0.0.1:8080\"\n", "/a.toml");
    ::setenv("NATS_URL", "nats://10.0.0.1:4222", 1);
    ::setenv("PORT", "9999", 1);
    apply_env_overrides(config);
    CHECK(config.nats.url == "nats://10.0.0.1:4222");
    CHECK(config.http.listen == "127.0.0.1:9999");
    ::setenv("PORT", "99x", 1);
    CHECK_THROWS_WITH(apply_env_overrides(config),
                      "environment variable PORT: '99x' is not a port number");
    ::unsetenv("NATS_URL");
    ::unsetenv("PORT");
}

TEST_CASE("bearer tokens from a file and the environment", "[api][auth]") {
    nomnom::testing::TempDir dir;
    const auto file = dir.path() / "tokens";
    std::ofstream(file) << "# operators\n\n  alpha  \nbeta\n";
    ::setenv("NOMNOM_TEST_TOKENS", "gamma, delta", 1);
    const BearerAuth auth(AuthSettings{file.string(), "NOMNOM_TEST_TOKENS"});
    CHECK(auth.enabled());
    CHECK(auth.check("Bearer alpha") == BearerAuth::Verdict::Allowed);
    CHECK(auth.check("Bearer delta") == BearerAuth::Verdict::Allowed);
    CHECK(auth.check("Bearer alph") == BearerAuth::Verdict::Refused);
    CHECK(auth.check("Basic YWxwaGE=") == BearerAuth::Verdict::Missing);
    CHECK(auth.check("") == BearerAuth::Verdict::Missing);
    CHECK_FALSE(BearerAuth(AuthSettings{}).enabled());
    ::unsetenv("NOMNOM_TEST_TOKENS");
    CHECK_THROWS_WITH(BearerAuth(AuthSettings{"", "NOMNOM_TEST_TOKENS"}),
                      "auth.tokens_env: environment variable NOMNOM_TEST_TOKENS is unset or holds "
                      "no tokens");
    CHECK_THROWS_WITH(BearerAuth(AuthSettings{(dir.path() / "none").string(), ""}),
                      "auth.tokens_file " + (dir.path() / "none").string() + ": cannot open");
}

TEST_CASE("the envelope is the original wire format with the body as a string", "[api][envelope]") {
    const std::string payload = "{\"k\":\"line\\nbreak \\\"q\\\"\",\"n\":[1,2]}";
    const std::string envelope = make_envelope(OutgoingMessage{
        "messages.ingest.Order", "id-1", "Order", "2026-01-01T00:00:00.000Z", payload});
    rapidjson::Document document;
    document.Parse(envelope.c_str());
    REQUIRE_FALSE(document.HasParseError());
    CHECK(std::string(document["message_id"].GetString()) == "id-1");
    CHECK(std::string(document["body"].GetString()) == payload);
    CHECK(std::string(document["entity_type"].GetString()) == "Order");
    CHECK(std::string(document["received_at"].GetString()) == "2026-01-01T00:00:00.000Z");
    CHECK(document["retry_count"].GetInt() == 0);
    CHECK(document["source"].IsNull());

    const std::string without = make_envelope(OutgoingMessage{
        "messages.ingest.default", "id-2", std::nullopt, "2026-01-01T00:00:00.000Z", "{}"});
    CHECK(without == R"({"message_id":"id-2","body":"{}","entity_type":null,)"
                     R"("received_at":"2026-01-01T00:00:00.000Z","retry_count":0,"source":null})");
}

TEST_CASE("message ids and entities are checked before they become keys and subjects",
          "[api][ids]") {
    CHECK(nomnom::valid_message_id("0b6c6a7e-3f6d-4c1e-9a55-1d2b3c4d5e6f"));
    CHECK(nomnom::valid_message_id("order_42=v2"));
    CHECK_FALSE(nomnom::valid_message_id(""));
    CHECK_FALSE(nomnom::valid_message_id("a.b"));
    CHECK_FALSE(nomnom::valid_message_id("a b"));
    CHECK_FALSE(nomnom::valid_message_id(std::string(129, 'a')));
    CHECK(nomnom::valid_entity("Order_line-2"));
    CHECK_FALSE(nomnom::valid_entity("a.b"));
    CHECK_FALSE(nomnom::valid_entity("*"));
    CHECK_FALSE(nomnom::valid_entity(""));
}

TEST_CASE("a message sent without an id gets a random version 4 UUID", "[api][ids]") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = nomnom::random_uuid();
        INFO(id);
        REQUIRE(id.size() == 36);
        for (size_t at : {8, 13, 18, 23}) CHECK(id[at] == '-');
        CHECK(id[14] == '4');
        CHECK(std::string("89ab").find(id[19]) != std::string::npos);
        CHECK(id.find_first_not_of("0123456789abcdef-") == std::string::npos);
        CHECK(nomnom::valid_message_id(id));
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}

TEST_CASE("[validate] is off by default and refuses a missing directory or no workers by key",
          "[api][config][validate]") {
    CHECK(parse_api_config("", "/etc/nomnom/api.toml").validate.plugins_dir.empty());
    const nomnom::testing::TempDir dir;
    const ApiConfig config =
        parse_api_config("[validate]\nplugins_dir = \"" + dir.path().string() + "\"\nworkers = 3\n",
                         "/etc/nomnom/api.toml");
    CHECK(config.validate.plugins_dir == dir.path());
    CHECK(config.validate.workers == 3);
    CHECK(config.validate.parse_timeout_ms == 5000);
    CHECK(error_of("[validate]\nplugins_dir = \"plugins\"\n") ==
          "/etc/nomnom/api.toml:2: validate.plugins_dir: '/etc/nomnom/plugins' is not a "
          "directory");
    CHECK(error_of("[validate]\nworkers = 0\n").find("validate.workers") != std::string::npos);
    // worker_config is read as nomnom-host reads it: its own errors, under this key.
    const std::string missing = error_of("[validate]\nworker_config = \"worker.toml\"\n");
    CHECK(missing.find("validate.worker_config") != std::string::npos);
    CHECK(missing.find("/etc/nomnom/worker.toml") != std::string::npos);
    const auto worker = dir.path() / "worker.toml";
    std::ofstream(worker) << "[plugins.kv]\nbatch_size = \"big\"\n";
    CHECK_THAT(error_of("[validate]\nworker_config = \"" + worker.string() + "\"\n"),
               Catch::Contains("validate.worker_config") &&
                   Catch::Contains("plugins.kv.batch_size: expected an integer"));
    CHECK(error_of("[validate]\nparse_timeout_ms = 0\n").find("validate.parse_timeout_ms") !=
          std::string::npos);
    CHECK(error_of("[validate]\nplugin_dir = \"x\"\n").find("validate.plugin_dir") !=
          std::string::npos);
}
