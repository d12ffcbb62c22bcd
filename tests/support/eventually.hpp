#pragma once

#include <chrono>
#include <functional>

namespace nomnom::testing {

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace nomnom::testing
