#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace nomnom::host {

// What a plugin's recovery concluded about messages a dead worker held: the plugin is not
// called on a culprit again, and each suspect is written alone, so that a second death can only
// name one message. Shared by the plugin's workers; empty (one atomic load) unless a worker died.
class CrashVerdicts {
  public:
    enum class Kind { Culprit, Suspect };
    struct Verdict {
        Kind kind;
        std::string reason;
    };

    void add(const std::string& stream, uint64_t sequence, Verdict verdict);
    std::optional<Verdict> find(const std::string& stream, uint64_t sequence) const;

  private:
    std::atomic<bool> any_{false};
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, uint64_t>, Verdict> verdicts_;
};

}  // namespace nomnom::host
