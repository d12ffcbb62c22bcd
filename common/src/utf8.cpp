#include "nomnom/common/utf8.hpp"

namespace nomnom {

std::string_view utf8_prefix(std::string_view text, size_t max_bytes) {
    if (text.size() <= max_bytes) return text;
    size_t length = max_bytes;
    // Back up over continuation bytes (10xxxxxx) to the start of the cut sequence.
    while (length > 0 && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) --length;
    return text.substr(0, length);
}

}  // namespace nomnom
