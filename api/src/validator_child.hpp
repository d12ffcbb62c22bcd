#pragma once

#include <string>
#include <vector>

namespace nomnom::api {

// The entry of a validator process (nomnom-api --validate-child ...), started by ValidatorPool:
// loads every plugin of --plugins-dir with nomnom-host's checks, then answers requests on fd 3
// (validate_frame.hpp) with the host's own parse step. Returns the exit code.
int run_validate_child(const std::vector<std::string>& args);

}  // namespace nomnom::api
