#include "dead_letter.hpp"

#include <spdlog/spdlog.h>

namespace nomnom {

const char* dead_letter_class_name(DeadLetterClass kind) {
    switch (kind) {
        case DeadLetterClass::Invalid:
            return "invalid";
        case DeadLetterClass::Data:
            return "data";
        default:
            return "retries_exhausted";
    }
}

void LogDeadLetterSink::dead_letter(const std::string& plugin, const IncomingMessage& message,
                                    DeadLetterClass kind, const std::string& reason) {
    spdlog::error(
        "[plugin={} subject={} seq={} delivery={} id={}] dead-lettered ({}): {}; terminated",
        plugin, message.subject, message.stream_sequence, message.delivery_count,
        message.message_id, dead_letter_class_name(kind), reason);
}

}  // namespace nomnom
