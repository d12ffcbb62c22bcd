#include "api_reload.hpp"

#include <spdlog/spdlog.h>

#include "nomnom/common/config_reload.hpp"

namespace nomnom::api {

bool reload_api_config(ApiConfig& running, BearerAuth& auth, ValidatorPool& validators) {
    ApiConfig fresh;
    try {
        fresh = read_api_config(running.source);
    } catch (const ConfigError& e) {
        spdlog::error("reload: {}; keeping the running configuration", e.what());
        return false;
    }
    keep_running_value("http", running.http, fresh.http);
    keep_running_value("nats", running.nats, fresh.nats);
    keep_running_value("stream", running.stream, fresh.stream);
    keep_running_value("ingest", running.ingest, fresh.ingest);
    keep_running_value("status", running.status, fresh.status);
    reload_log_config(running.log, fresh.log);
    running.log = fresh.log;
    // Restarted even when unchanged: the directory's plugins may be new.
    running.validate = fresh.validate;
    validators.reconfigure(running.validate);
    try {
        const size_t tokens = auth.reload(fresh.auth);
        running.auth = fresh.auth;
        spdlog::info("reload: auth {}", tokens == 0 ? std::string("off")
                                                    : std::to_string(tokens) + " bearer token(s)");
    } catch (const ConfigError& e) {
        spdlog::error("reload: {}; the tokens in use stay", e.what());
        return false;
    }
    return true;
}

}  // namespace nomnom::api
