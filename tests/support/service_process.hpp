#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "http_client.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace nomnom::testing {

// A long-running service under test (nomnom-host, nomnom-api), run as `binary --config <file>`
// from a directory of its own. Every start appends to the same log after a line
// "---- start N ----": a test reads the whole history, while waits and the port look only at
// the current start, so a restart is never mistaken for the run before it.
class ServiceProcess {
  public:
    // `port_marker` is what the service logs right before its HTTP port.
    ServiceProcess(const std::filesystem::path& binary, const std::string& config_name,
                   std::string port_marker);

    const std::filesystem::path& dir() const { return dir_.path(); }
    const std::filesystem::path& config_path() const { return config_; }
    // Replaced by rename, as an operator should: a reload never reads a half-written file.
    void write_config(const std::string& toml);

    void start(const Process::Env& env = {});
    // SIGTERM, then the exit code (nullopt when it did not exit in time).
    std::optional<int> terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    Process& process() { return process_; }

    // Every start's output.
    std::string log() const;
    // The current (after it exits, the last) start's output.
    std::string current_log() const;
    // Whether the current start logs `text` within `timeout`.
    bool wait_log(const std::string& text, std::chrono::milliseconds timeout);

    // The HTTP port the current start logged. Waits up to 20 s for it; throws when the service
    // logs none by then or exits first.
    std::uint16_t port();
    // GET http://127.0.0.1:<port()><path>.
    HttpReply get(const std::string& path, const std::map<std::string, std::string>& headers = {});

  private:
    std::filesystem::path binary_;
    std::string port_marker_;
    TempDir dir_;
    std::filesystem::path config_;
    std::filesystem::path log_;
    Process process_;
    int starts_ = 0;
    std::optional<std::uint16_t> port_;
};

}  // namespace nomnom::testing
