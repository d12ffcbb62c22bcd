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
#include <memory>
#include <thread>
#include <variant>

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

// Counts a request from its start until it is answered, however it ends: shutdown waits for zero.
class Counted {
  public:
    explicit Counted(std::atomic<int64_t>& count) : count_(count) { ++count_; }
    ~Counted() { --count_; }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;

  private:
    std::atomic<int64_t>& count_;
};

// What is logged and counted of a request besides its answer, and how its connection ends.
struct Answering {
    std::string method;
    std::string label;  // the metrics label
    uint64_t bytes = 0;
    // A body left unread would be taken for the next request: the connection is closed after
    // answering unless the body was read.
    bool close = false;
};

void answer(HTTPServerResponse& response, const Reply& reply, const Answering& answering,
            ApiMetrics& metrics, int64_t retry_after_s) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.code));
    if (reply.code == 207) response.setReason("Multi-Status");
    response.setContentType(reply.content_type);
    if (reply.retry_after) response.set("Retry-After", std::to_string(retry_after_s));
    if (reply.code == 401) response.set("WWW-Authenticate", "Bearer");
    if (answering.close) response.setKeepAlive(false);
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    response.send() << reply.body;
    metrics.count_request(answering.label, reply.code, answering.bytes);
    spdlog::debug("{} {} -> {} ({} body bytes)", answering.method, answering.label, reply.code,
                  answering.bytes);
}

using MessageSent = std::unique_ptr<IngestService::MessageSent>;

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
        auto counted = std::make_unique<Counted>(metrics_.in_flight);
        const std::optional<Route> route = match(request.getURI());
        Answering answering{request.getMethod(), route ? route->label : "unmatched", 0,
                            request.getChunkedTransferEncoding() ||
                                (request.hasContentLength() && request.getContentLength64() > 0)};
        Reply reply;
        if (stopping_.load()) {
            reply = {503, error_json("shutting down"), true};
            answering.close = true;
        } else if (!route) {
            reply = {404, error_json("no route for " + request.getURI()), false};
        } else if (request.getMethod() != route->method) {
            response.set("Allow", route->method);
            reply = {405,
                     error_json(std::string(route->label) + " answers " + route->method + " only"),
                     false};
        } else {
            std::variant<Reply, MessageSent> dispatched =
                dispatch(*route, request, answering.bytes, answering.close);
            if (MessageSent* sent = std::get_if<MessageSent>(&dispatched)) {
                answer_when_published(response, std::move(*sent), std::move(answering),
                                      std::move(counted));
                return;
            }
            reply = std::move(std::get<Reply>(dispatched));
        }
        answer(response, reply, answering, metrics_, service_.retry_after_s());
    }

  private:
    // A message is answered once JetStream has stored it, and its request holds no serving
    // thread meanwhile: the answer is written by the serving thread that takes it after the
    // PubAck came (or by this one, when it came at once).
    void answer_when_published(HTTPServerResponse& response, MessageSent sent, Answering answering,
                               std::unique_ptr<Counted> counted) {
        struct Awaited {
            HttpServer::LaterAnswer later;
            MessageSent sent;
            Answering answering;
            std::unique_ptr<Counted> counted;
        };
        auto awaited =
            std::make_shared<Awaited>(Awaited{HttpServer::answer_later(response), std::move(sent),
                                              std::move(answering), std::move(counted)});
        // This handler is gone by the time the answer is written; the service and the metrics
        // outlive the server.
        IngestService& service = service_;
        ApiMetrics& metrics = metrics_;
        const auto give = [awaited, &service, &metrics] {
            std::move(awaited->later).send([awaited, &service, &metrics](HTTPServerResponse& out) {
                answer(out, service.finish_message(*awaited->sent), awaited->answering, metrics,
                       service.retry_after_s());
            });
        };
        if (!IngestService::on_answer(*awaited->sent, give)) give();
    }

    std::variant<Reply, MessageSent> dispatch(const Route& route, HTTPServerRequest& request,
                                              uint64_t& bytes, bool& close) {
        const std::string label = route.label;
        if (label == "/health") {
            return Reply{200,
                         R"({"status":"healthy","service":"nomnom-api","version":")" NOMNOM_VERSION
                         "\"}",
                         false};
        }
        if (label == "/ready") return service_.ready();
        if (label == "/metrics") {
            return Reply{200, metrics_text_(), false, "text/plain; version=0.0.4; charset=utf-8"};
        }
        if (label == "/api-docs/openapi.json") {
            return Reply{200, std::string(openapi_document()), false};
        }
        switch (auth_.check(request.get("Authorization", ""))) {
            case BearerAuth::Verdict::Missing:
                return Reply{401, error_json("missing bearer token (Authorization: Bearer ...)"),
                             false};
            case BearerAuth::Verdict::Refused:
                return Reply{403, error_json("bearer token not accepted"), false};
            case BearerAuth::Verdict::Allowed:
                break;
        }
        if (label == "/ingest/status/{message_id}") return service_.status(route.argument);

        std::string body;
        if (std::optional<Reply> refused = read_body(request, body, close)) return *refused;
        bytes = body.size();
        const std::string key = request.get("Idempotency-Key", "");
        if (label == "/ingest/batch") return service_.ingest_batch(body, key);
        return service_.send_message(std::move(body), route.argument, key);
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
