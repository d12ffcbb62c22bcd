#include "types.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace nomnom::generator {

namespace {

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::optional<Type> scalar_type(const std::string& name) {
    static const std::map<std::string, Type> names = {
        {"string", Type::String},     {"str", Type::String},         {"text", Type::String},
        {"integer", Type::Integer},   {"int", Type::Integer},        {"i32", Type::Integer},
        {"bigint", Type::BigInt},     {"i64", Type::BigInt},         {"long", Type::BigInt},
        {"float", Type::Float},       {"f64", Type::Float},          {"double", Type::Float},
        {"decimal", Type::Decimal},   {"numeric", Type::Decimal},    {"boolean", Type::Boolean},
        {"bool", Type::Boolean},      {"date", Type::Date},          {"naivedate", Type::Date},
        {"datetime", Type::DateTime}, {"timestamp", Type::DateTime}, {"uuid", Type::Uuid},
        {"json", Type::Json},         {"object", Type::Object},      {"array", Type::List},
        {"list", Type::List},
    };
    const auto found = names.find(lowercase(name));
    if (found == names.end()) return std::nullopt;
    return found->second;
}

}  // namespace

std::optional<TypeSpec> parse_type(const std::string& spelled, const Location& where,
                                   Diagnostics& diagnostics) {
    TypeSpec spec;
    spec.spelled = spelled;
    const auto open = spelled.find('[');
    if (open != std::string::npos) {
        if (spelled.back() != ']' || lowercase(spelled.substr(0, open)) != "list") {
            diagnostics.error(where, "type '" + spelled + "': expected List[<type>]");
            return std::nullopt;
        }
        const std::string inner = spelled.substr(open + 1, spelled.size() - open - 2);
        const auto item = scalar_type(inner);
        if (!item || *item == Type::List) {
            diagnostics.error(where, "type '" + spelled + "': unknown item type '" + inner + "'");
            return std::nullopt;
        }
        spec.type = Type::List;
        spec.item = *item;
        return spec;
    }
    const auto type = scalar_type(spelled);
    if (!type) {
        diagnostics.error(where,
                          "unknown type '" + spelled +
                              "' (expected String, Integer, BigInt, Float, Decimal, Boolean, "
                              "Date, DateTime, uuid, json, Object or List[<type>])");
        return std::nullopt;
    }
    spec.type = *type;
    return spec;
}

const char* dialect_name(Dialect dialect) {
    switch (dialect) {
        case Dialect::Postgres:
            return "postgresql";
        case Dialect::Sqlite:
            return "sqlite";
        case Dialect::MySql:
            return "mysql";
    }
    return "postgresql";
}

namespace {

struct ColumnTypes {
    const char* postgres;
    const char* sqlite;
    const char* mysql;
};

// Without a length, a precision or a scale.
ColumnTypes column_types(Type type) {
    switch (type) {
        case Type::String:
            // MySQL: not VARCHAR(maxLength), since the plugin checks that length itself and MySQL
            // counts a VARCHAR's whole width towards its 65,535-byte row limit; not TEXT, which
            // stops at 64 KiB where PostgreSQL's does not.
            return {"TEXT", "TEXT", "LONGTEXT"};
        case Type::Integer:
            return {"INTEGER", "INTEGER", "INT"};
        case Type::BigInt:
            return {"BIGINT", "INTEGER", "BIGINT"};
        case Type::Float:
            return {"DOUBLE PRECISION", "REAL", "DOUBLE"};
        case Type::Decimal:
            // A bare MySQL DECIMAL is DECIMAL(10, 0), which rounds every fraction away: this is
            // the widest there is.
            return {"NUMERIC", "NUMERIC", "DECIMAL(65, 30)"};
        case Type::Boolean:
            return {"BOOLEAN", "INTEGER", "BOOLEAN"};
        case Type::Date:
            return {"DATE", "TEXT", "DATE"};
        case Type::DateTime:
            // MySQL: microseconds, as PostgreSQL keeps. Not TIMESTAMP, which ends in 2038 and
            // converts each value from and to the session's time zone.
            return {"TIMESTAMPTZ", "TEXT", "DATETIME(6)"};
        case Type::Uuid:
            return {"UUID", "TEXT", "CHAR(36)"};
        case Type::Json:
        case Type::Object:
        case Type::List:
            return {"JSONB", "TEXT", "JSON"};
    }
    return {"TEXT", "TEXT", "LONGTEXT"};
}

}  // namespace

std::string sql_type(const TypeSpec& type, Dialect dialect) {
    if (dialect == Dialect::Postgres && type.type == Type::String && type.varchar_length) {
        return "VARCHAR(" + std::to_string(*type.varchar_length) + ")";
    }
    if (dialect != Dialect::Sqlite && type.type == Type::Decimal && type.precision) {
        return (dialect == Dialect::Postgres ? "NUMERIC(" : "DECIMAL(") +
               std::to_string(*type.precision) +
               (type.scale ? ", " + std::to_string(*type.scale) : "") + ")";
    }
    const ColumnTypes types = column_types(type.type);
    switch (dialect) {
        case Dialect::Postgres:
            return types.postgres;
        case Dialect::Sqlite:
            return types.sqlite;
        case Dialect::MySql:
            return types.mysql;
    }
    return types.postgres;
}

const char* abi_type(Type type) {
    switch (type) {
        case Type::Integer:
        case Type::BigInt:
            return "NOMNOM_TYPE_I64";
        case Type::Float:
            return "NOMNOM_TYPE_F64";
        case Type::Boolean:
            return "NOMNOM_TYPE_BOOL";
        case Type::Json:
        case Type::Object:
        case Type::List:
            return "NOMNOM_TYPE_JSON";
        default:
            return "NOMNOM_TYPE_TEXT";
    }
}

JsonGet json_get_of(const std::string& transform) {
    const std::string kind = transform.substr(transform.rfind('_') + 1);
    return {kind == "string"  ? Type::String
            : kind == "int"   ? Type::BigInt
            : kind == "float" ? Type::Float
                              : Type::Boolean,
            transform.starts_with("json_get_optional_")};
}

bool literal_stays_text(const Literal& literal, const TypeSpec& type) {
    return type.type == Type::Decimal &&
           (literal.kind == Literal::Kind::Integer || literal.kind == Literal::Kind::Float);
}

const char* runtime_type(Type type) {
    switch (type) {
        case Type::String:
            return "String";
        case Type::Integer:
            return "Integer";
        case Type::BigInt:
            return "BigInt";
        case Type::Float:
            return "Float";
        case Type::Decimal:
            return "Decimal";
        case Type::Boolean:
            return "Boolean";
        case Type::Date:
            return "Date";
        case Type::DateTime:
            return "DateTime";
        case Type::Uuid:
            return "Uuid";
        case Type::Json:
            return "Json";
        case Type::Object:
            return "Object";
        case Type::List:
            return "List";
    }
    return "Json";
}

bool is_json_like(Type type) {
    return type == Type::Json || type == Type::Object || type == Type::List;
}

}  // namespace nomnom::generator
