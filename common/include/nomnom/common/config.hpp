#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace nomnom {

// Raised for any problem in a config file (worker.toml, api.toml); the message names the file, line
// and key.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct TlsConfig {
    bool enabled = false;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool skip_verify = false;

    bool operator==(const TlsConfig&) const = default;
};

struct NatsConfig {
    std::string url = "nats://127.0.0.1:4222";
    std::string user;
    std::string password;
    std::string token;
    std::string creds_file;
    TlsConfig tls;
    int64_t connect_timeout_ms = 5000;

    bool operator==(const NatsConfig&) const = default;
};

struct StreamConfig {
    std::string name = "MESSAGES";
    std::vector<std::string> subjects = {"messages.ingest.>"};
    bool create = true;
    std::string storage = "file";
    // Unset, a limit is StreamLimits' on a stream being created and left as it is on an existing
    // one: an operator may have changed it on the server.
    std::optional<int64_t> max_age_s;
    std::optional<int64_t> max_bytes;
    std::optional<int64_t> duplicate_window_s;
    // Copies in a JetStream cluster (1, 3 or 5), set when the stream is created: an existing
    // stream keeps the replicas an operator gave it.
    int64_t replicas = 1;

    bool operator==(const StreamConfig&) const = default;
};

// The limits a stream is created with where its config leaves them unset.
struct StreamLimits {
    int64_t max_age_s = 0;  // no age limit
    int64_t max_bytes = -1;
    int64_t duplicate_window_s = 120;
};

// Where message statuses (accepted / persisted / failed) are kept for GET /ingest/status: a
// JetStream key-value bucket whose entries expire after ttl_s.
struct StatusConfig {
    bool enabled = false;
    std::string bucket = "NOMNOM_STATUS";
    int64_t ttl_s = 24 * 3600;
    std::string storage = "file";
    int64_t flush_ms = 100;        // the host writes statuses in batches at least this often
    int64_t max_pending = 100000;  // statuses queued beyond this are dropped (and counted)
    bool record_accepted = true;   // nomnom-api writes "accepted" after each PubAck

    bool operator==(const StatusConfig&) const = default;
};

struct LogConfig {
    std::string level = "info";
    std::string format = "text";
    int64_t progress_interval_s = 10;  // a progress line per plugin with a backlog; 0: none

    bool operator==(const LogConfig&) const = default;
};

// Expands ${NAME} and ${NAME:-default} from the environment; an unset NAME without default is an
// error naming `what`.
std::string expand_env(std::string_view value, std::string_view what);

}  // namespace nomnom
