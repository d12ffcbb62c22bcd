#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "support/http_client.hpp"
#include "support/nats_server.hpp"
#include "support/process.hpp"
#include "support/service_process.hpp"

namespace nomnom::testing {

// A nomnom-api process with its own api.toml and log file.
class ApiHarness {
  public:
    ApiHarness();

    // The config, the log (every start's, and the current one's) and stop are ServiceProcess's.
    void write_config(const std::string& toml) { service_.write_config(toml); }
    const std::filesystem::path& config_path() const { return service_.config_path(); }
    // Starts it and waits (up to 20 s) until it logs its port; throws if it does not.
    void start(const Process::Env& env = {});
    std::optional<int> terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        return service_.terminate(timeout);
    }
    Process& process() { return service_.process(); }
    uint16_t port() { return service_.port(); }
    std::string log() const { return service_.log(); }
    std::string current_log() const { return service_.current_log(); }

    HttpReply get(const std::string& path, const std::map<std::string, std::string>& headers = {}) {
        return service_.get(path, headers);
    }
    HttpReply post(const std::string& path, const std::string& body,
                   const std::map<std::string, std::string>& headers = {});

  private:
    ServiceProcess service_;
};

// api.toml for tests: the given NATS url, the stream test_config() names ("TEST"), a free
// port, ingest.publish_timeout_ms 2000 unless `ingest` sets it; `ingest` goes into [ingest],
// `http` into [http], `extra` is appended verbatim.
std::string api_test_config(const std::string& nats_url, const std::string& ingest = "",
                            const std::string& extra = "", const std::string& http = "");

// A nats-server, a running nomnom-api on it (api_test_config with these arguments) and a
// JetStream client.
struct ApiOnNats {
    explicit ApiOnNats(const std::string& ingest = "", const std::string& extra = "",
                       const Process::Env& env = {}, const std::string& http = "");
    NatsServer nats;
    ApiHarness api;
    JetStreamClient client{nats.url()};
};

// `text` parsed; fails the test when it is not JSON.
rapidjson::Document parse_json(const std::string& text);
// The string member `name` of the JSON object `text`; fails the test when there is none.
std::string json_field(const std::string& text, const char* name);

// The "status" of GET /ingest/status/{id}, or "http <code>" when the answer has none.
std::string status_of(ApiHarness& api, const std::string& id);

// A message as JetStream stored it.
struct StoredMessage {
    std::string data;
    std::map<std::string, std::string> headers;
};
// The last message stored on `subject` of the test stream "TEST".
StoredMessage last_message(JetStreamClient& client, const std::string& subject);

// Whether the Prometheus text `metrics` has `line` as a whole line.
bool metric_line(const std::string& metrics, const std::string& line);

}  // namespace nomnom::testing
