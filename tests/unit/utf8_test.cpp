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
