#pragma once

#include <nats/nats.h>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nomnom/common/config.hpp"

namespace nomnom {

class NatsError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws NatsError naming `what` and cnats' last error when `status` is not NATS_OK.
void check_nats(natsStatus status, const std::string& what, jsErrCode js_error = jsErrCode(0));

// The servers of `urls`: one URL, or several comma-separated (the members of a cluster, tried
// in random order and on every reconnect). Throws NatsError naming nats.url.
void set_nats_servers(natsOptions* options, const std::string& urls);

struct NatsMsgDeleter {
    void operator()(natsMsg* message) const { natsMsg_Destroy(message); }
};
using NatsMsgPtr = std::unique_ptr<natsMsg, NatsMsgDeleter>;

// Calls `visit(key, value)` for each header key of `message`, with the key's first value.
void for_each_header(natsMsg* message,
                     const std::function<void(const char* key, const char* value)>& visit);

// What a JetStream publish asks of the stream, and what the stream answered.
struct PublishRequest {
    const char* msg_id = nullptr;         // Nats-Msg-Id: a repeat inside the window is stored once
    const char* expect_stream = nullptr;  // refuse when another stream captures the subject
    int64_t max_wait_ms = 5000;
};
struct PublishOutcome {
    natsStatus status = NATS_OK;
    jsErrCode js_error = jsErrCode(0);
    uint64_t sequence = 0;   // where the stream stored it (with NATS_OK)
    bool duplicate = false;  // the stream already had this Nats-Msg-Id
};

// A connection and its JetStream context. cnats reconnects by itself (forever, here); the host
// only has to keep its pull requests going.
class NatsClient {
  public:
    explicit NatsClient(const NatsConfig& config);
    ~NatsClient();
    NatsClient(const NatsClient&) = delete;
    NatsClient& operator=(const NatsClient&) = delete;

    natsConnection* connection() const { return connection_; }
    jsCtx* jetstream() const { return jetstream_; }
    bool connected() const;

    // Creates the stream (a limit the config leaves unset is `defaults`'), or brings an existing
    // one in line with what the config sets: the subjects it lacks are added (none removed), the
    // limits set are applied; everything else stays as an operator left it. Logs each change.
    void ensure_stream(const StreamConfig& config, const StreamLimits& defaults = {});
    // Throws when the stream does not exist (for stream.create = false).
    void require_stream(const std::string& name);
    // Whether the stream exists; throws NatsError when JetStream does not answer.
    bool has_stream(const std::string& name);
    // The subjects the stream captures, nullopt when it does not exist; throws NatsError when
    // JetStream does not answer.
    std::optional<std::vector<std::string>> stream_subjects(const std::string& name);
    // The stream's Nats-Msg-Id deduplication window in seconds, nullopt when it does not exist;
    // throws NatsError when JetStream does not answer.
    std::optional<int64_t> stream_duplicate_window_s(const std::string& name);
    // ensure_stream with config.create, else require_stream.
    void prepare_stream(const StreamConfig& config, const StreamLimits& defaults = {});

    // Publishes `message` and waits for its PubAck: the one way nomnom stores a message it must
    // not lose (ingestion, dead letters, replays), since only the PubAck says it is stored.
    PublishOutcome publish_awaiting_ack(natsMsg* message, const PublishRequest& request) const;

    // Waits until everything sent (acks included) has reached the server.
    void flush(int64_t timeout_ms);

  private:
    natsConnection* connection_ = nullptr;
    jsCtx* jetstream_ = nullptr;
};

}  // namespace nomnom
