#pragma once

#include <string>
#include <vector>

#include "config.hpp"
#include "nats_client.hpp"

namespace nomnom {

struct ConsumerSpec {
    std::string stream;
    std::string durable;
    std::string subject;
    ConsumerSettings settings;
};

// Creates the durable pull consumer when it does not exist, without a server-side delivery
// limit (the host enforces max_deliver). An existing consumer gets its filter subject and an
// unlimited MaxDeliver; its other settings are kept (another host may own them), with a warning
// for every one that differs. Throws when the filter subject cannot be changed.
void ensure_consumer(NatsClient& client, const ConsumerSpec& spec);

// One worker's pull subscription bound to the shared durable consumer. Several workers (and
// several hosts) bind to the same consumer; JetStream spreads the messages between them.
class PullSubscription {
  public:
    PullSubscription(NatsClient& client, const ConsumerSpec& spec);
    ~PullSubscription();
    PullSubscription(const PullSubscription&) = delete;
    PullSubscription& operator=(const PullSubscription&) = delete;

    // Up to `batch` messages, waiting at most `max_wait_ms`; empty when none arrived.
    std::vector<NatsMsgPtr> fetch(int batch, int64_t max_wait_ms);

  private:
    natsSubscription* subscription_ = nullptr;
};

}  // namespace nomnom
