#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api_config.hpp"
#include "nats_client.hpp"

namespace nomnom::api {

struct OutgoingMessage {
    std::string subject;
    std::string message_id;  // becomes Nats-Msg-Id: JetStream drops a repeat within its window
    std::string entity_type;
    std::string received_at;
    std::string_view payload;  // valid JSON
};

struct PublishResult {
    enum class Kind { Stored, Duplicate, Unavailable } kind;
    uint64_t sequence = 0;
    std::string error;  // for Unavailable
};

// Publishes into the ingest stream and waits for the PubAck: only a stored (or duplicate)
// message may be answered with 202.
class JetStreamPublisher {
  public:
    JetStreamPublisher(NatsClient& nats, const IngestSettings& settings, std::string stream);

    PublishResult publish(const OutgoingMessage& message) const;

  private:
    NatsClient& nats_;
    PublishFormat format_;
    int64_t timeout_ms_;
    std::string stream_;
};

// The original nomnom envelope: {"message_id", "body": "<payload as a JSON string>",
// "entity_type", "received_at", "retry_count": 0, "source": null}.
std::string make_envelope(const OutgoingMessage& message);

}  // namespace nomnom::api
