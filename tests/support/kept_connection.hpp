#pragma once

#include <Poco/Net/StreamSocket.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace nomnom::testing {

struct KeptAnswer {
    int status = 0;  // 0: the server closed the connection before answering
    std::string body;
};

// A kept-alive HTTP/1.1 connection to 127.0.0.1:`port`, reading exactly one answer (with a
// Content-Length) per request, so that requests can also be pipelined. Every read waits at most
// `timeout` and throws when it passes: a test that keeps the server's keep-alive timeout longer
// sees an answer held up by another connection as a failure, not as a late answer.
class KeptConnection {
  public:
    explicit KeptConnection(uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(30));

    // The bytes of one request, Content-Length set when `body` is not empty.
    static std::string request_bytes(const std::string& method, const std::string& path,
                                     const std::string& body = "");
    void send(const std::string& bytes);
    KeptAnswer read_answer();
    KeptAnswer request(const std::string& method, const std::string& path,
                       const std::string& body = "") {
        send(request_bytes(method, path, body));
        return read_answer();
    }
    // Whether the server closes the connection, sending nothing, within the timeout.
    bool closed_by_server();

  private:
    bool fill();

    Poco::Net::StreamSocket socket_;
    std::string buffer_;
};

}  // namespace nomnom::testing
