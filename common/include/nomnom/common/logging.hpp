#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nomnom/common/config.hpp"

namespace nomnom {

// Sets the default spdlog logger: text or one JSON object per line, on stderr.
void setup_logging(const LogConfig& config);

// What a log line is about: a plugin, and for a line about one message its subject, stream
// sequence, delivery count and id. Text lines start with "[plugin=x subject=y seq=n ...] ";
// JSON lines carry each as a field of its own, so that a log search needs no parsing rules.
// Empty or zero fields are left out.
struct LogFields {
    std::string_view plugin;
    std::string_view consumer;
    std::string_view subject;
    uint64_t stream_seq = 0;
    uint64_t delivery = 0;
    std::string_view message_id;

    // Fields naming a plugin only. The fields view the name: a temporary would be gone
    // before the scope that logs with them.
    static LogFields of_plugin(std::string_view plugin) {
        LogFields fields;
        fields.plugin = plugin;
        return fields;
    }
    static LogFields of_plugin(std::string&& plugin) = delete;
};

// Attaches `fields` to every line this thread logs while the scope lives (the strings they view
// must outlive it). Thread-local because the logger formats on the calling thread.
class LogScope {
  public:
    explicit LogScope(const LogFields& fields);
    ~LogScope();
    LogScope(const LogScope&) = delete;
    LogScope& operator=(const LogScope&) = delete;

  private:
    LogFields fields_;
    const LogFields* previous_;
};

// The fields of the innermost LogScope of this thread, or nullptr.
const LogFields* current_log_fields();

}  // namespace nomnom
