// Turning a resolved schema into files: the plugin's C++ source, DDL per dialect, and a
// CMakeLists.txt for building the plugin out of the nomnom tree.
#pragma once

#include "schema.hpp"
#include "types.hpp"

#include <string>
#include <vector>

namespace nomnom::generator {

struct PluginIdentity {
    std::string name;     // [a-z0-9_-]+, also the .so name
    std::string version;  // the generator's version, recorded in the descriptor
};

std::string emit_ddl(const Schema& schema, Dialect dialect);
std::string emit_plugin_source(const Schema& schema, const PluginIdentity& plugin);
// <name>_transforms.cpp: includes the copies of nomnom.yaml's transforms.cpp.sources, so that a
// build compiles the same two files whatever the project file names.
std::string emit_transforms_source(const Schema& schema);
std::string emit_cmake(const PluginIdentity& plugin);

// "messages.ingest.<Entity>" for each root and reference entity.
std::vector<std::string> plugin_subjects(const Schema& schema);

// A C++ string literal with the bytes of `text`.
std::string cpp_string(const std::string& text);

// The lines of a YAML doc, for the comments it becomes in the plugin and the DDL: split at LF,
// CR LF and a lone CR, which compilers and PostgreSQL read as line breaks too; other control
// characters are spaces (a NUL would cut the DDL short); no trailing blanks, and no blank lines
// before the first line or after the last.
std::vector<std::string> doc_lines(const std::string& text);

}  // namespace nomnom::generator
