// The plugin source. Its names come from the schema's (names.hpp): entity Order is struct Order,
// whose members are its fields' values, built by add_order (a route) or build_order (a derived
// entity) into order_instances_. Instances are built in dependency order, parents completely
// before children, so a child may keep a pointer to its parent's instance.
#include "emitters.hpp"
#include "names.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

namespace nomnom::generator {

std::string cpp_string(const std::string& text) {
    std::string out = "\"";
    char previous = 0;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '?':
                // "??" starts a trigraph, which compilers warn about even where they ignore it.
                if (previous == '?') out += "\" \"";
                out += ch;
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    // Octal is never extended by a following digit beyond three.
                    char escaped[8];
                    std::snprintf(escaped, sizeof escaped, "\\%03o", c);
                    out += escaped;
                } else {
                    out += ch;
                }
        }
        previous = ch;
    }
    return out + "\"";
}

std::vector<std::string> doc_lines(const std::string& text) {
    std::vector<std::string> lines(1);
    for (std::size_t k = 0; k < text.size(); ++k) {
        const char c = text[k];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && k + 1 < text.size() && text[k + 1] == '\n') ++k;
            lines.emplace_back();
            continue;
        }
        const auto byte = static_cast<unsigned char>(c);
        lines.back() += (byte < 0x20 && c != '\t') || byte == 0x7f ? ' ' : c;
    }
    for (std::string& line : lines) {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    lines.erase(lines.begin(), std::find_if(lines.begin(), lines.end(),
                                            [](const std::string& line) { return !line.empty(); }));
    return lines;
}

std::vector<std::string> plugin_subjects(const Schema& schema) {
    std::vector<std::string> subjects;
    for (const int k : schema.routes) {
        subjects.push_back(schema.project.subject_prefix + "." +
                           schema.entities[static_cast<std::size_t>(k)].name);
    }
    return subjects;
}

namespace {

// A raw string literal R"<tag>(...)<tag>" with the bytes of `text`, for text to be read as it is
// (the DDL); the tag gets a number when the text contains ")<tag>\"".
std::string cpp_raw_string(const std::string& text, const std::string& tag) {
    std::string delimiter = tag;
    for (int n = 1; text.find(")" + delimiter + "\"") != std::string::npos; ++n) {
        delimiter = tag + std::to_string(n);
    }
    // A carriage return in a raw literal would be read as a newline, and other control
    // characters are not source text: such bytes go between raw pieces as escaped literals.
    const auto keeps = [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f);
    };
    std::string out;
    std::size_t at = 0;
    do {
        const bool raw = at == text.size() || keeps(text[at]);
        std::size_t end = at;
        while (end < text.size() && keeps(text[end]) == raw) ++end;
        const std::string piece = text.substr(at, end - at);
        if (!out.empty()) out += " ";
        out += raw ? "R\"" + delimiter + "(" + piece + ")" + delimiter + "\"" : cpp_string(piece);
        at = end;
    } while (at < text.size());
    return out;
}

// `text` as a block comment after `indent`, one line of it a line, or nothing for no text.
// Nothing in the text may end the comment ("*/"), open a nested one or make a trigraph
// ("/*" and "??/" at a line's end, which compilers warn about).
std::string doc_comment(const std::string& text, const std::string& indent) {
    std::string out;
    for (const std::string& line : doc_lines(text)) {
        std::string safe;
        for (const char c : line) {
            const char previous = safe.empty() ? 0 : safe.back();
            if ((previous == '*' && c == '/') || (previous == '/' && c == '*')) safe += ' ';
            safe += c;
        }
        if (safe.ends_with("?\?/")) safe.insert(safe.size() - 1, " ");
        out += out.empty() ? indent + "/* " + safe
                           : "\n" + indent + (safe.empty() ? " *" : " * " + safe);
    }
    return out.empty() ? out : out + " */\n";
}

std::string literal_value(const Literal& literal) {
    switch (literal.kind) {
        case Literal::Kind::Null:
            return "g::Value::null()";
        case Literal::Kind::String:
            return "g::Value::of_text(" + cpp_string(literal.text) + ")";
        case Literal::Kind::Integer:
            return "g::Value::of_int(INT64_C(" + literal.text + "))";
        case Literal::Kind::Float:
            return "g::Value::of_float(" + literal.text +
                   (literal.text.find_first_of(".eE") == std::string::npos ? ".0" : "") + ")";
        case Literal::Kind::Boolean:
            return std::string("g::Value::of_bool(") + literal.text + ")";
    }
    return "g::Value::null()";
}

// A field's constant or default.
std::string field_literal(const Literal& literal, const Field& field) {
    if (literal_stays_text(literal, field.type)) {
        return "g::Value::of_text(" + cpp_string(literal.text) + ")";
    }
    return literal_value(literal);
}

std::string field_spec(const std::string& name, const std::string& entity, const std::string& field,
                       const TypeSpec& type, bool nullable) {
    return "        static constexpr g::FieldSpec " + name + "{" + cpp_string(entity) + ", " +
           cpp_string(field) + ", g::Type::" + runtime_type(type.type) +
           ", g::Type::" + runtime_type(type.type == Type::List ? type.item : Type::Json) + ", " +
           (nullable ? "true" : "false") + "};\n";
}

class Emitter {
  public:
    Emitter(const Schema& schema, const PluginIdentity& plugin)
        : schema_(schema), plugin_(plugin) {}

    std::string run() {
        header();
        for (const int k : schema_.order) entity_struct(k);
        descriptor_parts();
        plugin_class();
        out_ << "}  // namespace\n\nNOMNOM_PLUGIN(GeneratedPlugin)\n";
        return out_.str();
    }

  private:
    const Entity& entity(int k) const { return schema_.entities[static_cast<std::size_t>(k)]; }
    const ResolvedEntity& resolved(int k) const {
        return schema_.resolved[static_cast<std::size_t>(k)];
    }

    // The entity's struct, and the stem of the plugin's members for it: add_<stem>,
    // build_<stem>, one_<stem> and <stem>_instances_.
    std::string type(int k) const { return cpp_type_name(entity(k).name); }
    std::string stem(int k) const { return cpp_member_name(entity(k).name); }
    std::string instances(int k) const { return stem(k) + "_instances_"; }
    std::string member(int k, std::size_t j) const {
        return cpp_member_name(entity(k).fields[j].name);
    }
    bool publishes_any() const {
        return std::any_of(schema_.order.begin(), schema_.order.end(),
                           [&](int k) { return resolved(k).published; });
    }
    std::string column_spec(int k, std::size_t c) const {
        return type(k) + "::column_::" + cpp_member_name(resolved(k).columns[c].column.name);
    }

    void header() {
        out_ << "// Generated by nomnom-gen " << plugin_.version << " for plugin '" << plugin_.name
             << "'. Do not edit: change the entity YAML and regenerate.\n// Entities:";
        for (const int k : schema_.order) out_ << " " << entity(k).name;
        out_
            << "\n//\n"
               "// Each entity is a struct named after it, whose members are its fields' values.\n"
               "// Names ending in '_' are nomnom-gen's own, or stand for a C++ keyword (class_).\n"
               "// Instances are built in dependency order, a parent's completely before its\n"
               "// children's, so that a child can keep a pointer to its parent's (parent_).\n"
               "#include <nomnom/generated.hpp>\n\n#include <array>\n#include <cstdint>\n"
               "#include <optional>\n#include <regex>\n#include <string>\n#include <vector>\n\n";
        if (!schema_.project.transforms.empty()) {
            out_ << "// C++ transforms declared in nomnom.yaml (transforms.cpp.functions).\n"
                    "namespace nomnom_transforms {\n";
            for (const auto& [name, transform] : schema_.project.transforms) {
                out_ << "nomnom::gen::Value " << name
                     << "(std::span<const nomnom::gen::Value> inputs, nomnom::gen::Scratch& "
                        "scratch);\n";
            }
            out_ << "}  // namespace nomnom_transforms\n\n";
        }
        out_ << "namespace {\n\nnamespace g = nomnom::gen;\n\n";
    }

    // The struct of an entity's instances, with what its values are checked against.
    void entity_struct(int k) {
        const Entity& e = entity(k);
        const ResolvedEntity& r = resolved(k);
        out_ << "// " << e.name << " (" << std::filesystem::path(e.where.file).filename().string()
             << ")\n"
             << doc_comment(e.doc, "") << "struct " << type(k) << " {\n"
             << "    // What each field's values are converted to and checked against.\n"
             << "    struct field_ {\n";
        for (std::size_t j = 0; j < e.fields.size(); ++j) {
            const Field& f = e.fields[j];
            out_ << field_spec(member(k, j), e.name, f.name, f.type, f.nullable);
        }
        out_ << "    };\n";
        nested_constants(k, "pattern_", [](const Field& f, const std::string& name) {
            if (!f.constraints.pattern) return std::string();
            return "        static inline const std::regex " + name + "{" +
                   cpp_string(*f.constraints.pattern) + "};\n";
        });
        nested_constants(k, "allowed_", [](const Field& f, const std::string& name) {
            const auto& values = f.constraints.enum_values;
            if (values.empty()) return std::string();
            std::string list;
            for (const auto& value : values) {
                list += (list.empty() ? "" : ", ") + cpp_string(value.text);
            }
            return "        static constexpr const char* " + name + "[] = {" + list + "};\n";
        });
        if (r.persistent || r.published) {
            out_ << "    // The columns of table " << cpp_string(r.table)
                 << ". A value is checked against its column\n"
                    "    // too where their type or nullability differ (field_overrides).\n"
                    "    struct column_ {\n";
            for (const auto& rc : r.columns) {
                out_ << field_spec(cpp_member_name(rc.column.name), e.name, rc.column.name,
                                   rc.column.type, rc.column.nullable);
            }
            out_ << "    };\n    static constexpr nomnom_column columns_[] = {\n";
            for (const auto& rc : r.columns) {
                out_ << "        nomnom::column(" << cpp_string(rc.column.name) << ", "
                     << abi_type(rc.column.type.type)
                     << ", nomnom::Nullable::" << (rc.column.nullable ? "yes" : "no") << "),\n";
            }
            out_ << "    };\n";
            if (!r.conflict_keys.empty()) {
                out_ << "    static constexpr const char* keys_[] = {";
                for (std::size_t c = 0; c < r.conflict_keys.size(); ++c) {
                    out_ << (c ? ", " : "") << cpp_string(r.conflict_keys[c]);
                }
                out_ << "};\n";
            }
        }
        out_ << "\n    const rapidjson::Value* json_ = nullptr;\n";
        if (r.driver >= 0) out_ << "    const " << type(r.driver) << "* parent_ = nullptr;\n";
        for (std::size_t j = 0; j < e.fields.size(); ++j) {
            out_ << doc_comment(e.fields[j].doc, "    ") << "    g::Value " << member(k, j)
                 << ";\n";
        }
        out_ << "};\n\n";
    }

    // A struct of the constants `constant` gives for some fields of entity k, if any.
    template <class Constant>
    void nested_constants(int k, const char* name, const Constant& constant) {
        std::string members;
        for (std::size_t j = 0; j < entity(k).fields.size(); ++j) {
            members += constant(entity(k).fields[j], member(k, j));
        }
        if (!members.empty()) out_ << "    struct " << name << " {\n" << members << "    };\n";
    }

    void descriptor_parts() {
        out_ << "// A row names its table by its position in tables.\nenum : std::uint32_t {\n";
        std::string tables;
        std::string outputs;
        for (const int k : schema_.order) {
            const ResolvedEntity& r = resolved(k);
            if (!r.persistent && !r.published) continue;
            out_ << "    " << stem(k) << "_table,\n";
            // A published table has no conflict keys: nothing is upserted.
            tables += "    nomnom::table(" + cpp_string(r.table) + ", " + type(k) + "::columns_, " +
                      (r.published ? "{}" : type(k) + "::keys_") + "),\n";
            outputs += r.published ? "    NOMNOM_OUTPUT_PUBLISH,\n" : "    NOMNOM_OUTPUT_STORE,\n";
        }
        out_ << "};\n\nconst nomnom_table tables[] = {\n" << tables << "};\n\n";
        if (publishes_any()) {
            out_ << "// Where each table's rows go (plugin ABI 1.1): entities without persistence "
                    "are\n// published, never stored.\nconst std::uint32_t table_outputs[] = {\n"
                 << outputs << "};\n\n";
        }
        out_ << "const char* const subjects[] = {\n";
        for (const auto& subject : plugin_subjects(schema_)) {
            out_ << "    " << cpp_string(subject) << ",\n";
        }
        out_ << "};\n\n";
        std::string entries;
        for (const Dialect dialect : kDialects) {
            const std::string name = dialect_name(dialect);
            out_ << "constexpr const char ddl_" << name
                 << "[] = " << cpp_raw_string(emit_ddl(schema_, dialect), "sql") << ";\n\n";
            entries += "    {" + cpp_string(name) + ", ddl_" + name + "},\n";
        }
        out_ << "// The DDL per dialect (plugin ABI 1.1); hosts before 1.1 read the 1.0 fields,\n"
                "// ddl_postgresql and ddl_sqlite, alone.\n"
                "constexpr nomnom_ddl ddl[] = {\n"
             << entries << "};\n\n";
    }

    // The value `place` reads, seen from the instance `x`.
    std::string read(int k, std::size_t j, const SourceRef& source) const {
        Diagnostics ignored;  // resolve() has reported every problem already
        const auto place = schema_.place_of(k, static_cast<int>(j), source, ignored);
        std::string instance = "x.";
        if (place->singleton_lookup) {
            instance = "one_" + stem(place->entity) + "()->";
        } else {
            for (int hop = 0; hop < place->ancestor_hops; ++hop) instance += "parent_->";
        }
        const std::string value =
            place->kind == ValuePlace::Kind::Json
                ? "g::Value::of_json(" + instance + "json_)"
                : instance + member(place->entity, static_cast<std::size_t>(place->field));
        if (!place->singleton_lookup) return value;
        return "(one_" + stem(place->entity) + "() != nullptr ? " + value + " : g::Value::null())";
    }

    std::string computation(int k, std::size_t j) const {
        const Field& f = entity(k).fields[j];
        if (f.root_source) return "g::Value::of_text(nomnom::view(message_->payload))";
        if (f.constant) return field_literal(*f.constant, f);
        if (!f.computed) return "g::member(x.json_, " + cpp_string(f.name) + ")";
        const Computation& c = *f.computed;
        const auto source = [&](std::size_t s) { return read(k, j, c.sources[s]); };
        if (c.transform == "copy_field") return source(0);
        if (c.transform == "constant_value") return field_literal(c.args[0], f);
        if (c.transform == "coalesce") {
            std::string list;
            for (std::size_t s = 0; s < c.sources.size(); ++s) list += (s ? ", " : "") + source(s);
            return "g::coalesce({" + list + "})";
        }
        if (c.transform == "copy_field_conditional") {
            return "(g::text_of(" + read(k, j, *c.condition_field) +
                   ") == " + cpp_string(*c.condition_equals) + " ? " + source(0) + " : " +
                   source(1) + ")";
        }
        if (c.transform.starts_with("json_get_")) {
            const JsonGet get = json_get_of(c.transform);
            return "g::json_get(" + source(0) + ", " + cpp_string(c.args[0].text) +
                   ", g::Type::" + runtime_type(get.gives) + ", " +
                   (get.optional ? "true" : "false") + ", spec, scratch_)";
        }
        std::string inputs;
        for (std::size_t s = 0; s < c.sources.size(); ++s) inputs += (s ? ", " : "") + source(s);
        for (const auto& arg : c.args) inputs += (inputs.empty() ? "" : ", ") + literal_value(arg);
        return "nomnom_transforms::" + c.transform + "(std::array<g::Value, " +
               std::to_string(c.sources.size() + c.args.size()) + ">{" + inputs + "}, scratch_)";
    }

    void compute_fields(int k, const std::string& indent) {
        const Entity& e = entity(k);
        for (std::size_t j = 0; j < e.fields.size(); ++j) {
            const Field& f = e.fields[j];
            const Constraints& c = f.constraints;
            out_ << indent << "{  // " << f.name << "\n"
                 << indent << "    const g::FieldSpec& spec = " << type(k)
                 << "::field_::" << member(k, j) << ";\n"
                 << indent << "    g::Value v = g::convert(" << computation(k, j)
                 << ", spec, scratch_);\n";
            if (c.default_value) {
                out_ << indent << "    if (v.is_null()) v = g::convert("
                     << field_literal(*c.default_value, f) << ", spec, scratch_);\n";
            }
            out_ << indent << "    g::require(v, spec);\n";
            const auto optional_size = [](const std::optional<std::size_t>& v) {
                return v ? "std::optional<std::size_t>(" + std::to_string(*v) + ")"
                         : std::string("std::nullopt");
            };
            const auto optional_double = [](const std::optional<double>& v) {
                if (!v) return std::string("std::nullopt");
                char text[64];
                std::snprintf(text, sizeof text, "%.17g", *v);
                return "std::optional<double>(" + std::string(text) + ")";
            };
            if (c.min_length || c.max_length) {
                out_ << indent << "    g::check_length(v, spec, " << optional_size(c.min_length)
                     << ", " << optional_size(c.max_length) << ");\n";
            }
            if (c.minimum || c.maximum) {
                out_ << indent << "    g::check_range(v, spec, " << optional_double(c.minimum)
                     << ", " << optional_double(c.maximum) << ");\n";
            }
            if (c.pattern) {
                out_ << indent << "    g::check_pattern(v, spec, " << type(k)
                     << "::pattern_::" << member(k, j) << ", " << cpp_string(*c.pattern) << ");\n";
            }
            if (!c.enum_values.empty()) {
                out_ << indent << "    g::check_enum(v, spec, " << type(k)
                     << "::allowed_::" << member(k, j) << ");\n";
            }
            out_ << indent << "    x." << member(k, j) << " = v;\n" << indent << "}\n";
        }
        if (e.minimal_existence) {
            std::string test;
            const std::string join = e.minimal_existence->require_all ? " && " : " || ";
            for (const auto& name : e.minimal_existence->fields) {
                for (std::size_t j = 0; j < e.fields.size(); ++j) {
                    if (e.fields[j].name == name) {
                        test += (test.empty() ? "" : join) + "g::present(x." + member(k, j) + ")";
                    }
                }
            }
            out_ << indent << "if (!(" << test << ")) " << instances(k) << ".pop_back();  // "
                 << "minimal_existence\n";
        }
    }

    void build_functions() {
        for (const int k : schema_.order) {
            const Entity& e = entity(k);
            const ResolvedEntity& r = resolved(k);
            if (r.driver < 0) {
                out_ << "    void add_" << stem(k) << "(const rapidjson::Value& json) {\n"
                     << "        if (!json.IsObject()) {\n"
                     << "            throw nomnom::Invalid("
                     << cpp_string(e.name + ": expected a JSON object, got ")
                     << " + g::describe(json));\n        }\n"
                     << "        " << type(k) << "& x = " << instances(k) << ".emplace_back();\n"
                     << "        x.json_ = &json;\n";
                compute_fields(k, "        ");
                out_ << "    }\n\n";
                continue;
            }
            out_ << "    void build_" << stem(k) << "() {\n"
                 << "        for (const " << type(r.driver) << "& parent : " << instances(r.driver)
                 << ") {\n";
            std::string indent = "            ";
            if (r.repeated_field >= 0) {
                const Entity& driver = entity(r.driver);
                const auto list_field = static_cast<std::size_t>(r.repeated_field);
                const std::string list_name = driver.name + "." + driver.fields[list_field].name;
                out_ << indent << "const g::Value& list = parent." << member(r.driver, list_field)
                     << ";\n"
                     << indent << "if (list.is_null()) continue;\n"
                     << indent << "if (list.kind != g::Kind::Json || !list.j->IsArray()) {\n"
                     << indent << "    throw nomnom::Invalid("
                     << cpp_string(e.name + ": repeated_for " + list_name +
                                   " is not an array, got ")
                     << " + g::describe(list));\n"
                     << indent << "}\n"
                     << indent << "for (const rapidjson::Value& element : list.j->GetArray()) {\n";
                indent += "    ";
                out_ << indent << type(k) << "& x = " << instances(k) << ".emplace_back();\n"
                     << indent << "x.json_ = &element;\n";
            } else {
                out_ << indent << type(k) << "& x = " << instances(k) << ".emplace_back();\n"
                     << indent << "x.json_ = parent.json_;\n";
            }
            out_ << indent << "x.parent_ = &parent;\n";
            compute_fields(k, indent);
            if (r.repeated_field >= 0) out_ << "            }\n";
            out_ << "        }\n    }\n\n";
        }
    }

    void write_rows() {
        out_ << "    void write(nomnom::RowWriter& out) {\n";
        for (const int k : schema_.order) {
            const ResolvedEntity& r = resolved(k);
            if (!r.persistent && !r.published) continue;
            const Entity& e = entity(k);
            out_ << "        for (std::size_t row = 0; row < " << instances(k)
                 << ".size(); ++row) {\n"
                 << "            const " << type(k) << "& x = " << instances(k) << "[row];\n"
                 << "            out.begin(" << stem(k) << "_table);\n";
            for (std::size_t c = 0; c < r.columns.size(); ++c) {
                const auto& rc = r.columns[c];
                const std::string spec = column_spec(k, c);
                std::string value;
                if (rc.synthetic) {
                    value = rc.column.name == "nomnom_message_id"
                                ? "g::Value::of_text(nomnom::view(message_->message_id))"
                                : "g::Value::of_int(static_cast<std::int64_t>(row))";
                    out_ << "            g::put(out, " << c << ", " << value << ", " << spec
                         << ", buffer_);\n";
                    continue;
                }
                if (rc.field < 0) {
                    value = "g::member(x.json_, " + cpp_string(rc.column.name) + ")";
                } else {
                    const auto field = static_cast<std::size_t>(rc.field);
                    const Field& f = e.fields[field];
                    value = "x." + member(k, field);
                    if (f.type.type == rc.column.type.type && (rc.column.nullable || !f.nullable)) {
                        out_ << "            g::put(out, " << c << ", " << value << ", " << spec
                             << ", buffer_);\n";
                        continue;
                    }
                }
                // The column's declared type or nullability differs from the field's
                // (field_overrides), so the value is checked against the column too.
                out_ << "            g::put(out, " << c << ", g::require(g::convert(" << value
                     << ", " << spec << ", scratch_), " << spec << "), " << spec << ", buffer_);\n";
            }
            out_ << "            out.end();\n        }\n";
        }
        out_ << "    }\n\n";
    }

    void route_function() {
        out_ << "    // Adds the instances of the entity a message is: the one the subject's\n"
                "    // last token names, else the envelope's entity_type. False when neither\n"
                "    // names one.\n"
                "    bool route(const nomnom_message& message, const rapidjson::Value& payload) {\n"
                "        const std::string_view subject = nomnom::view(message.subject);\n"
                "        const std::string_view token = subject.substr(subject.rfind('.') + 1);\n"
                "        const std::string_view type = nomnom::view(message.entity_type);\n"
                "        for (const std::string_view name : {token, type}) {\n";
        for (const int k : schema_.routes) {
            out_ << "            if (name == " << cpp_string(entity(k).name) << ") {\n";
            if (entity(k).kind == EntityKind::Reference) {
                out_ << "                if (payload.IsArray()) {\n"
                     << "                    for (const rapidjson::Value& item : "
                        "payload.GetArray()) add_"
                     << stem(k) << "(item);\n"
                     << "                } else {\n"
                     << "                    add_" << stem(k) << "(payload);\n"
                     << "                }\n";
            } else {
                out_ << "                add_" << stem(k) << "(payload);\n";
            }
            out_ << "                return true;\n            }\n";
        }
        out_ << "        }\n        return false;\n    }\n\n";
    }

    void plugin_class() {
        std::string route_names;
        for (const int k : schema_.routes) {
            route_names += (route_names.empty() ? "" : ", ") + entity(k).name;
        }
        out_ << "class GeneratedPlugin {\n  public:\n"
             << "    static constexpr nomnom::PluginInfo info{\n"
             << "        .name = " << cpp_string(plugin_.name) << ",\n"
             << "        .version = " << cpp_string(plugin_.version) << ",\n"
             << "        .subjects = subjects,\n        .tables = tables,\n"
             << "        .threading = NOMNOM_THREADING_INSTANCE_PER_THREAD,\n"
             << "        .ddl_postgresql = ddl_postgresql,\n        .ddl_sqlite = ddl_sqlite,\n"
             << (publishes_any() ? "        .table_outputs = table_outputs,\n" : "")
             << "        .ddl = ddl,\n    };\n\n"
             << "    GeneratedPlugin(const nomnom_host_api&, std::string_view) {}\n\n"
             << "    nomnom_status parse(const nomnom_message& message, nomnom::RowWriter& out) "
                "{\n"
             << "        scratch_.clear();\n";
        for (const int k : schema_.order) out_ << "        " << instances(k) << ".clear();\n";
        out_ << "        message_ = &message;\n"
             << "        const rapidjson::Value& payload = "
                "document_.parse(nomnom::view(message.payload), scratch_);\n"
             << "        if (!route(message, payload)) {\n"
             << "            throw nomnom::Invalid(\"no entity for subject '\" + "
                "std::string(nomnom::view(message.subject)) + \"' or entity_type '\" + "
                "std::string(nomnom::view(message.entity_type)) + "
             << cpp_string("' (this plugin reads " + route_names + ")") << ");\n"
             << "        }\n";
        for (const int k : schema_.order) {
            if (resolved(k).driver >= 0) out_ << "        build_" << stem(k) << "();\n";
        }
        out_ << "        write(out);\n        return NOMNOM_OK;\n    }\n\n  private:\n";
        route_function();
        build_functions();
        write_rows();
        std::set<int> singletons;
        for (const int k : schema_.order) {
            const Entity& e = entity(k);
            for (std::size_t j = 0; j < e.fields.size(); ++j) {
                if (!e.fields[j].computed) continue;
                for (const auto& source : inputs_of(*e.fields[j].computed)) {
                    Diagnostics ignored;
                    const auto place = schema_.place_of(k, static_cast<int>(j), source, ignored);
                    if (place && place->singleton_lookup) singletons.insert(place->entity);
                }
            }
        }
        for (const int k : singletons) {
            out_ << "    const " << type(k) << "* one_" << stem(k) << "() const {\n        return "
                 << instances(k) << ".size() == 1 ? &" << instances(k)
                 << "[0] : nullptr;\n    }\n\n";
        }
        for (const int k : schema_.order) {
            out_ << "    std::vector<" << type(k) << "> " << instances(k) << ";\n";
        }
        out_ << "    const nomnom_message* message_ = nullptr;\n"
                "    g::JsonDocument document_;\n"
                "    g::Scratch scratch_;\n"
                "    rapidjson::StringBuffer buffer_;\n"
                "};\n\n";
    }

    const Schema& schema_;
    const PluginIdentity& plugin_;
    std::ostringstream out_;
};

}  // namespace

std::string emit_plugin_source(const Schema& schema, const PluginIdentity& plugin) {
    return Emitter(schema, plugin).run();
}

std::string emit_transforms_source(const Schema& schema) {
    if (schema.project.transform_sources.empty()) {
        return "// Generated by nomnom-gen. nomnom.yaml names no C++ transforms "
               "(transforms.cpp.sources).\n";
    }
    std::string text =
        "// Generated by nomnom-gen. The C++ transforms named in nomnom.yaml "
        "(transforms.cpp.sources),\n// compiled into the plugin as this one translation unit, "
        "from their copies in transforms/.\n";
    for (const auto& path : schema.project.transform_sources) {
        text += "#include \"transforms/" + std::filesystem::path(path).filename().string() + "\"\n";
    }
    return text;
}

std::string emit_cmake(const PluginIdentity& plugin) {
    const std::string sources = plugin.name + "_plugin.cpp " + plugin.name + "_transforms.cpp";
    return "# Generated by nomnom-gen. Builds the plugin out of the nomnom tree:\n"
           "#   cmake -S . -B build -Dnomnom_DIR=<nomnom build>/sdk   (or an install prefix in\n"
           "#   CMAKE_PREFIX_PATH) && cmake --build build\n"
           "cmake_minimum_required(VERSION 3.25)\n"
           "project(nomnom_plugin_" +
           plugin.name +
           " LANGUAGES CXX)\n\n"
           "set(CMAKE_CXX_STANDARD 20)\nset(CMAKE_CXX_STANDARD_REQUIRED ON)\n"
           "if(NOT CMAKE_BUILD_TYPE)\n  set(CMAKE_BUILD_TYPE Release)\nendif()\n\n"
           "find_package(nomnom 0.1 REQUIRED)\n"
           "find_path(RAPIDJSON_INCLUDE_DIR rapidjson/document.h REQUIRED)\n\n"
           "nomnom_add_plugin(" +
           plugin.name + " " + sources +
           ")\n"
           "target_include_directories(" +
           plugin.name + " SYSTEM PRIVATE ${RAPIDJSON_INCLUDE_DIR})\n";
}

}  // namespace nomnom::generator
