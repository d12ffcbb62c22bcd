#pragma once

#include <nomnom/utf8_check.hpp>

#include <cstddef>
#include <string_view>

namespace nomnom {

// The longest prefix of `text` of at most `max_bytes` that does not end inside a UTF-8 sequence:
// an error text cut to fit a buffer, a header or a log line stays valid UTF-8 (plugins get the
// same rule from the SDK's set_error, which cannot link this library).
std::string_view utf8_prefix(std::string_view text, size_t max_bytes);

// invalid_utf8_offset, the check of well-formed UTF-8, is the SDK's (nomnom/utf8_check.hpp).

}  // namespace nomnom
