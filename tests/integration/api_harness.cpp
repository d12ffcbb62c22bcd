#include "api_harness.hpp"

#include <catch2/catch.hpp>

#include "nomnom/common/nats_client.hpp"

namespace nomnom::testing {

ApiHarness::ApiHarness() : service_(NOMNOM_API_BIN, "api.toml", "nomnom-api listening on port ") {}

void ApiHarness::start(const Process::Env& env) {
    service_.start(env);
    service_.port();
}

HttpReply ApiHarness::post(const std::string& path, const std::string& body,
                           const std::map<std::string, std::string>& headers) {
    return http_request(port(), "POST", path, body, headers);
}

std::string api_test_config(const std::string& nats_url, const std::string& ingest,
                            const std::string& extra, const std::string& http) {
    return "[http]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_ms = 5000\n" + http +
           "\n[nats]\nurl = \"" + nats_url +
           "\"\n"
           "[stream]\nname = \"TEST\"\nsubjects = [\"test.>\", \"sensors.>\", "
           "\"messages.ingest.>\"]\n"
           "[ingest]\nretry_after_s = 2\n" +
           (ingest.find("publish_timeout_ms") == std::string::npos ? "publish_timeout_ms = 2000\n"
                                                                   : "") +
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
    nomnom::for_each_header(
        message, [&](const char* key, const char* value) { stored.headers[key] = value; });
    natsMsg_Destroy(message);
    return stored;
}

bool metric_line(const std::string& metrics, const std::string& line) {
    return metrics.find(line + "\n") != std::string::npos;
}

}  // namespace nomnom::testing
