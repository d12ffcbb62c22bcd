#include "nomnom/common/identifiers.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace nomnom {
namespace {

// 1 to `max_length` ASCII letters, digits, '_', '-' and the characters of `extra`.
bool plain_token(std::string_view text, size_t max_length, std::string_view extra) {
    if (text.empty() || text.size() > max_length) return false;
    for (const char c : text) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                        extra.find(c) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

}  // namespace

bool valid_message_id(std::string_view id) {
    return plain_token(id, 128, "=");
}

bool valid_entity(std::string_view entity) {
    return plain_token(entity, 64, "");
}

std::string random_uuid() {
    uint8_t bytes[16];
    for (size_t got = 0; got < sizeof bytes;) {
        const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom for a message id");
        }
        got += static_cast<size_t>(n);
    }
    bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
    bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    text.reserve(36);
    for (size_t i = 0; i < sizeof bytes; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
        text += hex[bytes[i] >> 4];
        text += hex[bytes[i] & 0x0f];
    }
    return text;
}

}  // namespace nomnom
