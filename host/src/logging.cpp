#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "json_escape.hpp"

namespace nomnom {
namespace {

void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
    out.push_back('"');
    out.append(json_escape(text));
    out.push_back('"');
}

// One JSON object per line, so that log shippers need no parsing rules.
class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override {
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(message.time.time_since_epoch())
                .count();
        out.append(std::string_view("{\"ts_ms\":"));
        const std::string ts = std::to_string(millis);
        out.append(std::string_view(ts));
        out.append(std::string_view(",\"level\":"));
        const auto level = spdlog::level::to_string_view(message.level);
        append_json_string(out, std::string_view(level.data(), level.size()));
        out.append(std::string_view(",\"msg\":"));
        append_json_string(out, std::string_view(message.payload.data(), message.payload.size()));
        out.append(std::string_view("}\n"));
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

void setup_logging(const LogConfig& config) {
    auto logger = std::make_shared<spdlog::logger>(
        "nomnom", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    if (config.format == "json") {
        logger->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
    }
    logger->set_level(spdlog::level::from_str(config.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace nomnom
