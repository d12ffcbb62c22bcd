// HttpServer when the process runs out of file descriptors while every connection is busy.

#include "nomnom/common/http_server.hpp"

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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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
};

class GatedHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit GatedHandler(Gate& gate) : gate_(gate) {}
    void handleRequest(Poco::Net::HTTPServerRequest&,
                       Poco::Net::HTTPServerResponse& response) override {
        {
            std::unique_lock lock(gate_.mutex);
            ++gate_.entered;
            gate_.changed.notify_all();
            gate_.changed.wait_for(lock, 20s, [&] { return gate_.open; });
        }
        response.setContentLength(2);
        response.send() << "ok";
    }

  private:
    Gate& gate_;
};

class GatedFactory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit GatedFactory(Gate& gate) : gate_(gate) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new GatedHandler(gate_);
    }

  private:
    Gate& gate_;
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
    Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0), 16);
    const Poco::Net::SocketAddress address = listener.address();
    nomnom::ReadDeadlines deadlines;
    std::atomic<int64_t> connections{0};
    auto* params = new Poco::Net::HTTPServerParams;
    params->setKeepAlive(true);
    nomnom::HttpServer::Limits limits;
    // Two held by requests, one free to accept.
    limits.threads = 3;
    nomnom::HttpServer server(listener, params, new GatedFactory(gate), deadlines, connections,
                              limits);

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
