#include "jetstream_publisher.hpp"

#include "nomnom/common/json_escape.hpp"
#include "nomnom/common/status_store.hpp"

namespace nomnom::api {

std::string make_envelope(const OutgoingMessage& message) {
    std::string out;
    out.reserve(message.payload.size() + message.payload.size() / 8 + 200);
    out += "{\"message_id\":\"";
    append_json_escaped(out, message.message_id);
    out += "\",\"body\":\"";
    append_json_escaped(out, message.payload);
    out += "\",\"entity_type\":";
    if (message.entity_type) {
        out += '"';
        append_json_escaped(out, *message.entity_type);
        out += '"';
    } else {
        out += "null";
    }
    out += ",\"received_at\":\"";
    out += message.received_at;
    out += "\",\"retry_count\":0,\"source\":null}";
    return out;
}

JetStreamPublisher::JetStreamPublisher(NatsClient& nats, const IngestSettings& settings,
                                       std::string stream)
    : nats_(nats),
      format_(settings.format),
      timeout_ms_(settings.publish_timeout_ms),
      stream_(std::move(stream)),
      window_(nats, settings.max_pending_acks) {}

NatsMsgPtr JetStreamPublisher::build(const OutgoingMessage& message) const {
    std::string envelope;
    std::string_view data = message.payload;
    if (format_ == PublishFormat::Envelope) {
        envelope = make_envelope(message);
        data = envelope;
    }
    natsMsg* created = nullptr;
    if (natsMsg_Create(&created, message.subject.c_str(), nullptr, data.data(),
                       static_cast<int>(data.size())) != NATS_OK) {
        return nullptr;
    }
    NatsMsgPtr owned(created);
    natsMsgHeader_Set(created, kIngestIdHeader, message.message_id.c_str());
    if (message.entity_type) {
        natsMsgHeader_Set(created, kEntityTypeHeader, message.entity_type->c_str());
    }
    natsMsgHeader_Set(created, kReceivedAtHeader, message.received_at.c_str());
    if (format_ == PublishFormat::Raw) {
        natsMsgHeader_Set(created, "Content-Type", "application/json");
    }
    return owned;
}

SentMessage JetStreamPublisher::send(const OutgoingMessage& message, NatsMsgPtr built,
                                     PubAckWindow::Followed followed) {
    SentMessage sent;
    sent.subject = message.subject;
    sent.sent_at = std::chrono::steady_clock::now();
    // While disconnected cnats would buffer the publish and the request would only time out:
    // answer at once instead.
    if (!nats_.connected()) {
        sent.refused.error = "not connected to NATS";
        return sent;
    }
    sent.data_length = natsMsg_GetDataLength(built.get());
    sent.pending.emplace(window_.send(
        std::move(built), {message.message_id.c_str(), stream_.c_str(), timeout_ms_}, followed));
    return sent;
}

bool SentMessage::unavailable_at_once() const {
    if (!pending) return true;
    const std::optional<PubAckWindow::Outcome> unsent = pending->refused();
    return unsent && unsent->status != NATS_MAX_PAYLOAD;
}

PublishResult JetStreamPublisher::result_of(SentMessage& sent) {
    if (!sent.pending) return sent.refused;
    const PubAckWindow::Outcome outcome = sent.pending->wait();
    sent.answered_at = outcome.answered_at;
    if (outcome.status == NATS_MAX_PAYLOAD) {
        return {PublishResult::Kind::TooLarge, 0,
                "message of " + std::to_string(sent.data_length) +
                    " bytes plus headers exceeds the NATS server's max_payload of " +
                    std::to_string(natsConnection_GetMaxPayload(nats_.connection())) + " bytes"};
    }
    if (outcome.window_full) {
        return {PublishResult::Kind::Unavailable, 0,
                "no room among the " + std::to_string(window_.max_pending()) +
                    " publishes awaiting their PubAck (ingest.max_pending_acks) within "
                    "ingest.publish_timeout_ms (" +
                    std::to_string(timeout_ms_) + " ms): JetStream is not keeping up"};
    }
    if (outcome.status != NATS_OK) {
        std::string error = std::string("JetStream publish to ") + sent.subject +
                            " failed: " + natsStatus_GetText(outcome.status);
        if (outcome.js_error != 0) {
            error += " [jetstream error " + std::to_string(outcome.js_error) + "]";
        }
        if (outcome.status == NATS_NO_RESPONDERS) error += " (no stream captures this subject)";
        return {PublishResult::Kind::Unavailable, 0, error};
    }
    return {outcome.duplicate ? PublishResult::Kind::Duplicate : PublishResult::Kind::Stored,
            outcome.sequence, ""};
}

std::string JetStreamPublisher::received_at_of(uint64_t sequence) const {
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = timeout_ms_;
    natsMsg* stored = nullptr;
    jsErrCode js_error = jsErrCode(0);
    if (js_GetMsg(&stored, nats_.jetstream(), stream_.c_str(), sequence, &options, &js_error) !=
        NATS_OK) {
        return "";
    }
    const NatsMsgPtr owned(stored);
    const char* value = nullptr;
    if (natsMsgHeader_Get(stored, kReceivedAtHeader, &value) != NATS_OK) return "";
    return value;
}

}  // namespace nomnom::api
