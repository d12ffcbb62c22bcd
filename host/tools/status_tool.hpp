#pragma once

#include <string>
#include <vector>

namespace nomnom::host {

// `nomnom-host status --config worker.toml [--endpoint http://HOST:PORT]`: per plugin, its
// durable consumers as JetStream reports them (pending, ack pending, redelivered, last delivery)
// and, when a host answers on its HTTP endpoint, that host's state of the plugin (/ready) and
// counters (/metrics). Returns the process exit code: 0 once the report is printed, whatever it
// says; 2 for a usage or config error.
int run_status_command(const std::vector<std::string>& args);

// `nomnom-host probe URL`: GET URL; exit code 0 on a 2xx answer, 1 otherwise. A health check
// for container images that ship no curl.
int run_probe_command(const std::vector<std::string>& args);

}  // namespace nomnom::host
