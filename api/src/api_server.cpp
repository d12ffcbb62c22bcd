#include "api_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "openapi_document.hpp"

namespace nomnom::api {
namespace {

using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

struct Route {
    const char* label;   // the metrics label: the path template
    const char* method;  // the one method the route answers
    std::string argument;
};

// Matches the path (query string removed) against the routes; nullopt for an unknown path. A
// "{name}" segment of a template matches one non-empty segment, which becomes the argument.
std::optional<Route> match(const std::string& uri) {
    const std::string path = uri.substr(0, uri.find('?'));
    for (const RouteSpec& spec : routes()) {
        const std::string_view pattern = spec.path;
        const size_t brace = pattern.find('{');
        if (brace == std::string_view::npos) {
            if (path == pattern) return Route{spec.path, spec.method, ""};
            continue;
        }
        const std::string_view prefix = pattern.substr(0, brace);
        if (!path.starts_with(prefix) || path.size() == prefix.size()) continue;
        const std::string rest = path.substr(prefix.size());
        if (rest.find('/') != std::string::npos) continue;
        return Route{spec.path, spec.method, rest};
    }
    return std::nullopt;
}

class RequestHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    RequestHandler(const ApiConfig& config, IngestService& service, ApiMetrics& metrics,
                   const BearerAuth& auth, const std::function<std::string()>& metrics_text,
                   const std::atomic<bool>& stopping, ReadDeadlines& deadlines)
        : config_(config),
          service_(service),
          metrics_(metrics),
          auth_(auth),
          metrics_text_(metrics_text),
          stopping_(stopping),
          deadlines_(deadlines) {}

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        // Counted until the handler returns, however it returns: shutdown waits for zero.
        struct InFlight {
            std::atomic<int64_t>& count;
            explicit InFlight(std::atomic<int64_t>& c) : count(c) { ++count; }
            ~InFlight() { --count; }
        } in_flight(metrics_.in_flight);
        const std::optional<Route> route = match(request.getURI());
        const std::string label = route ? route->label : "unmatched";
        uint64_t bytes = 0;
        Reply reply;
        // A body left unread would be taken for the next request: close the connection after
        // answering unless read_body consumed it.
        bool close = request.getChunkedTransferEncoding() ||
                     (request.hasContentLength() && request.getContentLength64() > 0);
        if (stopping_.load()) {
            reply = {503, error_json("shutting down"), true};
            close = true;
        } else if (!route) {
            reply = {404, error_json("no route for " + request.getURI()), false};
        } else if (request.getMethod() != route->method) {
            response.set("Allow", route->method);
            reply = {405,
                     error_json(std::string(route->label) + " answers " + route->method + " only"),
                     false};
        } else {
            reply = dispatch(*route, request, bytes, close);
        }
        send(response, reply, close);
        metrics_.count_request(label, reply.code, bytes);
        spdlog::debug("{} {} -> {} ({} body bytes)", request.getMethod(), label, reply.code, bytes);
    }

  private:
    Reply dispatch(const Route& route, HTTPServerRequest& request, uint64_t& bytes, bool& close) {
        const std::string label = route.label;
        if (label == "/health") {
            return {200,
                    R"({"status":"healthy","service":"nomnom-api","version":")" NOMNOM_VERSION
                    "\"}",
                    false};
        }
        if (label == "/ready") return service_.ready();
        if (label == "/metrics") {
            return {200, metrics_text_(), false, "text/plain; version=0.0.4; charset=utf-8"};
        }
        if (label == "/api-docs/openapi.json") {
            return {200, std::string(openapi_document()), false};
        }
        switch (auth_.check(request.get("Authorization", ""))) {
            case BearerAuth::Verdict::Missing:
                return {401, error_json("missing bearer token (Authorization: Bearer ...)"), false};
            case BearerAuth::Verdict::Refused:
                return {403, error_json("bearer token not accepted"), false};
            case BearerAuth::Verdict::Allowed:
                break;
        }
        if (label == "/ingest/status/{message_id}") return service_.status(route.argument);

        std::string body;
        if (std::optional<Reply> refused = read_body(request, body, close)) return *refused;
        bytes = body.size();
        const std::string key = request.get("Idempotency-Key", "");
        if (label == "/ingest/batch") return service_.ingest_batch(body, key);
        return service_.ingest_message(body, route.argument, key);
    }

    // Reads at most ingest.max_body_bytes, all of it within http.request_timeout_ms. A larger
    // or late body is refused without reading the rest, and the connection closed, since the
    // rest of it is still in the socket.
    std::optional<Reply> read_body(HTTPServerRequest& request, std::string& body, bool& close) {
        const int64_t limit = config_.ingest.max_body_bytes;
        const auto too_large = [&] {
            close = true;
            return Reply{413,
                         error_json("request body larger than ingest.max_body_bytes (" +
                                    std::to_string(limit) + " bytes)"),
                         false};
        };
        if (request.hasContentLength()) {
            if (request.getContentLength64() > limit) return too_large();
            body.reserve(static_cast<size_t>(request.getContentLength64()));
        }
        // HttpServer hands every handler an HTTPServerRequestImpl, which has the socket.
        const ReadDeadlines::Watch watch =
            deadlines_.watch(static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket(),
                             ReadDeadlines::Clock::now() +
                                 std::chrono::milliseconds(config_.http.request_timeout_ms));
        bool cut_short = false;
        std::string failure;
        try {
            std::istream& in = request.stream();
            char buffer[65536];
            for (;;) {
                in.read(buffer, sizeof buffer);
                const std::streamsize got = in.gcount();
                if (static_cast<int64_t>(body.size()) + got > limit) return too_large();
                body.append(buffer, static_cast<size_t>(got));
                if (got <= 0 || !in.good()) break;
            }
            // The stream swallows the socket's timeout (or reset) and only sets badbit: a body
            // cut short must not be taken for a complete one.
            cut_short = in.bad();
        } catch (const Poco::TimeoutException&) {
            cut_short = true;
        } catch (const Poco::Exception& e) {
            failure = e.displayText();
        }
        close = true;
        // A deadline ends the read as if the client had stopped sending.
        if (cut_short || watch.expired()) {
            return Reply{408,
                         error_json("request body not received within http.request_timeout_ms (" +
                                    std::to_string(body.size()) + " bytes arrived)"),
                         false};
        }
        if (!failure.empty()) {
            return Reply{400, error_json("reading the request body: " + failure), false};
        }
        if (request.hasContentLength() &&
            static_cast<int64_t>(body.size()) < request.getContentLength64()) {
            return Reply{400,
                         error_json("request body ended after " + std::to_string(body.size()) +
                                    " of its Content-Length " +
                                    std::to_string(request.getContentLength64()) + " bytes"),
                         false};
        }
        close = false;
        return std::nullopt;
    }

    void send(HTTPServerResponse& response, const Reply& reply, bool close) {
        response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.code));
        if (reply.code == 207) response.setReason("Multi-Status");
        response.setContentType(reply.content_type);
        if (reply.retry_after)
            response.set("Retry-After", std::to_string(service_.retry_after_s()));
        if (reply.code == 401) response.set("WWW-Authenticate", "Bearer");
        if (close) response.setKeepAlive(false);
        response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
        response.send() << reply.body;
    }

    const ApiConfig& config_;
    IngestService& service_;
    ApiMetrics& metrics_;
    const BearerAuth& auth_;
    const std::function<std::string()>& metrics_text_;
    const std::atomic<bool>& stopping_;
    ReadDeadlines& deadlines_;
};

class HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    HandlerFactory(const ApiConfig& config, IngestService& service, ApiMetrics& metrics,
                   const BearerAuth& auth, std::function<std::string()> metrics_text,
                   const std::atomic<bool>& stopping, ReadDeadlines& deadlines)
        : config_(config),
          service_(service),
          metrics_(metrics),
          auth_(auth),
          metrics_text_(std::move(metrics_text)),
          stopping_(stopping),
          deadlines_(deadlines) {}

    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new RequestHandler(config_, service_, metrics_, auth_, metrics_text_, stopping_,
                                  deadlines_);
    }

  private:
    const ApiConfig& config_;
    IngestService& service_;
    ApiMetrics& metrics_;
    const BearerAuth& auth_;
    std::function<std::string()> metrics_text_;
    const std::atomic<bool>& stopping_;
    ReadDeadlines& deadlines_;
};

}  // namespace

std::span<const RouteSpec> routes() {
    static constexpr RouteSpec kRoutes[] = {
        {"/ingest/message", "POST"}, {"/ingest/message/{entity}", "POST"},
        {"/ingest/batch", "POST"},   {"/ingest/status/{message_id}", "GET"},
        {"/health", "GET"},          {"/ready", "GET"},
        {"/metrics", "GET"},         {"/api-docs/openapi.json", "GET"},
    };
    return kRoutes;
}

ApiServer::ApiServer(const ApiConfig& config, IngestService& service, ApiMetrics& metrics,
                     const BearerAuth& auth, std::function<std::string()> metrics_text)
    : config_(config), metrics_(metrics) {
    Poco::Net::ServerSocket socket;
    try {
        socket.bind(Poco::Net::SocketAddress(config.http.listen), true);
        socket.listen(static_cast<int>(config.http.max_queued));
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("http.listen " + config.http.listen + ": " + e.displayText());
    }
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setTimeout(Poco::Timespan(config.http.request_timeout_ms * 1000));
    params->setKeepAlive(true);
    server_ = std::make_unique<HttpServer>(
        socket, params,
        new HandlerFactory(config, service, metrics, auth, std::move(metrics_text), stopping_,
                           deadlines_),
        deadlines_, metrics.http_connections,
        HttpServer::Limits{static_cast<int>(config.http.max_threads),
                           std::chrono::milliseconds(config.http.keep_alive_timeout_ms),
                           static_cast<size_t>(config.http.max_connections)});
}

ApiServer::~ApiServer() {
    shutdown();
}

void ApiServer::shutdown() {
    if (stopping_.exchange(true)) return;
    server_->stop_accepting();
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(config_.http.shutdown_timeout_ms);
    while (metrics_.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (metrics_.in_flight.load() > 0) {
        spdlog::warn("shutdown: {} requests still running after http.shutdown_timeout_ms; closing",
                     metrics_.in_flight.load());
    }
    server_->abort();
}

}  // namespace nomnom::api
