#include "ops/http_get.hpp"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <sstream>
#include <stdexcept>

namespace nomnom::host {

HttpAnswer http_get(const std::string& endpoint, const std::string& path, int timeout_ms) {
    const size_t scheme = endpoint.find("://");
    if (!endpoint.starts_with("http://")) {
        throw std::invalid_argument("expected http://HOST:PORT, got '" + endpoint + "'");
    }
    const std::string authority = endpoint.substr(scheme + 3);
    const size_t colon = authority.rfind(':');
    if (colon == std::string::npos) {
        throw std::invalid_argument("expected http://HOST:PORT, got '" + endpoint + "'");
    }
    Poco::Net::HTTPClientSession session(
        authority.substr(0, colon), static_cast<uint16_t>(std::stoi(authority.substr(colon + 1))));
    session.setTimeout(Poco::Timespan(static_cast<long>(timeout_ms) * 1000));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& body = session.receiveResponse(response);
    std::ostringstream text;
    text << body.rdbuf();
    return {static_cast<int>(response.getStatus()), text.str()};
}

}  // namespace nomnom::host
