#include "ops/last_error.hpp"

namespace nomnom::host {

void LastError::record(std::string reason) {
    Entry entry{std::chrono::system_clock::now(), std::move(reason)};
    std::lock_guard lock(mutex_);
    entry_ = std::move(entry);
}

std::optional<LastError::Entry> LastError::get() const {
    std::lock_guard lock(mutex_);
    return entry_;
}

}  // namespace nomnom::host
