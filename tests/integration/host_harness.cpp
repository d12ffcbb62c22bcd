#include "host_harness.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/http_client.hpp"

namespace nomnom::testing {

size_t occurrences(const std::string& text, const std::string& needle) {
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++count;
    }
    return count;
}

double metric_value(const std::string& metrics, const std::string& series) {
    const std::string text = "\n" + metrics;
    const std::string key = "\n" + series + " ";
    const size_t at = text.find(key);
    if (at == std::string::npos) return -1;
    const size_t value = at + key.size();
    return std::stod(text.substr(value, text.find('\n', value) - value));
}

void HostHarness::write_config(const std::string& toml) {
    const char* mode = std::getenv("NOMNOM_TEST_ISOLATION");
    if (mode == nullptr || *mode == '\0') return service_.write_config(toml);
    toml::table table;
    try {
        table = toml::parse(toml);
    } catch (const toml::parse_error&) {
        return service_.write_config(toml);  // a test of a broken file
    }
    if (table.at_path("plugins.isolation")) return service_.write_config(toml);
    const std::string setting = "isolation = \"" + std::string(mode) + "\"\n";
    // Right below an existing [plugins] header (which may not appear twice), else at the end:
    // the lines a test's expected errors name do not move.
    const size_t header = ("\n" + toml).find("\n[plugins]\n");
    if (header == std::string::npos) return service_.write_config(toml + "\n[plugins]\n" + setting);
    const size_t after = header + std::string("[plugins]\n").size();
    service_.write_config(toml.substr(0, after) + setting + toml.substr(after));
}

HostHarness::HostHarness()
    : service_(NOMNOM_HOST_BIN, "worker.toml", "listening on port "),
      plugins_(service_.dir() / "plugins") {
    std::filesystem::create_directory(plugins_);
    std::filesystem::permissions(plugins_, std::filesystem::perms(0755));
    std::filesystem::permissions(service_.dir(), std::filesystem::perms(0755));
}

void HostHarness::add_plugin(const std::filesystem::path& file) {
    const auto target = plugins_ / file.filename();
    std::filesystem::copy_file(file, target, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(target, std::filesystem::perms(0755));
}

void HostHarness::install_plugin(const std::filesystem::path& file, const std::string& as) {
    const auto temporary = plugins_ / ("." + as + ".tmp");
    std::filesystem::copy_file(file, temporary, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(temporary, std::filesystem::perms(0755));
    std::filesystem::rename(temporary, plugins_ / as);
}

void HostHarness::remove_plugin(const std::string& file_name) {
    std::filesystem::remove(plugins_ / file_name);
}

void HostHarness::add_test_plugin(const std::string& name) {
    add_plugin(std::filesystem::path(NOMNOM_TEST_PLUGINS_DIR) / (name + ".so"));
}

void HostHarness::add_shipped_plugin(const std::string& name) {
    add_plugin(std::filesystem::path(NOMNOM_PLUGINS_BUILD_DIR) / (name + ".so"));
}

bool HostHarness::log_contains(const std::string& text) const {
    return log().find(text) != std::string::npos;
}

std::pair<int, std::string> HostHarness::http_get(const std::string& path) {
    const HttpReply reply = service_.get(path);
    return {reply.status, reply.body};
}

std::pair<int, std::string> HostHarness::run_cli(const std::vector<std::string>& args,
                                                 const Process::Env& env) {
    const auto output = dir() / "cli.log";
    std::filesystem::remove(output);
    std::vector<std::string> argv{NOMNOM_HOST_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    Process cli;
    cli.start(argv, env, output);
    const auto code = cli.wait_exit(30s);
    std::ifstream in(output);
    std::ostringstream text;
    text << in.rdbuf();
    return {code.value_or(-1), text.str()};
}

std::string test_config(const std::string& nats_url, const std::string& database_url,
                        const std::string& extra) {
    return "[nats]\nurl = \"" + nats_url +
           "\"\n"
           "[stream]\nname = \"TEST\"\nsubjects = [\"test.>\", \"sensors.>\", "
           "\"messages.ingest.>\", \"shop.>\"]\n"
           "[database]\nurl = \"" +
           database_url +
           "\"\npool_size = 2\n"
           "[consumer]\nmax_wait_ms = 200\nbackoff_ms = [200]\nack_wait_ms = 5000\n"
           "[http]\nlisten = \"127.0.0.1:0\"\n" +
           extra;
}

std::vector<std::string> kv_messages(int count, int value_offset) {
    std::vector<std::string> messages;
    for (int i = 0; i < count; ++i) {
        messages.push_back(R"({"k":"key-)" + std::to_string(i) + R"(","v":)" +
                           std::to_string(i + value_offset) + "}");
    }
    return messages;
}

std::pair<int, std::string> restart_fixed_and_replay(HostHarness& host,
                                                     const std::string& base_config) {
    const int before = static_cast<int>(occurrences(host.log(), "startup summary: 1 plugin"));
    if (host.terminate() != 0) throw std::runtime_error("the host did not stop cleanly");
    host.write_config(base_config + "[plugins.test_kv.config]\naccept_invalid = true\n");
    host.start();
    if (!eventually(
            [&] {
                return static_cast<int>(occurrences(host.log(), "startup summary: 1 plugin")) >
                       before;
            },
            30s)) {
        throw std::runtime_error("the fixed host did not start: " + host.log());
    }
    return host.run_cli({"dlq", "replay", "--config", host.config_path().string()});
}

std::vector<std::string> dlq_list(HostHarness& host) {
    const auto [code, output] =
        host.run_cli({"dlq", "list", "--config", host.config_path().string()});
    if (code != 0) throw std::runtime_error("dlq list failed: " + output);
    std::vector<std::string> lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0])) &&
            line.find("dead letter(s)") == std::string::npos) {
            lines.push_back(line);
        }
    }
    return lines;
}

SqliteWriteLock::SqliteWriteLock(const std::filesystem::path& database) {
    if (sqlite3_open(database.c_str(), &connection_) != SQLITE_OK ||
        sqlite3_exec(connection_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        const std::string error = sqlite3_errmsg(connection_);
        sqlite3_close(connection_);
        throw std::runtime_error("locking " + database.string() + ": " + error);
    }
}

SqliteWriteLock::~SqliteWriteLock() {
    sqlite3_exec(connection_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(connection_);
}

PrivatePostgres::PrivatePostgres() : dir_("nomnom-pg") {
    // The postgres OS user must reach the cluster directory.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
    start();
    std::ifstream in(dir_.path() / "cluster" / "url");
    std::getline(in, url_);
}

PrivatePostgres::~PrivatePostgres() {
    try {
        stop();
    } catch (const std::exception&) {
        // Best effort: the temporary directory goes away with the test.
    }
}

void PrivatePostgres::run(const std::string& command) {
    Process script;
    script.start({"/bin/bash", NOMNOM_SOURCE_DIR "/scripts/pg-test-cluster.sh", command,
                  (dir_.path() / "cluster").string()},
                 {}, dir_.path() / "script.log");
    if (script.wait_exit(60s) != 0) {
        std::ifstream in(dir_.path() / "script.log");
        std::ostringstream text;
        text << in.rdbuf();
        throw std::runtime_error("pg-test-cluster.sh " + command + " failed: " + text.str());
    }
}

int64_t PrivatePostgres::query_int64(const std::string& sql) const {
    PGconn* connection = PQconnectdb(url_.c_str());
    PGresult* result = PQexec(connection, sql.c_str());
    const bool one_value = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
                           PQnfields(result) == 1 && !PQgetisnull(result, 0, 0);
    const std::string error = PQerrorMessage(connection);
    const int64_t value = one_value ? std::stoll(PQgetvalue(result, 0, 0)) : 0;
    PQclear(result);
    PQfinish(connection);
    if (!one_value) throw std::runtime_error("query '" + sql + "' on " + url_ + ": " + error);
    return value;
}

void PrivatePostgres::stop() {
    run("stop");
}
void PrivatePostgres::start() {
    run("start");
}

void publish_backlog(JetStreamClient& client, const std::string& subject,
                     const std::vector<std::string>& payloads) {
    client.ensure_stream("TEST", {"test.>", "sensors.>", "messages.ingest.>"});
    client.publish_many(subject, payloads);
}

void publish_steadily(const std::string& nats_url, const std::string& subject,
                      const std::vector<std::string>& payloads, std::chrono::milliseconds pause,
                      std::atomic<int>& published) {
    JetStreamClient client(nats_url);
    constexpr size_t kChunk = 500;
    for (size_t start = 0; start < payloads.size(); start += kChunk) {
        const size_t end = std::min(payloads.size(), start + kChunk);
        client.publish_many(
            subject, std::vector<std::string>(payloads.begin() + start, payloads.begin() + end));
        published = static_cast<int>(end);
        std::this_thread::sleep_for(pause);
    }
}

bool consumer_drained(JetStreamClient& client, const std::string& durable) {
    const ConsumerStats stats = client.consumer_info("TEST", durable);
    return stats.num_pending == 0 && stats.num_ack_pending == 0;
}

void sqlite_exec(const std::filesystem::path& database, const std::string& sql) {
    sqlite3* connection = nullptr;
    char* error = nullptr;
    const bool done = sqlite3_open(database.c_str(), &connection) == SQLITE_OK &&
                      sqlite3_exec(connection, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK;
    const std::string message = error != nullptr ? error : sqlite3_errmsg(connection);
    sqlite3_free(error);
    sqlite3_close(connection);
    if (!done) throw std::runtime_error(database.string() + ": " + sql + ": " + message);
}

int64_t sqlite_int64(const std::filesystem::path& database, const std::string& sql) {
    sqlite3* connection = nullptr;
    if (sqlite3_open_v2(database.c_str(), &connection, SQLITE_OPEN_READONLY, nullptr) !=
        SQLITE_OK) {
        sqlite3_close(connection);
        return -1;
    }
    sqlite3_busy_timeout(connection, 5000);
    sqlite3_stmt* statement = nullptr;
    int64_t value = -1;
    if (sqlite3_prepare_v2(connection, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
        value = sqlite3_column_int64(statement, 0);
    }
    sqlite3_finalize(statement);
    sqlite3_close(connection);
    return value;
}

}  // namespace nomnom::testing
