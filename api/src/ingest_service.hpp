#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api_config.hpp"
#include "api_metrics.hpp"
#include "jetstream_publisher.hpp"
#include "nomnom/common/nats_client.hpp"
#include "nomnom/common/status_store.hpp"
#include "validator_pool.hpp"

namespace nomnom::api {

// An HTTP answer: status code and JSON body; `retry_after` adds Retry-After (503s).
struct Reply {
    int code = 200;
    std::string body;
    bool retry_after = false;
    const char* content_type = "application/json";
};

// {"error": "<error>"}: the body of every error answer.
std::string error_json(const std::string& error);

// What the routes do, independent of the HTTP server: validate, publish with PubAck, record
// and look up statuses.
class IngestService {
  public:
    class MessageSent;

    // Binds (or creates) the status bucket when status.enabled; throws NatsError. A message is
    // published only when `validators` (while enabled) do not refuse it.
    IngestService(const ApiConfig& config, NatsClient& nats, ApiMetrics& metrics,
                  ValidatorPool& validators);

    // POST /ingest/message[/{entity}], in two halves, so that a request need not hold a thread
    // while its PubAck is awaited: send_message validates and publishes, finish_message waits
    // for the PubAck and answers. `path_entity` is "" without one; `idempotency_key` is the
    // Idempotency-Key header, "" when absent.
    std::unique_ptr<MessageSent> send_message(std::string body, std::string_view path_entity,
                                              std::string_view idempotency_key);
    // Calls `answered`, on the thread the PubAck comes on, once finish_message would not wait;
    // false, without calling it, when it would not wait now.
    static bool on_answer(MessageSent& sent, std::function<void()> answered);
    Reply finish_message(MessageSent& sent);
    // POST /ingest/batch: one message per non-empty NDJSON line.
    Reply ingest_batch(std::string_view body, std::string_view idempotency_key);
    // GET /ingest/status/{message_id}
    Reply status(std::string_view message_id) const;
    // GET /ready: NATS connected, and the stream exists and captures ingest.subject.
    Reply ready() const;

    int64_t retry_after_s() const { return config_.ingest.retry_after_s; }
    // "accepted" statuses that could not be written (the messages themselves are stored).
    uint64_t status_write_failures() const { return statuses_ ? statuses_->write_failures() : 0; }

  private:
    struct Outcome {
        int code;                // 202, 400, 413 or 503
        std::string message_id;  // set when code is 202
        std::string error;       // set otherwise
        std::string timestamp;
        bool duplicate = false;
        uint64_t stream_seq = 0;  // for a duplicate: of the message first stored
    };
    // One message on its way: refused (`refused.code` set), or sent and awaiting its PubAck.
    struct InFlight {
        Outcome refused{0, "", "", ""};
        OutgoingMessage message;
        SentMessage sent;

        // JetStream (or a validator) could not be asked at all.
        bool unavailable_at_once() const {
            return refused.code == 503 || (refused.code == 0 && sent.unavailable_at_once());
        }
    };
    // Validates one message and sends it. `id_hint` (from Idempotency-Key) wins over a
    // "message_id" field of the body.
    InFlight send_one(std::string_view payload, std::string_view path_entity,
                      const std::string& id_hint, const char* id_source,
                      PubAckWindow::Followed followed);
    // Waits for its PubAck: 202 only once JetStream stored it.
    Outcome finish_one(InFlight& message);
    void record_accepted(const OutgoingMessage& message, uint64_t sequence);

    const ApiConfig& config_;
    NatsClient& nats_;
    ApiMetrics& metrics_;
    ValidatorPool& validators_;
    JetStreamPublisher publisher_;
    std::unique_ptr<StatusStore> statuses_;
};

// A message of POST /ingest/message on its way: refused, or sent and awaiting its PubAck.
class IngestService::MessageSent {
    friend class IngestService;
    std::string body;
    InFlight flight;  // its payload points into body
};

}  // namespace nomnom::api
