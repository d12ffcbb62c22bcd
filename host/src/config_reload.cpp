#include "config_reload.hpp"

#include <spdlog/spdlog.h>

namespace nomnom {

void warn_needs_restart(const char* name) {
    spdlog::warn(
        "reload: [{}] changed in the config file; it needs a restart, the running value stays",
        name);
}

void reload_log_config(const LogConfig& running, LogConfig& fresh) {
    if (fresh.format != running.format) {
        spdlog::warn("reload: log.format changed; it needs a restart, the running value stays");
        fresh.format = running.format;
    }
    if (fresh.level != running.level) {
        spdlog::info("reload: log level {} -> {}", running.level, fresh.level);
        spdlog::set_level(spdlog::level::from_str(fresh.level));
    }
}

}  // namespace nomnom
