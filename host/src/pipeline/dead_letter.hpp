#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "nomnom/common/nats_client.hpp"
#include "pipeline/incoming_message.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

// Crashed: the process died (or, with process isolation, was killed over max_memory_mb) while
// the plugin had it; Timeout: the plugin did not return from it within parse_timeout_ms.
enum class DeadLetterClass { Invalid, Data, RetriesExhausted, Crashed, Timeout };

const char* dead_letter_class_name(DeadLetterClass kind);

// Headers of a dead letter; the payload is the original message's bytes, unchanged. Headers of
// the original message travel along, except the Nats-* ones (Nats-Msg-Id becomes
// Nomnom-Message-Id), so a replay restores them.
namespace dlq_header {
inline constexpr const char* kSubject = "Nomnom-Subject";
inline constexpr const char* kStream = "Nomnom-Stream";
inline constexpr const char* kStreamSequence = "Nomnom-Stream-Seq";
inline constexpr const char* kDeliveryCount = "Nomnom-Delivery-Count";
inline constexpr const char* kMessageId = "Nomnom-Message-Id";
inline constexpr const char* kPlugin = "Nomnom-Plugin";
inline constexpr const char* kPluginVersion = "Nomnom-Plugin-Version";
inline constexpr const char* kErrorClass = "Nomnom-Error-Class";
inline constexpr const char* kError = "Nomnom-Error";
inline constexpr const char* kHost = "Nomnom-Host";
inline constexpr const char* kTimestamp = "Nomnom-Timestamp";
// How often the message was replayed out of the dead-letter queue; guards against loops.
inline constexpr const char* kReplayCount = "Nomnom-Replay-Count";
// Set to kPayloadInStream on a letter that would not fit in the server's max_payload with the
// payload: the payload and the original's headers are read from Nomnom-Stream at
// Nomnom-Stream-Seq instead.
inline constexpr const char* kPayload = "Nomnom-Payload";
inline constexpr const char* kPayloadInStream = "in-stream";
}  // namespace dlq_header

struct DeadLetter {
    std::string plugin;
    std::string plugin_version;
    DeadLetterClass kind;
    std::string reason;
};

// Where messages that will never be persisted go, with the reason. The caller terminates the
// original only after dead_letter() returned; when it throws, the original is nak'ed instead,
// so nothing is ever lost.
class DeadLetterSink {
  public:
    virtual ~DeadLetterSink() = default;
    virtual void dead_letter(const IncomingMessage& message, const DeadLetter& letter) = 0;
};

// The dead-letter stream: one subject per plugin (<subject_prefix>.<plugin>), published with
// Nats-Msg-Id = <stream>:<sequence> of the original so a repeated dead-lettering is stored once,
// and the PubAck awaited. A letter that would exceed the server's max_payload points at the
// original instead of copying it (see dlq_header::kPayload).
class JetStreamDeadLetterSink final : public DeadLetterSink {
  public:
    JetStreamDeadLetterSink(NatsClient& client, DlqConfig config);

    // Creates or updates the dead-letter stream (dlq.create), or checks that it exists.
    void ensure_stream();
    void dead_letter(const IncomingMessage& message, const DeadLetter& letter) override;

  private:
    NatsMsgPtr compose(const IncomingMessage& message, const DeadLetter& letter,
                       bool with_payload) const;
    struct Keeping {
        bool limits = false;  // limits retention: terminating a message does not remove it
        int64_t max_age_s = 0;
        int64_t max_msgs_per_subject = 0;
    };
    // How `stream` keeps its messages, read once.
    Keeping keeping_of(const std::string& stream);
    // How `stream` keeps a terminated message, for the log; throws when it does not.
    std::string where_kept(const std::string& stream);

    NatsClient& client_;
    DlqConfig config_;
    std::string host_id_;
    std::mutex retention_mutex_;
    std::map<std::string, Keeping> kept_;  // per stream, read once
};

}  // namespace nomnom::host
