// The entity model nomnom-gen builds from either YAML format, before and after resolution.
#pragma once

#include <nomnom/field_type.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nomnom::generator {

// Where something came from, for "file:line: ..." messages. Lines are 1-based.
struct Location {
    std::string file;
    int line = 0;

    std::string str() const { return file + ":" + std::to_string(line); }
};

// The same types as the generated code's, so that a value can be checked at generation time by
// the code that checks it at parse time.
using nomnom::gen::Type;

struct TypeSpec {
    Type type = Type::String;
    Type item = Type::Json;  // List only
    std::string spelled;     // as written in the YAML, for messages and docs
    std::optional<int> varchar_length;
    std::optional<int> precision;
    std::optional<int> scale;
};

// A YAML scalar used as a literal (transform args, constants, enum members, defaults).
struct Literal {
    enum class Kind { Null, String, Integer, Float, Boolean } kind = Kind::Null;
    std::string text;  // the scalar as written
    Location where;
};

// One input of a transform: a field of an entity instance in scope, or a variable (an
// each_known_as item, a parent alias, an entity name) that stands for a JSON object.
struct SourceRef {
    std::string scope;  // entity name, parent alias, or "self"; empty for a variable
    std::string field;  // empty for a variable
    std::string variable;
    Location where;
};

struct Computation {
    std::string transform;
    std::vector<SourceRef> sources;
    std::vector<Literal> args;
    std::optional<SourceRef> condition_field;
    std::optional<std::string> condition_equals;
    Location where;
};

struct Constraints {
    std::optional<std::size_t> min_length;
    std::optional<std::size_t> max_length;
    std::optional<double> minimum;
    std::optional<double> maximum;
    std::optional<std::string> pattern;
    std::vector<Literal> enum_values;
    std::optional<Literal> default_value;
    bool unique = false;
    bool indexed = false;
    bool primary_key = false;
};

struct Field {
    std::string name;
    TypeSpec type;
    bool nullable = false;
    std::optional<Computation> computed;
    std::optional<Literal> constant;
    bool root_source = false;        // receives the raw message text
    std::string root_source_entity;  // `root_source: <Entity>`: the root it names; empty for true
    Location root_source_where;
    Constraints constraints;
    std::string doc;
    Location where;
};

// A database column (legacy field_overrides, or every field in v1).
struct Column {
    std::string name;
    TypeSpec type;
    bool nullable = false;
    bool indexed = false;
    Location where;
};

struct ParentRef {
    std::string alias;  // the name it is referred to by in sources
    std::string entity;
    bool ancillary = false;
    Location where;
};

struct RepeatedFor {
    std::string entity;
    std::string field;
    std::string item_name;
    Location where;
};

struct IndexDef {
    std::string name;
    std::vector<std::string> fields;
    bool unique = false;
    Location where;
};

struct Persistence {
    std::string table;
    std::string id_column;
    Location id_column_where;  // line 0: not declared (v1)
    bool autogenerate_id = false;
    Type id_type = Type::Integer;
    std::optional<std::string> primary_key_field;  // an explicit, non-generated primary key
    std::optional<TypeSpec> primary_key_type;  // as declared with it, checked against the column
    Location primary_key_where;
    std::vector<std::string> unicity;
    Location unicity_where;  // a unicity field that is not a column is reported here
    std::vector<IndexDef> indexes;
    std::vector<Column> columns;  // empty: every field is a column
    bool columns_declared = false;
    Location where;
};

struct MinimalExistence {
    bool require_all = false;
    std::vector<std::string> fields;
    Location where;
};

enum class EntityKind { Root, Derived, Reference };

struct Entity {
    std::string name;
    EntityKind kind = EntityKind::Root;
    std::optional<bool> repeated;  // `repetition` as declared: true repeated, false singleton
    Location repetition_where;
    std::vector<ParentRef> parents;
    std::optional<RepeatedFor> repeated_for;
    std::vector<Field> fields;
    std::optional<Persistence> persistence;
    std::optional<MinimalExistence> minimal_existence;
    bool is_abstract = false;
    std::optional<std::string> extends;
    std::string doc;
    bool snake_case_columns = false;  // v1: camelCase fields, snake_case columns
    Location where;
};

// A C++ transform declared in nomnom.yaml.
struct UserTransform {
    std::string name;
    TypeSpec returns;
    Location where;
};

struct Project {
    std::string name;
    std::string subject_prefix = "messages.ingest";
    // The VARCHAR length of a String column without maxLength in a MySQL key or index
    // (--mysql-key-length): 255 characters of utf8mb4 take 1,020 of the 3,072 bytes an InnoDB
    // key may hold, which leaves room for a few such columns in one key.
    int mysql_key_length = 255;
    // The fillfactor of every table in sql/postgresql.sql (--pg-fillfactor); 100 (PostgreSQL's
    // default) writes none. Room left in each page lets an upsert that changes no indexed
    // column write the row's new version into the same page (a HOT update: no index entries,
    // a small WAL record) instead of a page elsewhere plus an entry in every index.
    int pg_fillfactor = 100;
    std::vector<std::string> transform_sources;  // absolute paths of C++ files to compile in
    std::map<std::string, UserTransform> transforms;
    std::map<std::string, Location> rust_transforms;  // declared for the original, not usable
    std::optional<std::string> file;
};

}  // namespace nomnom::generator
