#include "nats_server.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "free_port.hpp"
#include "nomnom/common/nats_client.hpp"

namespace nomnom::testing {

namespace {

constexpr auto kReadyTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(10);
constexpr int kStartAttempts = 3;
constexpr int64_t kRequestTimeoutMs = 10000;

std::string nats_error(natsStatus status, jsErrCode js_error = jsErrCode(0)) {
    std::string message = natsStatus_GetText(status);
    // cnats never clears a thread's last error on success, so it may belong to an older call;
    // a matching status makes that less likely.
    natsStatus last_status = NATS_OK;
    const char* detail = nats_GetLastError(&last_status);
    if (last_status == status && detail != nullptr && *detail != '\0') {
        message += " (" + std::string(detail) + ")";
    }
    if (js_error != 0) message += " [jetstream error " + std::to_string(js_error) + "]";
    return message;
}

void check(natsStatus status, const std::string& what, jsErrCode js_error = jsErrCode(0)) {
    if (status != NATS_OK) throw std::runtime_error(what + ": " + nats_error(status, js_error));
}

ConsumerStats stats_of(const jsConsumerInfo& info) {
    ConsumerStats stats;
    stats.num_pending = info.NumPending;
    stats.num_ack_pending = info.NumAckPending;
    stats.num_redelivered = info.NumRedelivered;
    stats.delivered_consumer_seq = info.Delivered.Consumer;
    stats.delivered_stream_seq = info.Delivered.Stream;
    stats.ack_floor_stream_seq = info.AckFloor.Stream;
    return stats;
}

struct OptionsDeleter {
    void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
};
using OptionsPtr = std::unique_ptr<natsOptions, OptionsDeleter>;

struct ConnectionDeleter {
    void operator()(natsConnection* connection) const { natsConnection_Destroy(connection); }
};
struct JsDeleter {
    void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
};

OptionsPtr make_options(const std::string& url) {
    natsOptions* raw = nullptr;
    check(natsOptions_Create(&raw), "natsOptions_Create");
    OptionsPtr options(raw);
    nomnom::set_nats_servers(raw, url);
    check(natsOptions_SetTimeout(raw, 2000), "natsOptions_SetTimeout");
    return options;
}

// True once a fresh connection gets an answer from the JetStream API, which the server only
// serves after it has recovered its streams.
bool jetstream_answers(const std::string& url) {
    OptionsPtr options = make_options(url);
    check(natsOptions_SetAllowReconnect(options.get(), false), "natsOptions_SetAllowReconnect");
    natsConnection* raw_connection = nullptr;
    if (natsConnection_Connect(&raw_connection, options.get()) != NATS_OK) return false;
    std::unique_ptr<natsConnection, ConnectionDeleter> connection(raw_connection);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 1000;
    jsCtx* raw_js = nullptr;
    if (natsConnection_JetStream(&raw_js, raw_connection, &js_options) != NATS_OK) return false;
    std::unique_ptr<jsCtx, JsDeleter> js(raw_js);
    jsAccountInfo* info = nullptr;
    const natsStatus status = js_GetAccountInfo(&info, raw_js, nullptr, nullptr);
    jsAccountInfo_Destroy(info);
    return status == NATS_OK;
}

std::string tail_of(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream content;
    content << in.rdbuf();
    const std::string text = content.str();
    constexpr std::size_t kTail = 2000;
    return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

// Whether the log, from byte `from` on, says this start of the server listens: the port was
// probed free, but another test's nats-server may bind it first, and a JetStream answer on the
// port would then come from that server while ours exits.
bool logged_ready(const std::filesystem::path& file, std::uintmax_t from) {
    std::ifstream in(file);
    in.seekg(static_cast<std::streamoff>(from));
    std::stringstream content;
    content << in.rdbuf();
    return content.str().find("Server is ready") != std::string::npos;
}

std::filesystem::path nats_server_binary() {
    if (const char* configured = std::getenv("NOMNOM_NATS_SERVER");
        configured != nullptr && *configured != '\0') {
        return configured;
    }
    if (auto found = find_executable("nats-server")) return *found;
    throw std::runtime_error("nats-server not found (run scripts/deps.sh)");
}

}  // namespace

NatsServer::NatsServer() : dir_("nomnom-nats"), store_dir_(dir_.path() / "js") {
    for (int attempt = 1;; ++attempt) {
        port_ = free_tcp_port();
        url_ = "nats://127.0.0.1:" + std::to_string(port_);
        try {
            launch();
            return;
        } catch (const std::exception&) {
            // The probed port may have been taken before nats-server bound it.
            if (attempt == kStartAttempts) throw;
        }
    }
}

NatsServer::~NatsServer() {
    try {
        stop();
    } catch (...) {
        // Process's own destructor still SIGKILLs and reaps the server.
    }
}

std::filesystem::path NatsServer::log_file() const {
    return dir_.path() / "nats-server.log";
}

bool NatsServer::running() {
    return process_.running();
}

void NatsServer::stop() {
    if (!process_.running()) return;
    process_.signal(SIGTERM);
    if (!process_.wait_exit(kStopTimeout)) process_.kill9();
}

void NatsServer::restart() {
    stop();
    launch();
}

void NatsServer::kill9() {
    process_.kill9();
}

NatsServer::Frozen::Frozen(Process& process) : process_(process) {
    process_.signal(SIGSTOP);
    // The signal is delivered asynchronously: until the kernel reports the process stopped,
    // it may still answer (and a test relying on the freeze would see a PubAck).
    const std::string stat = "/proc/" + std::to_string(process_.pid()) + "/stat";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in(stat);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const size_t close = text.rfind(')');
        if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T') return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

NatsServer::Frozen::~Frozen() {
    process_.signal(SIGCONT);
}

void NatsServer::launch() {
    std::error_code no_log_yet;
    const std::uintmax_t log_start = std::filesystem::file_size(log_file(), no_log_yet);
    process_.start({nats_server_binary().string(), "-js", "-a", "127.0.0.1", "-p",
                    std::to_string(port_), "-sd", store_dir_.string()},
                   {}, log_file());
    const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_.running()) {
            throw std::runtime_error("nats-server on port " + std::to_string(port_) +
                                     " exited early:\n" + tail_of(log_file()));
        }
        if (logged_ready(log_file(), no_log_yet ? 0 : log_start) && jetstream_answers(url_)) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    process_.kill9();
    throw std::runtime_error("nats-server on port " + std::to_string(port_) +
                             " not ready within 10 s:\n" + tail_of(log_file()));
}

NatsCluster::NatsCluster() : dir_("nomnom-nats-cluster") {
    constexpr size_t kMembers = 3;
    for (size_t i = 0; i < kMembers; ++i) {
        auto member = std::make_unique<Member>();
        member->name = "nats-" + std::to_string(i);
        member->port = free_tcp_port();
        member->cluster_port = free_tcp_port();
        members_.push_back(std::move(member));
    }
    for (const auto& member : members_) {
        std::string routes;
        for (const auto& other : members_) {
            if (other == member) continue;
            routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                      std::to_string(other->cluster_port);
        }
        const auto store = dir_.path() / member->name;
        member->process.start(
            {nats_server_binary().string(), "-js", "-a", "127.0.0.1", "-p",
             std::to_string(member->port), "-sd", store.string(), "--server_name", member->name,
             "--cluster_name", "nomnom-test", "--cluster",
             "nats://127.0.0.1:" + std::to_string(member->cluster_port), "--routes", routes},
            {}, dir_.path() / (member->name + ".log"));
    }
    // JetStream answers once the members elected a metadata leader, which takes a quorum.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (const auto& member : members_) {
        const std::string url = "nats://127.0.0.1:" + std::to_string(member->port);
        const auto log = dir_.path() / (member->name + ".log");
        while (!(logged_ready(log, 0) && jetstream_answers(url))) {
            if (!member->process.running() || std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("nats-server " + member->name +
                                         " of the cluster is not ready:\n" + tail_of(log));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

NatsCluster::~NatsCluster() {
    for (const auto& member : members_) {
        if (!member->process.running()) continue;
        member->process.signal(SIGTERM);
        if (!member->process.wait_exit(kStopTimeout)) member->process.kill9();
    }
}

std::string NatsCluster::urls() const {
    std::string urls;
    for (const auto& member : members_) {
        urls += (urls.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                std::to_string(member->port);
    }
    return urls;
}

size_t NatsCluster::index_of(const std::string& server_name) const {
    for (size_t i = 0; i < members_.size(); ++i) {
        if (members_[i]->name == server_name) return i;
    }
    throw std::runtime_error("no cluster member named '" + server_name + "'");
}

void NatsCluster::kill9(size_t index) {
    members_.at(index)->process.kill9();
}

JetStreamClient::JetStreamClient(const std::string& url) {
    OptionsPtr options = make_options(url);
    check(natsOptions_SetMaxReconnect(options.get(), 600), "natsOptions_SetMaxReconnect");
    check(natsOptions_SetReconnectWait(options.get(), 100), "natsOptions_SetReconnectWait");
    check(natsConnection_Connect(&connection_, options.get()), "connecting to " + url);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = kRequestTimeoutMs;
    js_options.PublishAsync.ErrHandler = &JetStreamClient::on_async_error;
    js_options.PublishAsync.ErrHandlerClosure = this;
    const natsStatus status = natsConnection_JetStream(&js_, connection_, &js_options);
    if (status != NATS_OK) {
        const std::string error = nats_error(status);
        natsConnection_Destroy(connection_);
        throw std::runtime_error("natsConnection_JetStream: " + error);
    }
}

JetStreamClient::~JetStreamClient() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(connection_);
}

void JetStreamClient::ensure_stream(const std::string& name,
                                    const std::vector<std::string>& subjects,
                                    std::int64_t max_msgs) {
    std::vector<const char*> subject_pointers;
    for (const auto& subject : subjects) subject_pointers.push_back(subject.c_str());
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = name.c_str();
    config.Subjects = subject_pointers.data();
    config.SubjectsLen = static_cast<int>(subject_pointers.size());
    config.Storage = js_FileStorage;
    config.MaxMsgs = max_msgs;
    if (max_msgs >= 0) config.Discard = js_DiscardNew;

    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    natsStatus status = js_AddStream(&info, js_, &config, nullptr, &js_error);
    if (status != NATS_OK && js_error == JSStreamNameExistErr) {
        js_error = jsErrCode(0);
        status = js_UpdateStream(&info, js_, &config, nullptr, &js_error);
    }
    jsStreamInfo_Destroy(info);
    check(status, "ensure_stream " + name, js_error);
}

std::uint64_t JetStreamClient::publish(const std::string& subject, std::string_view payload,
                                       const std::optional<std::string>& msg_id) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    if (msg_id) options.MsgId = msg_id->c_str();
    jsPubAck* ack = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_Publish(&ack, js_, subject.c_str(), payload.data(),
                                         static_cast<int>(payload.size()), &options, &js_error);
    const std::uint64_t sequence = ack != nullptr ? ack->Sequence : 0;
    jsPubAck_Destroy(ack);
    check(status, "publish to " + subject, js_error);
    return sequence;
}

void JetStreamClient::publish_many(const std::string& subject,
                                   const std::vector<std::string>& payloads,
                                   std::chrono::milliseconds timeout) {
    {
        std::lock_guard lock(async_mutex_);
        async_failures_ = 0;
        first_async_error_.clear();
    }
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = timeout.count();
    for (const auto& payload : payloads) {
        check(js_PublishAsync(js_, subject.c_str(), payload.data(),
                              static_cast<int>(payload.size()), &options),
              "async publish to " + subject);
    }
    check(js_PublishAsyncComplete(js_, &options),
          "waiting for acks of " + std::to_string(payloads.size()) + " messages to " + subject);
    std::lock_guard lock(async_mutex_);
    if (async_failures_ > 0) {
        throw std::runtime_error(std::to_string(async_failures_) + " of " +
                                 std::to_string(payloads.size()) + " publishes to " + subject +
                                 " failed, first: " + first_async_error_);
    }
}

void JetStreamClient::on_async_error(jsCtx*, jsPubAckErr* error, void* closure) {
    auto* self = static_cast<JetStreamClient*>(closure);
    std::lock_guard lock(self->async_mutex_);
    if (self->async_failures_++ == 0) {
        self->first_async_error_ = natsStatus_GetText(error->Err);
        if (error->ErrText != nullptr && self->first_async_error_ != error->ErrText) {
            self->first_async_error_ += std::string(" (") + error->ErrText + ")";
        }
        if (error->ErrCode != 0) {
            self->first_async_error_ += " [jetstream error " + std::to_string(error->ErrCode) + "]";
        }
    }
}

ConsumerStats JetStreamClient::consumer_info(const std::string& stream,
                                             const std::string& durable) {
    jsConsumerInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status =
        js_GetConsumerInfo(&info, js_, stream.c_str(), durable.c_str(), nullptr, &js_error);
    check(status, "consumer info " + stream + "/" + durable, js_error);
    const ConsumerStats stats = stats_of(*info);
    jsConsumerInfo_Destroy(info);
    return stats;
}

std::vector<ListedConsumer> JetStreamClient::consumers(const std::string& stream) {
    jsConsumerInfoList* list = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_Consumers(&list, js_, stream.c_str(), nullptr, &js_error);
    if (status == NATS_NOT_FOUND) return {};
    check(status, "consumers of " + stream, js_error);
    std::vector<ListedConsumer> listed;
    for (int i = 0; i < list->Count; ++i) {
        const jsConsumerInfo& info = *list->List[i];
        listed.push_back({info.Name,
                          info.Config->FilterSubject != nullptr ? info.Config->FilterSubject : "",
                          stats_of(info)});
    }
    jsConsumerInfoList_Destroy(list);
    return listed;
}

std::uint64_t JetStreamClient::stream_message_count(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    check(js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &js_error), "stream info " + stream,
          js_error);
    const std::uint64_t count = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    return count;
}

std::string JetStreamClient::last_message_data(const std::string& stream,
                                               const std::string& subject) {
    natsMsg* message = nullptr;
    jsErrCode js_error = jsErrCode(0);
    check(js_GetLastMsg(&message, js_, stream.c_str(), subject.c_str(), nullptr, &js_error),
          "last message of " + stream + " on " + subject, js_error);
    std::string data(natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message)));
    natsMsg_Destroy(message);
    return data;
}

std::string JetStreamClient::stream_leader(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    check(js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &js_error), "stream info " + stream,
          js_error);
    std::string leader =
        info->Cluster != nullptr && info->Cluster->Leader != nullptr ? info->Cluster->Leader : "";
    jsStreamInfo_Destroy(info);
    return leader;
}

}  // namespace nomnom::testing
