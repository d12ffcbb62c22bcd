#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace nomnom::host {

// Who may see payloads and act (replay, purge, reload): whoever presents http.admin_token, as
// `Authorization: Bearer TOKEN` or through a session cookie that a login with the token set.
// The cookie holds a random session id, never the token, and is HttpOnly and SameSite=Strict.
// With no token configured every admin request is refused.
class AdminAuth {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr const char* kCookie = "nomnom_session";
    static constexpr std::chrono::hours kSessionLifetime{12};

    explicit AdminAuth(std::string token);

    bool enabled() const { return !token_.empty(); }
    // Whether `authorization` (the header's value, may be empty) carries the token.
    bool bearer_valid(const std::string& authorization) const;
    bool session_valid(const std::string& session, Clock::time_point now);

    enum class Login { SignedIn, WrongToken, TooManyAttempts, Off };
    // A new session id in `session` when `token` is right. Wrong tokens are limited to
    // kMaxFailures a minute, so that the token cannot be guessed at the speed of the network.
    Login login(const std::string& token, Clock::time_point now, std::string& session);
    void logout(const std::string& session);

    static constexpr size_t kMaxFailures = 10;
    static constexpr size_t kMaxSessions = 1000;

  private:
    bool token_matches(const std::string& candidate) const;

    const std::string token_;
    std::mutex mutex_;
    std::map<std::string, Clock::time_point> sessions_;  // id -> expiry
    std::deque<Clock::time_point> failures_;             // of the last minute
};

}  // namespace nomnom::host
