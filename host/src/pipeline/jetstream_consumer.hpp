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
    // Where a consumer yet to be created starts: 0, at the start of the stream; else at this
    // stream sequence, where the consumers of subjects its plugin no longer lists stood.
    uint64_t start_sequence = 0;
    // The consumer's description on the server: names the plugin that owns it.
    std::string description;
};

// "<durable_prefix>-<plugin>", or the configured durable: the name of a plugin's consumer, and
// the stem of "<durable>-<n>", the names of its others.
std::string plugin_durable(const std::string& plugin, const ConsumerSettings& settings);

// The consumers a plugin with these subjects gets on a stream that has none of them:
// "<durable>" for one subject, "<durable>-1", "-2", ... for several (one consumer per subject).
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

// A consumer of a stream as JetStream lists it.
struct ListedConsumer {
    std::string name;
    std::string subject;  // its filter
    std::string description;
    uint64_t ack_floor = 0;  // the stream sequence up to which what it delivers is all acked
    ConsumerState state;
};

// Every consumer of `stream`; throws NatsError when JetStream does not answer.
std::vector<ListedConsumer> list_consumers(NatsClient& client, const std::string& stream);

// A plugin's consumers on the server (their description names the plugin; untagged ones of an
// older host by their names, "<durable>" or "<durable>-<n>"), each found by its filter subject
// whatever its name, so that a change in the plugin's subjects renames nothing. A subject
// without one gets a free name; it starts at the start of the stream, or, when it shares
// messages with subjects the plugin no longer lists (it replaced them), just after the lowest
// ack floor of their consumers, so that nothing they acked is read again.
struct PlannedConsumer {
    ConsumerSpec spec;
    std::optional<ListedConsumer> existing;  // nullopt: to be created
    std::vector<ListedConsumer> takes_over;  // a new one: where its start_sequence comes from
};
struct ConsumerPlan {
    std::vector<PlannedConsumer> consumers;  // one per subject, in the plugin's order
    std::vector<ListedConsumer> orphans;     // the plugin's consumers of subjects it dropped
    std::vector<ListedConsumer> taken_over;  // the orphans the new consumers start from
};
// `wanted` is plugin_consumers()'s: its names are the ones preferred for new consumers.
ConsumerPlan plan_plugin_consumers(const std::vector<ListedConsumer>& listed,
                                   const std::string& plugin, std::vector<ConsumerSpec> wanted);

// Finds or creates (ensure_consumer) the plugin's consumers as planned, and returns them.
// Throws NatsError when one cannot be read or created.
std::vector<ConsumerSpec> ensure_plugin_consumers(NatsClient& client, const std::string& stream,
                                                  const std::string& plugin,
                                                  const std::vector<std::string>& subjects,
                                                  const ConsumerSettings& settings);

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
