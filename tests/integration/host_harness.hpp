#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/eventually.hpp"
#include "support/nats_server.hpp"
#include "support/process.hpp"
#include "support/service_process.hpp"
#include "support/temp_dir.hpp"

struct sqlite3;

namespace nomnom::testing {

using namespace std::chrono_literals;

// How many times `needle` occurs in `text` (overlapping occurrences included).
size_t occurrences(const std::string& text, const std::string& needle);

// The value of the sample `series` (a name, or a name with its labels exactly as /metrics
// prints them: `nomnom_plugin_up{plugin="x",version="1.0.0"}`) in Prometheus text; -1 when
// there is no such sample.
double metric_value(const std::string& metrics, const std::string& series);

// A nomnom-host process with its own config, plugins directory and log file.
class HostHarness {
  public:
    HostHarness();

    // Copies a built plugin (from the test plugins or the shipped plugins build directory)
    // into this host's plugins directory with safe permissions.
    void add_test_plugin(const std::string& name);
    // Installs `file` as plugins/<as> the way an operator should: copy under a temporary name,
    // then rename over the old one.
    void install_plugin(const std::filesystem::path& file, const std::string& as);
    void remove_plugin(const std::string& file_name);
    void add_shipped_plugin(const std::string& name);
    const std::filesystem::path& plugins_dir() const { return plugins_; }

    // The config, the log (every start's, waits on the current one's), start and stop are
    // ServiceProcess's.
    // With NOMNOM_TEST_ISOLATION set (tests/run.sh runs the suite in both modes), a config that
    // does not choose plugins.isolation gets that mode.
    void write_config(const std::string& toml);
    const std::filesystem::path& config_path() const { return service_.config_path(); }
    const std::filesystem::path& dir() const { return service_.dir(); }
    void start(const Process::Env& env = {}) { service_.start(env); }
    std::optional<int> terminate(std::chrono::milliseconds timeout = 20s) {
        return service_.terminate(timeout);
    }
    Process& process() { return service_.process(); }

    std::string log() const { return service_.log(); }
    bool log_contains(const std::string& text) const;
    bool wait_log(const std::string& text, std::chrono::milliseconds timeout) {
        return service_.wait_log(text, timeout);
    }

    // The HTTP port the current start logged (waits for it).
    std::uint16_t port() { return service_.port(); }
    // GET http://127.0.0.1:<port from the log><path>: status code and body.
    std::pair<int, std::string> http_get(const std::string& path);

    // Runs nomnom-host with extra arguments to completion; returns exit code and output.
    std::pair<int, std::string> run_cli(const std::vector<std::string>& args,
                                        const Process::Env& env = {});

  private:
    void add_plugin(const std::filesystem::path& file);

    ServiceProcess service_;
    std::filesystem::path plugins_;
};

// worker.toml for tests: the given NATS url and database, one stream "TEST" on subjects
// test.>, sensors.>, messages.ingest.> and shop.>, short waits and back-off; `extra` is appended
// verbatim.
std::string test_config(const std::string& nats_url, const std::string& database_url,
                        const std::string& extra = "");

// {"k":"key-<i>","v":<i + value_offset>} for i in [0, count): rows of the test_kv plugin.
std::vector<std::string> kv_messages(int count, int value_offset = 0);

// The dead letters `nomnom-host dlq list` prints for this host's config, one line each.
std::vector<std::string> dlq_list(HostHarness& host);

// The fix of the replay tests: restarts `host` (running test_kv with `base_config`) with the
// plugin accepting what it refused (accept_invalid), then runs `dlq replay`; its exit code and
// output.
std::pair<int, std::string> restart_fixed_and_replay(HostHarness& host,
                                                     const std::string& base_config);

// The write lock of a SQLite database (BEGIN EXCLUSIVE on a connection of its own), held until
// destruction, as another process's writer (a migration, a backup tool) would hold it.
class SqliteWriteLock {
  public:
    explicit SqliteWriteLock(const std::filesystem::path& database);
    ~SqliteWriteLock();
    SqliteWriteLock(const SqliteWriteLock&) = delete;
    SqliteWriteLock& operator=(const SqliteWriteLock&) = delete;

  private:
    ::sqlite3* connection_ = nullptr;
};

// A PostgreSQL cluster of the test's own (scripts/pg-test-cluster.sh), for tests that stop and
// start the database; restarts keep the port.
class PrivatePostgres {
  public:
    PrivatePostgres();
    ~PrivatePostgres();
    const std::string& url() const { return url_; }
    void stop();
    void start();
    // The single value of a one-row, one-column result, on a connection of its own.
    int64_t query_int64(const std::string& sql) const;

  private:
    void run(const std::string& command);

    TempDir dir_;
    std::string url_;
};

// Creates the stream test_config() names ("TEST") and stores `payloads` on `subject`, before
// any host runs.
void publish_backlog(JetStreamClient& client, const std::string& subject,
                     const std::vector<std::string>& payloads);

// Publishes `payloads` on `subject` in chunks of 500 with `pause` after each, over a connection
// of its own (run it on a thread of its own, to keep a load going); `published` counts the
// messages JetStream stored so far.
void publish_steadily(const std::string& nats_url, const std::string& subject,
                      const std::vector<std::string>& payloads, std::chrono::milliseconds pause,
                      std::atomic<int>& published);

// No message of the durable consumer is waiting or in flight.
bool consumer_drained(JetStreamClient& client, const std::string& durable = "nomnom-test_kv");

int64_t sqlite_int64(const std::filesystem::path& database, const std::string& sql);
// Runs `sql` on the SQLite database (created when missing); throws on an error.
void sqlite_exec(const std::filesystem::path& database, const std::string& sql);

}  // namespace nomnom::testing
