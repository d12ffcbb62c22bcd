// HttpServer when the process runs out of file descriptors while every connection is busy, and
// with answers given later.

#include "nomnom/common/http_server.hpp"

#include "support/kept_connection.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <fcntl.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Requests that wait until released, so that a test knows every serving thread is busy.
struct Gate {
    std::mutex mutex;
    std::condition_variable changed;
    int entered = 0;
    bool open = false;

    bool wait_entered(int count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, 20s, [&] { return entered >= count; });
    }
    void release() {
        const std::lock_guard lock(mutex);
        open = true;
        changed.notify_all();
    }
    // A request's handler: counted as entered, it waits until released.
    void pass() {
        std::unique_lock lock(mutex);
        ++entered;
        changed.notify_all();
        changed.wait_for(lock, 20s, [&] { return open; });
    }
};

class GatedHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit GatedHandler(Gate& gate) : gate_(gate) {}
    void handleRequest(Poco::Net::HTTPServerRequest&,
                       Poco::Net::HTTPServerResponse& response) override {
        gate_.pass();
        response.setContentLength(2);
        response.send() << "ok";
    }

  private:
    Gate& gate_;
};

// Makes a `Handler` on `state` for every request.
template <class Handler, class State>
class FactoryOf final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit FactoryOf(State& state) : state_(state) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new Handler(state_);
    }

  private:
    State& state_;
};

Poco::Net::HTTPServerParams::Ptr keep_alive_params() {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setKeepAlive(true);
    return params;
}

// An HttpServer with keep-alive and `threads` serving threads, on a free loopback port.
struct LocalServer {
    LocalServer(Poco::Net::HTTPRequestHandlerFactory* factory, int threads)
        : server(listener, keep_alive_params(), factory, deadlines, connections,
                 nomnom::HttpServer::Limits{.threads = threads}) {}

    Poco::Net::ServerSocket listener{Poco::Net::SocketAddress("127.0.0.1", 0), 16};
    const Poco::Net::SocketAddress address = listener.address();
    nomnom::ReadDeadlines deadlines;
    nomnom::HttpConnectionGauges connections;
    nomnom::HttpServer server;
};

// "/now" is answered at once, "/hold" once `hold` is released, "/echo" with its body once it has
// all arrived; the answer of "/drop" is dropped unanswered; any other path's is left for the test
// to give, with the path as its body.
struct Postponed {
    Gate hold;
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::pair<std::string, std::unique_ptr<nomnom::HttpServer::LaterAnswer>>> answers;

    bool wait_for(size_t count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, 20s, [&] { return answers.size() >= count; });
    }
    // Gives the answer of the `index`th request left for later, from a thread of its own.
    void give(size_t index) {
        std::unique_lock lock(mutex);
        auto& [path, later] = answers.at(index);
        std::thread([path, later = std::move(later)] {
            std::move(*later).send([path](Poco::Net::HTTPServerResponse& response) {
                response.setContentLength(static_cast<std::streamsize>(path.size()));
                response.send() << path;
            });
        }).join();
    }
};

class PostponingHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit PostponingHandler(Postponed& postponed) : postponed_(postponed) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        if (request.getURI() == "/echo") {
            const std::string body(std::istreambuf_iterator<char>(request.stream()), {});
            response.setContentLength(static_cast<std::streamsize>(body.size()));
            response.send() << body;
            return;
        }
        if (request.getURI() == "/hold") postponed_.hold.pass();
        if (request.getURI() == "/now" || request.getURI() == "/hold") {
            response.setContentLength(3);
            response.send() << "now";
            return;
        }
        auto later = std::make_unique<nomnom::HttpServer::LaterAnswer>(
            nomnom::HttpServer::answer_later(response));
        if (request.getURI() == "/drop") return;
        const std::lock_guard lock(postponed_.mutex);
        postponed_.answers.emplace_back(request.getURI(), std::move(later));
        postponed_.changed.notify_all();
    }

  private:
    Postponed& postponed_;
};

// The first reply line on `socket`, read within 20 s.
std::string status_line(Poco::Net::StreamSocket& socket) {
    socket.setReceiveTimeout(Poco::Timespan(20, 0));
    std::string reply;
    char buffer[512];
    while (reply.find("\r\n") == std::string::npos) {
        const int got = socket.receiveBytes(buffer, sizeof buffer);
        if (got <= 0) break;
        reply.append(buffer, static_cast<size_t>(got));
    }
    return reply.substr(0, reply.find("\r\n"));
}

// Lines of `sink` that contain `part`.
size_t count_of(spdlog::sinks::ringbuffer_sink_mt& sink, const std::string& part) {
    size_t count = 0;
    for (const std::string& line : sink.last_formatted()) {
        count += line.find(part) != std::string::npos ? 1 : 0;
    }
    return count;
}

}  // namespace

TEST_CASE(
    "out of descriptors with every connection busy, HttpServer waits for one instead of "
    "spinning on accept",
    "[http]") {
    const auto log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000);
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("http_server_test", log));

    Gate gate;
    // Two held by requests, one free to accept.
    LocalServer local(new FactoryOf<GatedHandler, Gate>(gate), 3);
    const Poco::Net::SocketAddress& address = local.address;

    const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    Poco::Net::StreamSocket first(address), second(address);
    first.sendBytes(request.data(), static_cast<int>(request.size()));
    second.sendBytes(request.data(), static_cast<int>(request.size()));
    REQUIRE(gate.wait_entered(2));

    // The third client's descriptor exists before the limit; the server's next one cannot.
    // Every number below the limit is taken (earlier tests leave holes, which the server's
    // accept would fill), so that only a descriptor the server closes makes room.
    Poco::Net::StreamSocket third(Poco::Net::SocketAddress::IPv4);
    int top = 0;
    for (int fd = 0; fd < 65536; ++fd) {
        if (::fcntl(fd, F_GETFD) != -1) top = fd;
    }
    std::vector<int> fillers;
    for (int fd = 0; fd <= top;) {
        fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        fillers.push_back(fd);
    }
    rlimit before{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
    rlimit lowered = before;
    lowered.rlim_cur = static_cast<rlim_t>(fillers.back() + 1);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    third.connect(address);  // completed by the kernel, into the listen backlog
    third.sendBytes(request.data(), static_cast<int>(request.size()));

    const std::string paused = "waiting until a connection closes or goes idle";
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (count_of(*log, paused) == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    // The two busy ones finish and go idle; the first to do so is closed to make room.
    gate.release();
    CHECK(status_line(first) == "HTTP/1.1 200 OK");
    CHECK(status_line(second) == "HTTP/1.1 200 OK");
    CHECK(status_line(third) == "HTTP/1.1 200 OK");
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
    for (const int fd : fillers) ::close(fd);
    spdlog::set_default_logger(previous);

    // Before, each failed accept watched the listener again at once, to fail again.
    CHECK(count_of(*log, paused) == 1);
    CHECK(count_of(*log, "closing the longest idle one") >= 1);
}

TEST_CASE(
    "an answer given later holds no serving thread, comes before the next request's on its "
    "connection, and closes the connection when dropped",
    "[http]") {
    using nomnom::testing::KeptAnswer;
    using nomnom::testing::KeptConnection;
    Postponed postponed;
    LocalServer local(new FactoryOf<PostponingHandler, Postponed>(postponed), 1);
    const uint16_t port = local.address.port();

    KeptConnection waiting(port), other(port), pipelined(port), dropped(port);
    waiting.send(KeptConnection::request_bytes("GET", "/first"));
    REQUIRE(postponed.wait_for(1));
    // The one serving thread is free while /first waits.
    CHECK(other.request("GET", "/now").body == "now");

    // The pipelined /now is read only once /second is answered.
    pipelined.send(KeptConnection::request_bytes("GET", "/second") +
                   KeptConnection::request_bytes("GET", "/now"));
    REQUIRE(postponed.wait_for(2));
    postponed.give(1);
    KeptAnswer answer = pipelined.read_answer();
    CHECK(answer.status == 200);
    CHECK(answer.body == "/second");
    CHECK(pipelined.read_answer().body == "now");

    postponed.give(0);
    answer = waiting.read_answer();
    CHECK(answer.status == 200);
    CHECK(answer.body == "/first");
    // Kept alive after an answer given later.
    CHECK(waiting.request("GET", "/now").body == "now");

    dropped.send(KeptConnection::request_bytes("GET", "/drop"));
    CHECK(dropped.closed_by_server());
    CHECK(other.request("GET", "/now").body == "now");
}

TEST_CASE(
    "answers given later together are all written before a pipelined request of one of their "
    "connections is read",
    "[http]") {
    using nomnom::testing::KeptConnection;
    Postponed postponed;
    LocalServer local(new FactoryOf<PostponingHandler, Postponed>(postponed), 2);
    const uint16_t port = local.address.port();

    // Behind /first, a request whose body has not all arrived yet.
    KeptConnection pipelined(port), other(port), held_1(port), held_2(port);
    const std::string echo = KeptConnection::request_bytes("POST", "/echo", "0123456789");
    pipelined.send(KeptConnection::request_bytes("GET", "/first") +
                   echo.substr(0, echo.size() - 5));
    REQUIRE(postponed.wait_for(1));
    other.send(KeptConnection::request_bytes("GET", "/second"));
    REQUIRE(postponed.wait_for(2));
    // Both serving threads held, so that both answers are taken together.
    held_1.send(KeptConnection::request_bytes("GET", "/hold"));
    held_2.send(KeptConnection::request_bytes("GET", "/hold"));
    REQUIRE(postponed.hold.wait_entered(2));
    postponed.give(0);
    postponed.give(1);
    postponed.hold.release();

    // Before, the thread that took both wrote /first's answer, then served the pipelined
    // request, waiting for the rest of its body (up to a minute) before writing /second's.
    CHECK(other.read_answer().body == "/second");
    CHECK(pipelined.read_answer().body == "/first");
    pipelined.send(echo.substr(echo.size() - 5));
    CHECK(pipelined.read_answer().body == "0123456789");
    CHECK(held_1.read_answer().body == "now");
    CHECK(held_2.read_answer().body == "now");
}
