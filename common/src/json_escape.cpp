#include "nomnom/common/json_escape.hpp"

#include <cstdio>

namespace nomnom {

namespace {

// What stands for `c` inside a JSON string; nullptr when `c` stands for itself.
const char* json_escape_of(unsigned char c) {
    switch (c) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default:
            return nullptr;
    }
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
    // Most text needs no escape at all: it is appended in runs between the characters that do.
    size_t run = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(text.data() + run, i - run);
        if (const char* escaped = json_escape_of(c)) {
            out += escaped;
        } else {
            char control[8];
            std::snprintf(control, sizeof control, "\\u%04x", c);
            out += control;
        }
        run = i + 1;
    }
    out.append(text.data() + run, text.size() - run);
}

std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    append_json_escaped(out, text);
    return out;
}

}  // namespace nomnom
