#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "nomnom/common/read_deadlines.hpp"

namespace nomnom {

// Metrics of an HttpServer's connections. They outlive the server, so handlers may read them
// whenever they run.
struct HttpConnectionGauges {
    std::atomic<int64_t> open{0};  // idle ones included
    // Waiting for their next request (kept alive, or connected and silent so far): they hold
    // no serving thread, and at http.max_connections the longest idle one makes room.
    std::atomic<int64_t> idle{0};
};

// An HTTP/1.1 server on Poco's request and response classes in which a keep-alive connection
// holds a thread only while one of its requests is being served. Poco's HTTPServer gives each
// connection a thread until the client closes it or keep-alive times out, so http.max_threads
// idle keep-alive clients made every further client wait up to 15 s, and that many sockets that
// never sent anything stopped ingestion. Here the connections waiting for their next request
// wait together in one epoll set, which the serving threads take turns to wait on; a thread
// serves the connection whose request arrived and puts it back. A handler may also leave its
// answer for later (answer_later), so that a request waiting on something else holds no thread.
class HttpServer {
    struct Connection;
    struct Completions;
    struct Given;

  public:
    using Clock = std::chrono::steady_clock;
    // Sets and sends a response.
    using Answer = std::function<void(Poco::Net::HTTPServerResponse&)>;

    // The answer to a request whose handler returned without answering. It may be given from
    // any thread; it is written on a serving thread, which then goes on with the connection
    // (its next request, pipelined or not, is read only after this answer). Dropped without
    // an answer, or given after the server was aborted, it closes its connection. The response
    // it is written with keeps the request's version and keep-alive as they were when the
    // answer was left for later, and knows nothing of the request (a HEAD would get a body).
    class LaterAnswer {
      public:
        LaterAnswer(LaterAnswer&&) noexcept = default;
        LaterAnswer& operator=(LaterAnswer&&) = delete;
        ~LaterAnswer();
        void send(Answer answer) &&;

      private:
        friend class HttpServer;
        LaterAnswer(std::shared_ptr<Completions> completions,
                    std::shared_ptr<Connection> connection, std::string version, bool keep_alive);
        std::shared_ptr<Completions> completions_;
        std::shared_ptr<Connection> connection_;  // null once sent
        std::string version_;                     // the request's HTTP version
        bool keep_alive_;
    };
    // From within a handler of an HttpServer, with the response it was given and has not sent:
    // the handler returns without answering, and the answer comes through the LaterAnswer.
    // Throws std::logic_error for a response of another server, or one taken already.
    static LaterAnswer answer_later(Poco::Net::HTTPServerResponse& response);

    struct Limits {
        int threads = 16;                                     // requests served at once
        std::chrono::milliseconds keep_alive_timeout{15000};  // idle connections closed after
        // Open connections. At the limit a new one takes the place of the longest idle one
        // (its client reconnects when it next sends), or is closed if none is idle.
        size_t max_connections = 1024;
    };

    // Serves `listener` (bound and listening) until destroyed. `params` gives the request
    // timeout and whether keep-alive is on. A request's line and headers must all arrive within
    // the request timeout of its first bytes (through `deadlines`, which outlives the server),
    // else it is answered 408 and its connection closed: the socket's timeout alone bounds only
    // each wait for the next bytes, which a client sending one now and then never reaches.
    // `gauges` follow its connections.
    HttpServer(const Poco::Net::ServerSocket& listener, Poco::Net::HTTPServerParams::Ptr params,
               Poco::Net::HTTPRequestHandlerFactory::Ptr factory, ReadDeadlines& deadlines,
               HttpConnectionGauges& gauges, Limits limits);
    // Aborts whatever is still open.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Closes the listening socket and every idle connection; a request being served is answered
    // with "Connection: close" and its connection closed after it.
    void stop_accepting();
    // stop_accepting(), then shuts every connection down (a read in progress ends as if the
    // client had closed) and joins the threads.
    void abort();

  private:
    class Response;
    // What became of a connection's request.
    enum class Served { Keep, Close, Later };

    void serve_turns();          // a serving thread
    void close_idle_when_due();  // the keep-alive timer's thread
    void accept_pending();
    // Serves its requests until it has none buffered, then parks or closes it.
    void serve(const std::shared_ptr<Connection>& connection, Served served);
    // Answers one request.
    Served serve_request(const std::shared_ptr<Connection>& connection);
    // Writes the answers given later, and goes on with their connections.
    void complete_answers();
    Served write_answer(Given& given);
    // After a response sent: whether the connection stays open for another request.
    Served keep_or_close(const Poco::Net::HTTPServerResponse& response) const;
    std::shared_ptr<Connection> take_idle(uint64_t id);
    // Each with mutex_ held.
    void add_locked(Poco::Net::StreamSocket socket);
    void park_locked(Connection& connection, int epoll_operation);
    void close_locked(Connection& connection);
    void unlist_idle_locked(Connection& connection);
    void watch_listener_locked();
    // Watches the listener again if accepting stopped for want of descriptors.
    void resume_accepting_locked();

    Poco::Net::ServerSocket listener_;
    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
    ReadDeadlines& deadlines_;
    HttpConnectionGauges& gauges_;
    const Limits limits_;
    int epoll_ = -1;
    int wake_ = -1;  // an eventfd: written once, it ends every serving thread
    // Shared with the LaterAnswers, which may outlive the server.
    std::shared_ptr<Completions> completions_;

    mutable std::mutex mutex_;
    std::condition_variable idle_changed_;
    std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
    // Idle connections, longest idle first: with one timeout for all, also soonest due first.
    std::list<Connection*> idle_;
    uint64_t next_id_;
    std::atomic<bool> accepting_{true};
    bool accept_paused_ = false;
    bool stopped_ = false;

    std::vector<std::thread> threads_;
    std::thread timer_;
};

}  // namespace nomnom
