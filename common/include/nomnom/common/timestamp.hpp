#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace nomnom {

// RFC 3339 UTC with milliseconds, as written in Nomnom-Timestamp.
std::string utc_timestamp_now();
std::string utc_timestamp(std::chrono::system_clock::time_point time);

// An RFC 3339 timestamp ("2024-02-29T23:59:59.5+01:00", 'T' or ' ', Z or an offset, or none) as
// the UTC "YYYY-MM-DD hh:mm:ss[.fraction]" that a MySQL DATETIME column reads (MySQL refuses Z
// and, MariaDB, any offset). Without an offset the time is kept as it is. nullopt when `text`
// is not of that form.
std::optional<std::string> rfc3339_as_utc_datetime(std::string_view text);

}  // namespace nomnom
