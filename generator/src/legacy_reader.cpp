// The legacy form: a top-level `entity:` mapping (src/codegen/types.rs::EntityDef upstream).
#include "entity_reader.hpp"
#include "types.hpp"

namespace nomnom::generator {

namespace {

std::optional<Computation> read_computed_from(const YAML::Node& node, const std::string& file,
                                              Diagnostics& diagnostics, const std::string& what) {
    YamlMap map(node, file, what + " computed_from", diagnostics);
    if (!map.valid()) return std::nullopt;
    Computation computation;
    computation.where = map.where();
    const auto transform = map.string("transform", true);
    const YAML::Node sources = map.take("sources");
    if (sources.IsDefined() && !sources.IsNull()) {
        if (!sources.IsSequence()) {
            diagnostics.error(map.where("sources"), what + ": 'sources' must be a list");
        } else {
            for (const auto& item : sources) {
                if (auto source = read_source(item, file, diagnostics, what)) {
                    computation.sources.push_back(*source);
                }
            }
        }
    }
    computation.args = read_args(map.take("args"), file, diagnostics, what);
    const YAML::Node condition = map.take("condition");
    if (condition.IsDefined()) {
        YamlMap cond(condition, file, what + " condition", diagnostics);
        if (cond.valid()) {
            const YAML::Node field = cond.take("field");
            if (!field.IsDefined()) {
                diagnostics.error(cond.where(), what + " condition: missing required key 'field'");
            } else {
                computation.condition_field = read_source(field, file, diagnostics, what);
            }
            const YAML::Node equals = cond.take("equals");
            if (!equals.IsDefined()) {
                diagnostics.error(cond.where(), what + " condition: missing required key 'equals'");
            } else if (auto literal =
                           read_literal(equals, file, diagnostics, what + " condition")) {
                computation.condition_equals = literal->text;
            }
            cond.finish();
        }
    }
    map.finish();
    if (!transform) return std::nullopt;
    if (transform->empty()) {
        diagnostics.error(map.where("transform"), what + ": 'transform' must not be empty");
        return std::nullopt;
    }
    computation.transform = *transform;
    return computation;
}

// `args: [255]` on a String is its VARCHAR length (and a maxLength constraint).
void read_length_args(YamlMap& map, TypeSpec& type, Constraints& constraints,
                      const std::string& what) {
    const YAML::Node args = map.take("args");
    if (!args.IsDefined() || args.IsNull()) return;
    if (!args.IsSequence() || args.size() != 1 || !args[0].IsScalar() ||
        type.type != Type::String) {
        map.diagnostics().error(map.where("args"),
                                what + ": 'args' is only supported as [<length>] on a String");
        return;
    }
    try {
        const int length = std::stoi(args[0].Scalar());
        if (length <= 0) throw std::invalid_argument("not positive");
        type.varchar_length = length;
        constraints.max_length = static_cast<std::size_t>(length);
    } catch (const std::exception&) {
        map.diagnostics().error(map.where("args"),
                                what + ": 'args' length must be a positive integer");
    }
}

// `root_source: <Entity>` (the original's form: the root whose raw input the field receives),
// or true / false.
void read_root_source(YamlMap& map, Field& field, const std::string& what) {
    const YAML::Node value = map.take("root_source");
    if (!value.IsDefined()) return;
    field.root_source_where = map.where("root_source");
    bool flag = false;
    if (value.IsScalar() && value.Tag() != "!" && YAML::convert<bool>::decode(value, flag)) {
        field.root_source = flag;
    } else if (value.IsScalar() && !value.Scalar().empty()) {
        field.root_source = true;
        field.root_source_entity = value.Scalar();
    } else {
        map.diagnostics().error(
            field.root_source_where,
            what + ": 'root_source' must be the root entity's name, true or false");
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
    field.nullable = map.boolean("nullable").value_or(false);
    field.doc = map.string("doc").value_or("");
    field.constraints.primary_key = map.boolean("primary_key").value_or(false);
    field.constraints.indexed = map.boolean("index").value_or(false);
    if (type) {
        field.type = *type;
        read_length_args(map, field.type, field.constraints, what);
    } else {
        map.take("args");
    }
    const YAML::Node computed_from = map.take("computed_from");
    if (computed_from.IsDefined()) {
        field.computed = read_computed_from(computed_from, file, diagnostics, what);
    }
    const YAML::Node constant = map.take("constant");
    if (constant.IsDefined()) field.constant = read_literal(constant, file, diagnostics, what);
    const YAML::Node derived_from = map.take("derived_from");
    if (derived_from.IsDefined()) {
        // {source|parent, field, transform?} is copy_field (or the named transform) of one field.
        YamlMap derived(derived_from, file, what + " derived_from", diagnostics);
        if (derived.valid()) {
            SourceRef source;
            source.where = derived.where();
            const auto scope = derived.string("source");
            const auto parent = derived.string("parent");
            const auto from_field = derived.string("field", true);
            const auto transform = derived.string("transform");
            derived.finish();
            if ((scope || parent) && from_field) {
                source.scope = scope ? *scope : *parent;
                source.field = *from_field;
                field.computed = Computation{
                    transform.value_or("copy_field"), {source}, {}, {}, {}, source.where};
            } else if (!scope && !parent) {
                diagnostics.error(derived.where(), what + " derived_from: missing 'source'");
            }
        }
    }
    const YAML::Node extraction = map.take("extraction");
    if (extraction.IsDefined()) {
        YamlMap extract(extraction, file, what + " extraction", diagnostics);
        if (extract.valid()) {
            const auto from_source = extract.string("copy_from_source");
            const auto from_parent = extract.string("copy_from_parent");
            extract.unsupported("lambda",
                                "Rust lambdas cannot run here; declare a C++ transform "
                                "in nomnom.yaml and use computed_from");
            extract.unsupported("abstract", "abstract extraction methods have no C++ equivalent");
            extract.unsupported("copy_from_context", "there is no parser context in nomnom-host");
            extract.finish();
            if (from_source || from_parent) {
                const SourceRef source{from_source ? *from_source : *from_parent, name.value_or(""),
                                       "", extract.where()};
                field.computed = Computation{"copy_field", {source}, {}, {}, {}, extract.where()};
            }
        }
    }
    read_root_source(map, field, what);
    map.unsupported("computed", "use computed_from with a builtin or a C++ transform");
    map.unsupported("segment_field", "pipe-delimited segment parsing is not implemented");
    map.unsupported("filename_component", "file-name parsing is not implemented");
    map.finish();
    if (!name || !type) return std::nullopt;
    field.name = *name;
    return field;
}

void read_parents(YamlMap& map, Entity& entity, const std::string& file, Diagnostics& diagnostics) {
    const YAML::Node parents = map.take("parents");
    if (!parents.IsDefined() || parents.IsNull()) return;
    if (!parents.IsSequence()) {
        diagnostics.error(map.where("parents"), "'parents' must be a list");
        return;
    }
    for (const auto& item : parents) {
        YamlMap parent(item, file, "entity '" + entity.name + "' parent", diagnostics);
        if (!parent.valid()) continue;
        const auto name = parent.string("name", true);
        const auto type = parent.string("type", true);
        parent.ignored("source", "transient/permanent sources make no difference to the rows");
        parent.take("doc");
        parent.unsupported("same_segment_as", "segment unions are not implemented");
        parent.finish();
        if (name && type) entity.parents.push_back({*name, *type, false, parent.where()});
    }
}

void read_derivation(YamlMap& map, Entity& entity, const std::string& file,
                     Diagnostics& diagnostics) {
    const YAML::Node derivation = map.take("derivation");
    if (!derivation.IsDefined()) return;
    YamlMap d(derivation, file, "entity '" + entity.name + "' derivation", diagnostics);
    if (!d.valid()) return;
    YAML::Node sources = d.take("source_entities");
    for (const char* alias : {"source_entity", "parent_entities"}) {
        const YAML::Node other = d.take(alias);
        if (other.IsDefined()) sources = other;
    }
    d.finish();
    if (!sources.IsDefined() || sources.IsNull()) return;
    const Location where = location_of(sources, file);
    if (sources.IsScalar()) {
        entity.parents.push_back({sources.Scalar(), sources.Scalar(), false, where});
        return;
    }
    if (!sources.IsMap()) {
        diagnostics.error(where,
                          "derivation.source_entities must be an entity name or a mapping "
                          "alias -> entity");
        return;
    }
    for (const auto& entry : sources) {
        const std::string alias = entry.first.Scalar();
        if (entry.second.IsScalar()) {
            entity.parents.push_back(
                {alias, entry.second.Scalar(), false, location_of(entry.first, file)});
            continue;
        }
        YamlMap source(entry.second, file, "derivation source '" + alias + "'", diagnostics);
        if (!source.valid()) continue;
        const auto target = source.string("entity", true);
        const bool ancillary = source.boolean("ancillary").value_or(false);
        source.finish();
        if (target) entity.parents.push_back({alias, *target, ancillary, source.where()});
    }
}

std::optional<Column> read_override(const YAML::Node& node, const std::string& file,
                                    Diagnostics& diagnostics, const std::string& entity) {
    YamlMap map(node, file, "entity '" + entity + "' field_overrides item", diagnostics);
    if (!map.valid()) return std::nullopt;
    Column column;
    column.where = map.where();
    const auto name = map.string("name", true);
    const auto type = read_type(map, "type");
    column.nullable = map.boolean("nullable").value_or(false);
    column.indexed = map.boolean("index").value_or(false);
    map.ignored("primary_key", "the table's key is persistence.primary_key / unicity_fields");
    map.take("doc");
    Constraints ignored_constraints;
    if (type) {
        column.type = *type;
        read_length_args(map, column.type, ignored_constraints,
                         "column '" + name.value_or("?") + "'");
    } else {
        map.take("args");
    }
    map.finish();
    if (!name || !type) return std::nullopt;
    column.name = *name;
    return column;
}

void read_database(const YAML::Node& node, Persistence& persistence, const std::string& file,
                   Diagnostics& diagnostics, const std::string& entity) {
    YamlMap db(node, file, "entity '" + entity + "' persistence.database", diagnostics);
    if (!db.valid()) return;
    persistence.where = db.where();
    persistence.table = db.string("conformant_table", true).value_or("");
    persistence.id_column = read_name(db, "conformant_id_column", "column name").value_or("id");
    persistence.id_column_where = db.where("conformant_id_column");
    persistence.autogenerate_id = db.boolean("autogenerate_conformant_id").value_or(false);
    persistence.unicity = db.strings("unicity_fields");
    persistence.unicity_where = db.where("unicity_fields");
    db.ignored("legacy_table", "legacy tables are not written");
    db.ignored("legacy_id_column", "legacy tables are not written");
    db.ignored("foreign_keys",
               "rows of different messages arrive in any order, so foreign key "
               "constraints are not created");
    db.finish();
}

void read_persistence(YamlMap& map, Entity& entity, const std::string& file,
                      Diagnostics& diagnostics) {
    const YAML::Node top_database = map.take("database");
    const YAML::Node node = map.take("persistence");
    if (!node.IsDefined() && !top_database.IsDefined()) return;
    Persistence persistence;
    if (top_database.IsDefined()) {
        diagnostics.warning(map.where("database"),
                            "entity '" + entity.name +
                                "': top-level 'database' is deprecated; use persistence.database");
        read_database(top_database, persistence, file, diagnostics, entity.name);
    }
    if (node.IsDefined()) {
        YamlMap p(node, file, "entity '" + entity.name + "' persistence", diagnostics);
        if (p.valid()) {
            const YAML::Node database = p.take("database");
            if (database.IsDefined()) {
                read_database(database, persistence, file, diagnostics, entity.name);
            } else if (!top_database.IsDefined()) {
                diagnostics.error(p.where(), "entity '" + entity.name +
                                                 "' persistence: missing required key 'database'");
            }
            const YAML::Node key = p.take("primary_key");
            if (key.IsDefined()) {
                YamlMap k(key, file, "entity '" + entity.name + "' primary_key", diagnostics);
                if (k.valid()) {
                    const auto name = read_name(k, "name", "column name");
                    const auto type = read_type(k, "type");
                    const bool autogenerate = k.boolean("autogenerate").value_or(false);
                    k.finish();
                    persistence.primary_key_where = k.where();
                    if (name && autogenerate) {
                        persistence.id_column = *name;
                        persistence.autogenerate_id = true;
                        if (type && type->type == Type::BigInt) persistence.id_type = Type::BigInt;
                        if (type && type->type != Type::BigInt && type->type != Type::Integer) {
                            diagnostics.error(k.where("type"),
                                              "an autogenerated primary key must be Integer or "
                                              "BigInt, not " +
                                                  type->spelled);
                        }
                    } else if (name) {
                        persistence.primary_key_field = *name;
                        persistence.primary_key_type = type;
                    }
                }
            }
            const YAML::Node overrides = p.take("field_overrides");
            if (overrides.IsDefined() && !overrides.IsNull()) {
                persistence.columns_declared = true;
                if (!overrides.IsSequence()) {
                    diagnostics.error(p.where("field_overrides"),
                                      "'field_overrides' must be a list");
                } else {
                    for (const auto& item : overrides) {
                        if (auto column = read_override(item, file, diagnostics, entity.name)) {
                            persistence.columns.push_back(*column);
                        }
                    }
                }
            }
            p.finish();
        }
    }
    entity.persistence = persistence;
}

void read_minimal_existence(YamlMap& map, Entity& entity, const std::string& file,
                            Diagnostics& diagnostics) {
    const YAML::Node node = map.take("minimal_existence");
    if (!node.IsDefined()) return;
    YamlMap m(node, file, "entity '" + entity.name + "' minimal_existence", diagnostics);
    if (!m.valid()) return;
    const bool any = m.has("require_any");
    const bool all = m.has("require_all");
    MinimalExistence rule;
    rule.where = m.where();
    rule.require_all = all;
    const auto any_fields = m.strings("require_any");
    const auto all_fields = m.strings("require_all");
    m.finish();
    if (any == all) {
        diagnostics.error(m.where(),
                          "minimal_existence: set exactly one of require_any, "
                          "require_all");
        return;
    }
    rule.fields = all ? all_fields : any_fields;
    if (rule.fields.empty()) {
        diagnostics.error(m.where(), "minimal_existence: the field list must not be empty");
        return;
    }
    entity.minimal_existence = rule;
}

}  // namespace

std::optional<Entity> read_legacy_entity(const YAML::Node& root, const std::string& file,
                                         Diagnostics& diagnostics) {
    YamlMap top(root, file, "file", diagnostics);
    const YAML::Node node = top.take("entity");
    top.finish();
    YamlMap map(node, file, "entity", diagnostics);
    if (!map.valid()) return std::nullopt;

    Entity entity;
    entity.where = map.where();
    const auto name = read_name(map, "name", "entity name");
    entity.name = name.value_or("");
    auto kind = map.string("source_type");
    const auto type_alias = map.string("type");
    if (kind && type_alias) {
        diagnostics.error(map.where("type"), "give 'source_type' or its alias 'type', not both");
    }
    if (!kind) kind = type_alias;
    const std::string kind_text = kind.value_or("root");
    if (kind_text == "root" || kind_text == "Root") {
        entity.kind = EntityKind::Root;
    } else if (kind_text == "derived" || kind_text == "Derived") {
        entity.kind = EntityKind::Derived;
    } else if (kind_text == "reference" || kind_text == "Reference") {
        entity.kind = EntityKind::Reference;
    } else {
        diagnostics.error(map.where(map.has("source_type") ? "source_type" : "type"),
                          "entity '" + entity.name + "': source_type '" + kind_text +
                              "' is not supported (expected root, derived or reference)");
    }
    read_repetition(map, entity);
    if (const auto parent = map.string("parent")) {
        entity.parents.push_back({*parent, *parent, false, map.where("parent")});
    }
    read_parents(map, entity, file, diagnostics);
    read_repeated_for(map, "repeated_for", "each_known_as", entity);
    read_derivation(map, entity, file, diagnostics);

    const YAML::Node fields = map.take("fields");
    if (fields.IsDefined() && !fields.IsNull()) {
        if (!fields.IsSequence()) {
            diagnostics.error(map.where("fields"), "'fields' must be a list");
        } else {
            for (const auto& item : fields) {
                if (auto field = read_field(item, file, diagnostics, entity.name)) {
                    entity.fields.push_back(std::move(*field));
                }
            }
        }
    }
    entity.doc = map.string("doc").value_or("");
    read_persistence(map, entity, file, diagnostics);
    entity.is_abstract = map.boolean("abstract").value_or(false);
    entity.extends = map.string("extends");
    read_minimal_existence(map, entity, file, diagnostics);
    map.unsupported("abstract_implementations",
                    "Rust lambdas cannot run here; use a C++ transform declared in nomnom.yaml");
    map.ignored("serialization", "rows go to the database; there is no other serialization");
    map.ignored("prefix",
                "it routed pipe-delimited input in the original; JSON messages are "
                "routed by subject");
    map.finish();
    if (!name) return std::nullopt;
    return entity;
}

}  // namespace nomnom::generator
