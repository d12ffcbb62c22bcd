// nomnom-api's check of a message body: what it reads of it and how it refuses it.

#include "message_check.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "nomnom/common/json_depth.hpp"

namespace {

using nomnom::api::check_message;
using nomnom::api::CheckedMessage;

CheckedMessage check(const std::string& body, const std::string& id_hint = "") {
    return check_message(body, "", id_hint, "Idempotency-Key");
}

}  // namespace

TEST_CASE("check_message reads entity_type and message_id from the top level only", "[api][unit]") {
    CheckedMessage checked =
        check(R"({"n":{"entity_type":"Inner","message_id":"inner"},"entity_type":"Order",)"
              R"("list":[{"message_id":"x"}],"message_id":"m-1"})");
    CHECK(checked.error.empty());
    CHECK(checked.entity == "Order");
    CHECK(checked.id == "m-1");
    CHECK(checked.id_source == "message_id field");

    // The first member of a name counts, as a document's lookup would find it.
    checked = check(R"({"message_id":7,"message_id":"later","entity_type":null})");
    CHECK(checked.error.empty());
    CHECK(checked.id.empty());
    CHECK_FALSE(checked.entity);
    checked = check(R"({"entity_type":"A","entity_type":"B"})");
    CHECK(checked.entity == "A");

    // The path's entity and the Idempotency-Key win over the body's.
    checked = check_message(R"({"entity_type":"Order","message_id":"m-1"})", "Path", "key-1",
                            "Idempotency-Key");
    CHECK(checked.entity == "Path");
    CHECK(checked.id == "key-1");

    // Not an object: nothing to read, and valid all the same.
    checked = check(R"(["entity_type","Order"])");
    CHECK(checked.error.empty());
    CHECK_FALSE(checked.entity);

    CHECK(check(R"({"entity_type":"no spaces"})").error ==
          "entity 'no spaces' is not valid: use 1-64 of A-Z a-z 0-9 _ - (it becomes a subject "
          "token)");
    CHECK(check(R"({"message_id":"a/b"})").error ==
          "message_id field 'a/b' is not valid: use 1-128 of A-Z a-z 0-9 _ - =");
}

TEST_CASE("check_message refuses what is not JSON, naming where", "[api][unit]") {
    const size_t limit = nomnom::kMaxJsonDepth;
    const std::string at_limit = std::string(limit, '[') + std::string(limit, ']');
    CHECK(check(at_limit).error.empty());
    CHECK(check("[" + at_limit + "]").error == "Invalid JSON: nested deeper than 256 levels");
    // Refused where it passes the limit, however deep it would have gone on.
    CHECK(check(std::string(1 << 20, '[')).error == "Invalid JSON: nested deeper than 256 levels");
    CHECK(check("{{").error == "Invalid JSON: Missing a name for object member at byte offset 1");

    CHECK(check(R"({"a":1)").error ==
          "Invalid JSON: Missing a comma or '}' after an object member at byte offset 6");
    CHECK(check("{\"a\":\"\xff\"}").error == "Invalid JSON: invalid UTF-8 at byte offset 6");
    CHECK(check("{\"a\":\"line\nbreak\"}").error ==
          "Invalid JSON: unescaped control character 0x0A in a string (JSON needs it written "
          "as \\n) at byte offset 10");
    CHECK(check("").error == "Invalid JSON: The document is empty at byte offset 0");
}
