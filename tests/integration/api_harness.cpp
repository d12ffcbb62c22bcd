#include "api_harness.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "host_harness.hpp"

namespace nomnom::testing {

ApiHarness::ApiHarness()
    : dir_("nomnom-api"), config_(dir_.path() / "api.toml"), log_(dir_.path() / "api.log") {}

void ApiHarness::write_config(const std::string& toml) {
    std::ofstream(config_) << toml;
}

void ApiHarness::start(const Process::Env& env) {
    std::ofstream(log_, std::ios::app) << "---- start ----\n";
    process_ = Process();
    process_.start({NOMNOM_API_BIN, "--config", config_.string()}, env, log_);
    const std::string marker = "nomnom-api listening on port ";
    std::string text;
    // The log is appended across starts: only this start's lines count.
    const bool listening = eventually(
        [&] {
            text = log();
            text.erase(0, text.rfind("---- start ----\n"));
            return text.find(marker) != std::string::npos;
        },
        std::chrono::seconds(20));
    if (!listening) throw std::runtime_error("nomnom-api did not start:\n" + text);
    port_ = static_cast<uint16_t>(std::stoi(text.substr(text.find(marker) + marker.size())));
}

std::optional<int> ApiHarness::terminate(std::chrono::milliseconds timeout) {
    if (!process_.running()) return process_.wait_exit(std::chrono::milliseconds(0));
    process_.signal(SIGTERM);
    return process_.wait_exit(timeout);
}

std::string ApiHarness::log() const {
    std::ifstream in(log_);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

HttpReply ApiHarness::get(const std::string& path,
                          const std::map<std::string, std::string>& headers) {
    return http_request(port_, "GET", path, "", headers);
}

HttpReply ApiHarness::post(const std::string& path, const std::string& body,
                           const std::map<std::string, std::string>& headers) {
    return http_request(port_, "POST", path, body, headers);
}

std::string api_test_config(const std::string& nats_url, const std::string& ingest,
                            const std::string& extra, const std::string& http) {
    return "[http]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_ms = 5000\n" + http +
           "\n[nats]\nurl = \"" + nats_url +
           "\"\n"
           "[stream]\nname = \"TEST\"\nsubjects = [\"test.>\", \"sensors.>\", "
           "\"messages.ingest.>\"]\n"
           "[ingest]\npublish_timeout_ms = 2000\nretry_after_s = 2\n" +
           ingest + "\n" + extra;
}

ApiOnNats::ApiOnNats(const std::string& ingest, const std::string& extra, const Process::Env& env,
                     const std::string& http) {
    api.write_config(api_test_config(nats.url(), ingest, extra, http));
    api.start(env);
}

rapidjson::Document parse_json(const std::string& text) {
    rapidjson::Document document;
    document.Parse(text.c_str());
    INFO(text);
    REQUIRE_FALSE(document.HasParseError());
    return document;
}

std::string json_field(const std::string& text, const char* name) {
    const rapidjson::Document document = parse_json(text);
    INFO(text);
    REQUIRE(document.IsObject());
    REQUIRE(document.HasMember(name));
    REQUIRE(document[name].IsString());
    return document[name].GetString();
}

std::string status_of(ApiHarness& api, const std::string& id) {
    const HttpReply reply = api.get("/ingest/status/" + id);
    rapidjson::Document document;
    document.Parse(reply.body.c_str());
    if (document.HasParseError() || !document.IsObject() || !document.HasMember("status") ||
        !document["status"].IsString()) {
        return "http " + std::to_string(reply.status);
    }
    return document["status"].GetString();
}

StoredMessage last_message(JetStreamClient& client, const std::string& subject) {
    natsMsg* message = nullptr;
    jsErrCode error = jsErrCode(0);
    REQUIRE(js_GetLastMsg(&message, client.js(), "TEST", subject.c_str(), nullptr, &error) ==
            NATS_OK);
    StoredMessage stored;
    stored.data.assign(natsMsg_GetData(message),
                       static_cast<size_t>(natsMsg_GetDataLength(message)));
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(message, &keys, &count) == NATS_OK) {
        for (int i = 0; i < count; ++i) {
            const char* value = nullptr;
            if (natsMsgHeader_Get(message, keys[i], &value) == NATS_OK) {
                stored.headers[keys[i]] = value;
            }
        }
        std::free(static_cast<void*>(keys));
    }
    natsMsg_Destroy(message);
    return stored;
}

bool metric_line(const std::string& metrics, const std::string& line) {
    return metrics.find(line + "\n") != std::string::npos;
}

}  // namespace nomnom::testing
