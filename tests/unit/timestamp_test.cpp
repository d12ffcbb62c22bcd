#include <catch2/catch.hpp>

#include "nomnom/common/timestamp.hpp"

using nomnom::rfc3339_as_utc_datetime;

TEST_CASE("RFC 3339 timestamps become the UTC text a MySQL DATETIME reads", "[timestamp][mysql]") {
    CHECK(rfc3339_as_utc_datetime("2026-02-28T10:11:12.5Z") == "2026-02-28 10:11:12.5");
    CHECK(rfc3339_as_utc_datetime("2024-02-29 23:59:59+01:00") == "2024-02-29 22:59:59");
    // Across a day, a month and a year, both ways.
    CHECK(rfc3339_as_utc_datetime("2024-12-31T23:30:00-02:00") == "2025-01-01 01:30:00");
    CHECK(rfc3339_as_utc_datetime("2024-03-01T00:15:00.123456789+05:30") ==
          "2024-02-29 18:45:00.123456789");
    CHECK(rfc3339_as_utc_datetime("2026-01-02t03:04:05z") == "2026-01-02 03:04:05");
    // No offset: the time as it is.
    CHECK(rfc3339_as_utc_datetime("2026-01-02T03:04:05") == "2026-01-02 03:04:05");
    for (const char* bad :
         {"2026-02-30T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T23:59:60Z", "2026-01-02",
          "2026-01-02T03:04:05+0100", "2026-01-02T03:04:05 UTC", "yesterday"}) {
        CAPTURE(bad);
        CHECK_FALSE(rfc3339_as_utc_datetime(bad));
    }
}
