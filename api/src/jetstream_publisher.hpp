#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api_config.hpp"
#include "nomnom/common/nats_client.hpp"
#include "pub_ack_window.hpp"

namespace nomnom::api {

// Headers of every published message besides Nats-Msg-Id and Nomnom-Ingest-Id.
inline constexpr const char* kEntityTypeHeader = "Nomnom-Entity-Type";  // when one was given
inline constexpr const char* kReceivedAtHeader = "Nomnom-Received-At";

struct OutgoingMessage {
    std::string subject;
    std::string message_id;  // becomes Nats-Msg-Id: JetStream drops a repeat within its window
    // As the client gave it (path or the body's "entity_type"); nullopt when it gave none
    // (the subject then uses ingest.default_entity, the envelope says null as the original's).
    std::optional<std::string> entity_type;
    std::string received_at;
    std::string_view payload;  // valid JSON
};

struct PublishResult {
    // TooLarge: over the NATS server's max_payload, which retrying cannot change.
    enum class Kind { Stored, Duplicate, Unavailable, TooLarge } kind;
    uint64_t sequence = 0;  // of the message stored; for a duplicate, of the first one
    std::string error;      // for Unavailable and TooLarge
};

// A message handed to JetStream, or refused before it could be; its PubAck still to come.
struct SentMessage {
    std::optional<PubAckWindow::Pending> pending;  // none when refused
    PublishResult refused{PublishResult::Kind::Unavailable, 0, ""};
    std::string subject;
    int data_length = 0;
    std::chrono::steady_clock::time_point sent_at;      // set by send
    std::chrono::steady_clock::time_point answered_at;  // set by result_of

    // JetStream could not be asked at all (not connected, no room in the window, a message
    // cnats would not send), unlike a message too large, which concerns that message only.
    bool unavailable_at_once() const;
};

// Publishes into the ingest stream and waits for the PubAck: only a stored (or duplicate)
// message may be answered with 202. Publishes are asynchronous, through one window shared by
// all request threads.
class JetStreamPublisher {
  public:
    JetStreamPublisher(NatsClient& nats, const IngestSettings& settings, std::string stream);

    // The NATS message `message` goes out as: its payload (in an envelope with ingest.format
    // "envelope") and headers; the publish adds Nats-Msg-Id. Null when it cannot be created.
    NatsMsgPtr build(const OutgoingMessage& message) const;
    // Sends `built` (what build(message) returned) without waiting for its PubAck; `followed`:
    // whether the caller sends more before it waits.
    SentMessage send(const OutgoingMessage& message, NatsMsgPtr built,
                     PubAckWindow::Followed followed);
    // Waits for the PubAck of `sent` (within ingest.publish_timeout_ms of its send).
    PublishResult result_of(SentMessage& sent);

    // The Nomnom-Received-At of the stored message `sequence`; "" when the stream no longer
    // has it (or another producer published it).
    std::string received_at_of(uint64_t sequence) const;

  private:
    NatsClient& nats_;
    PublishFormat format_;
    int64_t timeout_ms_;
    std::string stream_;
    PubAckWindow window_;
};

// The original nomnom envelope: {"message_id", "body": "<payload as a JSON string>",
// "entity_type", "received_at", "retry_count": 0, "source": null}.
std::string make_envelope(const OutgoingMessage& message);

}  // namespace nomnom::api
