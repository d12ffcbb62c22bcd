#include "nomnom/common/timestamp.hpp"

#include <cstdio>
#include <ctime>

namespace nomnom {

std::string utc_timestamp_now() {
    return utc_timestamp(std::chrono::system_clock::now());
}

std::string utc_timestamp(std::chrono::system_clock::time_point now) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm parts{};
    ::gmtime_r(&seconds, &parts);
    char text[80];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                  parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                  static_cast<int>(millis));
    return text;
}

namespace {

// The number of `count` digits at `at`, or -1.
int digits_at(std::string_view text, size_t at, size_t count) {
    if (at + count > text.size()) return -1;
    int value = 0;
    for (size_t i = at; i < at + count; ++i) {
        if (text[i] < '0' || text[i] > '9') return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

}  // namespace

std::optional<std::string> rfc3339_as_utc_datetime(std::string_view text) {
    using namespace std::chrono;
    const int year_ = digits_at(text, 0, 4), month_ = digits_at(text, 5, 2),
              day_ = digits_at(text, 8, 2), hour = digits_at(text, 11, 2),
              minute = digits_at(text, 14, 2), second = digits_at(text, 17, 2);
    if (year_ < 0 || month_ < 0 || day_ < 0 || hour < 0 || minute < 0 || second < 0 ||
        text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':' ||
        (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || hour > 23 || minute > 59 ||
        second > 59) {
        return std::nullopt;
    }
    size_t end = 19;
    if (end < text.size() && text[end] == '.') {
        ++end;
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    }
    const std::string_view fraction = text.substr(19, end - 19);
    const std::string_view zone = text.substr(end);
    int offset_minutes = 0;
    if (zone == "Z" || zone == "z") {
        offset_minutes = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
               digits_at(zone, 1, 2) >= 0 && digits_at(zone, 4, 2) >= 0) {
        offset_minutes =
            (digits_at(zone, 1, 2) * 60 + digits_at(zone, 4, 2)) * (zone[0] == '-' ? -1 : 1);
    } else if (!zone.empty()) {
        return std::nullopt;
    }
    const year_month_day date{year{year_}, month{static_cast<unsigned>(month_)},
                              day{static_cast<unsigned>(day_)}};
    if (!date.ok()) return std::nullopt;
    const sys_seconds utc =
        sys_days{date} + hours{hour} + minutes{minute - offset_minutes} + seconds{second};
    const sys_days utc_day = floor<days>(utc);
    const year_month_day utc_date{utc_day};
    const hh_mm_ss time{utc - utc_day};
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u %02d:%02d:%02d",
                  static_cast<int>(utc_date.year()), static_cast<unsigned>(utc_date.month()),
                  static_cast<unsigned>(utc_date.day()), static_cast<int>(time.hours().count()),
                  static_cast<int>(time.minutes().count()),
                  static_cast<int>(time.seconds().count()));
    return std::string(buffer) + std::string(fraction);
}

}  // namespace nomnom
