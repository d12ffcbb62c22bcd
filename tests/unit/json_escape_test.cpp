#include <catch2/catch.hpp>

#include "nomnom/common/json_escape.hpp"

TEST_CASE("json_escape escapes quotes, backslashes and control characters", "[json]") {
    CHECK(nomnom::json_escape("plain") == "plain");
    CHECK(nomnom::json_escape(R"(say "hi" \ bye)") == R"(say \"hi\" \\ bye)");
    CHECK(nomnom::json_escape("a\nb\rc\td") == R"(a\nb\rc\td)");
    CHECK(nomnom::json_escape(std::string_view("\x01\x1f", 2)) == R"(\u0001\u001f)");
    CHECK(nomnom::json_escape("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("append_json_escaped appends, escaping at the ends and between runs", "[json]") {
    std::string out = "{\"body\":\"";
    nomnom::append_json_escaped(out, std::string_view("\"a\0b\\\n", 6));
    CHECK(out == R"({"body":"\"a\u0000b\\\n)");
    nomnom::append_json_escaped(out, "");
    nomnom::append_json_escaped(out, "tail\x7f");
    CHECK(out == "{\"body\":\"\\\"a\\u0000b\\\\\\ntail\x7f");
}
