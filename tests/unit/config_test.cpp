#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>

#include "worker_config.hpp"

using nomnom::ConfigError;
using nomnom::host::parse_worker_config;

namespace {

std::string error_of(const std::string& toml) {
    try {
        parse_worker_config(toml, "/etc/nomnom/worker.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("defaults and relative paths resolve against the config file", "[config]") {
    const auto config = parse_worker_config("", "/etc/nomnom/worker.toml");
    CHECK(config.nats.url == "nats://127.0.0.1:4222");
    CHECK(config.database.url == "sqlite:/etc/nomnom/nomnom.db");
    CHECK(config.plugins_dir == "/etc/nomnom/plugins");
    CHECK(config.plugins_state_dir == "/etc/nomnom/nomnom-state");
    CHECK(config.consumer_defaults.batch_size == 256);
    const auto relative =
        parse_worker_config("[plugins]\nstate_dir = \"run/state\"\n", "/etc/nomnom/worker.toml");
    CHECK(relative.plugins_state_dir == "/etc/nomnom/run/state");
    CHECK(relative.plugins.empty());
}

TEST_CASE("every section is read - per-plugin settings inherit [consumer]", "[config]") {
    const auto config = parse_worker_config(R"(
[nats]
url = "nats://n:4222"
user = "u"
password = "p"
[nats.tls]
enabled = true
ca_file = "/ca.pem"
[stream]
name = "S"
subjects = ["a.>"]
create = false
[consumer]
batch_size = 100
backoff_ms = [10, 20]
format = "envelope"
[database]
url = "postgresql://u:secret@db/x"
pool_size = 8
auto_migrate = false
[plugins]
dir = "/opt/plugins"
[plugins.orders]
workers = 3
[plugins.orders.config]
mode = "strict"
limits = [1, 2]
nested = { flag = true }
[log]
level = "debug"
format = "json"
)",
                                            "/w.toml");
    CHECK(config.nats.tls.enabled);
    CHECK(config.stream.subjects == std::vector<std::string>{"a.>"});
    CHECK_FALSE(config.stream.create);
    CHECK(config.database.pool_size == 8);
    CHECK(config.plugins_dir == "/opt/plugins");
    const auto orders = config.settings_for("orders");
    CHECK(orders.consumer.workers == 3);
    CHECK(orders.consumer.batch_size == 100);
    CHECK(orders.consumer.format == nomnom::host::PayloadFormat::Envelope);
    CHECK(orders.config_json == R"({"limits":[1,2],"mode":"strict","nested":{"flag":true}})");
    CHECK(config.settings_for("other").config_json == "{}");
    CHECK(config.log.format == "json");
}

TEST_CASE("back-off: a step per delivery, the last one beyond them; redeliveries +-20%",
          "[config]") {
    nomnom::host::ConsumerSettings consumer;
    consumer.backoff_ms = {100, 1000};
    CHECK(consumer.backoff_step_ms(0) == 100);
    CHECK(consumer.backoff_step_ms(1) == 1000);
    CHECK(consumer.backoff_step_ms(7) == 1000);
    std::set<int64_t> seen;
    for (int i = 0; i < 200; ++i) {
        const int64_t first = consumer.retry_delay_ms(1);
        CHECK(first >= 80);
        CHECK(first <= 120);
        const int64_t later = consumer.retry_delay_ms(5);
        CHECK(later >= 800);
        CHECK(later <= 1200);
        seen.insert(later);
    }
    // Jittered: a batch that failed together does not come back together.
    CHECK(seen.size() > 10);
}

TEST_CASE("errors name the line and the key", "[config]") {
    CHECK(error_of("[nats]\nurl = 5\n") ==
          "/etc/nomnom/worker.toml:2: nats.url: expected a string, found an integer");
    CHECK(error_of("[database]\nurl = \"oracle://x\"\n") ==
          "/etc/nomnom/worker.toml:2: database.url: expected sqlite:PATH, postgresql://... or "
          "mysql://..., got 'oracle://x'");
    CHECK(error_of("[database]\nurl = \"mysql://x\"\n") ==
          "/etc/nomnom/worker.toml:2: database.url: mysql://x: no database name after the host");
    CHECK(error_of("[database]\nurl = \"mariadb://u:secret@h:99999/db\"\n") ==
          "/etc/nomnom/worker.toml:2: database.url: mariadb://u:***@h:99999/db: the port is above "
          "65535");
    CHECK(error_of("[database]\nurl = \"mysql://h/db?read_timeout=soon\"\n") ==
          "/etc/nomnom/worker.toml:2: database.url: mysql://h/db?read_timeout=soon: read_timeout "
          "must be a positive number, got 'soon'");
    CHECK(error_of("[database]\nurl = \"mysql://h/db?ssl=1\"\n") ==
          "/etc/nomnom/worker.toml:2: database.url: mysql://h/db?ssl=1: unknown parameter 'ssl' "
          "(known: socket, connect_timeout, read_timeout, write_timeout, sslca, sslcert, sslkey)");
    CHECK(error_of("[consumer]\nbatch_size = 0\n") ==
          "/etc/nomnom/worker.toml:2: consumer.batch_size: value 0 is out of range [1, 100000]");
    CHECK(error_of("[plugins.x]\nbatchsize = 3\n") ==
          "/etc/nomnom/worker.toml:2: plugins.x.batchsize: unknown key");
    CHECK(error_of("[log]\nformat = \"xml\"\n") ==
          "/etc/nomnom/worker.toml:2: log.format: 'xml' is not one of: text, json");
    CHECK(error_of("[nats\n").starts_with("/etc/nomnom/worker.toml:1:"));
    CHECK(error_of("surprise = 1\n") == "/etc/nomnom/worker.toml:1: surprise: unknown key");
}

TEST_CASE("${ENV} expansion - with defaults - fails naming the variable", "[config]") {
    ::setenv("NOMNOM_TEST_PASSWORD", "s3cret", 1);
    ::unsetenv("NOMNOM_TEST_UNSET");
    const auto config = parse_worker_config(
        "[nats]\npassword = \"${NOMNOM_TEST_PASSWORD}\"\nuser = \"${NOMNOM_TEST_UNSET:-anon}\"\n",
        "/w.toml");
    CHECK(config.nats.password == "s3cret");
    CHECK(config.nats.user == "anon");
    CHECK(error_of("[nats]\ntoken = \"${NOMNOM_TEST_UNSET}\"\n") ==
          "/etc/nomnom/worker.toml:2: nats.token: nats.token: environment variable "
          "NOMNOM_TEST_UNSET is not set");
}

TEST_CASE("stream and dlq limits are unset unless worker.toml sets them", "[config]") {
    const auto defaults = parse_worker_config("", "/w.toml");
    CHECK_FALSE(defaults.stream.max_age_s);
    CHECK_FALSE(defaults.stream.max_bytes);
    CHECK_FALSE(defaults.stream.duplicate_window_s);
    CHECK_FALSE(defaults.dlq.max_age_s);
    const auto config = parse_worker_config(
        "[stream]\nmax_age_s = 0\nduplicate_window_s = 30\n[dlq]\nmax_age_s = 3600\n", "/w.toml");
    CHECK(config.stream.max_age_s == 0);
    CHECK_FALSE(config.stream.max_bytes);
    CHECK(config.stream.duplicate_window_s == 30);
    CHECK(config.dlq.max_age_s == 3600);
    CHECK_FALSE(config.stream == defaults.stream);
    CHECK(error_of("[stream]\nmax_bytes = -2\n") ==
          "/etc/nomnom/worker.toml:2: stream.max_bytes: value -2 is out of range [-1, "
          "9223372036854775807]");
}

TEST_CASE("the annotated example config in docker/ is valid", "[config]") {
    const auto config =
        nomnom::host::load_worker_config(NOMNOM_SOURCE_DIR "/docker/worker.example.toml");
    CHECK(config.settings_for("sensor_csv").consumer.batch_size == 512);
    CHECK(config.stream.name == "MESSAGES");
    CHECK(config.status.bucket == "NOMNOM_STATUS");
    CHECK(config.isolation == nomnom::host::IsolationConfig{});
}

TEST_CASE("[plugins] isolation is process by default, its limits read with bounds", "[config]") {
    const auto defaults = parse_worker_config("", "/w.toml");
    CHECK(defaults.isolation.mode == nomnom::host::Isolation::Process);
    CHECK(defaults.isolation.parse_timeout_ms == 10000);
    CHECK(defaults.isolation.max_memory_mb == 0);
    CHECK(defaults.isolation.quarantine_deaths == 5);
    CHECK(defaults.isolation.quarantine_window_s == 600);
    const auto config = parse_worker_config(
        "[plugins]\nisolation = \"thread\"\nparse_timeout_ms = 0\nshutdown_timeout_ms = 5000\n"
        "[plugins.a]\nbatch_size = 3\n",
        "/w.toml");
    CHECK(config.isolation.mode == nomnom::host::Isolation::Thread);
    CHECK(config.isolation.parse_timeout_ms == 0);
    CHECK(config.isolation.shutdown_timeout_ms == 5000);
    CHECK(config.settings_for("a").consumer.batch_size == 3);
    CHECK(error_of("[plugins]\nisolation = \"fork\"\n") ==
          "/etc/nomnom/worker.toml:2: plugins.isolation: 'fork' is not one of: process, thread");
    CHECK(error_of("[plugins]\nisolation = \"thread\"\nmax_memory_mb = 100\n") ==
          "/etc/nomnom/worker.toml:3: plugins.max_memory_mb: needs isolation = \"process\" (a "
          "thread's memory cannot be limited)");
    CHECK(error_of("[plugins]\nquarantine_deaths = 0\n") ==
          "/etc/nomnom/worker.toml:2: plugins.quarantine_deaths: value 0 is out of range [1, "
          "1000]");
}

TEST_CASE("a reload's worker processes keep the sections that need a restart", "[config]") {
    const std::string running =
        "[database]\nurl = \"sqlite:/a.db\"\n[plugins]\nisolation = \"process\"\n"
        "state_dir = \"/s1\"\n[plugins.a]\nbatch_size = 3\n";
    const std::string fresh =
        "[database]\nurl = \"sqlite:/b.db\"\n[http]\nlisten = \"\"\n[plugins]\n"
        "isolation = \"thread\"\nparse_timeout_ms = 7\n[plugins.a]\nbatch_size = 9\n";
    const auto merged = parse_worker_config(
        nomnom::host::with_running_sections(running, fresh, "/w.toml"), "/w.toml");
    CHECK(merged.database.url == "sqlite:/a.db");
    CHECK(merged.http.listen == "0.0.0.0:9464");  // absent from the running file: its default
    CHECK(merged.isolation.mode == nomnom::host::Isolation::Process);
    CHECK(merged.plugins_state_dir == "/s1");
    CHECK(merged.isolation.parse_timeout_ms == 7);
    CHECK(merged.settings_for("a").consumer.batch_size == 9);
}

TEST_CASE("[status] is off by default and read with its limits", "[config]") {
    CHECK_FALSE(parse_worker_config("", "/w.toml").status.enabled);
    const auto config = parse_worker_config(
        "[status]\nenabled = true\nbucket = \"ST\"\nttl_s = 60\nflush_ms = 5\n", "/w.toml");
    CHECK(config.status.enabled);
    CHECK(config.status.bucket == "ST");
    CHECK(config.status.ttl_s == 60);
    CHECK(config.status.flush_ms == 5);
    CHECK(error_of("[status]\nbucket = \"a.b\"\n") ==
          "/etc/nomnom/worker.toml:2: status.bucket: 'a.b' is not a bucket name (letters, digits, "
          "_ and - only)");
    CHECK(error_of("[status]\nttl = 5\n") == "/etc/nomnom/worker.toml:2: status.ttl: unknown key");
    CHECK(error_of("[status]\nrecord_accepted = true\n") ==
          "/etc/nomnom/worker.toml:2: status.record_accepted: unknown key");
}

TEST_CASE("http.admin_token comes from the environment and is refused when short", "[config]") {
    ::setenv("NOMNOM_TEST_ADMIN_TOKEN", "0123456789abcdef", 1);
    const auto config = parse_worker_config(
        "[http]\nadmin_token = \"${NOMNOM_TEST_ADMIN_TOKEN}\"\n", "/etc/nomnom/worker.toml");
    CHECK(config.http.admin_token == "0123456789abcdef");
    CHECK(parse_worker_config("", "/etc/nomnom/worker.toml").http.admin_token.empty());
    CHECK(error_of("[http]\nadmin_token = \"short\"\n") ==
          "/etc/nomnom/worker.toml:2: http.admin_token: must be at least 16 characters (e.g. "
          "`openssl rand -hex 16`), found 5");
    ::unsetenv("NOMNOM_TEST_ADMIN_TOKEN");
}
