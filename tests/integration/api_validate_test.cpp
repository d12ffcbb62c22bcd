// nomnom-api's [validate]: the host's plugins run on each message before it is published, in
// validator processes that a crashing or hanging plugin cannot take the API down with.

#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>

#include "api_harness.hpp"
#include "host_harness.hpp"
#include "support/eventually.hpp"
#include "support/temp_dir.hpp"

using namespace nomnom::testing;

namespace {

const std::filesystem::path kTestPlugins(NOMNOM_TEST_PLUGINS_DIR);

// The processes `parent` started and has not reaped: nomnom-api's validators.
std::vector<pid_t> child_pids(pid_t parent) {
    std::vector<pid_t> children;
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(
             std::filesystem::path("/proc") / std::to_string(parent) / "task", error)) {
        std::ifstream listed(task.path() / "children");
        for (pid_t pid = 0; listed >> pid;) children.push_back(pid);
    }
    return children;
}

// Messages go to test.<entity>.in: test_kv consumes /ingest/message/kv, test_kv_persist kvp.
struct ValidatingApi {
    // `validate_extra` is appended to [validate].
    explicit ValidatingApi(const std::vector<std::string>& plugins, int64_t timeout_ms = 5000,
                           const std::string& validate_extra = "") {
        for (const std::string& plugin : plugins) add(plugin);
        api.write_config(api_test_config(
            nats.url(), "subject = \"test.{entity}.in\"",
            "[validate]\nplugins_dir = \"" + dir.path().string() +
                "\"\nparse_timeout_ms = " + std::to_string(timeout_ms) + "\n" + validate_extra));
        api.start();
    }
    void add(const std::string& plugin) {
        std::filesystem::copy_file(kTestPlugins / (plugin + ".so"), dir.path() / (plugin + ".so"));
    }
    HttpReply post(const std::string& entity, const std::string& body) {
        return api.post("/ingest/message/" + entity, body);
    }
    uint64_t stored() { return client.stream_message_count("TEST"); }
    // Waits for a validator to take `body` (one may be restarting) and returns its answer.
    HttpReply post_when_served(const std::string& entity, const std::string& body) {
        HttpReply reply;
        eventually(
            [&] {
                reply = post(entity, body);
                return reply.status != 503;
            },
            std::chrono::seconds(10));
        return reply;
    }

    TempDir dir{"nomnom-validate"};
    NatsServer nats;
    ApiHarness api;
    JetStreamClient client{nats.url()};
};

}  // namespace

TEST_CASE(
    "validate: an accepted message is published, a refused one is a 400 with the plugin's "
    "reason and never stored, a subject no plugin consumes is published",
    "[api][validate]") {
    ValidatingApi v({"test_kv"});
    HttpReply reply = v.post_when_served("kv", R"({"k":"a","v":1})");
    CHECK(reply.status == 202);
    CHECK(v.stored() == 1);
    CHECK(last_message(v.client, "test.kv.in").data.find(R"(\"k\":\"a\")") != std::string::npos);

    reply = v.post("kv", R"({"k":"b","v":2,"action":"invalid"})");
    CHECK(reply.status == 400);
    CHECK(json_field(reply.body, "error") == "plugin test_kv: action=invalid requested");
    // A row the host's checks refuse (v is an integer column): the same refusal as the host's.
    reply = v.post("kv", R"({"k":"c"})");
    CHECK(reply.status == 400);
    CHECK(json_field(reply.body, "error") ==
          "plugin test_kv: field 'v' is missing or not an integer");
    CHECK(v.stored() == 1);

    reply = v.post("other", R"({"anything":true})");
    CHECK(reply.status == 202);
    CHECK(v.stored() == 2);

    // A batch reports the refused line with the plugin's reason and publishes the others.
    reply = v.api.post("/ingest/batch",
                       "{\"entity_type\":\"kv\",\"k\":\"d\",\"v\":4}\n"
                       "{\"entity_type\":\"kv\",\"k\":\"e\",\"action\":\"invalid\"}\n");
    CHECK(reply.status == 207);
    CHECK(reply.body.find(R"("Line 2: plugin test_kv: action=invalid requested")") !=
          std::string::npos);
    CHECK(v.stored() == 3);

    const std::string metrics = v.api.get("/metrics").body;
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="ok"} 2)"));
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="invalid"} 3)"));
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="no_plugin"} 1)"));
    REQUIRE(v.api.terminate() == 0);
}

TEST_CASE(
    "validate: a plugin that crashes or hangs costs that request a 400, one that breaks the "
    "protocol a 503, the API serves on",
    "[api][validate][isolation]") {
    ValidatingApi v({"test_kv"}, 500);
    REQUIRE(v.post_when_served("kv", R"({"k":"a","v":1})").status == 202);

    HttpReply reply = v.post("kv", R"({"k":"b","v":2,"action":"segfault"})");
    CHECK(reply.status == 400);
    CHECK(json_field(reply.body, "error") ==
          "plugin test_kv crashed (signal SIGSEGV) on this message");
    CHECK(v.post_when_served("kv", R"({"k":"c","v":3})").status == 202);

    const auto started = std::chrono::steady_clock::now();
    reply = v.post("kv", R"({"k":"d","v":4,"action":"hang"})");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(500 + 3000));
    CHECK(reply.status == 400);
    CHECK(json_field(reply.body, "error") == "plugin test_kv did not return within 500 ms");
    CHECK(v.post_when_served("kv", R"({"k":"e","v":5})").status == 202);
    CHECK(v.stored() == 3);

    // test_kv writes a frame of its own ("oops") on its validator's socket before it returns: an
    // answer the protocol does not have is the validator's fault, not the message's.
    reply = v.post("kv", R"({"k":"f","v":6,"action":"write_fd","fd":3,)"
                         R"("text":"\u0000\u0000\u0000\u0008\u0000\u0000\u0000\u0004oops"})");
    CHECK(reply.status == 503);
    CHECK(v.api.log().find("answered 'oops' with 1 field(s)") != std::string::npos);
    CHECK(v.post_when_served("kv", R"({"k":"g","v":7})").status == 202);
    CHECK(v.stored() == 4);

    const std::string metrics = v.api.get("/metrics").body;
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="crashed"} 1)"));
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="timeout"} 1)"));
    REQUIRE(v.api.terminate() == 0);
}

TEST_CASE(
    "validate: a plugin that kills its validator as it loads neither delays the API's start nor "
    "its stop, and the failed start is logged with the signal at once",
    "[api][validate][isolation]") {
    const auto started = std::chrono::steady_clock::now();
    // test_abort_on_load aborts in its constructor, so every validator dies as it loads the
    // directory and none is ever ready: every message gets 503, even one no plugin consumes
    // (only a validator knows which subjects the plugins consume), and nothing is published
    // unvalidated.
    ValidatingApi v({"test_kv", "test_abort_on_load"});
    CHECK(v.api.get("/health").status == 200);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    REQUIRE(eventually(
        [&] {
            return v.api.log().find("did not start (SIGABRT); trying again") != std::string::npos;
        },
        std::chrono::seconds(5)));
    CHECK(v.post("kv", R"({"k":"a","v":1})").status == 503);
    CHECK(v.post("other", R"({"anything":true})").status == 503);
    CHECK(v.stored() == 0);
    REQUIRE(v.api.terminate(std::chrono::seconds(5)) == 0);
}

TEST_CASE(
    "validate: a validator that dies while idle is reaped and restarted before a request needs "
    "it, and one that cannot be started for want of file descriptors is tried again",
    "[api][validate][isolation]") {
    ValidatingApi v({"test_kv"});
    REQUIRE(v.post_when_served("kv", R"({"k":"a","v":1})").status == 202);
    const pid_t api = v.api.process().pid();
    const auto two_validators = [&] {
        return eventually([&] { return child_pids(api).size() == 2; }, std::chrono::seconds(10));
    };
    REQUIRE(two_validators());

    const pid_t killed = child_pids(api).front();
    REQUIRE(::kill(killed, SIGKILL) == 0);
    REQUIRE(eventually(
        [&] {
            return v.api.log().find("validator process " + std::to_string(killed) +
                                    " died while idle (SIGKILL)") != std::string::npos;
        },
        std::chrono::seconds(5)));
    // Reaped: no zombie left in /proc.
    CHECK(eventually([&] { return !std::filesystem::exists("/proc/" + std::to_string(killed)); },
                     std::chrono::seconds(5)));
    REQUIRE(two_validators());

    // No descriptor to spare: the socketpair of the next start fails, and is tried again.
    rlimit limit{};
    REQUIRE(::prlimit(api, RLIMIT_NOFILE, nullptr, &limit) == 0);
    rlimit starved = limit;
    starved.rlim_cur = 3;
    REQUIRE(::prlimit(api, RLIMIT_NOFILE, &starved, nullptr) == 0);
    REQUIRE(::kill(child_pids(api).front(), SIGKILL) == 0);
    const auto failed_starts = [&] {
        return occurrences(v.api.log(),
                           "cannot start a validator process: socketpair: Too many open files");
    };
    CHECK(eventually([&] { return failed_starts() >= 2; }, std::chrono::seconds(10)));
    REQUIRE(::prlimit(api, RLIMIT_NOFILE, &limit, nullptr) == 0);
    CHECK(v.api.process().running());
    REQUIRE(two_validators());
    CHECK(v.post_when_served("kv", R"({"k":"b","v":2})").status == 202);
    REQUIRE(v.api.terminate() == 0);
}

TEST_CASE(
    "validate: a refused plugin file leaves the others validating, and SIGHUP loads a new "
    "plugin of the directory",
    "[api][validate][reload]") {
    ValidatingApi v({"test_kv", "test_bad_major"});
    CHECK(v.post_when_served("kv", R"({"k":"a","v":"x"})").status == 400);
    CHECK(v.api.log().find("test_bad_major.so refused: plugin ABI major 2") != std::string::npos);

    // Nothing consumes test.kvp.in yet.
    const std::string refused_later = R"({"k":"b","v":1,"action":"invalid"})";
    CHECK(v.post("kvp", refused_later).status == 202);

    v.add("test_kv_persist");
    v.api.process().signal(SIGHUP);
    REQUIRE(eventually([&] { return v.api.log().find("reload 1 succeeded") != std::string::npos; },
                       std::chrono::seconds(20)));
    const HttpReply reply = v.post_when_served("kvp", refused_later);
    CHECK(reply.status == 400);
    CHECK(json_field(reply.body, "error") == "plugin test_kv_persist: action=invalid requested");
    CHECK(v.post("kv", R"({"k":"c","v":1})").status == 202);
    REQUIRE(v.api.terminate() == 0);
}

TEST_CASE("validate: nomnom-api and nomnom-host parse agree on what a message is",
          "[api][validate][parse]") {
    ValidatingApi v({"test_kv"});
    HostHarness host;
    const auto parse = [&](const std::string& message) {
        const auto file = host.dir() / "message.json";
        std::ofstream(file, std::ios::binary) << message << "\n";
        return host.run_cli({"parse", "--plugin", (kTestPlugins / "test_kv.so").string(),
                             "--subject", "test.kv.in", file.string()});
    };
    const std::vector<std::string> messages = {
        R"({"k":"a","v":1,"note":"n"})", R"({"k":"b","v":1.5})", R"({"v":2})",
        R"({"k":"c","v":3,"action":"invalid"})",
        R"({"k":"d","v":4,"action":"retry_until","until":1})"};
    for (const std::string& message : messages) {
        const HttpReply reply = v.post_when_served("kv", message);
        const auto [code, output] = parse(message);
        INFO(message << " -> " << reply.body << " / " << output);
        if (reply.status == 202) {
            CHECK(code == 0);
            CHECK(output.find(R"({"table":"kv","row":{)") != std::string::npos);
        } else {
            CHECK(reply.status == 400);
            CHECK(code == 1);
            // "plugin test_kv: <reason>" as the host's "invalid: <reason>"
            const std::string reason = json_field(reply.body, "error").substr(16);
            CHECK(output.find("invalid: " + reason) != std::string::npos);
        }
    }
    REQUIRE(v.api.terminate() == 0);
}

TEST_CASE(
    "validate: with worker_config, each plugin runs with the host's configuration, "
    "subjects and enabled",
    "[api][validate]") {
    TempDir config_dir("nomnom-validate-worker");
    const auto worker = config_dir.path() / "worker.toml";
    // test_kv accepts what it would refuse (accept_invalid) and reads test.kv2.> instead;
    // test_kv_persist is disabled.
    std::ofstream(worker) << "[plugins.test_kv]\nsubjects = [\"test.kv2.>\"]\n"
                             "[plugins.test_kv.config]\naccept_invalid = true\n"
                             "[plugins.test_kv_persist]\nenabled = false\n";
    ValidatingApi v({"test_kv", "test_kv_persist"}, 5000,
                    "worker_config = \"" + worker.string() + "\"\n");
    HttpReply reply = v.post_when_served("kv2", R"({"k":"a","v":1,"action":"invalid"})");
    CHECK(reply.status == 202);
    // Its own subject is no longer its: published unvalidated, as the host would not read it.
    CHECK(v.post("kv", R"({"k":"b"})").status == 202);
    // Disabled: the host would not run it, so it refuses nothing.
    CHECK(v.post("kvp", R"({"k":"c"})").status == 202);
    CHECK(v.stored() == 3);
    const std::string metrics = v.api.get("/metrics").body;
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="ok"} 1)"));
    CHECK(metric_line(metrics, R"(nomnom_api_validated_total{result="no_plugin"} 2)"));
    REQUIRE(v.api.terminate() == 0);
}
