// nomnom.yaml: the original's project file, read for what matters here (the project name, C++
// transforms, plugin settings); its Rust/Python build settings are recognised and reported as
// ignored.
#pragma once

#include "diagnostics.hpp"
#include "model.hpp"

#include <string>

namespace nomnom::generator {

// Reads `file` when it is not empty.
Project read_project(const std::string& file, Diagnostics& diagnostics);

// The original looked for nomnom.yaml next to the entities directory, then in the current
// directory, then inside the entities directory; the first that exists, or "".
std::string find_project_file(const std::string& entities_directory);

}  // namespace nomnom::generator
