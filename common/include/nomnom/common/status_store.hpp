#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nomnom/common/config.hpp"
#include "nomnom/common/nats_client.hpp"

namespace nomnom {

// The header nomnom-api puts on every message it publishes: the message id under which its
// status is kept. Only messages carrying it get a status, so other producers cost nothing.
inline constexpr const char* kIngestIdHeader = "Nomnom-Ingest-Id";

// "$KV.<bucket>.<key>": publishing there is what a key-value put is.
std::string status_subject(const std::string& bucket, const std::string& key);

// The JetStream key-value bucket of message statuses. Values are JSON objects with at least
// "status" and "time".
class StatusStore {
  public:
    // Binds to the bucket, creating it (with max age config.ttl_s) when missing.
    StatusStore(NatsClient& nats, const StatusConfig& config);
    ~StatusStore();
    StatusStore(const StatusStore&) = delete;
    StatusStore& operator=(const StatusStore&) = delete;

    // The stored JSON, or nullopt for an unknown (or expired) id. Throws NatsError.
    std::optional<std::string> get(const std::string& id) const;
    // Stores `json` unless the id already has a status, as a plain publish that JetStream
    // stores without answering: the caller's answer does not depend on it, and a PubAck wait
    // would double its latency (and the server's work).
    void create_unconfirmed(const std::string& id, const std::string& json);
    // create_unconfirmed calls that could not even be sent.
    uint64_t write_failures() const { return write_failures_.load(); }

  private:
    std::string bucket_;
    kvStore* store_ = nullptr;
    natsConnection* connection_ = nullptr;
    std::atomic<uint64_t> write_failures_{0};
};

}  // namespace nomnom
