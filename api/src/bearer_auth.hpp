#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api_config.hpp"

namespace nomnom::api {

// Optional bearer-token authentication of the /ingest routes. Tokens come from a file (one per
// line; blank lines and lines starting with # are skipped) and/or an environment variable
// (comma-separated). No configured source means no authentication.
class BearerAuth {
  public:
    // Throws ConfigError naming the file or variable when a configured source yields nothing.
    explicit BearerAuth(const AuthSettings& settings);

    bool enabled() const { return !tokens_.empty(); }

    enum class Verdict { Allowed, Missing, Refused };
    // `authorization` is the Authorization header ("" when absent): Missing without a bearer
    // token (401), Refused for an unknown one (403).
    Verdict check(std::string_view authorization) const;

  private:
    std::vector<std::string> tokens_;
};

}  // namespace nomnom::api
