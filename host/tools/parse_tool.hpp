#pragma once

#include <string>
#include <vector>

namespace nomnom::host {

// `nomnom-host parse --plugin PATH.so [options] [FILE...]`: runs messages through a plugin
// exactly as the host's workers do (the same decoding, parse call and row checks), with no NATS
// and no database, and prints the rows. Exit 0 when every message parsed, 1 when some did not,
// 2 on a usage error, a plugin that cannot load, or a FATAL from the plugin.
int run_parse_command(const std::vector<std::string>& args);

}  // namespace nomnom::host
