#pragma once

#include <string>
#include <string_view>

namespace nomnom {

// Whether `id` can be a message id: it becomes a key of the status bucket and a Nats-Msg-Id,
// so 1-128 of [A-Za-z0-9_=-].
bool valid_message_id(std::string_view id);

// Whether `entity` can be a subject token: 1-64 of [A-Za-z0-9_-].
bool valid_entity(std::string_view entity);

// A random (version 4) UUID in its 36-character lowercase form, for a message sent without an
// id. 16 bytes from getrandom(2): Poco's generator opens /dev/urandom and reads 252 bytes for
// each one, three system calls per request on nomnom-api's hottest path.
std::string random_uuid();

}  // namespace nomnom
