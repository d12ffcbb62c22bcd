#include "pipeline/dead_letter.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <memory>

#include "nomnom/common/timestamp.hpp"

namespace nomnom::host {
namespace {

// Header values are single lines.
std::string one_line(std::string text) {
    for (char& c : text) {
        if (c == '\r' || c == '\n') c = ' ';
    }
    return text;
}

std::string host_name() {
    char name[256] = "";
    ::gethostname(name, sizeof name - 1);
    return name;
}

}  // namespace

const char* dead_letter_class_name(DeadLetterClass kind) {
    switch (kind) {
        case DeadLetterClass::Invalid:
            return "invalid";
        case DeadLetterClass::Data:
            return "data";
        case DeadLetterClass::Crashed:
            return "crashed";
        case DeadLetterClass::Timeout:
            return "timeout";
        default:
            return "retries_exhausted";
    }
}

JetStreamDeadLetterSink::JetStreamDeadLetterSink(NatsClient& client, DlqConfig config)
    : client_(client),
      config_(std::move(config)),
      host_id_(config_.host_id.empty() ? host_name() : config_.host_id) {}

void JetStreamDeadLetterSink::ensure_stream() {
    if (!config_.create) {
        client_.require_stream(config_.stream);
        return;
    }
    StreamConfig stream;
    stream.name = config_.stream;
    stream.subjects = {config_.subject_prefix + ".>"};
    stream.storage = config_.storage;
    stream.max_age_s = config_.max_age_s;
    stream.replicas = config_.replicas;
    client_.ensure_stream(stream);
}

void JetStreamDeadLetterSink::dead_letter(const IncomingMessage& message,
                                          const DeadLetter& letter) {
    const std::string subject = config_.subject_prefix + "." + letter.plugin;
    natsMsg* raw = message.message.get();
    natsMsg* created = nullptr;
    check_nats(natsMsg_Create(&created, subject.c_str(), nullptr, natsMsg_GetData(raw),
                              natsMsg_GetDataLength(raw)),
               "creating dead letter");
    const NatsMsgPtr out(created);

    for (const nomnom_header& header : message.headers) {
        const std::string key(header.key.data, header.key.len);
        if (key.starts_with("Nats-")) continue;
        natsMsgHeader_Add(created, key.c_str(),
                          std::string(header.value.data, header.value.len).c_str());
    }
    const auto set = [&](const char* key, const std::string& value) {
        check_nats(natsMsgHeader_Set(created, key, value.c_str()), "dead-letter header");
    };
    set(dlq_header::kSubject, message.subject);
    set(dlq_header::kStream, message.stream);
    set(dlq_header::kStreamSequence, std::to_string(message.stream_sequence));
    set(dlq_header::kDeliveryCount, std::to_string(message.delivery_count));
    set(dlq_header::kMessageId, message.message_id);
    set(dlq_header::kPlugin, letter.plugin);
    set(dlq_header::kPluginVersion, letter.plugin_version);
    set(dlq_header::kErrorClass, dead_letter_class_name(letter.kind));
    set(dlq_header::kError, one_line(letter.reason));
    set(dlq_header::kHost, host_id_);
    set(dlq_header::kTimestamp, utc_timestamp_now());

    const std::string id = message.stream + ":" + std::to_string(message.stream_sequence);
    const PublishOutcome outcome =
        client_.publish_awaiting_ack(created, {id.c_str(), config_.stream.c_str()});
    check_nats(outcome.status, "publishing dead letter to " + subject, outcome.js_error);

    const LogFields fields = message.log_fields(letter.plugin);
    const LogScope scope(fields);
    spdlog::error("dead-lettered ({}) to {}: {}", dead_letter_class_name(letter.kind), subject,
                  letter.reason);
}

}  // namespace nomnom::host
