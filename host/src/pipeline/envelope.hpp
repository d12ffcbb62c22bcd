#pragma once

#include <string>
#include <string_view>

namespace nomnom::host {

// How a stream's messages carry their payload: as they are (JSON), or wrapped in an envelope.
enum class PayloadFormat { Json, Envelope };

// The original nomnom's wire format: {"message_id", "body": "<payload as a JSON string>",
// "entity_type", "received_at", "retry_count", "source"}, unwrapped.
struct Envelope {
    std::string error;        // why the payload is not an envelope; then nothing else is set
    std::string body;         // the payload the plugin parses
    std::string message_id;   // empty when absent or not a string
    std::string entity_type;  // empty when absent or not a string
};

// Reads an envelope from untrusted bytes: never recurses deeper than kMaxJsonDepth (a message
// nested deeper is refused before any parser sees it), never throws.
Envelope parse_envelope(std::string_view payload);

}  // namespace nomnom::host
