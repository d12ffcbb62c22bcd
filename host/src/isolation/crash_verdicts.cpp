#include "isolation/crash_verdicts.hpp"

namespace nomnom::host {

void CrashVerdicts::add(const std::string& stream, uint64_t sequence, Verdict verdict) {
    std::lock_guard lock(mutex_);
    verdicts_.insert_or_assign({stream, sequence}, std::move(verdict));
    any_.store(true, std::memory_order_release);
}

std::optional<CrashVerdicts::Verdict> CrashVerdicts::find(const std::string& stream,
                                                          uint64_t sequence) const {
    if (!any_.load(std::memory_order_acquire)) return std::nullopt;
    std::lock_guard lock(mutex_);
    const auto found = verdicts_.find({stream, sequence});
    if (found == verdicts_.end()) return std::nullopt;
    return found->second;
}

}  // namespace nomnom::host
