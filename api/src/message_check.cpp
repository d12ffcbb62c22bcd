#include "message_check.hpp"

#include <rapidjson/reader.h>

#include <optional>
#include <string>
#include <string_view>

#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/json_depth.hpp"
#include "nomnom/json_error.hpp"
#include "nomnom/utf8_check.hpp"

namespace nomnom::api {
namespace {

// Validates a body and keeps the two top-level string members the API reads, without building
// a document of the rest. Stops RapidJSON's recursive parser past kMaxJsonDepth, before it can
// recurse any deeper.
class TopLevelFields final
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TopLevelFields> {
  public:
    struct Member {
        std::string_view name;
        std::optional<std::string> value;  // when its first occurrence is a string
        bool seen = false;  // as a document's FindMember: the first occurrence counts
    };
    Member entity_type{"entity_type", std::nullopt};
    Member message_id{"message_id", std::nullopt};
    bool too_deep = false;

    bool StartObject() { return nest(); }
    bool StartArray() { return nest(); }
    bool EndObject(rapidjson::SizeType) { return unnest(); }
    bool EndArray(rapidjson::SizeType) { return unnest(); }
    bool Key(const char* text, rapidjson::SizeType length, bool) {
        if (depth_ != 1) return true;
        const std::string_view key(text, length);
        for (Member* member : {&entity_type, &message_id}) {
            if (key == member->name && !member->seen) {
                member->seen = true;
                awaited_ = member;
            }
        }
        return true;
    }
    bool String(const char* text, rapidjson::SizeType length, bool) {
        if (awaited_ != nullptr) awaited_->value.emplace(text, length);
        awaited_ = nullptr;
        return true;
    }
    // Any other value.
    bool Default() {
        awaited_ = nullptr;
        return true;
    }

  private:
    bool nest() {
        awaited_ = nullptr;
        too_deep = ++depth_ > kMaxJsonDepth;
        return !too_deep;
    }
    bool unnest() {
        --depth_;
        return true;
    }

    size_t depth_ = 0;
    Member* awaited_ = nullptr;  // the member whose value comes next
};

}  // namespace

CheckedMessage check_message(std::string_view payload, std::string_view path_entity,
                             const std::string& id_hint, const char* id_source) {
    CheckedMessage checked;
    // Checked apart, eight ASCII bytes at a time, rather than by the parser one by one.
    if (const size_t bad = invalid_utf8_offset(payload); bad != std::string_view::npos) {
        checked.error = "Invalid JSON: invalid UTF-8 at byte offset " + std::to_string(bad);
        return checked;
    }
    TopLevelFields fields;
    rapidjson::Reader reader;
    rapidjson::MemoryStream bytes(payload.data(), payload.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
    const rapidjson::ParseResult result = reader.Parse(stream, fields);
    if (fields.too_deep) {
        checked.error =
            "Invalid JSON: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
        return checked;
    }
    if (result.IsError()) {
        checked.error =
            "Invalid JSON: " + json_error_reason(payload, result.Code(), result.Offset()) +
            " at byte offset " + std::to_string(result.Offset());
        return checked;
    }
    if (!path_entity.empty()) {
        checked.entity = std::string(path_entity);
    } else {
        checked.entity = std::move(fields.entity_type.value);
    }
    if (checked.entity && !valid_entity(*checked.entity)) {
        checked.error = "entity '" + *checked.entity +
                        "' is not valid: use 1-64 of A-Z a-z 0-9 _ - (it becomes a subject token)";
        checked.entity.reset();
        return checked;
    }
    checked.id = id_hint;
    checked.id_source = id_source;
    if (checked.id.empty() && fields.message_id.value) {
        checked.id = std::move(*fields.message_id.value);
        checked.id_source = "message_id field";
    }
    if (!checked.id.empty() && !valid_message_id(checked.id)) {
        checked.error = checked.id_source + " '" + checked.id +
                        "' is not valid: use 1-128 of A-Z a-z 0-9 _ - =";
        checked.id.clear();
    }
    return checked;
}

}  // namespace nomnom::api
