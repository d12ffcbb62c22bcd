#pragma once

#include <string>

namespace nomnom::host {

struct HttpAnswer {
    int status = 0;
    std::string body;
};

// GET endpoint + path, giving up after `timeout_ms` without an answer; throws (Poco's
// exceptions, std::invalid_argument for a malformed endpoint) when no one answers. The endpoint
// is http://HOST:PORT.
HttpAnswer http_get(const std::string& endpoint, const std::string& path, int timeout_ms = 3000);

}  // namespace nomnom::host
