#include "schema.hpp"

#include "names.hpp"
#include "type_checks.hpp"
#include "types.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace nomnom::generator {

namespace {

const std::set<std::string>& builtin_names() {
    static const std::set<std::string> names = {
        "copy_field",
        "constant_value",
        "coalesce",
        "copy_field_conditional",
        "json_get_string",
        "json_get_int",
        "json_get_float",
        "json_get_bool",
        "json_get_optional_string",
        "json_get_optional_int",
        "json_get_optional_float",
        "json_get_optional_bool",
    };
    return names;
}

int field_index(const Entity& entity, const std::string& name) {
    for (std::size_t k = 0; k < entity.fields.size(); ++k) {
        if (entity.fields[k].name == name) return static_cast<int>(k);
    }
    return -1;
}

void apply_inheritance(std::vector<Entity>& entities, Diagnostics& diagnostics) {
    std::map<std::string, std::size_t> by_name;
    for (std::size_t k = 0; k < entities.size(); ++k) by_name[entities[k].name] = k;
    // Resolved base-first, so that a chain A extends B extends C takes C's columns too.
    std::set<std::string> done;
    std::function<void(std::size_t, std::set<std::string>&)> inherit =
        [&](std::size_t k, std::set<std::string>& visiting) {
            Entity& entity = entities[k];
            if (!entity.extends || done.contains(entity.name)) return;
            const auto base_at = by_name.find(*entity.extends);
            if (base_at == by_name.end()) {
                diagnostics.error(entity.where, "entity '" + entity.name +
                                                    "' extends unknown entity '" + *entity.extends +
                                                    "'");
                done.insert(entity.name);
                return;
            }
            if (!visiting.insert(entity.name).second) {
                diagnostics.error(entity.where,
                                  "entity '" + entity.name + "': 'extends' forms a cycle");
                done.insert(entity.name);
                return;
            }
            inherit(base_at->second, visiting);
            const Entity& base = entities[base_at->second];
            std::vector<Field> fields;
            for (const auto& field : base.fields) {
                if (field_index(entity, field.name) < 0) fields.push_back(field);
            }
            entity.fields.insert(entity.fields.begin(), fields.begin(), fields.end());
            if (!entity.persistence && base.persistence) {
                entity.persistence = base.persistence;
            } else if (entity.persistence && base.persistence) {
                std::vector<Column> columns;
                for (const auto& column : base.persistence->columns) {
                    const bool redefined = std::any_of(
                        entity.persistence->columns.begin(), entity.persistence->columns.end(),
                        [&](const Column& c) { return c.name == column.name; });
                    if (!redefined) columns.push_back(column);
                }
                auto& own = entity.persistence->columns;
                own.insert(own.begin(), columns.begin(), columns.end());
                entity.persistence->columns_declared |= base.persistence->columns_declared;
            }
            done.insert(entity.name);
        };
    for (std::size_t k = 0; k < entities.size(); ++k) {
        std::set<std::string> visiting;
        inherit(k, visiting);
    }
}

}  // namespace

bool is_builtin_transform(const std::string& name) {
    return builtin_names().contains(name);
}

int Schema::find(const std::string& name) const {
    for (std::size_t k = 0; k < entities.size(); ++k) {
        if (entities[k].name == name) return static_cast<int>(k);
    }
    return -1;
}

std::vector<SourceRef> inputs_of(const Computation& computation) {
    std::vector<SourceRef> inputs = computation.sources;
    if (computation.condition_field) inputs.push_back(*computation.condition_field);
    return inputs;
}

int Schema::scope_entity(int from, const SourceRef& source) const {
    const Entity& self = entities[static_cast<std::size_t>(from)];
    const std::string& scope = source.variable.empty() ? source.scope : source.variable;
    if (scope == "self" || scope == self.name) return from;
    // The instance's JSON is its list element.
    if (!source.variable.empty() && self.repeated_for && scope == self.repeated_for->item_name) {
        return from;
    }
    for (const auto& parent : self.parents) {
        if (parent.alias == scope) return find(parent.entity);
    }
    return find(scope);
}

int Schema::route_of(int k) const {
    while (resolved[static_cast<std::size_t>(k)].driver >= 0) {
        k = resolved[static_cast<std::size_t>(k)].driver;
    }
    return k;
}

std::optional<ValuePlace> Schema::place_of(int from, int field_at, const SourceRef& source,
                                           Diagnostics& diagnostics) const {
    const Entity& self = entities[static_cast<std::size_t>(from)];
    const std::string scope = source.variable.empty() ? source.scope : source.variable;
    const int target = scope_entity(from, source);
    if (target < 0) {
        std::string hint = "'self', an entity name or a parent alias";
        if (self.repeated_for) hint = "'" + self.repeated_for->item_name + "', " + hint;
        diagnostics.error(source.where, "entity '" + self.name + "': unknown source '" + scope +
                                            "' (expected " + hint + ")");
        return std::nullopt;
    }

    ValuePlace place;
    place.entity = target;
    if (target != from) {
        int hops = 0;
        int at = from;
        while (at >= 0 && at != target) {
            at = resolved[static_cast<std::size_t>(at)].driver;
            ++hops;
        }
        if (at == target) {
            place.ancestor_hops = hops;
        } else if (route_of(target) != route_of(from)) {
            const std::string& route = entities[static_cast<std::size_t>(route_of(from))].name;
            diagnostics.error(source.where, "entity '" + self.name + "': source '" + scope +
                                                "' is not built from '" + route +
                                                "' messages, so it never has an instance when '" +
                                                self.name + "' is built");
            return std::nullopt;
        } else if (resolved[static_cast<std::size_t>(target)].singleton) {
            place.singleton_lookup = true;
        } else {
            diagnostics.error(source.where,
                              "entity '" + self.name + "': source '" + scope +
                                  "' is neither an ancestor of this entity nor an entity with a "
                                  "single instance per message, so which of its instances is "
                                  "meant is ambiguous");
            return std::nullopt;
        }
    }
    if (!source.variable.empty()) {
        place.kind = ValuePlace::Kind::Json;
        return place;
    }
    const Entity& owner = entities[static_cast<std::size_t>(target)];
    place.field = field_index(owner, source.field);
    if (place.field < 0) {
        diagnostics.error(source.where, "entity '" + self.name + "': '" + owner.name +
                                            "' has no field '" + source.field + "'");
        return std::nullopt;
    }
    if (target == from && place.field >= field_at) {
        diagnostics.error(source.where, "entity '" + self.name + "': field '" + source.field +
                                            "' is used before it is computed (fields are "
                                            "computed in the order they are listed)");
        return std::nullopt;
    }
    return place;
}

namespace {

void check_computation(const Schema& schema, int from, int field_at, const Field& field,
                       Diagnostics& diagnostics) {
    const Computation& c = *field.computed;
    const std::string what = "field '" + schema.entities[static_cast<std::size_t>(from)].name +
                             "." + field.name + "': transform '" + c.transform + "'";
    const auto sources = c.sources.size();
    const auto need = [&](bool ok, const std::string& expectation) {
        if (!ok) diagnostics.error(c.where, what + " " + expectation);
        return ok;
    };
    if (c.transform == "copy_field") {
        need(sources == 1 && !c.sources[0].field.empty(),
             "takes one source {source: <entity>, field: <name>}");
    } else if (c.transform == "constant_value") {
        need(sources == 0 && c.args.size() == 1, "takes no sources and one argument {value: ...}");
    } else if (c.transform == "coalesce") {
        need(sources >= 1, "takes one or more sources");
    } else if (c.transform == "copy_field_conditional") {
        need(sources == 2 && c.condition_field && c.condition_equals,
             "takes two sources and condition: {field: ..., equals: ...}");
    } else if (c.transform.starts_with("json_get_")) {
        need(sources == 1 && c.args.size() == 1 && c.args[0].kind == Literal::Kind::String,
             "takes one source (a JSON object) and one argument {field: \"<member>\"}");
    } else if (!schema.project.transforms.contains(c.transform)) {
        if (schema.project.rust_transforms.contains(c.transform)) {
            diagnostics.error(c.where, what +
                                           " is declared in nomnom.yaml as Rust code, which "
                                           "cannot run here: port it to C++ and declare it "
                                           "under transforms.cpp (see generator/README.md)");
        } else {
            diagnostics.error(c.where, what +
                                           " is unknown (not a builtin and not declared under "
                                           "transforms.cpp in nomnom.yaml)");
        }
        return;
    }
    for (const auto& source : inputs_of(c)) schema.place_of(from, field_at, source, diagnostics);
}

void check_fields(const Schema& schema, int index, Diagnostics& diagnostics) {
    const Entity& entity = schema.entities[static_cast<std::size_t>(index)];
    std::set<std::string> names;
    for (std::size_t k = 0; k < entity.fields.size(); ++k) {
        const Field& field = entity.fields[k];
        if (!names.insert(field.name).second) {
            diagnostics.error(field.where, "entity '" + entity.name + "': field '" + field.name +
                                               "' is defined twice");
        }
        if ((field.computed ? 1 : 0) + (field.constant ? 1 : 0) + (field.root_source ? 1 : 0) > 1) {
            diagnostics.error(field.where, "field '" + entity.name + "." + field.name +
                                               "': give one of computed_from, constant and "
                                               "root_source");
        }
        if (!field.root_source_entity.empty() &&
            schema.find(field.root_source_entity) != schema.route_of(index)) {
            diagnostics.error(
                field.root_source_where,
                "field '" + entity.name + "." + field.name + "': root_source '" +
                    field.root_source_entity + "' is not the entity whose messages build '" +
                    entity.name + "' (that is '" +
                    schema.entities[static_cast<std::size_t>(schema.route_of(index))].name + "')");
        }
        if (field.computed)
            check_computation(schema, index, static_cast<int>(k), field, diagnostics);
    }
    if (entity.minimal_existence) {
        for (const auto& name : entity.minimal_existence->fields) {
            if (field_index(entity, name) < 0) {
                diagnostics.error(
                    entity.minimal_existence->where,
                    "minimal_existence: entity '" + entity.name + "' has no field '" + name + "'");
            }
        }
    }
}

const ResolvedColumn* column_named(const ResolvedEntity& r, const std::string& name) {
    for (const auto& rc : r.columns) {
        if (rc.column.name == name) return &rc;
    }
    return nullptr;
}

// The non-generated primary key (persistence.primary_key, a legacy field's `primary_key: true`,
// a v1 `primaryKey`), the conflict keys of the upsert, and what conformant_id_column means.
void resolve_keys(Schema& schema, int index, Diagnostics& diagnostics) {
    const Entity& entity = schema.entities[static_cast<std::size_t>(index)];
    ResolvedEntity& r = schema.resolved[static_cast<std::size_t>(index)];
    const Persistence& p = *entity.persistence;
    r.primary_key = p.primary_key_field;
    Location key_where = p.primary_key_where;
    if (p.autogenerate_id && p.primary_key_field) {
        diagnostics.error(p.primary_key_where,
                          "entity '" + entity.name + "': primary_key '" + *p.primary_key_field +
                              "' is not autogenerated, but autogenerate_conformant_id makes '" +
                              p.id_column + "' the primary key: give one of them");
        r.primary_key.reset();
    }
    for (const Field& field : entity.fields) {
        if (!field.constraints.primary_key) continue;
        const std::string column = column_name(entity, field);
        const std::string what = "entity '" + entity.name + "': field '" + field.name + "'";
        if (p.autogenerate_id) {
            diagnostics.error(field.where, what +
                                               " is marked as the primary key, but the "
                                               "primary key is the autogenerated '" +
                                               p.id_column + "'");
        } else if (r.primary_key && *r.primary_key != column) {
            diagnostics.error(field.where,
                              what + " is a second primary key (the first is '" + *r.primary_key +
                                  "'); for a key of several columns use unicity fields");
        } else {
            r.primary_key = column;
            key_where = field.where;
        }
    }
    if (r.primary_key) {
        const ResolvedColumn* key = column_named(r, *r.primary_key);
        if (key == nullptr) {
            diagnostics.error(key_where, "entity '" + entity.name + "': primary key '" +
                                             *r.primary_key + "' is not a column");
        } else if (p.primary_key_type && p.primary_key_type->type != key->column.type.type) {
            diagnostics.error(p.primary_key_where,
                              "entity '" + entity.name + "': primary_key '" + *r.primary_key +
                                  "' is declared " + p.primary_key_type->spelled +
                                  " but the column is " + key->column.type.spelled);
        }
    }
    if (!p.unicity.empty()) {
        r.conflict_keys = p.unicity;
    } else if (r.primary_key) {
        r.conflict_keys = {*r.primary_key};
    } else {
        // Without a natural key a redelivered message would insert its rows again; the message
        // id and the row's position in it make the rows idempotent.
        r.synthetic_key = true;
        r.conflict_keys = {"nomnom_message_id", "nomnom_ordinal"};
        r.columns.push_back({Column{"nomnom_message_id",
                                    {Type::String, Type::Json, "String", {}, {}, {}},
                                    false,
                                    false,
                                    p.where},
                             -1, true});
        r.columns.push_back({Column{"nomnom_ordinal",
                                    {Type::BigInt, Type::Json, "BigInt", {}, {}, {}},
                                    false,
                                    false,
                                    p.where},
                             -1, true});
    }
    // A NULL never conflicts with anything, so a key column that may be NULL would let a
    // redelivered message insert its row again.
    for (const auto& name : r.conflict_keys) {
        const ResolvedColumn* key = column_named(r, name);
        if (key != nullptr && key->column.nullable) {
            diagnostics.error(key->column.where,
                              "entity '" + entity.name + "': key column '" + name +
                                  "' is nullable, but NULL keys never conflict, so a redelivered "
                                  "message would insert its row again: make it non-nullable");
        }
    }
    const bool id_is_key =
        r.primary_key == p.id_column || r.conflict_keys == std::vector<std::string>{p.id_column};
    if (p.id_column_where.line > 0 && !p.autogenerate_id && !id_is_key) {
        diagnostics.warning(p.id_column_where,
                            "entity '" + entity.name + "': conformant_id_column '" + p.id_column +
                                "' is ignored: the id is not autogenerated "
                                "(autogenerate_conformant_id, primary_key.autogenerate) and '" +
                                p.id_column + "' is not the table's key");
    }
}

// `repetition` as declared must be what the entity is: the original looped over the first
// repeated dependency, or took the first instance of one, where nomnom builds one instance per
// driving instance.
void check_repetition(const Schema& schema, int k, Diagnostics& diagnostics) {
    const Entity& entity = schema.entities[static_cast<std::size_t>(k)];
    const ResolvedEntity& r = schema.resolved[static_cast<std::size_t>(k)];
    if (!entity.repeated) return;
    const std::string what = "entity '" + entity.name +
                             "': repetition: " + (*entity.repeated ? "repeated" : "singleton");
    if (entity.kind == EntityKind::Reference) {
        diagnostics.warning(entity.repetition_where,
                            "entity '" + entity.name +
                                "': 'repetition' is ignored: a reference message carries one row "
                                "or an array of rows");
    } else if (*entity.repeated && r.singleton) {
        diagnostics.error(
            entity.repetition_where,
            what + ", but it has a single instance per message" +
                (entity.kind == EntityKind::Root
                     ? " (it is a root)"
                     : ": give it repeated_for, or derive it from a repeated entity"));
    } else if (!*entity.repeated && !r.singleton) {
        const Entity& driver = schema.entities[static_cast<std::size_t>(r.driver)];
        diagnostics.error(entity.repetition_where,
                          what + ", but it has one instance per " +
                              (entity.repeated_for
                                   ? "element of " + driver.name + "." + entity.repeated_for->field
                                   : "instance of its repeated parent '" + driver.name + "'"));
    }
}

// Column names a table may use: plain, each once, none of nomnom's own.
void check_column_names(const std::string& table, const std::vector<ResolvedColumn>& columns,
                        Diagnostics& diagnostics) {
    std::set<std::string> names;
    for (const auto& rc : columns) {
        const std::string& name = rc.column.name;
        check_plain_name("column name", name, rc.column.where, diagnostics);
        if (!names.insert(name).second) {
            diagnostics.error(rc.column.where,
                              "table '" + table + "': column '" + name + "' appears twice");
        }
        if (name == "nn_ord" || name == "nn_seq" || name.starts_with("nomnom_")) {
            diagnostics.error(rc.column.where, "table '" + table + "': column name '" + name +
                                                   "' is reserved for nomnom's own use");
        }
    }
}

// An entity without persistence is published: a row per instance, a column per field, to
// <outputs.subject_prefix>.<entity name> (entities.<Name>, as the original published it).
void resolve_published(const Entity& entity, ResolvedEntity& r, std::set<std::string>& tables,
                       Diagnostics& diagnostics) {
    for (const Field& field : entity.fields) {
        if (!field.constraints.primary_key) continue;
        diagnostics.warning(field.where, "entity '" + entity.name + "': field '" + field.name +
                                             "' is marked as the primary key, which has no "
                                             "effect: the entity is not stored, only published");
    }
    r.published = true;
    r.table = entity.name;
    if (!tables.insert(r.table).second) {
        diagnostics.error(entity.where, "entity '" + entity.name + "': published as table '" +
                                            r.table + "', which another entity writes too");
    }
    for (std::size_t k = 0; k < entity.fields.size(); ++k) {
        const Field& field = entity.fields[k];
        Column column{column_name(entity, field), field.type, field.nullable, false, field.where};
        r.columns.push_back({column, static_cast<int>(k), false});
    }
    check_column_names(r.table, r.columns, diagnostics);
}

void resolve_columns(Schema& schema, int index, std::set<std::string>& tables,
                     Diagnostics& diagnostics) {
    const Entity& entity = schema.entities[static_cast<std::size_t>(index)];
    ResolvedEntity& r = schema.resolved[static_cast<std::size_t>(index)];
    if (!entity.persistence) {
        resolve_published(entity, r, tables, diagnostics);
        return;
    }
    const Persistence& p = *entity.persistence;
    r.persistent = true;
    r.table = p.table;
    if (p.table.empty()) {
        diagnostics.error(p.where, "entity '" + entity.name + "': the table name is empty");
        return;
    }
    if (!tables.insert(p.table).second) {
        diagnostics.error(p.where, "entity '" + entity.name + "': table '" + p.table +
                                       "' is written by another entity too");
    }
    const bool from_payload = entity.kind != EntityKind::Derived;
    if (p.columns_declared) {
        for (const auto& column : p.columns) {
            const int field = field_index(entity, column.name);
            if (field < 0 && !from_payload) {
                diagnostics.error(column.where, "entity '" + entity.name + "': column '" +
                                                    column.name + "' is not one of its fields");
                continue;
            }
            r.columns.push_back({column, field, false});
        }
    } else {
        for (std::size_t k = 0; k < entity.fields.size(); ++k) {
            const Field& field = entity.fields[k];
            Column column{column_name(entity, field), field.type, field.nullable,
                          field.constraints.indexed, field.where};
            r.columns.push_back({column, static_cast<int>(k), false});
        }
    }
    check_plain_name("table name", p.table, p.where, diagnostics);
    check_column_names(p.table, r.columns, diagnostics);
    std::set<std::string> names;
    for (const auto& rc : r.columns) {
        const std::string& name = rc.column.name;
        names.insert(name);
        if (p.autogenerate_id && name == p.id_column) {
            diagnostics.error(rc.column.where, "table '" + p.table + "': column '" + name +
                                                   "' is also the autogenerated primary key");
        }
    }
    const auto is_column = [&](const std::string& name) { return names.contains(name); };
    for (const auto& key : p.unicity) {
        if (!is_column(key)) {
            diagnostics.error(p.unicity_where, "entity '" + entity.name + "': unicity field '" +
                                                   key + "' is not a column of table '" + p.table +
                                                   "'");
        }
    }
    for (const auto& index_def : p.indexes) {
        for (const auto& name : index_def.fields) {
            if (!is_column(name)) {
                diagnostics.error(index_def.where, "index on table '" + p.table + "': '" + name +
                                                       "' is not a column");
            }
        }
    }
    resolve_keys(schema, index, diagnostics);
}

}  // namespace

std::optional<Schema> resolve(std::vector<Entity> entities, Project project,
                              Diagnostics& diagnostics) {
    Schema schema;
    schema.project = std::move(project);
    apply_inheritance(entities, diagnostics);
    schema.entities = std::move(entities);
    schema.resolved.resize(schema.entities.size());
    std::set<std::string> names;
    for (std::size_t k = 0; k < schema.entities.size(); ++k) {
        const Entity& entity = schema.entities[k];
        schema.resolved[k].entity = &entity;
        if (!names.insert(entity.name).second) {
            diagnostics.error(entity.where, "entity '" + entity.name + "' is defined twice");
        }
    }

    // Drivers and parents.
    for (std::size_t k = 0; k < schema.entities.size(); ++k) {
        const Entity& entity = schema.entities[k];
        ResolvedEntity& r = schema.resolved[k];
        for (const auto& parent : entity.parents) {
            if (schema.find(parent.entity) < 0) {
                diagnostics.error(parent.where, "entity '" + entity.name + "': unknown parent '" +
                                                    parent.entity + "'");
            }
        }
        if (entity.kind != EntityKind::Derived) {
            if (!entity.parents.empty() || entity.repeated_for) {
                diagnostics.error(entity.where, "entity '" + entity.name +
                                                    "': a root or reference entity has no parents");
            }
            continue;
        }
        if (entity.repeated_for) {
            const RepeatedFor& rf = *entity.repeated_for;
            r.driver = schema.find(rf.entity);
            if (r.driver < 0) {
                diagnostics.error(rf.where, "entity '" + entity.name +
                                                "': repeated_for names unknown entity '" +
                                                rf.entity + "'");
                continue;
            }
            const Entity& driver = schema.entities[static_cast<std::size_t>(r.driver)];
            r.repeated_field = field_index(driver, rf.field);
            if (r.repeated_field < 0) {
                diagnostics.error(rf.where, "entity '" + entity.name + "': repeated_for field '" +
                                                rf.field + "' is not a field of '" + driver.name +
                                                "'");
            } else {
                const Type t = driver.fields[static_cast<std::size_t>(r.repeated_field)].type.type;
                if (t != Type::List && t != Type::Json) {
                    diagnostics.error(rf.where, "entity '" + entity.name +
                                                    "': repeated_for field '" + driver.name + "." +
                                                    rf.field + "' must be a List or json field");
                }
            }
            continue;
        }
        for (const auto& parent : entity.parents) {
            if (!parent.ancillary) {
                r.driver = schema.find(parent.entity);
                break;
            }
        }
        if (entity.parents.empty()) {
            diagnostics.error(entity.where, "derived entity '" + entity.name +
                                                "' needs parent, parents, repeated_for or "
                                                "derivation.source_entities");
        } else if (r.driver < 0 && !diagnostics.failed()) {
            diagnostics.error(entity.where, "derived entity '" + entity.name +
                                                "' has only ancillary sources; one must be core");
        }
    }
    if (diagnostics.failed()) return std::nullopt;

    // Dependency order (depth-first, reporting the first cycle with its path).
    const std::size_t n = schema.entities.size();
    std::vector<int> state(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<int> path;
    bool cycle = false;
    std::function<void(int)> visit = [&](int k) {
        if (cycle || state[static_cast<std::size_t>(k)] == 2) return;
        if (state[static_cast<std::size_t>(k)] == 1) {
            std::string text;
            const auto start = std::find(path.begin(), path.end(), k);
            for (auto it = start; it != path.end(); ++it) {
                text += schema.entities[static_cast<std::size_t>(*it)].name + " -> ";
            }
            text += schema.entities[static_cast<std::size_t>(k)].name;
            diagnostics.error(schema.entities[static_cast<std::size_t>(k)].where,
                              "dependency cycle: " + text);
            cycle = true;
            return;
        }
        state[static_cast<std::size_t>(k)] = 1;
        path.push_back(k);
        const Entity& entity = schema.entities[static_cast<std::size_t>(k)];
        const ResolvedEntity& r = schema.resolved[static_cast<std::size_t>(k)];
        if (r.driver >= 0) visit(r.driver);
        for (const auto& parent : entity.parents) visit(schema.find(parent.entity));
        // A field may read the single instance of an entity that is neither a parent nor an
        // ancestor: that entity must be built first.
        for (const auto& field : entity.fields) {
            if (!field.computed) continue;
            for (const auto& source : inputs_of(*field.computed)) {
                const int target = schema.scope_entity(k, source);
                if (target >= 0 && target != k) visit(target);
            }
        }
        path.pop_back();
        state[static_cast<std::size_t>(k)] = 2;
        if (!entity.is_abstract) schema.order.push_back(k);
    };
    for (std::size_t k = 0; k < n; ++k) visit(static_cast<int>(k));
    if (cycle) return std::nullopt;

    std::set<std::string> tables;
    for (const int k : schema.order) {
        const Entity& entity = schema.entities[static_cast<std::size_t>(k)];
        ResolvedEntity& r = schema.resolved[static_cast<std::size_t>(k)];
        if (entity.kind == EntityKind::Root) {
            r.singleton = true;
        } else if (entity.kind == EntityKind::Reference) {
            r.singleton = false;  // a reference message may carry a list of rows
        } else {
            r.singleton = !entity.repeated_for &&
                          schema.resolved[static_cast<std::size_t>(r.driver)].singleton;
        }
        if (entity.kind != EntityKind::Derived) schema.routes.push_back(k);
        check_repetition(schema, k, diagnostics);
        resolve_columns(schema, k, tables, diagnostics);
    }
    for (const int k : schema.order) check_fields(schema, k, diagnostics);
    check_cpp_names(schema, diagnostics);
    if (!diagnostics.failed()) check_types(schema, diagnostics);
    // In the order of nomnom.yaml, as the messages are read.
    std::vector<std::pair<std::string, Location>> rust(schema.project.rust_transforms.begin(),
                                                       schema.project.rust_transforms.end());
    std::sort(rust.begin(), rust.end(),
              [](const auto& a, const auto& b) { return a.second.line < b.second.line; });
    for (const auto& [name, where] : rust) {
        if (is_builtin_transform(name)) {
            diagnostics.note(where, "Rust implementation ignored: builtin " + name + " used");
        } else if (schema.project.transforms.contains(name)) {
            diagnostics.note(where, "Rust implementation ignored: C++ transform " + name +
                                        " (transforms.cpp) used");
        } else {
            diagnostics.warning(where, "Rust transform '" + name +
                                           "' cannot run here; entities that use it are refused");
        }
    }
    if (schema.routes.empty()) {
        diagnostics.error({schema.entities.empty() ? "" : schema.entities[0].where.file, 0},
                          "no root or reference entity: nothing would consume messages");
    }
    if (diagnostics.failed()) return std::nullopt;
    return schema;
}

}  // namespace nomnom::generator
