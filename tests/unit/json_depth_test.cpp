#include <catch2/catch.hpp>
#include <string>

#include "nomnom/common/json_depth.hpp"

using nomnom::json_nests_deeper_than;

TEST_CASE("json_nests_deeper_than counts nesting, not brackets in strings", "[json]") {
    CHECK_FALSE(json_nests_deeper_than(R"({"a":[1,{"b":[]}]})", 4));
    CHECK(json_nests_deeper_than(R"({"a":[1,{"b":[]}]})", 3));
    CHECK_FALSE(json_nests_deeper_than(R"({"a":"[[[[[[","b":"\"[[[["})", 1));
    CHECK_FALSE(json_nests_deeper_than("[[]][[]][[]]", 2));
    // Closing brackets the parser would refuse first do not hide deeper nesting after them.
    CHECK(json_nests_deeper_than("]]]]" + std::string(5, '['), 4));
}

TEST_CASE("200 KB of opening brackets are refused at the limit, whatever follows", "[json]") {
    const std::string hostile(200 * 1024, '[');
    CHECK(json_nests_deeper_than(hostile, nomnom::kMaxJsonDepth));
    std::string at_limit =
        std::string(nomnom::kMaxJsonDepth, '[') + std::string(nomnom::kMaxJsonDepth, ']');
    CHECK_FALSE(json_nests_deeper_than(at_limit, nomnom::kMaxJsonDepth));
    CHECK(json_nests_deeper_than("[" + at_limit + "]", nomnom::kMaxJsonDepth));
}
