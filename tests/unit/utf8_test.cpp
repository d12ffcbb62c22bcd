#include <catch2/catch.hpp>

#include "nomnom/common/utf8.hpp"

TEST_CASE("utf8_prefix never cuts inside a UTF-8 sequence", "[utf8]") {
    using nomnom::utf8_prefix;
    CHECK(utf8_prefix("short", 10) == "short");
    CHECK(utf8_prefix("abcdef", 3) == "abc");
    // "é" is two bytes, "€" three, "😀" four: a cut in any of them backs up to its start.
    CHECK(utf8_prefix("ab\xc3\xa9", 3) == "ab");
    CHECK(utf8_prefix("ab\xc3\xa9", 4) == "ab\xc3\xa9");
    CHECK(utf8_prefix("a\xe2\x82\xac", 2) == "a");
    CHECK(utf8_prefix("a\xe2\x82\xac", 3) == "a");
    CHECK(utf8_prefix("a\xf0\x9f\x98\x80z", 4) == "a");
    CHECK(utf8_prefix("a\xf0\x9f\x98\x80z", 5) == "a\xf0\x9f\x98\x80");
    CHECK(utf8_prefix("\xc3\xa9", 0).empty());
}

TEST_CASE("invalid_utf8_offset finds the first byte that is not well-formed UTF-8", "[utf8]") {
    using nomnom::invalid_utf8_offset;
    constexpr size_t valid = std::string_view::npos;
    CHECK(invalid_utf8_offset("") == valid);
    CHECK(invalid_utf8_offset("plain ascii") == valid);
    CHECK(invalid_utf8_offset("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf") ==
          valid);
    CHECK(invalid_utf8_offset("ab\xff") == 2);
    CHECK(invalid_utf8_offset("\xc0\xaf") == 0);          // overlong '/'
    CHECK(invalid_utf8_offset("\xe0\x80\xaf") == 0);      // overlong, 3 bytes
    CHECK(invalid_utf8_offset("x\xed\xb0\x80") == 1);     // a surrogate (what "\udc00" decodes to)
    CHECK(invalid_utf8_offset("\xf4\x90\x80\x80") == 0);  // above U+10FFFF
    CHECK(invalid_utf8_offset("ok\xe2\x82") == 2);        // truncated at the end
    CHECK(invalid_utf8_offset("\xe2\x28\xa1") == 0);      // bad continuation
    CHECK(invalid_utf8_offset("\x80") == 0);              // a lone continuation byte
}
