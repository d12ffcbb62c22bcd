// nomnom-gen: entity YAML (both formats of the original nomnom) -> plugin source, SQL DDL and a
// CMakeLists.txt. Exit codes: 0 done, 2 bad input (every problem printed as file:line: ...),
// 1 an output could not be written.
#include "diagnostics.hpp"
#include "emitters.hpp"
#include "entity_reader.hpp"
#include "project_reader.hpp"
#include "schema.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nomnom::generator;

namespace {

constexpr const char* usage =
    "usage: nomnom-gen --entities DIR --out DIR [--name PLUGIN] [--project nomnom.yaml]\n"
    "                  [--subject-prefix PREFIX] [--mysql-key-length N] [--pg-fillfactor N]\n"
    "                  [--stamp FILE]\n"
    "       nomnom-gen check --entities DIR [--project nomnom.yaml]\n"
    "\n"
    "Reads every *.yaml/*.yml entity file directly in DIR (legacy `entity:` form or\n"
    "`apiVersion: nomnom.io/v1, kind: Entity`) and writes into --out:\n"
    "  <name>_plugin.cpp      the plugin (C++20, nomnom SDK + RapidJSON)\n"
    "  <name>_transforms.cpp  the C++ transforms named in nomnom.yaml, as one source file\n"
    "  CMakeLists.txt         out-of-tree build: cmake -S OUT -B OUT/build -Dnomnom_DIR=...\n"
    "  sql/postgresql.sql     DDL (also embedded in the plugin for auto_migrate)\n"
    "  sql/sqlite.sql\n"
    "  sql/mysql.sql          MySQL 8 and MariaDB 10.11\n"
    "  transforms/*.cpp       copies of the C++ transforms named in nomnom.yaml\n"
    "nomnom.yaml is looked for next to DIR, in the current directory, then in DIR, unless\n"
    "--project names it. The plugin subscribes to <prefix>.<Entity> for each root and\n"
    "reference entity (prefix: --subject-prefix, nomnom.yaml plugin.subject_prefix, or\n"
    "messages.ingest).\n"
    "--mysql-key-length N (1 to 768, default 255) is the VARCHAR length in sql/mysql.sql of a\n"
    "string column without maxLength in a key or index, which MySQL cannot index as TEXT.\n"
    "--pg-fillfactor N (10 to 100, default 100: none written) is every table's fillfactor in\n"
    "sql/postgresql.sql: 50 leaves each page room to rewrite all its rows in place (HOT\n"
    "updates) when messages update or replay stored keys, for twice the space.\n"
    "--stamp FILE touches FILE when done and writes FILE.d, a make depfile listing every\n"
    "input read (entity files, nomnom.yaml, transform sources), for build systems.\n";

struct Options {
    bool check_only = false;
    std::string entities;
    std::string out;
    std::string name;
    std::optional<std::string> project;
    std::optional<std::string> subject_prefix;
    std::optional<int> mysql_key_length;
    std::optional<int> pg_fillfactor;
    std::optional<std::string> stamp;
};

// `value` when it is a whole number from `low` to `high`.
std::optional<int> number_in(const std::string& value, int low, int high) {
    int number = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc{} || end != value.data() + value.size() || number < low ||
        number > high) {
        return std::nullopt;
    }
    return number;
}

std::optional<Options> parse_arguments(int argc, char** argv) {
    Options options;
    int k = 1;
    if (k < argc && std::string(argv[k]) == "check") {
        options.check_only = true;
        ++k;
    }
    for (; k < argc; ++k) {
        const std::string arg = argv[k];
        if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            std::exit(0);
        }
        if (k + 1 >= argc) {
            std::cerr << "nomnom-gen: " << arg << " needs a value (or is unknown)\n" << usage;
            return std::nullopt;
        }
        const std::string value = argv[++k];
        if (arg == "--entities") {
            options.entities = value;
        } else if (arg == "--out" && !options.check_only) {
            options.out = value;
        } else if (arg == "--name" && !options.check_only) {
            options.name = value;
        } else if (arg == "--project") {
            options.project = value;
        } else if (arg == "--subject-prefix") {
            options.subject_prefix = value;
        } else if (arg == "--mysql-key-length") {
            options.mysql_key_length = number_in(value, 1, 768);
            if (!options.mysql_key_length) {
                std::cerr << "nomnom-gen: --mysql-key-length must be a number from 1 to 768 "
                             "(an InnoDB key holds 3072 bytes, 4 per utf8mb4 character), not '"
                          << value << "'\n";
                return std::nullopt;
            }
        } else if (arg == "--pg-fillfactor") {
            options.pg_fillfactor = number_in(value, 10, 100);
            if (!options.pg_fillfactor) {
                std::cerr << "nomnom-gen: --pg-fillfactor must be a number from 10 to 100 "
                             "(PostgreSQL's range for a table), not '"
                          << value << "'\n";
                return std::nullopt;
            }
        } else if (arg == "--stamp" && !options.check_only) {
            options.stamp = value;
        } else {
            std::cerr << "nomnom-gen: unknown option " << arg << "\n" << usage;
            return std::nullopt;
        }
    }
    if (options.entities.empty() || (!options.check_only && options.out.empty())) {
        std::cerr << "nomnom-gen: --entities" << (options.check_only ? "" : " and --out")
                  << " are required\n"
                  << usage;
        return std::nullopt;
    }
    return options;
}

bool valid_plugin_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

// Rewrites a file only when its content changes, so a build that regenerates on every run does
// not recompile an unchanged plugin.
void write_file(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    {
        std::ifstream existing(path, std::ios::binary);
        if (existing) {
            std::ostringstream current;
            current << existing.rdbuf();
            if (current.str() == content) return;
        }
    }
    const fs::path temporary = path.string() + ".tmp";
    {
        std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
        file << content;
        if (!file.flush()) throw std::runtime_error("cannot write " + temporary.string());
    }
    fs::rename(temporary, path);
}

// A make rule "STAMP: inputs...", so that a build reruns nomnom-gen when a transform source
// changes too (the build cannot know them before nomnom-gen has read nomnom.yaml).
void write_stamp(const fs::path& stamp, const Schema& schema) {
    const auto escaped = [](const std::string& path) {
        std::string out;
        for (const char c : path) {
            if (c == ' ' || c == '#') out += '\\';
            if (c == '$') out += '$';
            out += c;
        }
        return out;
    };
    std::string rule = escaped(fs::absolute(stamp).string()) + ":";
    std::vector<std::string> inputs;
    for (const auto& entity : schema.entities) inputs.push_back(entity.where.file);
    if (schema.project.file) inputs.push_back(*schema.project.file);
    inputs.insert(inputs.end(), schema.project.transform_sources.begin(),
                  schema.project.transform_sources.end());
    for (const auto& input : inputs) rule += " \\\n  " + escaped(fs::absolute(input).string());
    write_file(stamp.string() + ".d", rule + "\n");
    std::ofstream touched(stamp, std::ios::binary | std::ios::trunc);
    if (!touched) throw std::runtime_error("cannot write " + stamp.string());
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = parse_arguments(argc, argv);
    if (!options) return 2;

    Diagnostics diagnostics;
    const std::string project_file =
        options->project ? *options->project : find_project_file(options->entities);
    if (options->project && !fs::is_regular_file(*options->project)) {
        diagnostics.error({*options->project, 0}, "project file does not exist");
    }
    Project project = read_project(project_file, diagnostics);
    if (options->subject_prefix) project.subject_prefix = *options->subject_prefix;
    if (options->mysql_key_length) project.mysql_key_length = *options->mysql_key_length;
    if (options->pg_fillfactor) project.pg_fillfactor = *options->pg_fillfactor;
    std::vector<Entity> entities = load_entities(options->entities, diagnostics);
    std::optional<Schema> schema;
    if (!diagnostics.failed()) schema = resolve(std::move(entities), project, diagnostics);

    PluginIdentity plugin{options->name, NOMNOM_GEN_VERSION};
    if (plugin.name.empty()) plugin.name = project.name;
    if (plugin.name.empty()) {
        plugin.name =
            fs::weakly_canonical(fs::absolute(options->entities)).parent_path().filename();
    }
    if (!options->check_only && !valid_plugin_name(plugin.name)) {
        diagnostics.error({project_file.empty() ? options->entities : project_file, 0},
                          "plugin name '" + plugin.name +
                              "' must be lowercase letters, digits, '_' or '-' (use --name)");
    }
    diagnostics.print(std::cerr);
    if (diagnostics.failed() || !schema) return 2;

    if (options->check_only) {
        std::cout << "nomnom-gen: " << schema->order.size() << " entities OK, subjects:";
        for (const auto& subject : plugin_subjects(*schema)) std::cout << " " << subject;
        std::cout << "\n";
        return 0;
    }
    try {
        const fs::path out = options->out;
        write_file(out / (plugin.name + "_plugin.cpp"), emit_plugin_source(*schema, plugin));
        write_file(out / (plugin.name + "_transforms.cpp"), emit_transforms_source(*schema));
        write_file(out / "CMakeLists.txt", emit_cmake(plugin));
        for (const Dialect dialect : kDialects) {
            write_file(out / "sql" / (std::string(dialect_name(dialect)) + ".sql"),
                       emit_ddl(*schema, dialect));
        }
        for (const auto& source : schema->project.transform_sources) {
            std::ifstream in(source, std::ios::binary);
            std::ostringstream content;
            content << in.rdbuf();
            write_file(out / "transforms" / fs::path(source).filename(), content.str());
        }
        if (options->stamp) write_stamp(*options->stamp, *schema);
    } catch (const std::exception& e) {
        std::cerr << "nomnom-gen: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
