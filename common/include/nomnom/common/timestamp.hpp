#pragma once

#include <chrono>
#include <string>

namespace nomnom {

// RFC 3339 UTC with milliseconds, as written in Nomnom-Timestamp.
std::string utc_timestamp_now();
std::string utc_timestamp(std::chrono::system_clock::time_point time);

}  // namespace nomnom
