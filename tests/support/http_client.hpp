#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace nomnom::testing {

struct HttpReply {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
};

// One HTTP request to 127.0.0.1:`port` on a fresh connection. A POST body goes with its
// Content-Length, or in chunks with the header Transfer-Encoding: chunked.
HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {});

}  // namespace nomnom::testing
