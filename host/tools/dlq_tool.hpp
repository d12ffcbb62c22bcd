#pragma once

#include <string>
#include <vector>

namespace nomnom::host {

// `nomnom-host dlq list|show|replay|purge --config worker.toml [options]`: inspects and acts on
// the dead-letter stream. Returns the process exit code.
int run_dlq_command(const std::vector<std::string>& args);

}  // namespace nomnom::host
