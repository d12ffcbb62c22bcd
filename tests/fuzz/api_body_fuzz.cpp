// libFuzzer target for nomnom-api's body check (api/src/message_check.cpp): everything an HTTP
// client sends to POST /ingest/message goes through it before anything is published.
//
// Input layout: the first byte is a selector: bit 0 names the entity in the path (Order), bit 1
// passes an Idempotency-Key (key-1); the rest is the body.
//
// Findings (abort): a crash, a sanitizer report (a stack overflow from deep nesting among them),
// a leak; an accepted body whose entity or message id could not be a subject token or a key,
// or a refusal that still carries an id.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "message_check.hpp"
#include "nomnom/common/identifiers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::string_view path_entity = (data[0] & 1) != 0 ? "Order" : "";
    const std::string id_hint = (data[0] & 2) != 0 ? "key-1" : "";
    const nomnom::api::CheckedMessage checked =
        nomnom::api::check_message(body, path_entity, id_hint, "Idempotency-Key");
    if (checked.error.empty()) {
        if (checked.entity && !nomnom::valid_entity(*checked.entity)) std::abort();
        if (!checked.id.empty() && !nomnom::valid_message_id(checked.id)) std::abort();
        if (!id_hint.empty() && checked.id != id_hint) std::abort();
    } else if (!checked.id.empty()) {
        std::abort();
    }
    return 0;
}
