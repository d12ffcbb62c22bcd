#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string_view>

namespace nomnom::host {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes `text` as a JSON string that is valid UTF-8 whatever the input: a reason, a header or a
// plugin name comes from outside, and each byte that starts no well-formed UTF-8 sequence
// becomes U+FFFD.
void put_text(JsonWriter& out, std::string_view text);

}  // namespace nomnom::host
