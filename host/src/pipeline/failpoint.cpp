#include "pipeline/failpoint.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace nomnom::host {

void failpoint(const char* name) {
    static const char* const armed = std::getenv("NOMNOM_FAILPOINT");
    if (armed == nullptr) return;
    const std::string point(name);
    if (point == armed) std::raise(SIGKILL);
    static std::atomic<bool> thrown{false};
    if (point + ":throw" == armed && !thrown.exchange(true)) {
        throw std::runtime_error("failpoint " + point);
    }
}

}  // namespace nomnom::host
