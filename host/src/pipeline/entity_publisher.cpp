#include "pipeline/entity_publisher.hpp"

#include <unordered_map>

#include "plugins/row_json.hpp"

namespace nomnom::host {
namespace {

// The publishers alive, by id. cnats calls the error handler on its own thread, possibly after
// forget_pending() or jsCtx_Destroy() returned: the handler gets an id and finds nothing rather
// than a freed publisher. Its mutex also guards every publisher's error state.
struct Registry {
    std::mutex mutex;
    std::unordered_map<uintptr_t, EntityPublisher*> live;
    uintptr_t next = 0;
};

Registry& registry() {
    // Never destroyed: a handler may still run while the process exits.
    static auto* instance = new Registry();
    return *instance;
}

}  // namespace

EntityPublisher::EntityPublisher(NatsClient& nats, const OutputsConfig& config, std::string plugin)
    : config_(config), plugin_(std::move(plugin)) {
    {
        Registry& live = registry();
        const std::lock_guard lock(live.mutex);
        id_ = ++live.next;
        live.live.emplace(id_, this);
    }
    jsOptions options;
    jsOptions_Init(&options);
    options.PublishAsync.ErrHandler = &EntityPublisher::on_error;
    options.PublishAsync.ErrHandlerClosure = reinterpret_cast<void*>(id_);
    // Bounds what one worker has in flight; a larger batch waits for PubAcks, as long as the
    // batch may wait for all of them.
    options.PublishAsync.MaxPending = 4096;
    options.PublishAsync.StallWait = config_.publish_timeout_ms;
    const natsStatus status = natsConnection_JetStream(&jetstream_, nats.connection(), &options);
    if (status != NATS_OK) unregister();
    check_nats(status, "creating the JetStream context for entity outputs");
}

EntityPublisher::~EntityPublisher() {
    unregister();
    forget_pending();
    jsCtx_Destroy(jetstream_);
}

void EntityPublisher::unregister() {
    Registry& live = registry();
    const std::lock_guard lock(live.mutex);
    live.live.erase(id_);
}

void EntityPublisher::on_error(jsCtx*, jsPubAckErr* error, void* closure) {
    Registry& live = registry();
    const std::lock_guard lock(live.mutex);
    const auto found = live.live.find(reinterpret_cast<uintptr_t>(closure));
    if (found == live.live.end()) return;
    // An error cnats reports late for an earlier batch counts against this one: a needless
    // retry, never a row lost.
    EntityPublisher* self = found->second;
    if (self->failures_++ > 0) return;
    const char* subject = natsMsg_GetSubject(error->Msg);
    self->first_error_ =
        std::string("publishing to ") + (subject ? subject : "?") + ": " +
        (error->ErrText != nullptr && *error->ErrText != '\0' ? error->ErrText
                                                              : natsStatus_GetText(error->Err));
    if (error->ErrCode != 0) self->first_error_ += " (" + std::to_string(error->ErrCode) + ")";
}

void EntityPublisher::forget_pending() {
    // cnats 3.4 dereferences a context's pending list before anything was published through it.
    if (!awaiting_) return;
    awaiting_ = false;
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, jetstream_) == NATS_OK) {
        natsMsgList_Destroy(&pending);
    }
}

void EntityPublisher::publish(const RowBatch& rows, const TableOutputs& outputs,
                              std::span<const IncomingMessage* const> sources) {
    {
        const std::lock_guard lock(registry().mutex);
        first_error_.clear();
        failures_ = 0;
    }
    uint64_t sent = 0;
    try {
        sent = send(rows, outputs, sources);
    } catch (...) {
        forget_pending();
        throw;
    }
    if (sent == 0) return;
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = config_.publish_timeout_ms;
    const natsStatus completed = js_PublishAsyncComplete(jetstream_, &wait);
    if (completed != NATS_OK) {
        forget_pending();
        throw NatsError("entity outputs: " + std::to_string(sent) +
                        " rows published, not all stored within publish_timeout_ms (" +
                        std::to_string(config_.publish_timeout_ms) +
                        " ms): " + natsStatus_GetText(completed));
    }
    awaiting_ = false;
    const std::lock_guard lock(registry().mutex);
    if (failures_ > 0) {
        throw NatsError("entity outputs: " + std::to_string(failures_) + " of " +
                        std::to_string(sent) + " rows not stored; first: " + first_error_);
    }
}

uint64_t EntityPublisher::send(const RowBatch& rows, const TableOutputs& outputs,
                               std::span<const IncomingMessage* const> sources) {
    uint64_t sent = 0;
    std::string subject;
    std::string msg_id;
    std::string payload;
    for (size_t t = 0; t < rows.tables().size(); ++t) {
        if (!outputs[t].publish) continue;
        const TableRows& table = rows.tables()[t];
        subject = config_.subject_prefix + "." + table.table().name;
        uint32_t previous_message = UINT32_MAX;
        uint64_t index_in_message = 0;
        for (size_t r = 0; r < table.row_count(); ++r) {
            // A message's rows of a table are contiguous: they are written during its parse.
            const uint32_t message_index = table.message_of(r);
            index_in_message = message_index == previous_message ? index_in_message + 1 : 0;
            previous_message = message_index;
            const IncomingMessage& source = *sources[message_index];
            payload.clear();
            append_row_json(payload, table, r);
            natsMsg* created = nullptr;
            check_nats(natsMsg_Create(&created, subject.c_str(), nullptr, payload.data(),
                                      static_cast<int>(payload.size())),
                       "entity output message");
            NatsMsgPtr message(created);
            const std::string sequence = std::to_string(source.stream_sequence);
            for (const auto& [key, value] :
                 {std::pair<const char*, const std::string&>{"Nomnom-Plugin", plugin_},
                  {"Nomnom-Source-Subject", source.subject},
                  {"Nomnom-Source-Stream", source.stream},
                  {"Nomnom-Source-Seq", sequence}}) {
                check_nats(natsMsgHeader_Set(created, key, value.c_str()), "entity output header");
            }
            msg_id = source.stream + ":" + sequence + ":" + plugin_ + ":" + table.table().name +
                     ":" + std::to_string(index_in_message);
            jsPubOptions options;
            jsPubOptions_Init(&options);
            options.MsgId = msg_id.c_str();
            options.ExpectStream = config_.stream.name.c_str();
            // On success the library owns the message (and clears the pointer).
            natsMsg* handed = message.release();
            const natsStatus status = js_PublishMsgAsync(jetstream_, &handed, &options);
            message.reset(handed);
            check_nats(status, "publishing to " + subject);
            awaiting_ = true;
            ++sent;
        }
    }
    return sent;
}

}  // namespace nomnom::host
