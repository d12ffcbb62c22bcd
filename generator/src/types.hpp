// The one mapping from YAML type names to nomnom types, SQL column types and ABI column types.
#pragma once

#include "diagnostics.hpp"
#include "model.hpp"

#include <optional>
#include <string>

namespace nomnom::generator {

// Accepts the legacy names (String, Integer, BigInt/i64, Float, Decimal, Boolean, Date,
// DateTime, List[...], Object, Json) and the v1 lowercase ones (string, integer, bigint, float,
// decimal, boolean, date, timestamp, uuid, json, array), case-insensitively.
std::optional<TypeSpec> parse_type(const std::string& spelled, const Location& where,
                                   Diagnostics& diagnostics);

enum class Dialect { Postgres, Sqlite, MySql };
inline constexpr Dialect kDialects[] = {Dialect::Postgres, Dialect::Sqlite, Dialect::MySql};

// What db_dialect returns on that database: the DDL's entry in the plugin and its file name.
const char* dialect_name(Dialect dialect);

// The column type of a value; on MySQL, a String in a key or index is a VARCHAR whose length
// the emitter chooses (TEXT cannot be indexed whole there), which this is not.
std::string sql_type(const TypeSpec& type, Dialect dialect);

// The nomnom_type enumerator name the column is declared with in the plugin descriptor.
const char* abi_type(Type type);

// The nomnom::gen::Type enumerator name in generated code.
const char* runtime_type(Type type);

bool is_json_like(Type type);

// What a builtin json_get_* / json_get_optional_* transform gives.
struct JsonGet {
    Type gives;
    bool optional;
};
JsonGet json_get_of(const std::string& transform);

// A number given to a Decimal field stays text, so that it keeps every digit (convert() checks
// it like any decimal text).
bool literal_stays_text(const Literal& literal, const TypeSpec& type);

}  // namespace nomnom::generator
