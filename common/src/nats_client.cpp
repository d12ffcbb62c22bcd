#include "nomnom/common/nats_client.hpp"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "nomnom/common/redact.hpp"
#include "nomnom/common/subject_match.hpp"

namespace nomnom {

void check_nats(natsStatus status, const std::string& what, jsErrCode js_error) {
    if (status == NATS_OK) return;
    std::string message = what + ": " + natsStatus_GetText(status);
    // cnats keeps the text of the last error after later successes: use it only when it
    // belongs to this failure.
    natsStatus last = NATS_OK;
    if (const char* detail = nats_GetLastError(&last);
        last == status && detail != nullptr && *detail != '\0') {
        message += " (" + std::string(detail) + ")";
    }
    if (js_error != 0) message += " [jetstream error " + std::to_string(js_error) + "]";
    throw NatsError(message);
}

namespace {

constexpr int64_t kNanosPerSecond = 1000000000LL;

std::vector<std::string> subjects_of(const jsStreamConfig& stream) {
    return {stream.Subjects, stream.Subjects + stream.SubjectsLen};
}

struct OptionsDeleter {
    void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
};

void on_disconnected(natsConnection* connection, void*) {
    if (!natsConnection_IsClosed(connection)) spdlog::warn("NATS connection lost; reconnecting");
}
void on_reconnected(natsConnection*, void*) {
    spdlog::info("NATS connection re-established");
}

}  // namespace

void for_each_header(natsMsg* message,
                     const std::function<void(const char* key, const char* value)>& visit) {
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(message, &keys, &count) != NATS_OK) return;
    for (int i = 0; i < count; ++i) {
        const char* value = nullptr;
        if (natsMsgHeader_Get(message, keys[i], &value) == NATS_OK) {
            visit(keys[i], value != nullptr ? value : "");
        }
    }
    std::free(static_cast<void*>(keys));
}

void set_nats_servers(natsOptions* options, const std::string& urls) {
    std::vector<std::string> list;
    for (size_t start = 0; start <= urls.size();) {
        size_t end = urls.find(',', start);
        if (end == std::string::npos) end = urls.size();
        std::string url = urls.substr(start, end - start);
        url.erase(0, url.find_first_not_of(' '));
        url.erase(url.find_last_not_of(' ') + 1);
        if (!url.empty()) list.push_back(std::move(url));
        start = end + 1;
    }
    const std::string shown = "nats.url " + redact_url(urls);
    if (list.size() <= 1) {
        check_nats(natsOptions_SetURL(options, list.empty() ? urls.c_str() : list[0].c_str()),
                   shown);
        return;
    }
    // natsOptions_SetURL would take the whole list for one server's address.
    std::vector<const char*> servers;
    for (const std::string& url : list) servers.push_back(url.c_str());
    check_nats(natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size())),
               shown);
}

NatsClient::NatsClient(const NatsConfig& config) {
    natsOptions* raw = nullptr;
    check_nats(natsOptions_Create(&raw), "natsOptions_Create");
    std::unique_ptr<natsOptions, OptionsDeleter> options(raw);
    const std::string shown = redact_url(config.url);
    set_nats_servers(raw, config.url);
    check_nats(natsOptions_SetTimeout(raw, config.connect_timeout_ms), "nats.connect_timeout_ms");
    check_nats(natsOptions_SetMaxReconnect(raw, -1), "natsOptions_SetMaxReconnect");
    check_nats(natsOptions_SetReconnectWait(raw, 500), "natsOptions_SetReconnectWait");
    // Keep publishing acks into the reconnect buffer instead of failing while disconnected.
    check_nats(natsOptions_SetReconnectBufSize(raw, 8 * 1024 * 1024), "reconnect buffer");
    check_nats(natsOptions_SetDisconnectedCB(raw, on_disconnected, nullptr), "disconnect cb");
    check_nats(natsOptions_SetReconnectedCB(raw, on_reconnected, nullptr), "reconnect cb");
    if (!config.user.empty()) {
        check_nats(natsOptions_SetUserInfo(raw, config.user.c_str(), config.password.c_str()),
                   "nats.user");
    }
    if (!config.token.empty()) {
        check_nats(natsOptions_SetToken(raw, config.token.c_str()), "nats.token");
    }
    if (!config.creds_file.empty()) {
        check_nats(natsOptions_SetUserCredentialsFromFiles(raw, config.creds_file.c_str(), nullptr),
                   "nats.creds_file " + config.creds_file);
    }
    if (config.tls.enabled) {
        check_nats(natsOptions_SetSecure(raw, true), "nats.tls.enabled");
        if (!config.tls.ca_file.empty()) {
            check_nats(natsOptions_LoadCATrustedCertificates(raw, config.tls.ca_file.c_str()),
                       "nats.tls.ca_file " + config.tls.ca_file);
        }
        if (!config.tls.cert_file.empty()) {
            check_nats(natsOptions_LoadCertificatesChain(raw, config.tls.cert_file.c_str(),
                                                         config.tls.key_file.c_str()),
                       "nats.tls.cert_file " + config.tls.cert_file);
        }
        if (config.tls.skip_verify) {
            check_nats(natsOptions_SkipServerVerification(raw, true), "nats.tls.skip_verify");
        }
    }
    check_nats(natsConnection_Connect(&connection_, raw), "connecting to NATS at " + shown);
    const natsStatus status = natsConnection_JetStream(&jetstream_, connection_, nullptr);
    if (status != NATS_OK) {
        natsConnection_Destroy(connection_);
        check_nats(status, "JetStream context");
    }
}

NatsClient::~NatsClient() {
    jsCtx_Destroy(jetstream_);
    natsConnection_Destroy(connection_);
}

bool NatsClient::connected() const {
    return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

void NatsClient::ensure_stream(const StreamConfig& config, const StreamLimits& defaults) {
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    natsStatus status =
        js_GetStreamInfo(&info, jetstream_, config.name.c_str(), nullptr, &js_error);
    if (status == NATS_NOT_FOUND) {
        std::vector<const char*> subjects;
        for (const auto& subject : config.subjects) subjects.push_back(subject.c_str());
        jsStreamConfig stream;
        jsStreamConfig_Init(&stream);
        stream.Name = config.name.c_str();
        stream.Subjects = subjects.data();
        stream.SubjectsLen = static_cast<int>(subjects.size());
        stream.Storage = config.storage == "memory" ? js_MemoryStorage : js_FileStorage;
        stream.Replicas = static_cast<int>(config.replicas);
        stream.MaxAge = config.max_age_s.value_or(defaults.max_age_s) * kNanosPerSecond;
        stream.MaxBytes = config.max_bytes.value_or(defaults.max_bytes);
        stream.Duplicates =
            config.duplicate_window_s.value_or(defaults.duplicate_window_s) * kNanosPerSecond;
        status = js_AddStream(&info, jetstream_, &stream, nullptr, &js_error);
        check_nats(status, "creating stream " + config.name, js_error);
        jsStreamInfo_Destroy(info);
        spdlog::info("created stream {} on subjects [{}]", config.name,
                     fmt::join(config.subjects, ", "));
        return;
    }
    check_nats(status, "reading stream " + config.name, js_error);
    std::unique_ptr<jsStreamInfo, decltype(&jsStreamInfo_Destroy)> existing(info,
                                                                            jsStreamInfo_Destroy);
    jsStreamConfig stream = *existing->Config;
    const bool memory = stream.Storage == js_MemoryStorage;
    if (memory != (config.storage == "memory")) {
        spdlog::warn("stream {} uses {} storage, worker.toml asks for {}; storage cannot change",
                     config.name, memory ? "memory" : "file", config.storage);
    }
    // An operator may have changed the stream on the server: only what the config sets is
    // brought in line, and a subject an operator added is never taken away.
    std::vector<std::string> changes;
    const std::vector<std::string> had = subjects_of(stream);
    std::vector<std::string> subjects = had;
    for (const std::string& wanted : config.subjects) {
        if (std::any_of(subjects.begin(), subjects.end(), [&](const std::string& subject) {
                return subject_covers(subject, wanted);
            })) {
            continue;
        }
        // A subject the wanted one covers goes: the wider one keeps every message it matched,
        // and a stream may not list overlapping subjects.
        std::erase_if(subjects,
                      [&](const std::string& subject) { return subject_covers(wanted, subject); });
        subjects.push_back(wanted);
    }
    std::vector<const char*> subject_pointers;
    for (const auto& subject : subjects) subject_pointers.push_back(subject.c_str());
    if (subjects != had) {
        stream.Subjects = subject_pointers.data();
        stream.SubjectsLen = static_cast<int>(subject_pointers.size());
        changes.push_back(
            fmt::format("subjects [{}] -> [{}]", fmt::join(had, ", "), fmt::join(subjects, ", ")));
    }
    const auto limit = [&](const char* key, const std::optional<int64_t>& wanted, int64_t& field,
                           int64_t scale) {
        if (!wanted || *wanted * scale == field) return;
        changes.push_back(fmt::format("{} {} -> {}", key, field / scale, *wanted));
        field = *wanted * scale;
    };
    limit("max_age_s", config.max_age_s, stream.MaxAge, kNanosPerSecond);
    limit("max_bytes", config.max_bytes, stream.MaxBytes, 1);
    limit("duplicate_window_s", config.duplicate_window_s, stream.Duplicates, kNanosPerSecond);
    if (changes.empty()) return;
    jsStreamInfo* updated = nullptr;
    status = js_UpdateStream(&updated, jetstream_, &stream, nullptr, &js_error);
    jsStreamInfo_Destroy(updated);
    check_nats(status, "updating stream " + config.name, js_error);
    for (const std::string& change : changes) spdlog::info("stream {}: {}", config.name, change);
}

bool NatsClient::has_stream(const std::string& name) {
    return stream_subjects(name).has_value();
}

namespace {

// What `read` takes from stream `name`'s configuration; nullopt when the stream does not exist.
template <class Read>
auto read_stream_config(jsCtx* jetstream, const std::string& name, Read read)
    -> std::optional<decltype(read(std::declval<const jsStreamConfig&>()))> {
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_GetStreamInfo(&info, jetstream, name.c_str(), nullptr, &js_error);
    std::optional<decltype(read(std::declval<const jsStreamConfig&>()))> value;
    if (status == NATS_OK) value = read(*info->Config);
    jsStreamInfo_Destroy(info);
    if (status == NATS_NOT_FOUND) return std::nullopt;
    check_nats(status, "reading stream " + name, js_error);
    return value;
}

}  // namespace

std::optional<std::vector<std::string>> NatsClient::stream_subjects(const std::string& name) {
    return read_stream_config(jetstream_, name, subjects_of);
}

std::optional<int64_t> NatsClient::stream_duplicate_window_s(const std::string& name) {
    return read_stream_config(jetstream_, name, [](const jsStreamConfig& config) {
        return config.Duplicates / 1000000000;  // nanoseconds
    });
}

void NatsClient::require_stream(const std::string& name) {
    if (!has_stream(name)) {
        throw NatsError("stream " + name + " does not exist and stream.create is false");
    }
}

void NatsClient::prepare_stream(const StreamConfig& config, const StreamLimits& defaults) {
    if (config.create) {
        ensure_stream(config, defaults);
    } else {
        require_stream(config.name);
    }
}

PublishOutcome NatsClient::publish_awaiting_ack(natsMsg* message,
                                                const PublishRequest& request) const {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = request.msg_id;
    options.ExpectStream = request.expect_stream;
    options.MaxWait = request.max_wait_ms;
    PublishOutcome outcome;
    jsPubAck* ack = nullptr;
    outcome.status = js_PublishMsg(&ack, jetstream_, message, &options, &outcome.js_error);
    if (ack != nullptr) {
        outcome.sequence = ack->Sequence;
        outcome.duplicate = ack->Duplicate;
        jsPubAck_Destroy(ack);
    }
    return outcome;
}

void NatsClient::flush(int64_t timeout_ms) {
    check_nats(natsConnection_FlushTimeout(connection_, timeout_ms), "flushing NATS connection");
}

}  // namespace nomnom
