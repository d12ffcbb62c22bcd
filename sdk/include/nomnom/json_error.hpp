/*
 * Why RapidJSON refused a text, in words that point at the cause. Shared by the generated
 * plugins' parse (nomnom/generated.hpp), nomnom-api and nomnom-host, so that a message is
 * described the same way wherever it is refused.
 */
#ifndef NOMNOM_JSON_ERROR_HPP
#define NOMNOM_JSON_ERROR_HPP

#include <rapidjson/error/en.h>
#include <rapidjson/error/error.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace nomnom {

/* RapidJSON's reason for refusing `text` at `offset`, without its closing period. A raw control
 * character in a string (a newline or tab a producer forgot to escape, the commonest mistake)
 * is named as such: RapidJSON calls it an invalid escape, or, for NUL, a missing quotation
 * mark. */
inline std::string json_error_reason(std::string_view text, rapidjson::ParseErrorCode code,
                                     std::size_t offset) {
    const bool in_string = code == rapidjson::kParseErrorStringEscapeInvalid ||
                           code == rapidjson::kParseErrorStringMissQuotationMark;
    if (in_string && offset < text.size() && static_cast<unsigned char>(text[offset]) < 0x20) {
        const auto c = static_cast<unsigned char>(text[offset]);
        const char* shorthand = c == '\n'   ? "\\n"
                                : c == '\t' ? "\\t"
                                : c == '\r' ? "\\r"
                                : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f"
                                            : nullptr;
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X", c);
        return std::string("unescaped control character ") + byte +
               " in a string (JSON needs it written as " + (shorthand ? shorthand : escaped) + ")";
    }
    std::string reason = rapidjson::GetParseError_En(code);
    if (!reason.empty() && reason.back() == '.') reason.pop_back();
    return reason;
}

}  // namespace nomnom

#endif /* NOMNOM_JSON_ERROR_HPP */
