#include "entity_reader.hpp"
#include "names.hpp"
#include "types.hpp"

#include <algorithm>
#include <filesystem>

namespace nomnom::generator {

std::optional<std::string> read_name(YamlMap& map, const char* key, const std::string& what,
                                     bool required) {
    const auto name = map.string(key, required);
    if (name) check_plain_name(what, *name, map.where(key), map.diagnostics());
    return name;
}

std::optional<TypeSpec> read_type(YamlMap& map, const char* key) {
    const auto spelled = map.string(key, true);
    if (!spelled) return std::nullopt;
    return parse_type(*spelled, map.where(key), map.diagnostics());
}

std::optional<SourceRef> read_source(const YAML::Node& node, const std::string& file,
                                     Diagnostics& diagnostics, const std::string& what) {
    SourceRef source;
    source.where = location_of(node, file);
    if (node.IsScalar()) {
        source.variable = node.Scalar();
        return source;
    }
    YamlMap map(node, file, what + " source", diagnostics);
    if (!map.valid()) return std::nullopt;
    const auto scope = map.string("source");
    const auto parent = map.string("parent");
    const auto field = map.string("field", true);
    map.ignored("alias", "sources are referred to by position");
    map.finish();
    if (scope && parent) {
        diagnostics.error(source.where, what + " source: give 'source' or 'parent', not both");
        return std::nullopt;
    }
    if (!scope && !parent) {
        diagnostics.error(source.where, what + " source: missing required key 'source'");
        return std::nullopt;
    }
    if (!field) return std::nullopt;
    source.scope = scope ? *scope : *parent;
    source.field = *field;
    return source;
}

void read_repeated_for(YamlMap& map, const char* key, const char* item_key, Entity& entity) {
    const YAML::Node node = map.take(key);
    if (!node.IsDefined()) return;
    YamlMap r(node, map.file(), "entity '" + entity.name + "' " + key, map.diagnostics());
    if (!r.valid()) return;
    RepeatedFor spec;
    spec.where = r.where();
    spec.entity = r.string("entity", true).value_or("");
    spec.field = r.string("field", true).value_or("");
    spec.item_name = r.string(item_key).value_or("item");
    r.finish();
    entity.repeated_for = spec;
}

void read_repetition(YamlMap& map, Entity& entity) {
    const auto repetition = map.string("repetition");
    if (!repetition) return;
    entity.repetition_where = map.where("repetition");
    if (*repetition == "singleton" || *repetition == "repeated") {
        entity.repeated = *repetition == "repeated";
    } else {
        map.diagnostics().error(
            entity.repetition_where,
            "repetition must be singleton or repeated, not '" + *repetition + "'");
    }
}

std::vector<Literal> read_args(const YAML::Node& node, const std::string& file,
                               Diagnostics& diagnostics, const std::string& what) {
    std::vector<Literal> args;
    if (!node.IsDefined() || node.IsNull()) return args;
    const auto add = [&](const YAML::Node& value) {
        if (auto literal = read_literal(value, file, diagnostics, what + " argument")) {
            args.push_back(*literal);
        }
    };
    // A mapping's keys only document the values, which are passed in order (as the original did).
    if (node.IsMap()) {
        for (const auto& entry : node) add(entry.second);
    } else if (node.IsSequence()) {
        for (const auto& item : node) add(item);
    } else {
        add(node);
    }
    return args;
}

std::vector<Entity> load_entities(const std::string& directory, Diagnostics& diagnostics) {
    namespace fs = std::filesystem;
    std::vector<Entity> entities;
    std::error_code error;
    if (!fs::is_directory(directory, error)) {
        diagnostics.error({directory, 0}, "not a directory");
        return entities;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(directory, error)) {
        const auto extension = entry.path().extension();
        if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml")) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) diagnostics.error({directory, 0}, "no *.yaml or *.yml entity files");

    for (const auto& path : files) {
        const std::string file = path.string();
        YAML::Node root;
        try {
            root = YAML::LoadFile(file);
        } catch (const YAML::ParserException& e) {
            diagnostics.error({file, e.mark.line + 1}, "YAML syntax: " + e.msg);
            continue;
        } catch (const YAML::Exception& e) {
            diagnostics.error({file, 0}, std::string("cannot read: ") + e.what());
            continue;
        }
        check_duplicate_keys(root, file, diagnostics);
        std::optional<Entity> entity;
        if (root.IsMap() && root["apiVersion"].IsDefined()) {
            entity = read_v1_entity(root, file, diagnostics);
        } else if (root.IsMap() && root["entity"].IsDefined()) {
            entity = read_legacy_entity(root, file, diagnostics);
        } else {
            diagnostics.error(location_of(root, file),
                              "expected an entity: a top-level 'entity:' mapping (legacy form) or "
                              "'apiVersion: nomnom.io/v1' with 'kind: Entity'");
        }
        if (entity) entities.push_back(std::move(*entity));
    }
    return entities;
}

}  // namespace nomnom::generator
