#pragma once

#include <string>

#include "nomnom/common/config.hpp"

namespace nomnom {

// What a reload (SIGHUP) does with settings that only take effect at start, shared by
// nomnom-host and nomnom-api.

// Logs that `setting` ("[nats]", "log.format") changed and needs a restart.
void warn_needs_restart(const std::string& setting);

// A section that only takes effect at start: when the file changed it, say so and keep the
// running value.
template <typename Section>
void keep_running_value(const char* name, const Section& running, Section& fresh) {
    if (running == fresh) return;
    warn_needs_restart("[" + std::string(name) + "]");
    fresh = running;
}

// log.level takes effect at once; log.format needs a restart (its running value stays).
void reload_log_config(const LogConfig& running, LogConfig& fresh);

}  // namespace nomnom
