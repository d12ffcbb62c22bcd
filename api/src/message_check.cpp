#include "message_check.hpp"

#include <rapidjson/document.h>

#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/json_depth.hpp"
#include "nomnom/json_error.hpp"

namespace nomnom::api {
namespace {

const rapidjson::Value* string_member(const rapidjson::Document& document, const char* name) {
    if (!document.IsObject()) return nullptr;
    const auto found = document.FindMember(name);
    return found != document.MemberEnd() && found->value.IsString() ? &found->value : nullptr;
}

}  // namespace

CheckedMessage check_message(std::string_view payload, std::string_view path_entity,
                             const std::string& id_hint, const char* id_source) {
    CheckedMessage checked;
    if (json_nests_deeper_than(payload, kMaxJsonDepth)) {
        checked.error =
            "Invalid JSON: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
        return checked;
    }
    rapidjson::Document document;
    document.Parse<rapidjson::kParseValidateEncodingFlag>(payload.data(), payload.size());
    if (document.HasParseError()) {
        checked.error =
            "Invalid JSON: " +
            json_error_reason(payload, document.GetParseError(), document.GetErrorOffset()) +
            " at byte offset " + std::to_string(document.GetErrorOffset());
        return checked;
    }
    if (!path_entity.empty()) {
        checked.entity = std::string(path_entity);
    } else if (const rapidjson::Value* field = string_member(document, "entity_type")) {
        checked.entity = std::string(field->GetString(), field->GetStringLength());
    }
    if (checked.entity && !valid_entity(*checked.entity)) {
        checked.error = "entity '" + *checked.entity +
                        "' is not valid: use 1-64 of A-Z a-z 0-9 _ - (it becomes a subject token)";
        checked.entity.reset();
        return checked;
    }
    checked.id = id_hint;
    checked.id_source = id_source;
    if (checked.id.empty()) {
        if (const rapidjson::Value* field = string_member(document, "message_id")) {
            checked.id.assign(field->GetString(), field->GetStringLength());
            checked.id_source = "message_id field";
        }
    }
    if (!checked.id.empty() && !valid_message_id(checked.id)) {
        checked.error = checked.id_source + " '" + checked.id +
                        "' is not valid: use 1-128 of A-Z a-z 0-9 _ - =";
        checked.id.clear();
    }
    return checked;
}

}  // namespace nomnom::api
