#include "project_reader.hpp"

#include "names.hpp"
#include "types.hpp"
#include "yaml_map.hpp"

#include <filesystem>
#include <set>

namespace nomnom::generator {

namespace fs = std::filesystem;

std::string find_project_file(const std::string& entities_directory) {
    const fs::path entities = fs::weakly_canonical(fs::absolute(entities_directory));
    for (const fs::path& candidate :
         {entities.parent_path() / "nomnom.yaml", fs::current_path() / "nomnom.yaml",
          entities / "nomnom.yaml"}) {
        if (fs::is_regular_file(candidate)) return candidate.string();
    }
    return "";
}

namespace {

void read_transforms(const YAML::Node& node, const std::string& file, Project& project,
                     Diagnostics& diagnostics) {
    YamlMap t(node, file, "transforms", diagnostics);
    if (!t.valid()) return;
    const YAML::Node rust = t.take("rust");
    if (rust.IsMap()) {
        for (const auto& entry : rust) {
            project.rust_transforms[entry.first.Scalar()] = location_of(entry.first, file);
        }
    }
    const YAML::Node cpp = t.take("cpp");
    if (cpp.IsDefined()) {
        YamlMap c(cpp, file, "transforms.cpp", diagnostics);
        const fs::path base = fs::path(file).parent_path();
        std::set<fs::path> names;
        for (const auto& source : c.strings("sources")) {
            const fs::path path = fs::absolute(base / source).lexically_normal();
            if (!fs::is_regular_file(path)) {
                diagnostics.error(c.where("sources"),
                                  "transforms.cpp.sources: '" + path.string() + "' does not exist");
            }
            // They are copied into the output's transforms/ by file name.
            if (!names.insert(path.filename()).second) {
                diagnostics.error(c.where("sources"),
                                  "transforms.cpp.sources: two files are named '" +
                                      path.filename().string() + "'");
            }
            project.transform_sources.push_back(path.string());
        }
        const YAML::Node functions = c.take("functions");
        if (functions.IsMap()) {
            for (const auto& entry : functions) {
                const std::string name = entry.first.Scalar();
                YamlMap f(entry.second, file, "transform '" + name + "'", diagnostics);
                UserTransform transform;
                transform.name = name;
                transform.where = location_of(entry.first, file);
                // The plugin declares and calls it by this name, as it is.
                check_plain_name("transform name", name, transform.where, diagnostics);
                const auto returns = f.string("returns", true);
                f.take("doc");
                f.finish();
                if (!returns) continue;
                if (auto type = parse_type(*returns, f.where("returns"), diagnostics)) {
                    transform.returns = *type;
                    project.transforms[name] = transform;
                }
            }
        } else if (functions.IsDefined()) {
            diagnostics.error(c.where("functions"),
                              "transforms.cpp.functions must be a mapping "
                              "name -> {returns: <type>}");
        }
        c.finish();
    }
    for (const char* key : {"registry_type", "python_module", "functions", "pyo3_functions"}) {
        t.ignored(key, "Python transform registries do not apply to C++ plugins");
    }
    t.finish();
}

}  // namespace

Project read_project(const std::string& file, Diagnostics& diagnostics) {
    Project project;
    if (file.empty()) return project;
    project.file = file;
    YAML::Node root;
    try {
        root = YAML::LoadFile(file);
    } catch (const YAML::ParserException& e) {
        diagnostics.error({file, e.mark.line + 1}, "YAML syntax: " + e.msg);
        return project;
    } catch (const YAML::Exception& e) {
        diagnostics.error({file, 0}, std::string("cannot read: ") + e.what());
        return project;
    }
    check_duplicate_keys(root, file, diagnostics);
    YamlMap top(root, file, "nomnom.yaml", diagnostics);
    if (!top.valid()) return project;
    const YAML::Node meta = top.take("project");
    if (meta.IsDefined()) {
        YamlMap m(meta, file, "project", diagnostics);
        project.name = m.string("name").value_or("");
        for (const char* key : {"module_name", "version", "description"}) m.take(key);
        m.finish();
    }
    const YAML::Node plugin = top.take("plugin");
    if (plugin.IsDefined()) {
        YamlMap p(plugin, file, "plugin", diagnostics);
        if (const auto name = p.string("name")) project.name = *name;
        if (const auto prefix = p.string("subject_prefix")) project.subject_prefix = *prefix;
        p.finish();
    }
    const YAML::Node transforms = top.take("transforms");
    if (transforms.IsDefined()) read_transforms(transforms, file, project, diagnostics);
    top.ignored("dependencies", "Cargo dependencies do not apply to C++ plugins");
    top.ignored("database", "nomnom-host picks the database from worker.toml's database.url");
    top.ignored("paths", "nomnom-gen writes to --out");
    top.finish();
    return project;
}

}  // namespace nomnom::generator
