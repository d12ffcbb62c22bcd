#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nomnom::api {

// One message as nomnom-api accepts it, checked before anything is published.
struct CheckedMessage {
    std::string error;                  // the 400's reason; empty when it is accepted
    std::optional<std::string> entity;  // from the path, else the body's "entity_type"
    std::string id;         // `id_hint`, else the body's "message_id"; empty: the API makes one
    std::string id_source;  // where `id` came from, for errors
};

// Checks an untrusted body: valid UTF-8 JSON nested at most kMaxJsonDepth deep (refused before
// any parser recurses), an entity that can be a subject token, a message id that can be a key.
// Never throws.
CheckedMessage check_message(std::string_view payload, std::string_view path_entity,
                             const std::string& id_hint, const char* id_source);

}  // namespace nomnom::api
