// The Kubernetes-style form: apiVersion: nomnom.io/v1, kind: Entity (docs/ENTITY_SCHEMA_V1.md
// upstream). Unlike the original, unknown keys are errors here and every constraint is enforced.
#include "entity_reader.hpp"
#include "names.hpp"
#include "types.hpp"

#include <regex>

namespace nomnom::generator {

namespace {

// "Entity.field" is a field of an instance in scope; a bare name is a variable.
SourceRef source_from_text(const std::string& text, const Location& where) {
    SourceRef source;
    source.where = where;
    const auto dot = text.find('.');
    if (dot == std::string::npos) {
        source.variable = text;
    } else {
        source.scope = text.substr(0, dot);
        source.field = text.substr(dot + 1);
    }
    return source;
}

// NUMERIC(precision, scale): PostgreSQL refuses a precision below 1 or a scale outside
// [0, precision] when the table is created, so they are refused here.
void read_precision(YamlMap& c, TypeSpec& type, const std::string& what) {
    const auto precision = c.integer("precision");
    const auto scale = c.integer("scale");
    if (!precision && !scale) return;
    if (type.type != Type::Decimal) {
        for (const char* key : {"precision", "scale"}) {
            c.ignored(key,
                      "it applies to decimal fields only, and " + what + " is " + type.spelled);
        }
        return;
    }
    if (precision && (*precision < 1 || *precision > 1000)) {
        c.diagnostics().error(
            c.where("precision"),
            what + ": precision must be between 1 and 1000, not " + std::to_string(*precision));
        return;
    }
    if (!precision) {
        c.ignored("scale", "a scale needs a precision (NUMERIC(precision, scale))");
        return;
    }
    type.precision = static_cast<int>(*precision);
    if (scale && (*scale < 0 || *scale > *precision)) {
        c.diagnostics().error(c.where("scale"),
                              what + ": scale must be between 0 and the precision " +
                                  std::to_string(*precision) + ", not " + std::to_string(*scale));
        return;
    }
    if (scale) type.scale = static_cast<int>(*scale);
}

void read_constraints(const YAML::Node& node, Field& field, const std::string& file,
                      Diagnostics& diagnostics, const std::string& what) {
    YamlMap c(node, file, what + " constraints", diagnostics);
    if (!c.valid()) return;
    Constraints& k = field.constraints;
    field.nullable = c.boolean("nullable").value_or(false);
    if (const auto n = c.integer("maxLength")) {
        k.max_length = static_cast<std::size_t>(*n);
        if (field.type.type == Type::String) field.type.varchar_length = static_cast<int>(*n);
    }
    if (const auto n = c.integer("minLength")) k.min_length = static_cast<std::size_t>(*n);
    k.minimum = c.number("minimum");
    k.maximum = c.number("maximum");
    k.pattern = c.string("pattern");
    if (k.pattern) {
        try {
            std::regex check(*k.pattern);
        } catch (const std::regex_error& e) {
            diagnostics.error(c.where("pattern"), what + ": pattern '" + *k.pattern +
                                                      "' is not a valid ECMAScript "
                                                      "regular expression: " +
                                                      e.what());
        }
    }
    const YAML::Node values = c.take("enum");
    if (values.IsDefined()) {
        if (!values.IsSequence() || values.size() == 0) {
            diagnostics.error(c.where("enum"), what + ": 'enum' must be a non-empty list");
        } else {
            for (const auto& value : values) {
                if (auto literal = read_literal(value, file, diagnostics, what + " enum")) {
                    k.enum_values.push_back(*literal);
                }
            }
        }
    }
    const YAML::Node default_value = c.take("default");
    if (default_value.IsDefined()) {
        k.default_value = read_literal(default_value, file, diagnostics, what + " default");
    }
    k.primary_key = c.boolean("primaryKey").value_or(false);
    k.indexed = c.boolean("indexed").value_or(false);
    k.unique = c.boolean("unique").value_or(false);
    read_precision(c, field.type, what);
    const YAML::Node items = c.take("items");
    if (items.IsDefined()) {
        YamlMap i(items, file, what + " constraints.items", diagnostics);
        if (i.valid()) {
            const auto item = read_type(i, "type");
            i.finish();
            if (item && field.type.type == Type::List) {
                field.type.item = item->type;
            } else if (item) {
                diagnostics.error(c.where("items"), what + ": 'items' applies to arrays only");
            }
        }
    }
    c.finish();
}

void read_source(const YAML::Node& node, Field& field, const std::string& file,
                 Diagnostics& diagnostics, const std::string& what) {
    YamlMap s(node, file, what + " source", diagnostics);
    if (!s.valid()) return;
    const auto copy_from = s.string("copyFrom");
    const auto copy_field = s.string("field");
    const auto transform = s.string("transform");
    const auto inputs = s.strings("inputs");
    const YAML::Node args = s.take("args");
    const YAML::Node constant = s.take("constant");
    s.finish();
    const int kinds = (copy_from ? 1 : 0) + (transform ? 1 : 0) + (constant.IsDefined() ? 1 : 0);
    if (kinds != 1) {
        diagnostics.error(s.where(), what +
                                         " source: give exactly one of copyFrom, transform, "
                                         "constant");
        return;
    }
    if (copy_from) {
        SourceRef source{*copy_from, copy_field.value_or(field.name), "", s.where()};
        field.computed = Computation{"copy_field", {source}, {}, {}, {}, s.where()};
    } else if (transform) {
        Computation computation{*transform, {}, {}, {}, {}, s.where()};
        for (const auto& input : inputs) {
            computation.sources.push_back(source_from_text(input, s.where("inputs")));
        }
        computation.args = read_args(args, file, diagnostics, what);
        field.computed = computation;
    } else {
        field.constant = read_literal(constant, file, diagnostics, what + " constant");
    }
}

std::optional<Field> read_field(const YAML::Node& node, const std::string& file,
                                Diagnostics& diagnostics, const std::string& entity) {
    YamlMap map(node, file, "entity '" + entity + "' field", diagnostics);
    if (!map.valid()) return std::nullopt;
    Field field;
    field.where = map.where();
    const auto name = read_name(map, "name", "entity '" + entity + "': field name");
    const std::string what = "field '" + entity + "." + name.value_or("?") + "'";
    const auto type = read_type(map, "type");
    if (type) field.type = *type;
    field.name = name.value_or("");
    const YAML::Node constraints = map.take("constraints");
    if (constraints.IsDefined()) read_constraints(constraints, field, file, diagnostics, what);
    const YAML::Node source = map.take("source");
    if (source.IsDefined()) read_source(source, field, file, diagnostics, what);
    field.doc = map.string("doc").value_or("");
    map.finish();
    if (!name || !type) return std::nullopt;
    return field;
}

void read_derivation(YamlMap& spec, Entity& entity, const std::string& file,
                     Diagnostics& diagnostics) {
    const YAML::Node node = spec.take("derivation");
    if (!node.IsDefined()) return;
    YamlMap d(node, file, "entity '" + entity.name + "' derivation", diagnostics);
    if (!d.valid()) return;
    if (const auto parent = d.string("parent")) {
        entity.parents.push_back({*parent, *parent, false, d.where("parent")});
    }
    const YAML::Node parents = d.take("parents");
    if (parents.IsDefined() && parents.IsSequence()) {
        for (const auto& item : parents) {
            YamlMap p(item, file, "entity '" + entity.name + "' parent", diagnostics);
            if (!p.valid()) continue;
            const auto name = p.string("name", true);
            const auto target = p.string("entity", true);
            p.take("doc");
            p.finish();
            if (name && target) entity.parents.push_back({*name, *target, false, p.where()});
        }
    } else if (parents.IsDefined()) {
        diagnostics.error(d.where("parents"), "'parents' must be a list");
    }
    read_repeated_for(d, "repeatedFor", "itemName", entity);
    d.finish();
}

void read_persistence(YamlMap& spec, Entity& entity, const std::string& file,
                      Diagnostics& diagnostics) {
    const YAML::Node node = spec.take("persistence");
    if (!node.IsDefined()) return;
    YamlMap p(node, file, "entity '" + entity.name + "' persistence", diagnostics);
    if (!p.valid()) return;
    Persistence persistence;
    persistence.where = p.where();
    const bool enabled = p.boolean("enabled").value_or(true);
    persistence.table = p.string("table").value_or(snake_case(entity.name));
    const YAML::Node unicity = p.take("unicity");
    if (unicity.IsDefined()) {
        YamlMap u(unicity, file, "entity '" + entity.name + "' unicity", diagnostics);
        persistence.unicity_where = u.where("fields");
        for (const auto& f : u.strings("fields")) persistence.unicity.push_back(snake_case(f));
        u.finish();
    }
    const YAML::Node indexes = p.take("indexes");
    if (indexes.IsDefined() && indexes.IsSequence()) {
        for (const auto& item : indexes) {
            YamlMap i(item, file, "entity '" + entity.name + "' index", diagnostics);
            if (!i.valid()) continue;
            IndexDef index;
            index.where = i.where();
            index.name = read_name(i, "name", "index name", false).value_or("");
            for (const auto& f : i.strings("fields")) index.fields.push_back(snake_case(f));
            index.unique = i.boolean("unique").value_or(false);
            const auto method = i.string("method");
            if (method && *method != "btree") {
                diagnostics.error(i.where("method"), "index method '" + *method +
                                                         "' is not supported (btree only, which "
                                                         "both dialects have)");
            }
            i.finish();
            if (index.fields.empty()) {
                diagnostics.error(index.where, "index: 'fields' must not be empty");
                continue;
            }
            persistence.indexes.push_back(index);
        }
    } else if (indexes.IsDefined()) {
        diagnostics.error(p.where("indexes"), "'indexes' must be a list");
    }
    p.ignored("legacyMapping", "legacy tables are not written");
    p.finish();
    if (enabled) entity.persistence = persistence;
}

}  // namespace

std::optional<Entity> read_v1_entity(const YAML::Node& root, const std::string& file,
                                     Diagnostics& diagnostics) {
    YamlMap top(root, file, "entity file", diagnostics);
    const auto api_version = top.string("apiVersion", true);
    const auto kind = top.string("kind", true);
    const YAML::Node metadata = top.take("metadata");
    const YAML::Node spec_node = top.take("spec");
    top.ignored("status", "status is written by tools, not read");
    top.finish();
    if (api_version && *api_version != "nomnom.io/v1") {
        diagnostics.error(
            top.where("apiVersion"),
            "apiVersion '" + *api_version + "' is not supported (expected nomnom.io/v1)");
    }
    if (kind && *kind != "Entity") {
        diagnostics.error(top.where("kind"),
                          "kind '" + *kind + "' is not supported (expected Entity)");
    }
    // An absent key's node has no position, so its mapping's own "expected a mapping" would say
    // line 0: report it on the file's top mapping instead.
    if (!metadata.IsDefined() || !spec_node.IsDefined()) {
        for (const char* key : {"metadata", "spec"}) {
            if (!top.has(key)) {
                diagnostics.error(top.where(),
                                  std::string("entity file: missing required key '") + key + "'");
            }
        }
        return std::nullopt;
    }
    Entity entity;
    entity.where = top.where();
    entity.snake_case_columns = true;
    YamlMap meta(metadata, file, "metadata", diagnostics);
    const auto name = read_name(meta, "name", "entity name");
    entity.name = name.value_or("");
    meta.ignored("labels", "labels select entities in the original's tooling; nothing here does");
    const YAML::Node annotations = meta.take("annotations");
    if (annotations.IsDefined()) {
        YamlMap a(annotations, file, "metadata.annotations", diagnostics);
        entity.doc = a.string("description").value_or("");
        if (a.valid()) {
            for (const auto& entry : annotations) {
                const std::string key = entry.first.Scalar();
                if (key != "description") a.ignored(key.c_str(), "only 'description' is used");
            }
        }
        a.finish();
    }
    meta.finish();

    YamlMap spec(spec_node, file, "entity '" + entity.name + "' spec", diagnostics);
    if (!spec.valid()) return std::nullopt;
    const std::string type = spec.string("type").value_or("root");
    if (type == "root") {
        entity.kind = EntityKind::Root;
    } else if (type == "derived") {
        entity.kind = EntityKind::Derived;
    } else if (type == "reference") {
        entity.kind = EntityKind::Reference;
    } else {
        diagnostics.error(spec.where("type"), "spec.type '" + type +
                                                  "' is not supported (expected root, derived or "
                                                  "reference)");
    }
    read_repetition(spec, entity);
    read_derivation(spec, entity, file, diagnostics);
    const YAML::Node fields = spec.take("fields");
    if (fields.IsDefined() && fields.IsSequence()) {
        for (const auto& item : fields) {
            if (auto field = read_field(item, file, diagnostics, entity.name)) {
                entity.fields.push_back(std::move(*field));
            }
        }
    } else if (fields.IsDefined()) {
        diagnostics.error(spec.where("fields"), "'fields' must be a list");
    }
    read_persistence(spec, entity, file, diagnostics);
    spec.finish();
    if (!name) return std::nullopt;
    return entity;
}

}  // namespace nomnom::generator
