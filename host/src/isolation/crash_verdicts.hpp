#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "pipeline/dead_letter.hpp"

namespace nomnom::host {

// What a plugin's recovery concluded about messages a dead worker held: the plugin is not
// called on a culprit again, each suspect is written alone, so that a second death can only
// name one message, and the deliveries a death cost the others are not counted toward
// max_deliver. Shared by the plugin's workers; empty (one atomic load) unless a worker died.
class CrashVerdicts {
  public:
    enum class Kind { Culprit, Suspect, Bystander };
    struct Verdict {
        Kind kind;
        std::string reason;     // of a culprit or a suspect
        uint64_t forgiven = 0;  // deliveries lost to deaths it did not cause
        // A culprit's class: crashed, or timeout when the plugin hung on it.
        DeadLetterClass dead_letter_class = DeadLetterClass::Crashed;
    };

    void add(const std::string& stream, uint64_t sequence, Verdict verdict);
    std::optional<Verdict> find(const std::string& stream, uint64_t sequence) const;

  private:
    std::atomic<bool> any_{false};
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, uint64_t>, Verdict> verdicts_;
};

}  // namespace nomnom::host
