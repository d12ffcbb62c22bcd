#include "nomnom/common/config_reload.hpp"

#include <spdlog/spdlog.h>

namespace nomnom {

void warn_needs_restart(const std::string& setting) {
    spdlog::warn(
        "reload: {} changed in the config file; it needs a restart, the running value stays",
        setting);
}

void reload_log_config(const LogConfig& running, LogConfig& fresh) {
    if (fresh.format != running.format) {
        warn_needs_restart("log.format");
        fresh.format = running.format;
    }
    if (fresh.level != running.level) {
        spdlog::info("reload: log level {} -> {}", running.level, fresh.level);
        spdlog::set_level(spdlog::level::from_str(fresh.level));
    }
}

}  // namespace nomnom
