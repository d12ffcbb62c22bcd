#include "ops/health_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <stdexcept>

#include "nomnom/common/prometheus.hpp"

namespace nomnom::host {
namespace {

using Poco::Net::HTTPResponse;

class TextHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    TextHandler(HTTPResponse::HTTPStatus status, std::string body,
                std::string content_type = "application/json")
        : status_(status), body_(std::move(body)), content_type_(std::move(content_type)) {}

    void handleRequest(Poco::Net::HTTPServerRequest&,
                       Poco::Net::HTTPServerResponse& response) override {
        response.setStatus(status_);
        response.setContentType(content_type_);
        response.setContentLength(static_cast<std::streamsize>(body_.size()));
        response.send() << body_;
    }

  private:
    HTTPResponse::HTTPStatus status_;
    std::string body_;
    std::string content_type_;
};

class Routes final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Routes(std::function<Readiness()> readiness, std::function<std::string()> metrics,
           MoreRoutes more)
        : readiness_(std::move(readiness)), metrics_(std::move(metrics)), more_(std::move(more)) {}

    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest& request) override {
        if (more_) {
            if (Poco::Net::HTTPRequestHandler* handler = more_(request)) return handler;
        }
        if (request.getMethod() != "GET") {
            return new TextHandler(HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
                                   R"({"error":"only GET is supported"})");
        }
        if (request.getURI() == "/health") {
            return new TextHandler(HTTPResponse::HTTP_OK, R"({"status":"alive"})");
        }
        if (request.getURI() == "/ready") {
            const Readiness state = readiness_();
            return new TextHandler(
                state.ready ? HTTPResponse::HTTP_OK : HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
                state.json);
        }
        if (request.getURI() == "/metrics") {
            return new TextHandler(HTTPResponse::HTTP_OK, metrics_(),
                                   "text/plain; version=0.0.4; charset=utf-8");
        }
        return new TextHandler(HTTPResponse::HTTP_NOT_FOUND,
                               R"({"error":"no such route; try /health, /ready or /metrics"})");
    }

  private:
    std::function<Readiness()> readiness_;
    std::function<std::string()> metrics_;
    MoreRoutes more_;
};

}  // namespace

HealthServer::HealthServer(const std::string& listen, std::function<Readiness()> readiness,
                           std::function<std::string()> metrics, MoreRoutes more) {
    Poco::Net::ServerSocket socket;
    try {
        socket.bind(Poco::Net::SocketAddress(listen), true);
        socket.listen();
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("http.listen " + listen + ": " + e.displayText());
    }
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setKeepAlive(true);
    // Kept-alive connections hold no thread between requests (a browser keeps several open to
    // the dashboard); these are the requests served at once.
    HttpServer::Limits limits;
    limits.threads = more ? 8 : 2;
    // The host merges its worker processes' metrics into its own (host.cpp), and owns this one.
    auto with_connections = [&gauges = connections_, text = std::move(metrics)] {
        std::string out = text();
        prometheus_gauge(out, "nomnom_http_connections",
                         "Open connections to the http port, idle keep-alive ones included",
                         gauges.open.load());
        prometheus_gauge(out, "nomnom_http_idle_connections",
                         "Open connections to the http port waiting for their next request",
                         gauges.idle.load());
        return out;
    };
    server_ = std::make_unique<HttpServer>(
        socket, params,
        new Routes(std::move(readiness), std::move(with_connections), std::move(more)), deadlines_,
        connections_, limits);
}

// Joins the serving threads, so no handler still runs on what the host is about to free.
HealthServer::~HealthServer() = default;

}  // namespace nomnom::host
