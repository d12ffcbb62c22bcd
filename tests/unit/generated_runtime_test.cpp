// The runtime of generated plugins (sdk/include/nomnom/generated.hpp) on its own: the UTF-8 check
// every payload passes before it is parsed, and what a refused payload is told.
#include <nomnom/generated.hpp>

#include <catch2/catch.hpp>

#include <string>

using nomnom::gen::invalid_utf8_offset;

namespace {
constexpr auto kValid = std::string_view::npos;
}

TEST_CASE("valid UTF-8 passes, at every length and position", "[generated]") {
    CHECK(invalid_utf8_offset("") == kValid);
    CHECK(invalid_utf8_offset("plain ascii, longer than one word of eight bytes") == kValid);
    // 2, 3 and 4 bytes, the extremes of each length, after and inside ASCII runs.
    CHECK(invalid_utf8_offset("\xc2\x80 \xdf\xbf caf\xc3\xa9") == kValid);
    CHECK(invalid_utf8_offset("0123456789\xe0\xa0\x80\xef\xbf\xbf\xed\x9f\xbf") == kValid);
    CHECK(invalid_utf8_offset("\xf0\x90\x80\x80 and \xf4\x8f\xbf\xbf at the end") == kValid);
    CHECK(invalid_utf8_offset("{\"name\":\"\xe6\x97\xa5\xe6\x9c\xac\"}") == kValid);
}

TEST_CASE("invalid UTF-8 is found at the byte where it starts", "[generated]") {
    CHECK(invalid_utf8_offset("\x80") == 0);                           // lone continuation
    CHECK(invalid_utf8_offset("abcdefgh\xff") == 8);                   // never valid, after a word
    CHECK(invalid_utf8_offset("ab\xc0\xaf") == 2);                     // overlong '/'
    CHECK(invalid_utf8_offset("ab\xc1\xbf") == 2);                     // overlong
    CHECK(invalid_utf8_offset("\xe0\x9f\xbf") == 0);                   // overlong 3 bytes
    CHECK(invalid_utf8_offset("x\xed\xa0\x80") == 1);                  // surrogate U+D800
    CHECK(invalid_utf8_offset("\xf0\x8f\xbf\xbf") == 0);               // overlong 4 bytes
    CHECK(invalid_utf8_offset("\xf4\x90\x80\x80") == 0);               // above U+10FFFF
    CHECK(invalid_utf8_offset("\xf5\x80\x80\x80") == 0);               // never valid lead
    CHECK(invalid_utf8_offset("caf\xc3") == 3);                        // truncated at the end
    CHECK(invalid_utf8_offset("\xe2\x82") == 0);                       // truncated 3 bytes
    CHECK(invalid_utf8_offset("\xe2\x28\xa1") == 0);                   // bad second byte
    CHECK(invalid_utf8_offset("\xf0\x90\x28\xbc") == 0);               // bad third byte
    CHECK(invalid_utf8_offset(std::string_view("a\0b\xc3", 4)) == 3);  // NUL is ASCII
}

TEST_CASE("a payload that is not UTF-8 or not JSON is refused with the byte", "[generated]") {
    nomnom::gen::JsonDocument document;
    nomnom::gen::Scratch scratch;
    CHECK(document.parse(R"({"k":"v"})", scratch)["k"].GetString() == std::string("v"));
    CHECK_THROWS_WITH(document.parse("{\"k\":\"caf\xc3\x28\"}", scratch),
                      "payload is not valid JSON: invalid UTF-8 at byte 9");
    CHECK_THROWS_WITH(document.parse(R"({"k":})", scratch),
                      "payload is not valid JSON: Invalid value at byte 5");
    // A producer's unescaped newline, tab or NUL is named as such (RapidJSON calls the first an
    // invalid escape and NUL a missing quotation mark).
    CHECK_THROWS_WITH(document.parse("{\"k\":\"line 1\nline 2\"}", scratch),
                      "payload is not valid JSON: unescaped control character 0x0A in a string "
                      "(JSON needs it written as \\n) at byte 12");
    CHECK_THROWS_WITH(document.parse(std::string_view("{\"k\":\"a\0b\"}", 11), scratch),
                      "payload is not valid JSON: unescaped control character 0x00 in a string "
                      "(JSON needs it written as \\u0000) at byte 7");
    CHECK_THROWS_WITH(document.parse("{\"k\":\"\x1f\"}", scratch),
                      "payload is not valid JSON: unescaped control character 0x1F in a string "
                      "(JSON needs it written as \\u001f) at byte 6");
    // A real invalid escape keeps RapidJSON's words.
    CHECK_THROWS_WITH(document.parse(R"({"k":"\x"})", scratch),
                      "payload is not valid JSON: Invalid escape character in string at byte 6");
    // The document is reusable after a refusal, and strings are unescaped in its own copy.
    const std::string payload = R"({"k":"a\tb\u00e9"})";
    CHECK(document.parse(payload, scratch)["k"].GetString() == std::string("a\tb\xc3\xa9"));
    CHECK(payload == R"({"k":"a\tb\u00e9"})");
}

TEST_CASE("a leading byte order mark is skipped, anywhere else it is what it is", "[generated]") {
    nomnom::gen::JsonDocument document;
    nomnom::gen::Scratch scratch;
    CHECK(document.parse("\xEF\xBB\xBF{\"k\":\"v\"}", scratch)["k"].GetString() ==
          std::string("v"));
    CHECK(document.parse("{\"k\":\"\xEF\xBB\xBF\"}", scratch)["k"].GetString() ==
          std::string("\xEF\xBB\xBF"));
    CHECK_THROWS_WITH(document.parse("\xEF\xBB\xBF\xEF\xBB\xBF{}", scratch),
                      "payload is not valid JSON: Invalid value at byte 0");
}

TEST_CASE("an escaped lone low surrogate is refused where it stands", "[generated]") {
    nomnom::gen::JsonDocument document;
    nomnom::gen::Scratch scratch;
    // The offset is that of the byte after the string.
    const std::string refused =
        "payload is not valid JSON: a \\u escape of a lone UTF-16 "
        "surrogate, which is not a character at byte ";
    CHECK_THROWS_WITH(document.parse(R"({"k":"a\udc00"})", scratch), refused + "14");
    CHECK_THROWS_WITH(document.parse(R"({"a":[1,{"\uDFFF":2}]})", scratch), refused + "17");
    // A pair is a character, and a high surrogate alone RapidJSON refuses itself.
    CHECK(document.parse(R"({"k":"\ud83d\ude00"})", scratch)["k"].GetString() ==
          std::string("\xF0\x9F\x98\x80"));
    CHECK_THROWS(document.parse(R"({"k":"\ud83d"})", scratch));
}
