#pragma once

#include <string>

#include "incoming_message.hpp"

namespace nomnom {

enum class DeadLetterClass { Invalid, Data, RetriesExhausted };

const char* dead_letter_class_name(DeadLetterClass kind);

// Where messages that will never be persisted go, with the reason. The host terminates the
// original message only after dead_letter() returned.
class DeadLetterSink {
  public:
    virtual ~DeadLetterSink() = default;
    virtual void dead_letter(const std::string& plugin, const IncomingMessage& message,
                             DeadLetterClass kind, const std::string& reason) = 0;
};

// Records the message (plugin, subject, stream sequence, delivery, id, reason) in the log.
class LogDeadLetterSink final : public DeadLetterSink {
  public:
    void dead_letter(const std::string& plugin, const IncomingMessage& message,
                     DeadLetterClass kind, const std::string& reason) override;
};

}  // namespace nomnom
