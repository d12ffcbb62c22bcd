#include "validate_frame.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace nomnom::api {
namespace {

using Clock = std::chrono::steady_clock;

void put_length(std::string& out, size_t length) {
    const auto value = static_cast<uint32_t>(length);
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

uint32_t get_length(std::string_view bytes) {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value = value << 8 | static_cast<unsigned char>(bytes[i]);
    return value;
}

enum class Got { Done, Closed, Cut, Timeout, Error };  // Cut: closed after some bytes

// Reads exactly out.size() bytes into `out`.
Got read_exactly(int fd, std::string& out, std::optional<Clock::time_point> deadline) {
    for (size_t have = 0; have < out.size();) {
        int wait_ms = -1;
        if (deadline) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
            wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
        }
        pollfd poll_fd{fd, POLLIN, 0};
        const int ready = ::poll(&poll_fd, 1, wait_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return Got::Error;
        if (ready == 0) return Got::Timeout;
        const ssize_t got = ::read(fd, out.data() + have, out.size() - have);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got < 0) return Got::Error;
        if (got == 0) return have == 0 ? Got::Closed : Got::Cut;
        have += static_cast<size_t>(got);
    }
    return Got::Done;
}

FrameStatus status_of(Got got, bool began) {
    switch (got) {
        case Got::Done:
            return FrameStatus::Complete;
        case Got::Closed:
            return began ? FrameStatus::Truncated : FrameStatus::Closed;
        case Got::Cut:
            return FrameStatus::Truncated;
        case Got::Timeout:
            return FrameStatus::Timeout;
        case Got::Error:
            break;
    }
    return FrameStatus::Error;
}

}  // namespace

FrameRead read_frame(int fd, size_t max_bytes, std::optional<Clock::time_point> deadline) {
    std::string header(4, '\0');
    const Got got_header = read_exactly(fd, header, deadline);
    if (got_header != Got::Done) return {status_of(got_header, false), {}};
    const uint32_t length = get_length(header);
    if (length > max_bytes) return {FrameStatus::TooLarge, {}};
    std::string body(length, '\0');
    const Got got_body = read_exactly(fd, body, deadline);
    if (got_body != Got::Done) return {status_of(got_body, true), {}};
    return {FrameStatus::Complete, std::move(body)};
}

std::string encode_frame(const std::vector<std::string_view>& fields) {
    size_t length = 0;
    for (const std::string_view field : fields) length += 4 + field.size();
    std::string frame;
    frame.reserve(4 + length);
    put_length(frame, length);
    for (const std::string_view field : fields) {
        put_length(frame, field.size());
        frame += field;
    }
    return frame;
}

bool write_frame(int fd, const std::vector<std::string_view>& fields) {
    const std::string frame = encode_frame(fields);
    for (size_t sent = 0; sent < frame.size();) {
        const ssize_t wrote = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) return false;
        sent += static_cast<size_t>(wrote);
    }
    return true;
}

std::optional<std::vector<std::string_view>> split_fields(std::string_view body) {
    std::vector<std::string_view> fields;
    while (!body.empty()) {
        if (body.size() < 4) return std::nullopt;
        const uint32_t length = get_length(body);
        body.remove_prefix(4);
        if (length > body.size()) return std::nullopt;
        fields.push_back(body.substr(0, length));
        body.remove_prefix(length);
    }
    return fields;
}

}  // namespace nomnom::api
