#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api_config.hpp"

namespace nomnom::api {

// Optional bearer-token authentication of the /ingest routes. Tokens come from a file (one per
// line; blank lines and lines starting with # are skipped) and/or an environment variable
// (comma-separated). No configured source means no authentication. The tokens can be replaced
// while requests are checked (token rotation on SIGHUP).
class BearerAuth {
  public:
    // Throws ConfigError naming the file or variable when a configured source yields nothing.
    explicit BearerAuth(const AuthSettings& settings);

    // Reads the tokens `settings` name again and uses them from now on; returns how many there
    // are (0: authentication off). Throws ConfigError like the constructor, keeping the tokens
    // in use.
    size_t reload(const AuthSettings& settings);

    bool enabled() const;

    enum class Verdict { Allowed, Missing, Refused };
    // `authorization` is the Authorization header ("" when absent): Missing without a bearer
    // token (401), Refused for an unknown one (403); always Allowed while authentication is off.
    Verdict check(std::string_view authorization) const;

  private:
    using Tokens = std::shared_ptr<const std::vector<std::string>>;
    Tokens tokens() const;

    mutable std::mutex mutex_;
    Tokens tokens_;
};

}  // namespace nomnom::api
