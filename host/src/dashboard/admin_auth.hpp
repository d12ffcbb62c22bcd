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

    // The outcome of presenting a token, as a sign-in or as `Authorization: Bearer`. Wrong
    // tokens are limited to kMaxFailures a minute per client address, so that the token cannot
    // be guessed at the speed of the network, nor one client lock out the others.
    enum class Check { Valid, WrongToken, TooManyAttempts, Off };
    Check check_token(const std::string& token, const std::string& client, Clock::time_point now);
    // A new session id in `session` when `token` is right.
    Check login(const std::string& token, const std::string& client, Clock::time_point now,
                std::string& session);
    bool session_valid(const std::string& session, Clock::time_point now);
    void logout(const std::string& session);

    static constexpr size_t kMaxFailures = 10;
    static constexpr size_t kMaxSessions = 1000;
    // Beyond this many addresses with recent failures, the oldest are forgotten.
    static constexpr size_t kMaxClients = 10000;

  private:
    bool token_matches(const std::string& candidate) const;
    Check check_locked(const std::string& token, const std::string& client, Clock::time_point now);

    const std::string token_;
    std::mutex mutex_;
    std::map<std::string, Clock::time_point> sessions_;  // id -> expiry
    // Per client address, its wrong tokens of the last minute.
    std::map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace nomnom::host
