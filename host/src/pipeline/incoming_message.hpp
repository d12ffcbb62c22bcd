#pragma once

#include <nomnom/plugin.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nomnom/common/logging.hpp"
#include "nomnom/common/nats_client.hpp"
#include "pipeline/envelope.hpp"

namespace nomnom::host {

// A fetched JetStream message with what the plugin and the logs need from it. Owns the natsMsg;
// every view handed to the plugin points into this object.
struct IncomingMessage {
    IncomingMessage() = default;
    // The views below point into this object's own strings: it must never move.
    IncomingMessage(const IncomingMessage&) = delete;
    IncomingMessage& operator=(const IncomingMessage&) = delete;

    NatsMsgPtr message;
    std::string subject;
    std::string stream;
    uint64_t stream_sequence = 0;
    uint64_t delivery_count = 0;
    int64_t stored_at_ns = 0;  // when JetStream stored it (ns since the epoch, server clock)
    std::string message_id;
    std::string entity_type;
    std::string envelope_body;  // the decoded "body" of a nomnom envelope
    std::string_view payload;   // what the plugin parses
    std::vector<std::string> header_storage;
    std::vector<nomnom_header> headers;
    // Set when the message cannot even be handed to the plugin (broken envelope).
    std::string decode_error;

    nomnom_message view() const;
    // The fields of a log line about this message, for `plugin`.
    LogFields log_fields(std::string_view plugin) const;
};

// Where a message read back from the stream (not delivered by a consumer, so without delivery
// metadata) came from.
struct StoredOrigin {
    std::string stream;
    uint64_t stream_sequence = 0;
    uint64_t delivery_count = 0;
};

// Reads JetStream metadata (or takes `origin` for a message read back from the stream), headers
// and (for the envelope format) unwraps the payload. Takes `message` over, unless it throws: then
// `message` still holds it, for the caller to return to JetStream.
std::unique_ptr<IncomingMessage> decode_message(NatsMsgPtr&& message, PayloadFormat format,
                                                const std::optional<StoredOrigin>& origin = {});

}  // namespace nomnom::host
