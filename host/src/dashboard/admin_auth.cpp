#include "dashboard/admin_auth.hpp"

#include <sys/random.h>

#include <algorithm>
#include <stdexcept>

namespace nomnom::host {
namespace {

std::string random_session_id() {
    unsigned char bytes[32];
    size_t filled = 0;
    while (filled < sizeof bytes) {
        const ssize_t got = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
        if (got < 0) throw std::runtime_error("getrandom failed");
        filled += static_cast<size_t>(got);
    }
    static const char* digits = "0123456789abcdef";
    std::string id;
    for (const unsigned char byte : bytes) {
        id += digits[byte >> 4];
        id += digits[byte & 15];
    }
    return id;
}

}  // namespace

AdminAuth::AdminAuth(std::string token) : token_(std::move(token)) {}

// Takes as long whatever the candidate shares with the token, so that timing tells nothing.
bool AdminAuth::token_matches(const std::string& candidate) const {
    if (token_.empty()) return false;
    unsigned char difference = candidate.size() == token_.size() ? 0 : 1;
    for (size_t i = 0; i < candidate.size(); ++i) {
        difference |= static_cast<unsigned char>(candidate[i] ^ token_[i % token_.size()]);
    }
    return difference == 0;
}

AdminAuth::Check AdminAuth::check_locked(const std::string& token, const std::string& client,
                                         Clock::time_point now) {
    if (!enabled()) return Check::Off;
    for (auto entry = failures_.begin(); entry != failures_.end();) {
        auto& times = entry->second;
        while (!times.empty() && now - times.front() >= std::chrono::minutes(1)) times.pop_front();
        entry = times.empty() ? failures_.erase(entry) : std::next(entry);
    }
    if (const auto mine = failures_.find(client);
        mine != failures_.end() && mine->second.size() >= kMaxFailures) {
        return Check::TooManyAttempts;
    }
    if (token_matches(token)) return Check::Valid;
    if (failures_.size() >= kMaxClients && !failures_.contains(client)) {
        // The address whose last failure is oldest goes first.
        failures_.erase(std::min_element(
            failures_.begin(), failures_.end(),
            [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); }));
    }
    failures_[client].push_back(now);
    return Check::WrongToken;
}

AdminAuth::Check AdminAuth::check_token(const std::string& token, const std::string& client,
                                        Clock::time_point now) {
    std::lock_guard lock(mutex_);
    return check_locked(token, client, now);
}

bool AdminAuth::session_valid(const std::string& session, Clock::time_point now) {
    if (!enabled() || session.empty()) return false;
    std::lock_guard lock(mutex_);
    const auto found = sessions_.find(session);
    if (found == sessions_.end()) return false;
    if (found->second > now) return true;
    sessions_.erase(found);
    return false;
}

AdminAuth::Check AdminAuth::login(const std::string& token, const std::string& client,
                                  Clock::time_point now, std::string& session) {
    std::lock_guard lock(mutex_);
    const Check checked = check_locked(token, client, now);
    if (checked != Check::Valid) return checked;
    std::erase_if(sessions_, [&](const auto& entry) { return entry.second <= now; });
    if (sessions_.size() >= kMaxSessions) {
        // The session closest to expiry goes first.
        sessions_.erase(
            std::min_element(sessions_.begin(), sessions_.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; }));
    }
    session = random_session_id();
    sessions_[session] = now + kSessionLifetime;
    return Check::Valid;
}

void AdminAuth::logout(const std::string& session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
}

}  // namespace nomnom::host
