#include "health_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <cstdio>
#include <stdexcept>

namespace nomnom {
namespace {

using Poco::Net::HTTPResponse;

class JsonHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    JsonHandler(HTTPResponse::HTTPStatus status, std::string body)
        : status_(status), body_(std::move(body)) {}

    void handleRequest(Poco::Net::HTTPServerRequest&,
                       Poco::Net::HTTPServerResponse& response) override {
        response.setStatus(status_);
        response.setContentType("application/json");
        response.setContentLength(static_cast<std::streamsize>(body_.size()));
        response.send() << body_;
    }

  private:
    HTTPResponse::HTTPStatus status_;
    std::string body_;
};

class Routes final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit Routes(std::function<Readiness()> readiness) : readiness_(std::move(readiness)) {}

    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest& request) override {
        if (request.getMethod() != "GET") {
            return new JsonHandler(HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
                                   R"({"error":"only GET is supported"})");
        }
        if (request.getURI() == "/health") {
            return new JsonHandler(HTTPResponse::HTTP_OK, R"({"status":"alive"})");
        }
        if (request.getURI() == "/ready") {
            const Readiness state = readiness_();
            return new JsonHandler(
                state.ready ? HTTPResponse::HTTP_OK : HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
                state.json);
        }
        return new JsonHandler(HTTPResponse::HTTP_NOT_FOUND,
                               R"({"error":"no such route; try /health or /ready"})");
    }

  private:
    std::function<Readiness()> readiness_;
};

}  // namespace

std::string json_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out;
}

HealthServer::HealthServer(const std::string& listen, std::function<Readiness()> readiness) {
    Poco::Net::ServerSocket socket;
    try {
        socket.bind(Poco::Net::SocketAddress(listen), true);
        socket.listen();
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("http.listen " + listen + ": " + e.displayText());
    }
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(2);
    server_ =
        std::make_unique<Poco::Net::HTTPServer>(new Routes(std::move(readiness)), socket, params);
    server_->start();
}

HealthServer::~HealthServer() {
    server_->stopAll(true);
}

}  // namespace nomnom
