#include "nomnom/common/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

#include "nomnom/common/json_escape.hpp"

namespace nomnom {
namespace {

thread_local const LogFields* current_fields = nullptr;

void append(spdlog::memory_buf_t& out, std::string_view text) {
    out.append(text.data(), text.data() + text.size());
}

void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
    out.push_back('"');
    append(out, json_escape(text));
    out.push_back('"');
}

// "[plugin=x subject=y seq=n delivery=d id=m] " for text lines.
class TextFieldsFlag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg&, const std::tm&,
                spdlog::memory_buf_t& out) override {
        const LogFields* fields = current_fields;
        if (fields == nullptr) return;
        std::string text;
        const auto add = [&](std::string_view key, std::string_view value) {
            if (value.empty()) return;
            text += text.empty() ? "[" : " ";
            text.append(key).append("=").append(value);
        };
        add("plugin", fields->plugin);
        add("consumer", fields->consumer);
        add("subject", fields->subject);
        if (fields->stream_seq != 0) add("seq", std::to_string(fields->stream_seq));
        if (fields->delivery != 0) add("delivery", std::to_string(fields->delivery));
        add("id", fields->message_id);
        if (text.empty()) return;
        text += "] ";
        append(out, text);
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<TextFieldsFlag>();
    }
};

// One JSON object per line, so that log shippers need no parsing rules.
class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override {
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(message.time.time_since_epoch())
                .count();
        append(out, "{\"ts_ms\":");
        append(out, std::to_string(millis));
        append(out, ",\"level\":");
        const auto level = spdlog::level::to_string_view(message.level);
        append_json_string(out, std::string_view(level.data(), level.size()));
        if (const LogFields* fields = current_fields) {
            const auto add = [&](std::string_view key, std::string_view value) {
                if (value.empty()) return;
                append(out, ",\"");
                append(out, key);
                append(out, "\":");
                append_json_string(out, value);
            };
            const auto add_number = [&](std::string_view key, uint64_t value) {
                if (value == 0) return;
                append(out, ",\"");
                append(out, key);
                append(out, "\":");
                append(out, std::to_string(value));
            };
            add("plugin", fields->plugin);
            add("consumer", fields->consumer);
            add("subject", fields->subject);
            add_number("stream_seq", fields->stream_seq);
            add_number("delivery", fields->delivery);
            add("message_id", fields->message_id);
        }
        append(out, ",\"msg\":");
        append_json_string(out, std::string_view(message.payload.data(), message.payload.size()));
        append(out, "}\n");
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

LogScope::LogScope(const LogFields& fields) : fields_(fields), previous_(current_fields) {
    current_fields = &fields_;
}

LogScope::~LogScope() {
    current_fields = previous_;
}

const LogFields* current_log_fields() {
    return current_fields;
}

void setup_logging(const LogConfig& config) {
    auto logger = std::make_shared<spdlog::logger>(
        "nomnom", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    if (config.format == "json") {
        logger->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<TextFieldsFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %*%v");
        logger->set_formatter(std::move(formatter));
    }
    logger->set_level(spdlog::level::from_str(config.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace nomnom
