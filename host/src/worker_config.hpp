#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nomnom/plugin.h>

#include "nomnom/common/config.hpp"
#include "pipeline/envelope.hpp"

namespace nomnom::host {

struct ConsumerSettings {
    std::string durable;  // empty: "<durable_prefix>-<plugin>"
    std::string durable_prefix = "nomnom";
    int64_t batch_size = 256;
    int64_t max_wait_ms = 500;
    // What one fetch may bring, in bytes (raised to the server's max_payload plus headroom when
    // below it, or the largest message could never be fetched).
    int64_t fetch_max_bytes = 16LL << 20;
    int64_t workers = 1;
    int64_t ack_wait_ms = 30000;
    int64_t max_deliver = 5;
    int64_t max_ack_pending = 10000;
    std::vector<int64_t> backoff_ms = {1000, 5000, 30000, 120000};
    PayloadFormat format = PayloadFormat::Json;
    std::vector<std::string> subjects;  // empty: the subjects the plugin declares

    // How long a message delivered `delivery_count` times waits before its next delivery: its
    // step of backoff_ms (the last one beyond them), +-20% so that a batch that failed together
    // does not come back together.
    int64_t retry_delay_ms(uint64_t delivery_count) const;
    // Step `step` (from 0) of backoff_ms, the last one beyond them, as it is: waits that are
    // no redelivery (a batch held through a database outage) need no jitter.
    int64_t backoff_step_ms(size_t step) const;

    bool operator==(const ConsumerSettings&) const = default;
};

struct PluginSettings {
    bool enabled = true;
    ConsumerSettings consumer;
    std::string config_json = "{}";
    // [plugins.<name>.outputs]: table name -> where its rows go, over what the plugin declares.
    std::map<std::string, nomnom_output> outputs;

    bool operator==(const PluginSettings&) const = default;
};

struct DatabaseConfig {
    std::string url = "sqlite:nomnom.db";
    int64_t pool_size = 4;
    bool auto_migrate = true;

    bool operator==(const DatabaseConfig&) const = default;
};

struct DlqConfig {
    std::string stream = "NOMNOM_DLQ";
    std::string subject_prefix = "nomnom.dlq";  // dead letters go to <prefix>.<plugin>
    bool create = true;
    std::string storage = "file";
    // Unset: 7 days on a stream the host creates; an existing stream keeps its own.
    std::optional<int64_t> max_age_s;
    static constexpr int64_t kCreatedMaxAgeS = 7 * 24 * 3600;
    int64_t max_replays = 3;  // `dlq replay` refuses a message replayed this often
    std::string host_id;      // empty: the machine's hostname
    int64_t replicas = 1;     // copies in a JetStream cluster, when the host creates the stream

    bool operator==(const DlqConfig&) const = default;
};

// Where the rows of published tables go ([outputs]): <subject_prefix>.<table>, stored by
// `stream`, whose duplicate window is what makes a redelivered message publish nothing twice.
struct OutputsConfig {
    std::string subject_prefix = "entities";
    StreamConfig stream = entities_stream();
    int64_t publish_timeout_ms = 10000;  // a batch's PubAcks not all in by then: nak it

    bool operator==(const OutputsConfig&) const = default;

  private:
    static StreamConfig entities_stream() {
        StreamConfig stream;
        stream.name = "NOMNOM_ENTITIES";
        stream.subjects = {"entities.>"};
        return stream;
    }
};

struct HttpConfig {
    std::string listen = "0.0.0.0:9464";  // empty: no HTTP endpoint
    // Who presents it may read dead-letter payloads and replay, purge and reload from the
    // dashboard; empty: nobody can.
    std::string admin_token;
    // Host names the dashboard answers to besides IP addresses, localhost and this machine's
    // name: a page of another site that resolves its own name to this host (DNS rebinding) is
    // refused. A name behind which a proxy serves the dashboard belongs here.
    std::vector<std::string> allowed_hosts;

    bool operator==(const HttpConfig&) const = default;
};

// How plugins are kept apart from the host and from each other.
enum class Isolation {
    Process,  // each plugin in a supervised child process: a crash or hang costs one message
    Thread,   // in the host's process, unisolated: a crash takes every plugin down with it
};

struct IsolationConfig {
    Isolation mode = Isolation::Process;
    // A call into the plugin (parse, or its persist) running longer than this is a hang: the
    // worker process is killed and the message dead-lettered as timeout. 0: no limit. In
    // thread mode a hang only makes the plugin unhealthy in /ready (a thread cannot be killed).
    int64_t parse_timeout_ms = 10000;
    int64_t max_memory_mb = 0;  // per worker process; 0: no limit (process mode only)
    // A plugin whose worker died this often within the window is quarantined (not restarted
    // until SIGHUP or a new build of its file).
    int64_t quarantine_deaths = 5;
    int64_t quarantine_window_s = 600;
    int64_t restart_backoff_ms = 1000;  // first restart after a death; doubles, at most 30 s
    // SIGTERM finishes within this, whatever a plugin does: workers still busy are then killed
    // (their messages come back from JetStream).
    int64_t shutdown_timeout_ms = 30000;

    bool operator==(const IsolationConfig&) const = default;
};

struct WorkerConfig {
    std::filesystem::path source;
    // The TOML this configuration was read from: what a plugin's worker process is started
    // with (isolation = "process"), so that it runs exactly the parent's settings.
    std::string text;
    NatsConfig nats;
    StreamConfig stream;
    ConsumerSettings consumer_defaults;
    DatabaseConfig database;
    std::filesystem::path plugins_dir = "plugins";
    bool plugins_watch = false;        // reload when the plugins directory changes
    int64_t plugins_settle_ms = 1000;  // ... and has then been quiet this long
    // Where workers record what their plugin holds, so that a restart after a crash inside a
    // plugin sets aside the message that caused it. Must outlive the process, not the machine.
    std::filesystem::path plugins_state_dir;
    IsolationConfig isolation;
    std::map<std::string, PluginSettings> plugins;
    DlqConfig dlq;
    OutputsConfig outputs;
    StatusConfig status;
    HttpConfig http;
    LogConfig log;

    // Settings for a plugin with no [plugins.<name>] section fall back to [consumer].
    PluginSettings settings_for(const std::string& plugin) const;
};

// Parses and validates worker.toml. Relative paths (plugins.dir, a sqlite: database path) are
// resolved against the directory of the config file, so the host behaves the same whatever its
// working directory is.
WorkerConfig load_worker_config(const std::filesystem::path& path);
WorkerConfig parse_worker_config(std::string_view text, const std::filesystem::path& source);

// `fresh_text` (a reloaded worker.toml) with the sections that only take effect at start (nats,
// stream, database, dlq, outputs, status, http, plugins.state_dir, plugins.isolation) as in
// `running_text`: the configuration a reload actually runs, for worker processes started after.
std::string with_running_sections(const std::string& running_text, const std::string& fresh_text,
                                  const std::filesystem::path& source);

}  // namespace nomnom::host
