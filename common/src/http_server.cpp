#include "nomnom/common/http_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nomnom {
namespace {

// epoll data of the descriptors that are not connections; connections count from 3.
constexpr uint64_t kWakeId = 0;
constexpr uint64_t kListenerId = 1;
constexpr uint64_t kAnswersId = 2;

void check_system(int result, const char* what) {
    if (result < 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

void send_error(Poco::Net::HTTPServerSession& session, Poco::Net::HTTPResponse::HTTPStatus status) {
    try {
        Poco::Net::HTTPServerResponseImpl response(session);
        response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
        response.setStatusAndReason(status);
        response.setKeepAlive(false);
        response.send();
    } catch (const Poco::Exception&) {
        // The client is gone: nobody to tell.
    }
}

// Poco's HTTPServerConnection learns whether a request is already buffered inside
// hasMoreRequests(), which then waits for the next one on this thread; here it is asked directly.
class Session final : public Poco::Net::HTTPServerSession {
  public:
    using HTTPServerSession::buffered;
    using HTTPServerSession::HTTPServerSession;
};

}  // namespace

// An answer given later, for its connection.
struct HttpServer::Given {
    std::shared_ptr<Connection> connection;
    Answer answer;  // none: close the connection
    std::string version;
    bool keep_alive = false;
};

struct HttpServer::Connection {
    Connection(uint64_t id, const Poco::Net::StreamSocket& socket,
               const Poco::Net::HTTPServerParams::Ptr& params)
        : id(id), socket(socket), session(socket, params) {}

    const uint64_t id;
    Poco::Net::StreamSocket socket;
    // Kept from request to request: bytes of a pipelined request read with the one before stay
    // in its buffer.
    Session session;
    bool idle = false;
    std::list<Connection*>::iterator idle_at;  // in idle_, while idle
    Clock::time_point idle_until;
    // With Completions::mutex held. Whether the thread that served a request left for later has
    // let go of the connection; until then an answer given waits here, for that thread to write.
    bool let_go = false;
    std::optional<Given> given_early;
};

// Answers given later, queued for the serving threads. Its eventfd is in the epoll set, one-shot:
// the thread that takes the queue arms it again before writing what it took, so that the
// answers given meanwhile go to another thread.
struct HttpServer::Completions {
    Completions() : event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        check_system(event, "eventfd");
    }
    ~Completions() { ::close(event); }
    Completions(const Completions&) = delete;
    Completions& operator=(const Completions&) = delete;

    // Dropped once closed: what `given` holds is then destroyed after the lock is let go, as its
    // answer may hold another LaterAnswer.
    void give(Given given) {
        const std::lock_guard lock(mutex);
        if (closed) return;
        Connection& connection = *given.connection;
        if (!connection.let_go) {
            connection.given_early.emplace(std::move(given));
            return;
        }
        queued.push_back(std::move(given));
        connection.let_go = false;
        if (queued.size() == 1) {
            const uint64_t one = 1;
            [[maybe_unused]] const ssize_t written = ::write(event, &one, sizeof one);
        }
    }
    // The serving thread is done with a request left for later: the answer given meanwhile,
    // which it then writes itself.
    std::optional<Given> let_go(Connection& connection) {
        const std::lock_guard lock(mutex);
        std::optional<Given> early;
        early.swap(connection.given_early);
        connection.let_go = !early;
        return early;
    }
    std::vector<Given> take(bool close) {
        std::vector<Given> taken;
        const std::lock_guard lock(mutex);
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t read = ::read(event, &count, sizeof count);
        closed = closed || close;
        taken.swap(queued);
        return taken;
    }

    const int event;
    std::mutex mutex;
    std::vector<Given> queued;
    bool closed = false;
};

// The response handed to a handler, which may leave it for later.
class HttpServer::Response final : public Poco::Net::HTTPServerResponseImpl {
  public:
    // `connection` null: an answer given later, which cannot be left for later again.
    Response(Session& session, std::shared_ptr<Completions> completions,
             std::shared_ptr<Connection> connection)
        : HTTPServerResponseImpl(session),
          completions(std::move(completions)),
          connection(std::move(connection)) {}

    const std::shared_ptr<Completions> completions;
    const std::shared_ptr<Connection> connection;
    bool later = false;
};

HttpServer::LaterAnswer::LaterAnswer(std::shared_ptr<Completions> completions,
                                     std::shared_ptr<Connection> connection, std::string version,
                                     bool keep_alive)
    : completions_(std::move(completions)),
      connection_(std::move(connection)),
      version_(std::move(version)),
      keep_alive_(keep_alive) {}

HttpServer::LaterAnswer::~LaterAnswer() {
    if (connection_) completions_->give({std::move(connection_), nullptr, "", false});
}

void HttpServer::LaterAnswer::send(Answer answer) && {
    if (!connection_) throw std::logic_error("HttpServer::LaterAnswer: answer given twice");
    completions_->give(
        {std::move(connection_), std::move(answer), std::move(version_), keep_alive_});
}

HttpServer::LaterAnswer HttpServer::answer_later(Poco::Net::HTTPServerResponse& response) {
    auto* ours = dynamic_cast<Response*>(&response);
    if (ours == nullptr || !ours->connection || ours->later || ours->sent()) {
        throw std::logic_error(
            "HttpServer::answer_later: not an unsent response of an HttpServer's handler");
    }
    ours->later = true;
    return LaterAnswer(ours->completions, ours->connection, ours->getVersion(),
                       ours->getKeepAlive());
}

HttpServer::HttpServer(const Poco::Net::ServerSocket& listener,
                       Poco::Net::HTTPServerParams::Ptr params,
                       Poco::Net::HTTPRequestHandlerFactory::Ptr factory, ReadDeadlines& deadlines,
                       HttpConnectionGauges& gauges, Limits limits)
    : listener_(listener),
      params_(std::move(params)),
      factory_(std::move(factory)),
      deadlines_(deadlines),
      gauges_(gauges),
      limits_(limits),
      completions_(std::make_shared<Completions>()),
      next_id_(kAnswersId + 1) {
    listener_.setBlocking(false);
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    check_system(epoll_, "epoll_create1");
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) {
        ::close(epoll_);
        check_system(-1, "eventfd");
    }
    // Level-triggered: once written, every epoll_wait returns it, in every serving thread.
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u64 = kWakeId;
    // One-shot: one thread accepts what is pending, then re-arms it.
    epoll_event accept{};
    accept.events = EPOLLIN | EPOLLONESHOT;
    accept.data.u64 = kListenerId;
    epoll_event answers{};
    answers.events = EPOLLIN | EPOLLONESHOT;
    answers.data.u64 = kAnswersId;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &wake) < 0 ||
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_.impl()->sockfd(), &accept) < 0 ||
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, completions_->event, &answers) < 0) {
        const int error = errno;
        ::close(wake_);
        ::close(epoll_);
        errno = error;
        check_system(-1, "epoll_ctl");
    }
    timer_ = std::thread([this] { close_idle_when_due(); });
    for (int i = 0; i < limits_.threads; ++i) threads_.emplace_back([this] { serve_turns(); });
}

HttpServer::~HttpServer() {
    abort();
    ::close(wake_);
    ::close(epoll_);
}

void HttpServer::stop_accepting() {
    const std::lock_guard lock(mutex_);
    if (!accepting_.exchange(false)) return;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, listener_.impl()->sockfd(), nullptr);
    listener_.close();
    while (!idle_.empty()) close_locked(*idle_.front());
}

void HttpServer::abort() {
    stop_accepting();
    {
        const std::lock_guard lock(mutex_);
        if (stopped_) return;
        stopped_ = true;
        for (const auto& [id, connection] : connections_) {
            try {
                connection->socket.shutdown();
            } catch (const Poco::Exception&) {
                // Already closed by its client.
            }
        }
    }
    idle_changed_.notify_all();
    // Answers given from now on are dropped.
    const std::vector<Given> dropped = completions_->take(true);
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_, &one, sizeof one);
    for (std::thread& thread : threads_) thread.join();
    timer_.join();
    // The connections whose answers were still to come.
    const std::lock_guard lock(mutex_);
    while (!connections_.empty()) close_locked(*connections_.begin()->second);
}

void HttpServer::serve_turns() {
    for (;;) {
        epoll_event event{};
        const int ready = ::epoll_wait(epoll_, &event, 1, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            spdlog::error("HTTP server: epoll_wait: {}; this serving thread stops",
                          std::strerror(errno));
            return;
        }
        if (ready == 0) continue;
        if (event.data.u64 == kWakeId) return;
        if (event.data.u64 == kListenerId) {
            accept_pending();
        } else if (event.data.u64 == kAnswersId) {
            complete_answers();
        } else if (const std::shared_ptr<Connection> connection = take_idle(event.data.u64)) {
            serve(connection, serve_request(connection));
        }
    }
}

void HttpServer::accept_pending() {
    const std::lock_guard lock(mutex_);
    if (!accepting_) return;
    const int listening = listener_.impl()->sockfd();
    const uint64_t first_new = next_id_;
    for (;;) {
        const int accepted = ::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
        if (accepted >= 0) {
            Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(accepted));
            socket.setNoDelay(true);
            add_locked(std::move(socket));
            continue;
        }
        const int error = errno;
        if (error == EINTR || error == ECONNABORTED) continue;
        if (error == EAGAIN || error == EWOULDBLOCK) break;
        if (error == EMFILE || error == ENFILE) {
            // accept takes the descriptor before it looks for a connection: with none left it
            // fails whether or not one waits.
            pollfd waiting{listening, POLLIN, 0};
            if (::poll(&waiting, 1, 0) <= 0) break;
            // The longest idle one makes room, unless it came in this very call.
            if (!idle_.empty() && idle_.front()->id < first_new) {
                spdlog::warn(
                    "HTTP server: out of file descriptors with {} connections open; closing "
                    "the longest idle one",
                    connections_.size());
                close_locked(*idle_.front());
                continue;
            }
        }
        // Out of descriptors (or memory) with no idle connection to close: the connections wait
        // in the listen backlog until one of the busy ones is closed or becomes idle. Watching
        // the listener meanwhile would wake a thread to fail again at once, for ever.
        spdlog::warn(
            "HTTP server: accepting a connection: {}; waiting until a connection closes "
            "or goes idle",
            std::strerror(error));
        accept_paused_ = true;
        return;
    }
    watch_listener_locked();
}

void HttpServer::watch_listener_locked() {
    epoll_event accept{};
    accept.events = EPOLLIN | EPOLLONESHOT;
    accept.data.u64 = kListenerId;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, listener_.impl()->sockfd(), &accept);
}

void HttpServer::resume_accepting_locked() {
    if (!accept_paused_ || !accepting_) return;
    accept_paused_ = false;
    watch_listener_locked();
}

void HttpServer::add_locked(Poco::Net::StreamSocket socket) {
    if (connections_.size() >= limits_.max_connections) {
        if (idle_.empty()) {
            spdlog::warn(
                "HTTP server: {} connections open (http.max_connections), none idle; "
                "closing a new one",
                connections_.size());
            socket.close();
            return;
        }
        close_locked(*idle_.front());
    }
    const uint64_t id = next_id_++;
    auto connection = std::make_shared<Connection>(id, socket, params_);
    connections_.emplace(id, connection);
    ++gauges_.open;
    park_locked(*connection, EPOLL_CTL_ADD);
}

void HttpServer::park_locked(Connection& connection, int epoll_operation) {
    connection.idle = true;
    connection.idle_until = Clock::now() + limits_.keep_alive_timeout;
    const bool first = idle_.empty();
    connection.idle_at = idle_.insert(idle_.end(), &connection);
    ++gauges_.idle;
    if (first) idle_changed_.notify_one();
    resume_accepting_locked();
    // Listed as idle before it can fire: the thread that takes its request finds it there.
    epoll_event ready{};
    ready.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ready.data.u64 = connection.id;
    if (::epoll_ctl(epoll_, epoll_operation, connection.socket.impl()->sockfd(), &ready) < 0) {
        spdlog::warn("HTTP server: watching a connection: {}; closing it", std::strerror(errno));
        close_locked(connection);
    }
}

void HttpServer::unlist_idle_locked(Connection& connection) {
    if (!connection.idle) return;
    idle_.erase(connection.idle_at);
    --gauges_.idle;
    connection.idle = false;
}

void HttpServer::close_locked(Connection& connection) {
    unlist_idle_locked(connection);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, connection.socket.impl()->sockfd(), nullptr);
    try {
        connection.socket.close();
    } catch (const Poco::Exception&) {
        // Closing cannot fail in a way that matters here.
    }
    --gauges_.open;
    connections_.erase(connection.id);  // last: it may destroy `connection`
    resume_accepting_locked();
}

std::shared_ptr<HttpServer::Connection> HttpServer::take_idle(uint64_t id) {
    const std::lock_guard lock(mutex_);
    const auto found = connections_.find(id);
    // Gone already: closed for its idle time or at the connection limit after epoll reported it.
    if (found == connections_.end() || !found->second->idle) return nullptr;
    unlist_idle_locked(*found->second);
    return found->second;
}

void HttpServer::serve(const std::shared_ptr<Connection>& connection, Served served) {
    for (;;) {
        // A request that came in the same read as the one before is already buffered: epoll
        // would not report it.
        while (served == Served::Keep && connection->session.buffered() > 0) {
            served = serve_request(connection);
        }
        if (served != Served::Later) break;
        std::optional<Given> early = completions_->let_go(*connection);
        // Its LaterAnswer goes on with it.
        if (!early) return;
        served = write_answer(*early);
    }
    const std::lock_guard lock(mutex_);
    // abort() stops accepting before it shuts connections down, so this covers both.
    if (served == Served::Keep && accepting_) {
        park_locked(*connection, EPOLL_CTL_MOD);
    } else {
        close_locked(*connection);
    }
}

void HttpServer::complete_answers() {
    std::vector<Given> given = completions_->take(false);
    epoll_event answers{};
    answers.events = EPOLLIN | EPOLLONESHOT;
    answers.data.u64 = kAnswersId;
    if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, completions_->event, &answers) < 0) {
        spdlog::error("HTTP server: watching for answers given later: {}; none is written any more",
                      std::strerror(errno));
    }
    // Every answer is written, and every connection with nothing more to read put back, before
    // any pipelined request is served here: a slow one must not hold up the others' answers.
    struct Written {
        std::shared_ptr<Connection> connection;
        Served served;
        bool pipelined;
    };
    std::vector<Written> written;
    written.reserve(given.size());
    for (Given& one : given) {
        const Served served = write_answer(one);
        written.push_back({one.connection, served,
                           served == Served::Keep && one.connection->session.buffered() > 0});
    }
    given.clear();
    for (const bool pipelined : {false, true}) {
        for (Written& one : written) {
            if (one.pipelined == pipelined) serve(one.connection, one.served);
        }
    }
}

HttpServer::Served HttpServer::keep_or_close(const Poco::Net::HTTPServerResponse& response) const {
    return params_->getKeepAlive() && response.getKeepAlive() && accepting_ ? Served::Keep
                                                                            : Served::Close;
}

HttpServer::Served HttpServer::write_answer(Given& given) {
    if (!given.answer) return Served::Close;
    Session& session = given.connection->session;
    Response response(session, nullptr, nullptr);
    try {
        response.setDate(Poco::Timestamp());
        response.setVersion(given.version);
        response.setKeepAlive(given.keep_alive && accepting_);
        given.answer(response);
        if (!response.sent()) {
            throw std::logic_error("an answer given later did not send its response");
        }
        return keep_or_close(response);
    } catch (const Poco::Exception& e) {
        spdlog::debug("HTTP server: connection ended: {}", e.displayText());
    } catch (const std::exception& e) {
        spdlog::error("HTTP server: an answer given later failed: {}", e.what());
        if (!response.sent()) {
            send_error(session, Poco::Net::HTTPResponse::HTTP_INTERNAL_SERVER_ERROR);
        }
    }
    return Served::Close;
}

HttpServer::Served HttpServer::serve_request(const std::shared_ptr<Connection>& connection) {
    Session& session = connection->session;
    // As Poco's HTTPServerConnection::run, for one request.
    Response response(session, completions_, connection);
    try {
        std::optional<Poco::Net::HTTPServerRequestImpl> read;
        {
            const ReadDeadlines::Watch watch = deadlines_.watch(
                connection->socket,
                ReadDeadlines::Clock::now() +
                    std::chrono::microseconds(params_->getTimeout().totalMicroseconds()));
            try {
                read.emplace(response, session, params_.get());
            } catch (const Poco::Exception&) {
                if (!watch.expired()) throw;
            }
            // Cut short, the head may even look complete to Poco.
            if (watch.expired()) {
                spdlog::debug("HTTP server: request head incomplete after the request timeout");
                send_error(session, Poco::Net::HTTPResponse::HTTP_REQUEST_TIMEOUT);
                return Served::Close;
            }
        }
        Poco::Net::HTTPServerRequestImpl& request = *read;
        response.setDate(Poco::Timestamp());
        response.setVersion(request.getVersion());
        response.setKeepAlive(params_->getKeepAlive() && request.getKeepAlive() && accepting_);
        try {
            const std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(
                factory_->createRequestHandler(request));
            if (!handler) {
                send_error(session, Poco::Net::HTTPResponse::HTTP_NOT_IMPLEMENTED);
                return Served::Close;
            }
            if (request.getExpectContinue()) response.sendContinue();
            handler->handleRequest(request, response);
            if (response.later) return Served::Later;
            return keep_or_close(response);
        } catch (...) {
            if (!response.sent() && !response.later) {
                send_error(session, Poco::Net::HTTPResponse::HTTP_INTERNAL_SERVER_ERROR);
            }
            throw;
        }
    } catch (const Poco::Net::NoMessageException&) {
        // The client closed the connection (or sent nothing within the request timeout).
    } catch (const Poco::Net::MessageException& e) {
        spdlog::debug("HTTP server: malformed request: {}", e.displayText());
        if (!response.sent() && !response.later) {
            send_error(session, Poco::Net::HTTPResponse::HTTP_BAD_REQUEST);
        }
    } catch (const Poco::Exception& e) {
        spdlog::debug("HTTP server: connection ended: {}", e.displayText());
    } catch (const std::exception& e) {
        spdlog::error("HTTP server: request handler failed: {}", e.what());
    }
    // A handler that left its answer for later and then failed: the LaterAnswer it dropped
    // closes the connection.
    return response.later ? Served::Later : Served::Close;
}

void HttpServer::close_idle_when_due() {
    std::unique_lock lock(mutex_);
    while (!stopped_) {
        const Clock::time_point now = Clock::now();
        while (!idle_.empty() && idle_.front()->idle_until <= now) close_locked(*idle_.front());
        if (idle_.empty()) {
            idle_changed_.wait(lock);
        } else {
            // A copy: wait_until reads its deadline again after waking, when the connection
            // may be gone.
            const Clock::time_point due = idle_.front()->idle_until;
            idle_changed_.wait_until(lock, due);
        }
    }
}

}  // namespace nomnom
