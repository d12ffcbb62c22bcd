#pragma once

#include <vector>

#include "plugins/plugin_workers.hpp"

namespace nomnom::host {

// What /ready and the dashboard say about the host: its connections and every plugin file.
struct HostState {
    bool started = false;
    bool nats_connected = false;
    bool database_reachable = false;
    std::vector<PluginStatus> plugins;
};

}  // namespace nomnom::host
