// The HTTP ceiling for nomnom-api: its HttpServer set up as nomnom-api sets it up (serving
// threads, keep-alive, timeouts), answering every POST with a 202 and a body of the API's shape
// after reading the request body, without publishing anything. wrk against it measures what
// HTTP alone costs on this machine (wrk included), for bench/api/run.sh.

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "nomnom/common/http_server.hpp"
#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/timestamp.hpp"

namespace {

class AcceptHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        std::string body;
        std::istream& in = request.stream();
        char buffer[65536];
        while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
            body.append(buffer, static_cast<size_t>(in.gcount()));
        }
        const std::string reply = "{\"message_id\":\"" + nomnom::random_uuid() +
                                  "\",\"status\":\"accepted\",\"timestamp\":\"" +
                                  nomnom::utc_timestamp_now() + "\"}";
        response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_ACCEPTED);
        response.setContentType("application/json");
        response.setContentLength(static_cast<std::streamsize>(reply.size()));
        response.send() << reply;
    }
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new AcceptHandler;
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: http_accept_server PORT MAX_THREADS (runs until SIGTERM)\n";
        return 2;
    }
    const int max_threads = std::stoi(argv[2]);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // As ApiServer, with its defaults for the listen backlog and the timeouts.
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", argv[1]), 256);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setTimeout(Poco::Timespan(10, 0));
    params->setKeepAlive(true);
    nomnom::ReadDeadlines deadlines;
    nomnom::HttpConnectionGauges connections;
    nomnom::HttpServer server(socket, params, new Factory, deadlines, connections,
                              nomnom::HttpServer::Limits{.threads = max_threads});
    int received = 0;
    sigwait(&signals, &received);
    server.abort();
    return 0;
}
