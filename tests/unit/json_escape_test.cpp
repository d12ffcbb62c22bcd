#include <catch2/catch.hpp>

#include "nomnom/common/json_escape.hpp"

TEST_CASE("json_escape escapes quotes, backslashes and control characters", "[json]") {
    CHECK(nomnom::json_escape("plain") == "plain");
    CHECK(nomnom::json_escape(R"(say "hi" \ bye)") == R"(say \"hi\" \\ bye)");
    CHECK(nomnom::json_escape("a\nb\rc\td") == R"(a\nb\rc\td)");
    CHECK(nomnom::json_escape(std::string_view("\x01\x1f", 2)) == R"(\u0001\u001f)");
    CHECK(nomnom::json_escape("caf\xc3\xa9") == "caf\xc3\xa9");
}
