#include "pipeline/incoming_message.hpp"

#include "pipeline/envelope.hpp"

namespace nomnom::host {
namespace {

void read_metadata(IncomingMessage& in) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, in.message.get()) != NATS_OK) return;
    in.stream_sequence = meta->Sequence.Stream;
    in.delivery_count = meta->NumDelivered;
    in.stored_at_ns = meta->Timestamp;
    in.stream = meta->Stream ? meta->Stream : "";
    jsMsgMetaData_Destroy(meta);
}

void read_headers(IncomingMessage& in) {
    for_each_header(in.message.get(), [&](const char* key, const char* value) {
        in.header_storage.emplace_back(key);
        in.header_storage.emplace_back(value);
    });
    for (size_t i = 0; i + 1 < in.header_storage.size(); i += 2) {
        const std::string& key = in.header_storage[i];
        const std::string& value = in.header_storage[i + 1];
        in.headers.push_back({{key.data(), key.size()}, {value.data(), value.size()}});
        if (key == "Nats-Msg-Id" && in.message_id.empty()) in.message_id = value;
    }
}

void unwrap_envelope(IncomingMessage& in) {
    Envelope envelope = parse_envelope(in.payload);
    if (!envelope.error.empty()) {
        in.decode_error = std::move(envelope.error);
        return;
    }
    in.envelope_body = std::move(envelope.body);
    in.payload = in.envelope_body;
    if (!envelope.message_id.empty()) in.message_id = std::move(envelope.message_id);
    if (!envelope.entity_type.empty()) in.entity_type = std::move(envelope.entity_type);
}

}  // namespace

nomnom_message IncomingMessage::view() const {
    nomnom_message view{};
    view.struct_size = sizeof(nomnom_message);
    view.payload = {payload.data(), payload.size()};
    view.subject = {subject.data(), subject.size()};
    view.message_id = {message_id.data(), message_id.size()};
    view.entity_type = {entity_type.data(), entity_type.size()};
    view.stream_sequence = stream_sequence;
    view.delivery_count = delivery_count;
    view.headers = headers.data();
    view.header_count = static_cast<uint32_t>(headers.size());
    return view;
}

std::unique_ptr<IncomingMessage> decode_message(NatsMsgPtr&& message, PayloadFormat format,
                                                const std::optional<StoredOrigin>& origin) {
    auto owned = std::make_unique<IncomingMessage>();
    IncomingMessage& in = *owned;
    in.message = std::move(message);
    try {
        natsMsg* raw = in.message.get();
        in.subject = natsMsg_GetSubject(raw);
        const char* data = natsMsg_GetData(raw);
        in.payload =
            std::string_view(data ? data : "", static_cast<size_t>(natsMsg_GetDataLength(raw)));
        if (origin) {
            in.stream = origin->stream;
            in.stream_sequence = origin->stream_sequence;
            in.delivery_count = origin->delivery_count;
        } else {
            read_metadata(in);
        }
        if (format == PayloadFormat::Envelope) unwrap_envelope(in);
        read_headers(in);
        if (in.message_id.empty()) {
            in.message_id = in.stream + ":" + std::to_string(in.stream_sequence);
        }
    } catch (...) {
        message = std::move(in.message);
        throw;
    }
    return owned;
}

LogFields IncomingMessage::log_fields(std::string_view plugin) const {
    LogFields fields;
    fields.plugin = plugin;
    fields.subject = subject;
    fields.stream_seq = stream_sequence;
    fields.delivery = delivery_count;
    fields.message_id = message_id;
    return fields;
}

}  // namespace nomnom::host
