#pragma once

#include <string_view>

namespace nomnom {

// Whether `id` can be a message id: it becomes a key of the status bucket and a Nats-Msg-Id,
// so 1-128 of [A-Za-z0-9_=-].
bool valid_message_id(std::string_view id);

// Whether `entity` can be a subject token: 1-64 of [A-Za-z0-9_-].
bool valid_entity(std::string_view entity);

}  // namespace nomnom
