/*
 * Whether a text is UTF-8, checked fast: shared by the generated plugins' parse
 * (nomnom/generated.hpp), nomnom-api and nomnom-host, so that a text is refused the same way
 * wherever it is checked.
 */
#ifndef NOMNOM_UTF8_CHECK_HPP
#define NOMNOM_UTF8_CHECK_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace nomnom {

/* Offset of the first byte of `text` that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid), or npos. ASCII, most of a typical
 * payload, is passed over eight bytes at a time. */
inline std::size_t invalid_utf8_offset(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            std::uint64_t word;
            std::memcpy(&word, p + i, sizeof word);
            if ((word & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        unsigned char low = 0x80, high = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            if (c == 0xE0) low = 0xA0;  /* overlong */
            if (c == 0xED) high = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            if (c == 0xF0) low = 0x90;  /* overlong */
            if (c == 0xF4) high = 0x8F; /* above U+10FFFF */
        } else {
            return i;
        }
        if (i + length > n || p[i + 1] < low || p[i + 1] > high) return i;
        for (std::size_t k = 2; k < length; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
        }
        i += length;
    }
    return std::string_view::npos;
}

}  // namespace nomnom

#endif /* NOMNOM_UTF8_CHECK_HPP */
