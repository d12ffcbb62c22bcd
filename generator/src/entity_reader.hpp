// Reading entity YAML files, in the legacy `entity:` form and the v1 `kind: Entity` form, into
// the model. Each reader reports every problem of its file with the line it is on.
#pragma once

#include "diagnostics.hpp"
#include "model.hpp"
#include "yaml_map.hpp"

#include <optional>
#include <string>
#include <vector>

namespace nomnom::generator {

// Every *.yaml / *.yml directly in `directory`, in file name order (the original used whatever
// order the directory listing gave).
std::vector<Entity> load_entities(const std::string& directory, Diagnostics& diagnostics);

std::optional<Entity> read_legacy_entity(const YAML::Node& root, const std::string& file,
                                         Diagnostics& diagnostics);
std::optional<Entity> read_v1_entity(const YAML::Node& root, const std::string& file,
                                     Diagnostics& diagnostics);

// Shared by both forms.
// A name under `key` that goes as it is into the DDL or the plugin (an entity's, a field's, a
// column's or an index's), refused unless it is plain (names.hpp).
std::optional<std::string> read_name(YamlMap& map, const char* key, const std::string& what,
                                     bool required = true);
std::optional<TypeSpec> read_type(YamlMap& map, const char* key);
std::optional<SourceRef> read_source(const YAML::Node& node, const std::string& file,
                                     Diagnostics& diagnostics, const std::string& what);
// {entity, field, <item_key>} under `key` (legacy: repeated_for / each_known_as; v1: repeatedFor
// / itemName); the item name defaults to "item".
void read_repeated_for(YamlMap& map, const char* key, const char* item_key, Entity& entity);
// `repetition: singleton|repeated`, checked against what the entity resolves to.
void read_repetition(YamlMap& map, Entity& entity);
std::vector<Literal> read_args(const YAML::Node& node, const std::string& file,
                               Diagnostics& diagnostics, const std::string& what);

}  // namespace nomnom::generator
