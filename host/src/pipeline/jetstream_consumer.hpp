#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nomnom/common/nats_client.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

struct ConsumerSpec {
    std::string stream;
    std::string durable;
    std::string subject;
    ConsumerSettings settings;
};

// The durable consumers of a plugin: "<durable_prefix>-<plugin>" (or the configured durable),
// with "-1", "-2", ... appended when it consumes several subjects (one consumer per subject).
std::vector<ConsumerSpec> plugin_consumers(const std::string& stream, const std::string& plugin,
                                           const std::vector<std::string>& subjects,
                                           const ConsumerSettings& settings);

// A durable consumer as JetStream reports it.
struct ConsumerState {
    uint64_t pending = 0;     // in the stream, not yet delivered: the lag
    int64_t ack_pending = 0;  // delivered, not yet acked
    int64_t redelivered = 0;  // delivered more than once, not yet acked
    int64_t waiting = 0;      // pull requests waiting: roughly, idle workers
    uint64_t delivered_stream_seq = 0;
    int64_t last_delivered_ns = 0;  // UTC nanoseconds since the epoch; 0: never
};

// nullopt when the consumer does not exist; throws NatsError when JetStream does not answer.
std::optional<ConsumerState> read_consumer_state(NatsClient& client, const std::string& stream,
                                                 const std::string& durable);

// Creates the durable pull consumer when it does not exist, without a server-side delivery
// limit (the host enforces max_deliver). An existing consumer gets its filter subject and an
// unlimited MaxDeliver; its other settings are kept (another host may own them), with a warning
// for every one that differs, and `spec.settings` takes the server's ack_wait. Throws when the
// filter subject cannot be changed.
void ensure_consumer(NatsClient& client, ConsumerSpec& spec);

// The byte bound of one fetch: `configured` (consumer.fetch_max_bytes), but never below what the
// largest message the server accepts takes on the wire, since JetStream answers a pull whose
// next message exceeds its max_bytes with an error instead of the message, for good.
int64_t fetch_byte_bound(int64_t configured, int64_t server_max_payload);

// One worker's pull subscription bound to the shared durable consumer. Several workers (and
// several hosts) bind to the same consumer; JetStream spreads the messages between them.
class PullSubscription {
  public:
    PullSubscription(NatsClient& client, const ConsumerSpec& spec);
    ~PullSubscription();
    PullSubscription(const PullSubscription&) = delete;
    PullSubscription& operator=(const PullSubscription&) = delete;

    // Up to `batch` messages and about `max_bytes` (see fetch_byte_bound), waiting at most
    // `max_wait_ms`; empty when none arrived.
    std::vector<NatsMsgPtr> fetch(int batch, int64_t max_bytes, int64_t max_wait_ms);

  private:
    NatsClient& client_;
    natsSubscription* subscription_ = nullptr;
};

}  // namespace nomnom::host
