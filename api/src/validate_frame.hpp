#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The framing between nomnom-api and its validator children, both ways over one socket: a frame
// is a 4-byte big-endian length and that many bytes; its body is a sequence of fields, each a
// 4-byte big-endian length and its bytes. Lengths are never trusted: a frame longer than the
// reader allows, or a field running past its frame, is refused.
namespace nomnom::api {

// The conversation: the child says "ready" once its plugins are loaded. A request is the message
// the API would publish: subject, payload, then header key and value pairs. The child answers
// "parsing", plugin before each plugin call, then one of "ok" (every plugin on the subject
// accepted it), "none" (no plugin consumes the subject), "invalid", plugin, reason, or "fatal",
// plugin, reason (the child exits after it). A plugin call that dies of a signal sends "signal",
// its number, before the signal takes its course: a sanitizer's report of a SIGSEGV ends in
// abort(), so the child's wait status alone would say SIGABRT.
namespace reply {
inline constexpr std::string_view kReady = "ready";
inline constexpr std::string_view kParsing = "parsing";
inline constexpr std::string_view kOk = "ok";
inline constexpr std::string_view kNone = "none";
inline constexpr std::string_view kInvalid = "invalid";
inline constexpr std::string_view kFatal = "fatal";
inline constexpr std::string_view kSignal = "signal";
}  // namespace reply

// Replies are short (a reason is at most a few KB).
inline constexpr size_t kMaxReplyBytes = 1 << 20;

enum class FrameStatus {
    Complete,
    Closed,     // the other end closed before a frame began
    Truncated,  // it closed within a frame
    TooLarge,   // the length is over the reader's limit (nothing more is read)
    Timeout,
    Error,  // a read failed
};

struct FrameRead {
    FrameStatus status;
    std::string body;  // when Complete
};

// Reads one frame of at most `max_bytes` from `fd`, waiting until `deadline` (for ever without).
FrameRead read_frame(int fd, size_t max_bytes,
                     std::optional<std::chrono::steady_clock::time_point> deadline = {});

// The frame of `fields`.
std::string encode_frame(const std::vector<std::string_view>& fields);
// Sends a whole frame; false when the other end is gone (never SIGPIPE: `fd` is a socket).
bool write_frame(int fd, const std::vector<std::string_view>& fields);

// The fields of a frame's body, pointing into it; nullopt when a length runs past its end.
std::optional<std::vector<std::string_view>> split_fields(std::string_view body);

}  // namespace nomnom::api
