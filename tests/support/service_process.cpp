#include "service_process.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "eventually.hpp"

namespace nomnom::testing {

namespace {

std::string start_line(int start) {
    return "---- start " + std::to_string(start) + " ----\n";
}

}  // namespace

ServiceProcess::ServiceProcess(const std::filesystem::path& binary, const std::string& config_name,
                               std::string port_marker)
    : binary_(binary),
      port_marker_(std::move(port_marker)),
      dir_(binary.filename().string()),
      config_(dir_.path() / config_name),
      log_(dir_.path() / (binary.filename().string() + ".log")) {}

void ServiceProcess::write_config(const std::string& toml) {
    const auto temporary = config_.string() + ".tmp";
    std::ofstream(temporary) << toml;
    std::filesystem::rename(temporary, config_);
}

void ServiceProcess::start(const Process::Env& env) {
    ++starts_;
    std::ofstream(log_, std::ios::app) << start_line(starts_);
    port_.reset();
    // Replacing the Process kills a previous start that still runs; Process::start would refuse.
    process_ = Process();
    process_.start({binary_.string(), "--config", config_.string()}, env, log_);
}

std::optional<int> ServiceProcess::terminate(std::chrono::milliseconds timeout) {
    if (!process_.running()) return process_.wait_exit(std::chrono::milliseconds(0));
    process_.signal(SIGTERM);
    return process_.wait_exit(timeout);
}

std::string ServiceProcess::log() const {
    std::ifstream in(log_);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string ServiceProcess::current_log() const {
    const std::string text = log();
    const size_t at = text.rfind(start_line(starts_));
    return at == std::string::npos ? "" : text.substr(at);
}

bool ServiceProcess::wait_log(const std::string& text, std::chrono::milliseconds timeout) {
    return eventually([&] { return current_log().find(text) != std::string::npos; }, timeout);
}

std::uint16_t ServiceProcess::port() {
    if (port_) return *port_;
    std::string text;
    size_t at = std::string::npos;
    eventually(
        [&] {
            // Checked before reading: once it has exited, the log read after it is complete.
            const bool running = process_.running();
            text = current_log();
            at = text.find(port_marker_);
            return at != std::string::npos || !running;
        },
        std::chrono::seconds(20));
    if (at == std::string::npos) {
        throw std::runtime_error(binary_.filename().string() + " logged no HTTP port:\n" + text);
    }
    port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + port_marker_.size())));
    return *port_;
}

HttpReply ServiceProcess::get(const std::string& path,
                              const std::map<std::string, std::string>& headers) {
    return http_request(port(), "GET", path, "", headers);
}

}  // namespace nomnom::testing
