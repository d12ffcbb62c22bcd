// Resolution of a loaded entity set into what the emitters need: inheritance applied, every
// reference checked, entities in dependency order, every source turned into a place to read.
#pragma once

#include "diagnostics.hpp"
#include "model.hpp"

#include <optional>
#include <string>
#include <vector>

namespace nomnom::generator {

// Where a transform input is read from, relative to the instance being built.
struct ValuePlace {
    enum class Kind { Field, Json } kind = Kind::Field;
    int entity = -1;                // index into Schema::entities of the instance read from
    int ancestor_hops = 0;          // 0: the instance itself; n: n steps up the driver chain
    bool singleton_lookup = false;  // not an ancestor: the message's single instance of `entity`
    int field = -1;                 // Field kind: index into that entity's fields
};

struct ResolvedColumn {
    Column column;
    int field = -1;          // index into the entity's fields; -1: read from the payload by name
    bool synthetic = false;  // nomnom_message_id / nomnom_ordinal
};

struct ResolvedEntity {
    const Entity* entity = nullptr;
    int driver = -1;          // the parent whose instances drive this one's (-1: a route)
    int repeated_field = -1;  // repeated_for: index of the list field in the driver
    bool singleton = true;    // at most one instance per message
    bool persistent = false;
    // Not stored: the plugin publishes its rows (the original's transient entities, which it
    // published to NATS as entities.<Name>), as a table named after the entity.
    bool published = false;
    std::string table;  // persistence's table, or the entity's name when published
    std::vector<ResolvedColumn> columns;
    std::optional<std::string> primary_key;  // a non-generated primary key column
    std::vector<std::string> conflict_keys;
    bool synthetic_key = false;
};

struct Schema {
    std::vector<Entity> entities;          // every loaded entity, abstract ones included
    std::vector<ResolvedEntity> resolved;  // parallel to entities
    std::vector<int> order;                // dependency order, abstract entities left out
    std::vector<int> routes;               // roots and references, by which messages arrive
    Project project;

    // Resolves a transform input seen from entity `from` while computing field `field_index`.
    std::optional<ValuePlace> place_of(int from, int field_index, const SourceRef& source,
                                       Diagnostics& diagnostics) const;
    // The entity a source's scope names, seen from entity `from` (self, the each_known_as item,
    // a parent alias or an entity name), or -1.
    int scope_entity(int from, const SourceRef& source) const;
    // The root or reference entity whose messages build entity k (k itself for a route).
    int route_of(int k) const;
    int find(const std::string& name) const;
};

// Every input a computation reads: its sources, then the condition field.
std::vector<SourceRef> inputs_of(const Computation& computation);

std::optional<Schema> resolve(std::vector<Entity> entities, Project project,
                              Diagnostics& diagnostics);

// The builtin transforms, for checks and messages.
bool is_builtin_transform(const std::string& name);

}  // namespace nomnom::generator
