#include "kept_connection.hpp"

#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>

#include <stdexcept>

namespace nomnom::testing {

KeptConnection::KeptConnection(uint16_t port, std::chrono::seconds timeout)
    : socket_(Poco::Net::SocketAddress("127.0.0.1", port)) {
    socket_.setReceiveTimeout(Poco::Timespan(timeout.count(), 0));
}

std::string KeptConnection::request_bytes(const std::string& method, const std::string& path,
                                          const std::string& body) {
    std::string bytes = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!body.empty()) bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return bytes + "\r\n" + body;
}

void KeptConnection::send(const std::string& bytes) {
    socket_.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
}

KeptAnswer KeptConnection::read_answer() {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return {};
    }
    const std::string head = buffer_.substr(0, head_end);
    const size_t length_at = head.find("Content-Length: ");
    if (head.size() < 12 || length_at == std::string::npos) {
        throw std::runtime_error("not an answer with a Content-Length: " + head);
    }
    const size_t length = std::stoul(head.substr(length_at + 16));
    while (buffer_.size() < head_end + 4 + length) {
        if (!fill()) throw std::runtime_error("connection closed inside an answer: " + head);
    }
    KeptAnswer answer{std::stoi(head.substr(9, 3)), buffer_.substr(head_end + 4, length)};
    buffer_.erase(0, head_end + 4 + length);
    return answer;
}

bool KeptConnection::closed_by_server() {
    char byte;
    try {
        return socket_.receiveBytes(&byte, 1) == 0;
    } catch (const Poco::TimeoutException&) {
        return false;
    } catch (const Poco::Net::ConnectionResetException&) {
        return true;
    }
}

bool KeptConnection::fill() {
    char chunk[4096];
    const int got = socket_.receiveBytes(chunk, sizeof chunk);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
}

}  // namespace nomnom::testing
