#include "type_checks.hpp"

#include "types.hpp"

#include <nomnom/generated.hpp>

#include <regex>

namespace nomnom::generator {

namespace {

namespace g = nomnom::gen;

// What a value of each type is once converted (see convert() in nomnom/generated.hpp).
enum class Shape { Text, Int, Float, Bool, Object, Array, Any };

Shape shape_of(Type type) {
    switch (type) {
        case Type::Integer:
        case Type::BigInt:
            return Shape::Int;
        case Type::Float:
            return Shape::Float;
        case Type::Boolean:
            return Shape::Bool;
        case Type::Object:
            return Shape::Object;
        case Type::List:
            return Shape::Array;
        case Type::Json:
            return Shape::Any;
        default:
            return Shape::Text;
    }
}

bool accepts(Type to, Shape shape) {
    if (shape == Shape::Any) return true;
    switch (to) {
        case Type::Json:
            return true;
        case Type::Integer:
        case Type::BigInt:
            return shape == Shape::Int;
        case Type::Float:
            return shape == Shape::Int || shape == Shape::Float;
        case Type::Decimal:
            return shape == Shape::Int || shape == Shape::Float || shape == Shape::Text;
        case Type::Boolean:
            return shape == Shape::Bool;
        case Type::Object:
            return shape == Shape::Object;
        case Type::List:
            return shape == Shape::Array;
        default:
            return shape == Shape::Text;
    }
}

bool is_format(Type type) {
    return type == Type::Date || type == Type::DateTime || type == Type::Uuid ||
           type == Type::Decimal;
}

// False when no value of type `from` can ever convert to `to`.
bool can_fit(const TypeSpec& from, const TypeSpec& to) {
    if (!accepts(to.type, shape_of(from.type))) return false;
    // A text in one format is never a text in another (a date is never a UUID).
    if (is_format(from.type) && is_format(to.type) && from.type != to.type) return false;
    if (from.type == Type::List && to.type == Type::List && from.item != Type::Json &&
        to.item != Type::Json) {
        return can_fit({from.item, Type::Json, "", {}, {}, {}},
                       {to.item, Type::Json, "", {}, {}, {}});
    }
    return true;
}

std::string spelled(const TypeSpec& type) {
    return type.spelled.empty() ? runtime_type(type.type) : type.spelled;
}

class Checker {
  public:
    Checker(const Schema& schema, Diagnostics& diagnostics)
        : schema_(schema), diagnostics_(diagnostics) {}

    void entity(int k) {
        const Entity& e = schema_.entities[static_cast<std::size_t>(k)];
        for (std::size_t j = 0; j < e.fields.size(); ++j) field(k, static_cast<int>(j));
        columns(k);
    }

  private:
    std::string what(const Entity& e, const Field& f) const {
        return "field '" + e.name + "." + f.name + "'";
    }

    // The refusal generated code would give `value` as the field's value, if any.
    std::optional<std::string> refusal(const g::Value& value, const Entity& e,
                                       const Field& f) const {
        const g::FieldSpec spec{e.name.c_str(), f.name.c_str(), f.type.type,
                                f.type.type == Type::List ? f.type.item : Type::Json, f.nullable};
        const Constraints& c = f.constraints;
        g::Scratch scratch;
        try {
            const g::Value v = g::convert(value, spec, scratch);
            g::require(v, spec);
            g::check_length(v, spec, c.min_length, c.max_length);
            g::check_range(v, spec, c.minimum, c.maximum);
            if (c.pattern) g::check_pattern(v, spec, std::regex(*c.pattern), c.pattern->c_str());
            std::vector<const char*> members;
            for (const auto& member : c.enum_values) members.push_back(member.text.c_str());
            if (!members.empty()) g::check_enum(v, spec, members);
        } catch (const Invalid& invalid) {
            const std::string reason = invalid.what();
            return reason.substr(reason.find(": ") + 2);  // without "Entity.field: "
        } catch (const std::regex_error&) {
            // An invalid pattern is reported where it is read.
        }
        return std::nullopt;
    }

    // As generated code has it (field_literal in cpp_emitter.cpp).
    static g::Value value_of(const Literal& literal, const Field& field) {
        if (literal_stays_text(literal, field.type)) return g::Value::of_text(literal.text);
        switch (literal.kind) {
            case Literal::Kind::Null:
                return g::Value::null();
            case Literal::Kind::String:
                return g::Value::of_text(literal.text);
            case Literal::Kind::Integer:
                return g::Value::of_int(std::stoll(literal.text));
            case Literal::Kind::Float:
                return g::Value::of_float(std::stod(literal.text));
            case Literal::Kind::Boolean:
                return g::Value::of_bool(literal.text == "true");
        }
        return g::Value::null();
    }

    static std::string shown(const Literal& literal) {
        if (literal.kind == Literal::Kind::Null) return "null";
        if (literal.kind == Literal::Kind::String) return "\"" + literal.text + "\"";
        return literal.text;
    }

    void literal(const Entity& e, const Field& f, const Literal& literal, const char* role) {
        if (const auto why = refusal(value_of(literal, f), e, f)) {
            diagnostics_.error(literal.where,
                               what(e, f) + ": " + role + " " + shown(literal) +
                                   " would refuse every message that uses it: " + *why);
        }
    }

    // An enum member is compared with the value's text, so it must be the text of some value of
    // the field's type.
    void enum_members(const Entity& e, const Field& f) {
        Field unconstrained = f;
        unconstrained.constraints = {};
        unconstrained.nullable = true;
        for (const auto& member : f.constraints.enum_values) {
            const g::Value v = shape_of(f.type.type) == Shape::Text ? g::Value::of_text(member.text)
                                                                    : value_of(member, f);
            if (const auto why = refusal(v, e, unconstrained)) {
                diagnostics_.error(member.where, what(e, f) + ": enum member " + shown(member) +
                                                     " never matches a value of type " +
                                                     spelled(f.type) + ": " + *why);
            }
        }
    }

    void constraints(const Entity& e, const Field& f) {
        const Constraints& c = f.constraints;
        const Shape shape = shape_of(f.type.type);
        if (c.min_length && c.max_length && *c.min_length > *c.max_length) {
            diagnostics_.error(f.where, what(e, f) + ": minLength " +
                                            std::to_string(*c.min_length) + " is above maxLength " +
                                            std::to_string(*c.max_length));
        }
        if (c.minimum && c.maximum && *c.minimum > *c.maximum) {
            diagnostics_.error(f.where, what(e, f) + ": minimum " + g::format_double(*c.minimum) +
                                            " is above maximum " + g::format_double(*c.maximum));
        }
        if ((c.minimum || c.maximum) && shape != Shape::Int && shape != Shape::Float &&
            f.type.type != Type::Decimal) {
            diagnostics_.error(
                f.where,
                what(e, f) + ": minimum and maximum apply to numbers, not " + spelled(f.type));
        }
        if (!c.enum_values.empty() && is_json_like(f.type.type)) {
            diagnostics_.error(
                f.where, what(e, f) + ": enum applies to scalar types, not " + spelled(f.type));
        }
        if ((c.min_length || c.max_length || c.pattern) && shape != Shape::Text) {
            diagnostics_.error(f.where, what(e, f) +
                                            ": minLength, maxLength and pattern apply to "
                                            "strings, not " +
                                            spelled(f.type));
        }
    }

    // The type of an instance's JSON (what a variable source stands for), when it is known: a
    // list element has the list's item type; any other instance is an object.
    std::optional<Type> json_type(int k) const {
        const ResolvedEntity& r = schema_.resolved[static_cast<std::size_t>(k)];
        if (r.driver < 0) return Type::Object;
        if (r.repeated_field < 0) return json_type(r.driver);
        const Field& list = schema_.entities[static_cast<std::size_t>(r.driver)]
                                .fields[static_cast<std::size_t>(r.repeated_field)];
        if (list.type.type != Type::List || list.type.item == Type::Json) return std::nullopt;
        return list.type.item;
    }

    // The type of a source's value, when it is known, and what to call it in messages.
    std::optional<std::pair<TypeSpec, std::string>> type_of(int k, int j,
                                                            const SourceRef& source) const {
        Diagnostics reported;  // check_fields has reported every bad source already
        const auto place = schema_.place_of(k, j, source, reported);
        if (!place) return std::nullopt;
        const Entity& owner = schema_.entities[static_cast<std::size_t>(place->entity)];
        if (place->kind == ValuePlace::Kind::Field) {
            const Field& f = owner.fields[static_cast<std::size_t>(place->field)];
            return std::pair{f.type, "'" + owner.name + "." + f.name + "'"};
        }
        const auto type = json_type(place->entity);
        if (!type) return std::nullopt;
        return std::pair{TypeSpec{*type, Type::Json, runtime_type(*type), {}, {}, {}},
                         "'" + source.variable + "'"};
    }

    void result(const Entity& e, const Field& f, const Computation& c, const TypeSpec& from,
                const std::string& origin) {
        if (can_fit(from, f.type)) return;
        diagnostics_.error(c.where, what(e, f) + " is " + spelled(f.type) + ", but transform '" +
                                        c.transform + "' gives " + spelled(from) + origin +
                                        ", which never converts to it");
    }

    void computation(int k, int j) {
        const Entity& e = schema_.entities[static_cast<std::size_t>(k)];
        const Field& f = e.fields[static_cast<std::size_t>(j)];
        const Computation& c = *f.computed;
        if (c.transform == "constant_value") {
            if (!c.args.empty()) literal(e, f, c.args[0], "constant_value");
            return;
        }
        if (c.transform.starts_with("json_get_")) {
            if (c.sources.empty()) return;
            const auto source = type_of(k, j, c.sources[0]);
            if (source && source->first.type != Type::Json && source->first.type != Type::Object) {
                diagnostics_.error(c.where, what(e, f) + ": transform '" + c.transform +
                                                "' reads a member of a JSON object, but " +
                                                source->second + " is " + spelled(source->first));
            }
            const Type gives = json_get_of(c.transform).gives;
            result(e, f, c, {gives, Type::Json, runtime_type(gives), {}, {}, {}}, "");
            return;
        }
        const auto user = schema_.project.transforms.find(c.transform);
        if (user != schema_.project.transforms.end()) {
            result(e, f, c, user->second.returns, " (its declared 'returns')");
            return;
        }
        // copy_field, coalesce, copy_field_conditional: any source may be the result.
        for (const auto& input : c.sources) {
            if (const auto source = type_of(k, j, input)) {
                result(e, f, c, source->first, " from " + source->second);
            }
        }
    }

    void field(int k, int j) {
        const Entity& e = schema_.entities[static_cast<std::size_t>(k)];
        const Field& f = e.fields[static_cast<std::size_t>(j)];
        constraints(e, f);
        enum_members(e, f);
        if (f.constant) literal(e, f, *f.constant, "constant");
        if (f.constraints.default_value) literal(e, f, *f.constraints.default_value, "default");
        if (f.computed) computation(k, j);
        if (f.root_source && f.type.type != Type::String && f.type.type != Type::Json) {
            diagnostics_.error(f.root_source_where, what(e, f) +
                                                        ": root_source gives the message text, "
                                                        "which a " +
                                                        spelled(f.type) + " field cannot hold");
        }
    }

    // A field_overrides column converts its field's value to the column's type.
    void columns(int k) {
        const Entity& e = schema_.entities[static_cast<std::size_t>(k)];
        for (const auto& rc : schema_.resolved[static_cast<std::size_t>(k)].columns) {
            if (rc.field < 0) continue;
            const Field& f = e.fields[static_cast<std::size_t>(rc.field)];
            if (can_fit(f.type, rc.column.type)) continue;
            diagnostics_.error(rc.column.where,
                               "entity '" + e.name + "': column '" + rc.column.name + "' is " +
                                   spelled(rc.column.type) + ", but its field is " +
                                   spelled(f.type) + ", which never converts to it");
        }
    }

    const Schema& schema_;
    Diagnostics& diagnostics_;
};

}  // namespace

void check_types(const Schema& schema, Diagnostics& diagnostics) {
    Checker checker(schema, diagnostics);
    for (const int k : schema.order) checker.entity(k);
}

}  // namespace nomnom::generator
