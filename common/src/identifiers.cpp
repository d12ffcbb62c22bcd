#include "nomnom/common/identifiers.hpp"

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

}  // namespace nomnom
