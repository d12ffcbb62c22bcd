#pragma once

#include <cstdint>

namespace nomnom::testing {

// A TCP port on 127.0.0.1 that was free a moment ago. Another process can take it before the
// caller binds it, so callers that start servers should retry with a new port on failure.
std::uint16_t free_tcp_port();

}  // namespace nomnom::testing
