#include "pipeline/envelope.hpp"

#include <rapidjson/document.h>

#include "nomnom/common/json_depth.hpp"
#include "nomnom/json_error.hpp"

namespace nomnom::host {

Envelope parse_envelope(std::string_view payload) {
    Envelope envelope;
    if (json_nests_deeper_than(payload, kMaxJsonDepth)) {
        envelope.error =
            "envelope nests deeper than " + std::to_string(kMaxJsonDepth) + " levels; not parsed";
        return envelope;
    }
    rapidjson::Document document;
    document.Parse(payload.data(), payload.size());
    if (document.HasParseError()) {
        envelope.error =
            "envelope is not valid JSON: " +
            json_error_reason(payload, document.GetParseError(), document.GetErrorOffset()) +
            " at offset " + std::to_string(document.GetErrorOffset());
        return envelope;
    }
    if (!document.IsObject()) {
        envelope.error = "envelope is not a JSON object";
        return envelope;
    }
    const rapidjson::Document& parsed = document;
    const auto body = parsed.FindMember("body");
    if (body == parsed.MemberEnd() || !body->value.IsString()) {
        envelope.error = "envelope has no string field \"body\"";
        return envelope;
    }
    envelope.body.assign(body->value.GetString(), body->value.GetStringLength());
    if (const auto id = parsed.FindMember("message_id");
        id != parsed.MemberEnd() && id->value.IsString()) {
        envelope.message_id.assign(id->value.GetString(), id->value.GetStringLength());
    }
    if (const auto type = parsed.FindMember("entity_type");
        type != parsed.MemberEnd() && type->value.IsString()) {
        envelope.entity_type.assign(type->value.GetString(), type->value.GetStringLength());
    }
    return envelope;
}

}  // namespace nomnom::host
