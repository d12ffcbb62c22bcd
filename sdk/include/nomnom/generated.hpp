/*
 * Runtime support for plugins written by nomnom-gen (header-only, C++20, RapidJSON).
 *
 * Generated code keeps every field of every entity instance as a Value: a small tagged view
 * into the message's parsed JSON document (or into Scratch for values a transform built). Typing
 * happens once, in convert(), against the field's declared Type; every refusal throws
 * nomnom::Invalid with "<Entity>.<field>: <what was expected>, got <what came>", so the host
 * dead-letters the message with a reason that names the problem. Nothing is coerced silently:
 * the only widening is integer -> Float / Decimal.
 *
 * User transforms (declared in nomnom.yaml, see generator/README.md) have the signature
 *   nomnom::gen::Value name(std::span<const nomnom::gen::Value> inputs, nomnom::gen::Scratch&);
 * inputs are the sources in order followed by the literal args; a returned string must live in
 * the message's JSON or in Scratch (scratch.keep(std::string)).
 */
#ifndef NOMNOM_GENERATED_HPP
#define NOMNOM_GENERATED_HPP

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <nomnom/field_type.hpp>
#include <nomnom/json_error.hpp>
#include <nomnom/plugin.hpp>
#include <nomnom/utf8_check.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <limits>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nomnom::gen {

/* What generated code knows about a field, for conversion and for error messages. */
struct FieldSpec {
    const char* entity;
    const char* name;
    Type type;
    Type item_type; /* List only: Json accepts any item */
    bool nullable;
};

enum class Kind : std::uint8_t { Null, Int, Float, Bool, Text, Json };

struct Value {
    Kind kind = Kind::Null;
    std::int64_t i = 0; /* Int, and Bool as 0/1 */
    double f = 0;
    std::string_view s;
    const rapidjson::Value* j = nullptr;

    bool is_null() const noexcept { return kind == Kind::Null; }

    static Value null() noexcept { return {}; }
    static Value of_int(std::int64_t v) noexcept { return {Kind::Int, v, 0, {}, nullptr}; }
    static Value of_float(double v) noexcept { return {Kind::Float, 0, v, {}, nullptr}; }
    static Value of_bool(bool v) noexcept { return {Kind::Bool, v ? 1 : 0, 0, {}, nullptr}; }
    static Value of_text(std::string_view v) noexcept { return {Kind::Text, 0, 0, v, nullptr}; }
    /* JSON null and a missing member (nullptr) are both Null. */
    static Value of_json(const rapidjson::Value* v) noexcept {
        if (v == nullptr || v->IsNull()) return {};
        return {Kind::Json, 0, 0, {}, v};
    }
};

/* The text of the numbers of a message's JSON as the message gave them, so that a Decimal keeps
 * every digit, where the document holds a double (17 significant digits). Found when first
 * asked for in a message, so that a message without a Decimal read from a JSON number pays
 * nothing: the document's numbers and the message's number tokens, both in document order, are
 * paired by position. */
class NumberTexts {
  public:
    void parsed(std::string_view text, const rapidjson::Value& root) noexcept {
        text_ = text;
        root_ = &root;
        indexed_ = false;
    }
    void clear() noexcept { root_ = nullptr; }

    /* The number's text, when it is a number of the message's JSON. */
    std::optional<std::string_view> find(const rapidjson::Value& number) {
        if (root_ == nullptr) return std::nullopt;
        if (!indexed_) index();
        const auto found = std::lower_bound(
            index_.begin(), index_.end(), &number,
            [](const auto& entry, const rapidjson::Value* v) { return entry.first < v; });
        if (found == index_.end() || found->first != &number) return std::nullopt;
        return found->second;
    }

  private:
    void index() {
        indexed_ = true;
        values_.clear();
        tokens_.clear();
        index_.clear();
        collect(*root_);
        scan();
        /* Both see the same numbers of valid JSON; were they ever to differ, the double's own
         * digits are better than another number's. */
        if (values_.size() != tokens_.size()) return;
        for (std::size_t k = 0; k < values_.size(); ++k)
            index_.emplace_back(values_[k], tokens_[k]);
        std::sort(index_.begin(), index_.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
    }

    /* Depth is bounded by JsonDocument's nesting limit. */
    void collect(const rapidjson::Value& v) {
        if (v.IsNumber()) {
            values_.push_back(&v);
        } else if (v.IsObject()) {
            for (const auto& member : v.GetObject()) collect(member.value);
        } else if (v.IsArray()) {
            for (const auto& element : v.GetArray()) collect(element);
        }
    }

    /* In JSON that parsed, outside strings, only a number token has a '-' or a digit. */
    void scan() {
        const auto in_number = [](char c) {
            return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
                   c == 'E';
        };
        std::size_t k = 0;
        while (k < text_.size()) {
            const char c = text_[k];
            if (c == '"') {
                for (++k; k < text_.size() && text_[k] != '"'; ++k) {
                    if (text_[k] == '\\') ++k;
                }
                ++k;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                const std::size_t start = k;
                while (k < text_.size() && in_number(text_[k])) ++k;
                tokens_.push_back(text_.substr(start, k - start));
            } else {
                ++k;
            }
        }
    }

    std::string_view text_;
    const rapidjson::Value* root_ = nullptr;
    bool indexed_ = false;
    /* Kept across messages for their capacity. */
    std::vector<const rapidjson::Value*> values_;
    std::vector<std::string_view> tokens_;
    std::vector<std::pair<const rapidjson::Value*, std::string_view>> index_;
};

/* Per-message storage for strings that are not in the JSON document, and the way to the exact
 * text of the message's numbers. Cleared by the plugin before each message; std::deque keeps
 * earlier strings in place while it grows. */
class Scratch {
  public:
    std::string_view keep(std::string text) { return strings_.emplace_back(std::move(text)); }
    void clear() noexcept { strings_.clear(); }

    /* The number's text as the message gave it, when it is a number of the message's JSON. */
    std::optional<std::string_view> number_text(const rapidjson::Value& number) const {
        if (numbers_ == nullptr) return std::nullopt;
        return numbers_->find(number);
    }

  private:
    friend class JsonDocument;
    std::deque<std::string> strings_;
    NumberTexts* numbers_ = nullptr;
};

/* ---- Describing values in error messages ---------------------------------------------------- */

inline std::string quoted(std::string_view text) {
    constexpr std::size_t limit = 60;
    std::string out = "\"";
    out += text.substr(0, limit);
    if (text.size() > limit) out += "...";
    return out + "\"";
}

inline std::string describe(const rapidjson::Value& v) {
    switch (v.GetType()) {
        case rapidjson::kNullType:
            return "null";
        case rapidjson::kFalseType:
            return "false";
        case rapidjson::kTrueType:
            return "true";
        case rapidjson::kObjectType:
            return "an object";
        case rapidjson::kArrayType:
            return "an array";
        case rapidjson::kStringType:
            return "string " + quoted({v.GetString(), v.GetStringLength()});
        case rapidjson::kNumberType:
            break;
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    v.Accept(writer);
    return "number " + std::string(buffer.GetString(), buffer.GetSize());
}

inline std::string describe(const Value& v) {
    switch (v.kind) {
        case Kind::Null:
            return "null";
        case Kind::Int:
            return "number " + std::to_string(v.i);
        case Kind::Float: {
            char text[32];
            const auto end = std::to_chars(text, text + sizeof text, v.f).ptr;
            return "number " + std::string(text, end);
        }
        case Kind::Bool:
            return v.i != 0 ? "true" : "false";
        case Kind::Text:
            return "string " + quoted(v.s);
        case Kind::Json:
            return describe(*v.j);
    }
    return "?";
}

[[noreturn]] inline void refuse(const FieldSpec& field, const std::string& what) {
    throw Invalid(std::string(field.entity) + "." + field.name + ": " + what);
}

[[noreturn]] inline void expected(const FieldSpec& field, const char* what, const Value& got) {
    refuse(field, std::string("expected ") + what + ", got " + describe(got));
}

/* ---- Text formats --------------------------------------------------------------------------- */

namespace detail {

inline bool digits(std::string_view s, std::size_t from, std::size_t count) {
    if (from + count > s.size()) return false;
    for (std::size_t k = from; k < from + count; ++k) {
        if (s[k] < '0' || s[k] > '9') return false;
    }
    return true;
}

inline int number_at(std::string_view s, std::size_t from, std::size_t count) {
    int n = 0;
    for (std::size_t k = from; k < from + count; ++k) n = n * 10 + (s[k] - '0');
    return n;
}

inline bool leap_year(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

}  // namespace detail

/* YYYY-MM-DD with a real calendar day. */
inline bool is_date(std::string_view s) {
    using namespace detail;
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    if (!digits(s, 0, 4) || !digits(s, 5, 2) || !digits(s, 8, 2)) return false;
    const int year = number_at(s, 0, 4), month = number_at(s, 5, 2), day = number_at(s, 8, 2);
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1) return false;
    return day <= days[month - 1] + (month == 2 && leap_year(year) ? 1 : 0);
}

/* RFC 3339: date, 'T' or ' ', hh:mm:ss, optional fraction, optional Z or +hh:mm offset (a
 * missing offset is read by PostgreSQL in the session's time zone). */
inline bool is_datetime(std::string_view s) {
    using namespace detail;
    if (s.size() < 19 || !is_date(s.substr(0, 10))) return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
    if (!digits(s, 11, 2) || s[13] != ':' || !digits(s, 14, 2) || s[16] != ':' ||
        !digits(s, 17, 2)) {
        return false;
    }
    if (number_at(s, 11, 2) > 23 || number_at(s, 14, 2) > 59 || number_at(s, 17, 2) > 60) {
        return false;
    }
    std::size_t k = 19;
    if (k < s.size() && s[k] == '.') {
        const std::size_t start = ++k;
        while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
        if (k == start) return false;
    }
    if (k == s.size()) return true;
    if ((s[k] == 'Z' || s[k] == 'z') && k + 1 == s.size()) return true;
    return (s[k] == '+' || s[k] == '-') && k + 6 == s.size() && digits(s, k + 1, 2) &&
           s[k + 3] == ':' && digits(s, k + 4, 2) && number_at(s, k + 1, 2) <= 23 &&
           number_at(s, k + 4, 2) <= 59;
}

inline bool is_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t k = 0; k < s.size(); ++k) {
        const char c = s[k];
        if (k == 8 || k == 13 || k == 18 || k == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

/* [-+]digits[.digits][e[-+]digits], the forms PostgreSQL's NUMERIC input accepts. */
inline bool is_decimal(std::string_view s) {
    std::size_t k = 0;
    if (k < s.size() && (s[k] == '-' || s[k] == '+')) ++k;
    std::size_t mantissa = 0;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k, ++mantissa;
    if (k < s.size() && s[k] == '.') {
        ++k;
        while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k, ++mantissa;
    }
    if (mantissa == 0) return false;
    if (k < s.size() && (s[k] == 'e' || s[k] == 'E')) {
        ++k;
        if (k < s.size() && (s[k] == '-' || s[k] == '+')) ++k;
        const std::size_t start = k;
        while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
        if (k == start) return false;
    }
    return k == s.size();
}

inline std::string format_double(double value) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, value).ptr;
    return std::string(text, end);
}

/* ---- Conversion to a field's type ----------------------------------------------------------- */

namespace detail {

/* A JSON scalar as the Value kind it naturally is; objects and arrays stay Json. */
inline Value natural(const Value& v) {
    if (v.kind != Kind::Json) return v;
    const rapidjson::Value& j = *v.j;
    if (j.IsString()) return Value::of_text({j.GetString(), j.GetStringLength()});
    if (j.IsBool()) return Value::of_bool(j.GetBool());
    if (j.IsInt64()) return Value::of_int(j.GetInt64());
    if (j.IsNumber()) return Value::of_float(j.GetDouble());
    return v;
}

inline Value text_in_format(const FieldSpec& field, const Value& v, bool (*valid)(std::string_view),
                            const char* format) {
    if (v.kind != Kind::Text || !valid(v.s)) expected(field, format, v);
    return v;
}

}  // namespace detail

/* Converts v to the field's type (Null stays Null: nullability is checked by require()). */
inline Value convert(const Value& v, const FieldSpec& field, Scratch& scratch) {
    if (v.is_null()) return v;
    const Value n = detail::natural(v);
    switch (field.type) {
        case Type::String:
            if (n.kind != Kind::Text) expected(field, "a string", n);
            return n;
        case Type::Integer:
            if (n.kind != Kind::Int) expected(field, "an integer", n);
            if (n.i < std::numeric_limits<std::int32_t>::min() ||
                n.i > std::numeric_limits<std::int32_t>::max()) {
                expected(field, "a 32-bit integer (declare the field BigInt for more)", n);
            }
            return n;
        case Type::BigInt:
            if (n.kind != Kind::Int) expected(field, "an integer", n);
            return n;
        case Type::Float:
            if (n.kind == Kind::Int) return Value::of_float(static_cast<double>(n.i));
            if (n.kind != Kind::Float) expected(field, "a number", n);
            return n;
        case Type::Decimal:
            if (n.kind == Kind::Int) return Value::of_text(scratch.keep(std::to_string(n.i)));
            if (n.kind == Kind::Float) {
                /* A double has 17 significant digits; the message may have given more. */
                if (v.kind == Kind::Json) {
                    if (const auto text = scratch.number_text(*v.j)) return Value::of_text(*text);
                }
                return Value::of_text(scratch.keep(format_double(n.f)));
            }
            return detail::text_in_format(field, n, is_decimal, "a decimal number");
        case Type::Boolean:
            if (n.kind != Kind::Bool) expected(field, "true or false", n);
            return n;
        case Type::Date:
            return detail::text_in_format(field, n, is_date, "a date YYYY-MM-DD");
        case Type::DateTime:
            return detail::text_in_format(
                field, n, is_datetime, "an RFC 3339 timestamp YYYY-MM-DDThh:mm:ss[.f][Z|+hh:mm]");
        case Type::Uuid:
            return detail::text_in_format(field, n, is_uuid, "a UUID");
        case Type::Json:
            return v;
        case Type::Object:
            if (v.kind != Kind::Json || !v.j->IsObject()) expected(field, "a JSON object", v);
            return v;
        case Type::List:
            if (v.kind != Kind::Json || !v.j->IsArray()) expected(field, "a JSON array", v);
            if (field.item_type != Type::Json) {
                const FieldSpec item{field.entity, field.name, field.item_type, Type::Json, false};
                rapidjson::SizeType index = 0;
                for (const auto& element : v.j->GetArray()) {
                    try {
                        if (element.IsNull()) refuse(item, "null item");
                        convert(Value::of_json(&element), item, scratch);
                    } catch (const Invalid& e) {
                        refuse(field, "item " + std::to_string(index) + ": " + e.what());
                    }
                    ++index;
                }
            }
            return v;
    }
    return v;
}

inline const Value& require(const Value& v, const FieldSpec& field) {
    if (v.is_null() && !field.nullable) refuse(field, "required, got null or nothing");
    return v;
}

/* ---- Constraints (v1 `constraints`, legacy `args: [n]`) -------------------------------------- */

inline std::size_t utf8_length(std::string_view s) {
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

inline void check_length(const Value& v, const FieldSpec& field, std::optional<std::size_t> min,
                         std::optional<std::size_t> max) {
    if (v.kind != Kind::Text) return;
    const std::size_t length = utf8_length(v.s);
    if (min && length < *min) {
        refuse(field, "length " + std::to_string(length) + " is below minLength " +
                          std::to_string(*min) + " (" + quoted(v.s) + ")");
    }
    if (max && length > *max) {
        refuse(field, "length " + std::to_string(length) + " exceeds maxLength " +
                          std::to_string(*max) + " (" + quoted(v.s) + ")");
    }
}

inline double numeric(const Value& v) {
    if (v.kind == Kind::Int) return static_cast<double>(v.i);
    if (v.kind == Kind::Float) return v.f;
    if (v.kind == Kind::Text) return std::strtod(std::string(v.s).c_str(), nullptr);
    return std::nan("");
}

inline void check_range(const Value& v, const FieldSpec& field, std::optional<double> minimum,
                        std::optional<double> maximum) {
    if (v.is_null() || v.kind == Kind::Json || v.kind == Kind::Bool) return;
    const double x = numeric(v);
    if (minimum && !(x >= *minimum)) {
        refuse(field, describe(v) + " is below minimum " + format_double(*minimum));
    }
    if (maximum && !(x <= *maximum)) {
        refuse(field, describe(v) + " is above maximum " + format_double(*maximum));
    }
}

inline void check_pattern(const Value& v, const FieldSpec& field, const std::regex& pattern,
                          const char* pattern_text) {
    if (v.kind != Kind::Text) return;
    if (!std::regex_search(v.s.begin(), v.s.end(), pattern)) {
        refuse(field, quoted(v.s) + " does not match pattern " + pattern_text);
    }
}

/* The text a scalar compares as (enum membership, copy_field_conditional). */
inline std::string text_of(const Value& v) {
    const Value n = detail::natural(v);
    switch (n.kind) {
        case Kind::Null:
            return "";
        case Kind::Int:
            return std::to_string(n.i);
        case Kind::Float:
            return format_double(n.f);
        case Kind::Bool:
            return n.i != 0 ? "true" : "false";
        case Kind::Text:
            return std::string(n.s);
        case Kind::Json:
            break;
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    n.j->Accept(writer);
    return std::string(buffer.GetString(), buffer.GetSize());
}

inline void check_enum(const Value& v, const FieldSpec& field,
                       std::span<const char* const> allowed) {
    if (v.is_null()) return;
    const std::string text = text_of(v);
    std::string list;
    for (const char* option : allowed) {
        if (text == option) return;
        list += (list.empty() ? "" : ", ") + std::string(option);
    }
    refuse(field, describe(v) + " is not one of [" + list + "]");
}

/* ---- Builtin transforms --------------------------------------------------------------------- */

/* json_get_<type>(obj, "name"): a member of a JSON object, typed as `as`. Optional variants give
 * Null for a missing or null member; a present member of the wrong type is refused either way. */
inline Value json_get(const Value& object, const char* member, Type as, bool optional,
                      const FieldSpec& field, Scratch& scratch) {
    if (object.kind != Kind::Json || !object.j->IsObject()) {
        if (optional && object.is_null()) return Value::null();
        refuse(field, std::string("source of '") + member + "' is not a JSON object, got " +
                          describe(object));
    }
    const auto found = object.j->FindMember(member);
    const Value raw = Value::of_json(found == object.j->MemberEnd() ? nullptr : &found->value);
    if (raw.is_null()) {
        if (optional) return raw;
        refuse(field, std::string("member '") + member + "' is missing or null");
    }
    const FieldSpec typed{field.entity, field.name, as, Type::Json, true};
    try {
        return convert(raw, typed, scratch);
    } catch (const Invalid& e) {
        // convert() named the field; the reason names the member instead.
        const std::string_view what = e.what();
        refuse(field, std::string("member '") + member +
                          "': " + std::string(what.substr(what.find(": ") + 2)));
    }
}

/* A field without a source: the member of the instance's JSON object by that name; Null when
 * missing or when the instance's JSON is not an object. */
inline Value member(const rapidjson::Value* object, const char* name) {
    if (object == nullptr || !object->IsObject()) return Value::null();
    const auto found = object->FindMember(name);
    return Value::of_json(found == object->MemberEnd() ? nullptr : &found->value);
}

inline Value coalesce(std::initializer_list<Value> values) {
    for (const Value& v : values) {
        if (!v.is_null()) return v;
    }
    return Value::null();
}

/* minimal_existence: a value counts when it is neither null nor an empty string. */
inline bool present(const Value& v) {
    const Value n = detail::natural(v);
    return !n.is_null() && !(n.kind == Kind::Text && n.s.empty());
}

/* ---- Writing -------------------------------------------------------------------------------- */

inline void put(RowWriter& out, std::uint32_t column, const Value& v, const FieldSpec& field,
                rapidjson::StringBuffer& buffer) {
    if (v.is_null()) {
        out.put(column, std::nullopt);
        return;
    }
    const Value n = detail::natural(v);
    switch (field.type) {
        case Type::Integer:
        case Type::BigInt:
            out.put(column, n.i);
            return;
        case Type::Float:
            out.put(column, n.kind == Kind::Int ? static_cast<double>(n.i) : n.f);
            return;
        case Type::Boolean:
            out.put(column, n.i != 0);
            return;
        case Type::Json:
        case Type::Object:
        case Type::List:
            break;
        default:
            out.put(column, n.s);
            return;
    }
    buffer.Clear();
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    switch (v.kind) {
        case Kind::Json:
            v.j->Accept(writer);
            break;
        case Kind::Text:
            writer.String(v.s.data(), static_cast<rapidjson::SizeType>(v.s.size()));
            break;
        case Kind::Int:
            writer.Int64(v.i);
            break;
        case Kind::Float:
            writer.Double(v.f);
            break;
        case Kind::Bool:
            writer.Bool(v.i != 0);
            break;
        case Kind::Null:
            writer.Null();
            break;
    }
    out.put(column, std::string_view(buffer.GetString(), buffer.GetSize()));
}

/* ---- The message ---------------------------------------------------------------------------- */

namespace detail {

/* RapidJSON 1.1.0 decodes an escaped lone low surrogate (\udc00) into bytes that are not UTF-8
 * (ED B0 80). A message's own bytes are validated, so only such an escape can make them, and
 * only the strings of a message that has what may be one are checked. */
inline bool may_escape_low_surrogate(std::string_view text) {
    for (auto at = text.find("\\u"); at != std::string_view::npos; at = text.find("\\u", at + 1)) {
        if (at + 3 >= text.size()) return false;
        const char d = text[at + 2], c = text[at + 3];
        if ((d == 'd' || d == 'D') && ((c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F'))) {
            return true;
        }
    }
    return false;
}

inline bool has_surrogate(const char* s, rapidjson::SizeType n) {
    for (rapidjson::SizeType k = 0; k + 1 < n; ++k) {
        if (static_cast<unsigned char>(s[k]) == 0xED &&
            static_cast<unsigned char>(s[k + 1]) >= 0xA0) {
            return true;
        }
    }
    return false;
}

/* SAX handler building a rapidjson::Document, with numbers converted by std::from_chars rather
 * than RapidJSON: 1.1.0's full-precision strtod reads "0e100" as -2e146 (and "-0e100" as +2e146),
 * through a __builtin_clzll(0) in DiyFp::Normalize. Integers stay integers when they fit in 64
 * bits, as with RapidJSON; a number out of the range of a double is refused. Nesting is limited,
 * since parsing, writing a JSON column and destroying values recurse: refusing the 257th level
 * in StartObject/StartArray stops the parser's recursion there. */
class ExactNumbers {
  public:
    static constexpr int kMaxDepth = 256;

    /* `check_surrogates`: the text may escape a lone low surrogate (may_escape_low_surrogate). */
    ExactNumbers(rapidjson::Document& document, bool check_surrogates)
        : d_(document), check_surrogates_(check_surrogates) {}

    /* Why the handler stopped the parse, when it did. */
    const char* refusal() const { return refusal_; }

    /* Int..Double are never called with kParseNumbersAsStringsFlag, but the Reader needs them. */
    bool Null() { return d_.Null(); }
    bool Bool(bool b) { return d_.Bool(b); }
    bool Int(int i) { return d_.Int(i); }
    bool Uint(unsigned u) { return d_.Uint(u); }
    bool Int64(std::int64_t i) { return d_.Int64(i); }
    bool Uint64(std::uint64_t u) { return d_.Uint64(u); }
    bool Double(double x) { return d_.Double(x); }
    bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
        const char* end = text + length;
        if (std::string_view(text, length).find_first_of(".eE") == std::string_view::npos) {
            std::int64_t i = 0;
            if (std::from_chars(text, end, i).ec == std::errc{}) return d_.Int64(i);
            std::uint64_t u = 0;
            if (std::from_chars(text, end, u).ec == std::errc{}) return d_.Uint64(u);
        }
        double x = 0;
        if (std::from_chars(text, end, x).ec != std::errc{}) {
            refusal_ = "number out of the range of a double";
            return false;
        }
        return d_.Double(x);
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        return is_text(s, n) && d_.String(s, n, copy);
    }
    bool StartObject() { return enter() && d_.StartObject(); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        return is_text(s, n) && d_.Key(s, n, copy);
    }
    bool EndObject(rapidjson::SizeType members) {
        --depth_;
        return d_.EndObject(members);
    }
    bool StartArray() { return enter() && d_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) {
        --depth_;
        return d_.EndArray(elements);
    }

  private:
    bool is_text(const char* s, rapidjson::SizeType n) {
        if (!check_surrogates_ || !has_surrogate(s, n)) return true;
        refusal_ = "a \\u escape of a lone UTF-16 surrogate, which is not a character";
        return false;
    }

    bool enter() {
        if (++depth_ <= kMaxDepth) return true;
        refusal_ = "objects and arrays nested deeper than 256 levels";
        return false;
    }

    rapidjson::Document& d_;
    const bool check_surrogates_;
    int depth_ = 0;
    const char* refusal_ = nullptr;
};

}  // namespace detail

using nomnom::invalid_utf8_offset;

/* A JSON document reused across messages: its pool keeps a first block, so small messages parse
 * without a heap allocation. Parsing recurses (5% fewer instructions than RapidJSON's iterative
 * parser on tpch orders), as deep as ExactNumbers lets it: 256 levels. The payload is checked for
 * valid UTF-8 first, so no invalid text reaches a TEXT column, then parsed in place in a copy:
 * strings are not copied again (RapidJSON's own per-character UTF-8 validation and the string
 * copies were 40% of the tpch plugin's instructions). The numbers' texts are kept for `scratch`
 * (NumberTexts), valid while `text` is. */
class JsonDocument {
  public:
    JsonDocument() : pool_(first_block_, sizeof first_block_), document_(&pool_) {}
    JsonDocument(const JsonDocument&) = delete;
    JsonDocument& operator=(const JsonDocument&) = delete;

    /* The document refers into a copy of `text` kept until the next parse. */
    const rapidjson::Value& parse(std::string_view text, Scratch& scratch) {
        document_.SetNull();
        pool_.Clear();
        numbers_.clear();
        scratch.numbers_ = &numbers_;
        /* Not part of the JSON; RFC 8259 lets a parser ignore it, and RapidJSON's UTF-8 input
         * stream did. */
        if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
        if (const std::size_t bad = invalid_utf8_offset(text); bad != std::string_view::npos) {
            throw Invalid("payload is not valid JSON: invalid UTF-8 at byte " +
                          std::to_string(bad));
        }
        buffer_.assign(text);
        constexpr unsigned flags =
            rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;
        rapidjson::ParseResult result;
        const char* refusal = nullptr;
        auto generate = [&](rapidjson::Document& document) {
            rapidjson::InsituStringStream stream(buffer_.data());
            detail::ExactNumbers handler(document, detail::may_escape_low_surrogate(text));
            result = reader_.Parse<flags>(stream, handler);
            refusal = handler.refusal();
            return !result.IsError();
        };
        document_.Populate(generate);
        if (result.IsError()) {
            throw Invalid("payload is not valid JSON: " +
                          (refusal != nullptr
                               ? std::string(refusal)
                               : json_error_reason(text, result.Code(), result.Offset())) +
                          " at byte " + std::to_string(result.Offset()));
        }
        numbers_.parsed(text, document_);
        return document_;
    }

  private:
    alignas(std::max_align_t) char first_block_[64 * 1024];
    rapidjson::MemoryPoolAllocator<> pool_;
    rapidjson::Document document_;
    rapidjson::Reader reader_;  // kept: its stack would be allocated again for every message
    std::string buffer_;        // the payload, parsed in place
    NumberTexts numbers_;
};

}  // namespace nomnom::gen

#endif /* NOMNOM_GENERATED_HPP */
