#include "bearer_auth.hpp"

#include <cstdlib>
#include <fstream>

namespace nomnom::api {
namespace {

std::string_view trim(std::string_view text) {
    const size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) return {};
    const size_t end = text.find_last_not_of(" \t\r\n");
    return text.substr(begin, end - begin + 1);
}

// Compares in time independent of where the first difference is, so that response times do not
// reveal how much of a guessed token was right.
bool same_token(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char difference = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

std::vector<std::string> read_tokens(const AuthSettings& settings) {
    std::vector<std::string> tokens;
    if (!settings.tokens_file.empty()) {
        std::ifstream in(settings.tokens_file);
        if (!in) throw ConfigError("auth.tokens_file " + settings.tokens_file + ": cannot open");
        std::string line;
        while (std::getline(in, line)) {
            const std::string_view token = trim(line);
            if (!token.empty() && token.front() != '#') tokens.emplace_back(token);
        }
        if (tokens.empty()) {
            throw ConfigError("auth.tokens_file " + settings.tokens_file + ": no tokens in it");
        }
    }
    if (!settings.tokens_env.empty()) {
        const char* value = std::getenv(settings.tokens_env.c_str());
        const size_t before = tokens.size();
        std::string_view rest = value != nullptr ? value : "";
        while (!rest.empty()) {
            const size_t comma = rest.find(',');
            const std::string_view token = trim(rest.substr(0, comma));
            if (!token.empty()) tokens.emplace_back(token);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
        if (tokens.size() == before) {
            throw ConfigError("auth.tokens_env: environment variable " + settings.tokens_env +
                              " is unset or holds no tokens");
        }
    }
    return tokens;
}

}  // namespace

BearerAuth::BearerAuth(const AuthSettings& settings)
    : tokens_(std::make_shared<const std::vector<std::string>>(read_tokens(settings))) {}

size_t BearerAuth::reload(const AuthSettings& settings) {
    Tokens fresh = std::make_shared<const std::vector<std::string>>(read_tokens(settings));
    const size_t count = fresh->size();
    std::lock_guard lock(mutex_);
    tokens_ = std::move(fresh);
    return count;
}

BearerAuth::Tokens BearerAuth::tokens() const {
    std::lock_guard lock(mutex_);
    return tokens_;
}

bool BearerAuth::enabled() const {
    return !tokens()->empty();
}

BearerAuth::Verdict BearerAuth::check(std::string_view authorization) const {
    const Tokens current = tokens();
    if (current->empty()) return Verdict::Allowed;
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization.size() <= kScheme.size() ||
        authorization.substr(0, kScheme.size()) != kScheme) {
        return Verdict::Missing;
    }
    const std::string_view presented = trim(authorization.substr(kScheme.size()));
    bool allowed = false;
    for (const std::string& token : *current) allowed = same_token(presented, token) || allowed;
    return allowed ? Verdict::Allowed : Verdict::Refused;
}

}  // namespace nomnom::api
