#include "pipeline/jetstream_consumer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace nomnom::host {
namespace {

constexpr int64_t kNanosPerMilli = 1000000;

void warn_if_different(const ConsumerSpec& spec, const char* setting, int64_t existing,
                       int64_t wanted) {
    if (existing != wanted) {
        spdlog::warn(
            "consumer {} on stream {}: existing {} is {}, worker.toml asks for {}; keeping the "
            "existing value (delete the consumer to apply the new one)",
            spec.durable, spec.stream, setting, existing, wanted);
    }
}

// No server-side delivery limit: a server that stops redelivering at its MaxDeliver drops a
// message nak'ed at its last delivery (dead-letter publish failed, FATAL plugin, host crash)
// without a trace. The host enforces max_deliver itself, dead-lettering instead.
constexpr int64_t kUnlimitedDeliveries = -1;

// Brings an existing consumer's server-side MaxDeliver and filter subject in line; keeps the
// other settings (another host may own them), with a warning for each that differs. Throws when
// the filter subject cannot be changed: the plugin could never bind to the consumer.
void update_existing(NatsClient& client, ConsumerSpec& spec, jsConsumerInfo* info) {
    std::unique_ptr<jsConsumerInfo, decltype(&jsConsumerInfo_Destroy)> owned(
        info, jsConsumerInfo_Destroy);
    ConsumerSettings& settings = spec.settings;
    jsConsumerConfig config = *info->Config;
    warn_if_different(spec, "ack_wait_ms", config.AckWait / kNanosPerMilli, settings.ack_wait_ms);
    // The server redelivers after its own ack_wait: keep-alives follow that one.
    settings.ack_wait_ms = config.AckWait / kNanosPerMilli;
    warn_if_different(spec, "max_ack_pending", config.MaxAckPending, settings.max_ack_pending);
    const std::string filter = config.FilterSubject ? config.FilterSubject : "";
    const bool limited = config.MaxDeliver != kUnlimitedDeliveries;
    if (filter == spec.subject && !limited) return;

    const int64_t old_max_deliver = config.MaxDeliver;
    config.MaxDeliver = kUnlimitedDeliveries;
    config.FilterSubject = spec.subject.c_str();
    jsConsumerInfo* updated = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_UpdateConsumer(&updated, client.jetstream(), spec.stream.c_str(),
                                                &config, nullptr, &js_error);
    jsConsumerInfo_Destroy(updated);
    if (status == NATS_OK) {
        if (filter != spec.subject) {
            spdlog::info("consumer {} on stream {}: filter subject '{}' -> '{}'", spec.durable,
                         spec.stream, filter, spec.subject);
        }
        if (limited) {
            spdlog::info(
                "consumer {} on stream {}: server-side MaxDeliver {} -> unlimited (the host "
                "enforces max_deliver = {} and dead-letters instead)",
                spec.durable, spec.stream, old_max_deliver, settings.max_deliver);
        }
        return;
    }
    if (filter != spec.subject) {
        check_nats(status,
                   "consumer " + spec.durable + " on stream " + spec.stream + " filters '" +
                       filter + "' and could not be changed to '" + spec.subject +
                       "' (delete the consumer to apply it)",
                   js_error);
    }
    spdlog::warn(
        "consumer {} on stream {}: could not lift its server-side MaxDeliver {} ({}); a message "
        "nak'ed at delivery {} (failed dead-letter publish, FATAL plugin, crash) is dropped by "
        "the server: delete the consumer to recreate it without the limit",
        spec.durable, spec.stream, old_max_deliver, natsStatus_GetText(status), old_max_deliver);
}

}  // namespace

std::vector<ConsumerSpec> plugin_consumers(const std::string& stream, const std::string& plugin,
                                           const std::vector<std::string>& subjects,
                                           const ConsumerSettings& settings) {
    const std::string durable =
        settings.durable.empty() ? settings.durable_prefix + "-" + plugin : settings.durable;
    std::vector<ConsumerSpec> specs;
    for (size_t i = 0; i < subjects.size(); ++i) {
        specs.push_back({stream,
                         subjects.size() == 1 ? durable : durable + "-" + std::to_string(i + 1),
                         subjects[i], settings});
    }
    return specs;
}

std::optional<ConsumerState> read_consumer_state(NatsClient& client, const std::string& stream,
                                                 const std::string& durable) {
    jsConsumerInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_GetConsumerInfo(&info, client.jetstream(), stream.c_str(),
                                                 durable.c_str(), nullptr, &js_error);
    if (status == NATS_NOT_FOUND) return std::nullopt;
    check_nats(status, "consumer " + durable + " on stream " + stream, js_error);
    std::unique_ptr<jsConsumerInfo, decltype(&jsConsumerInfo_Destroy)> owned(
        info, jsConsumerInfo_Destroy);
    return ConsumerState{info->NumPending, info->NumAckPending,    info->NumRedelivered,
                         info->NumWaiting, info->Delivered.Stream, info->Delivered.Last};
}

void ensure_consumer(NatsClient& client, ConsumerSpec& spec) {
    const ConsumerSettings& settings = spec.settings;
    jsConsumerInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    natsStatus status = js_GetConsumerInfo(&info, client.jetstream(), spec.stream.c_str(),
                                           spec.durable.c_str(), nullptr, &js_error);
    if (status == NATS_OK) {
        update_existing(client, spec, info);
        return;
    }
    if (status != NATS_NOT_FOUND) {
        check_nats(status, "reading consumer " + spec.durable, js_error);
    }
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = spec.durable.c_str();
    config.AckPolicy = js_AckExplicit;
    config.DeliverPolicy = js_DeliverAll;
    config.AckWait = settings.ack_wait_ms * kNanosPerMilli;
    config.MaxDeliver = kUnlimitedDeliveries;
    config.MaxAckPending = settings.max_ack_pending;
    config.FilterSubject = spec.subject.c_str();
    status =
        js_AddConsumer(&info, client.jetstream(), spec.stream.c_str(), &config, nullptr, &js_error);
    check_nats(status, "creating consumer " + spec.durable + " on stream " + spec.stream, js_error);
    jsConsumerInfo_Destroy(info);
    spdlog::info("created durable consumer {} on stream {} filtering {}", spec.durable, spec.stream,
                 spec.subject);
}

int64_t fetch_byte_bound(int64_t configured, int64_t server_max_payload) {
    // A delivered message also carries its subject and the ack reply subject, both at most a
    // few hundred bytes.
    constexpr int64_t kDeliveryOverhead = 64 * 1024;
    return std::max(configured, server_max_payload + kDeliveryOverhead);
}

PullSubscription::PullSubscription(NatsClient& client, const ConsumerSpec& spec) : client_(client) {
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = spec.stream.c_str();
    options.Consumer = spec.durable.c_str();
    options.ManualAck = true;
    jsErrCode js_error = jsErrCode(0);
    check_nats(js_PullSubscribe(&subscription_, client.jetstream(), spec.subject.c_str(),
                                spec.durable.c_str(), nullptr, &options, &js_error),
               "binding to consumer " + spec.durable, js_error);
}

PullSubscription::~PullSubscription() {
    // Unsubscribing would delete a durable consumer created by this subscription; binding to
    // an existing one only needs the subscription destroyed.
    natsSubscription_Destroy(subscription_);
}

// Asks without waiting first, as natsSubscription_Fetch does, so a backlog comes in full
// batches; with nothing there it waits, and returns as soon as the first message arrives
// (measured with cnats 3.4.1 against nats-server 2.9: one message every 50 ms, a fetch of 1000
// waiting 500 ms returned each after 50 ms), so a trickle is written as it comes rather than
// after max_wait_ms. The byte bound keeps a batch of large messages from holding batch_size of
// them (each held several times over while it is decoded and parsed).
std::vector<NatsMsgPtr> PullSubscription::fetch(int batch, int64_t max_bytes, int64_t max_wait_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_wait_ms);
    const int64_t byte_bound =
        fetch_byte_bound(max_bytes, natsConnection_GetMaxPayload(client_.connection()));
    natsMsgList list{};
    const auto ask = [&](bool no_wait, int64_t wait_ms) {
        jsFetchRequest request;
        jsFetchRequest_Init(&request);
        request.Batch = batch;
        request.MaxBytes = byte_bound;
        request.Expires = wait_ms * 1000000;
        request.NoWait = no_wait;
        return natsSubscription_FetchRequest(&list, subscription_, &request);
    };
    const bool ask_without_waiting = batch > 1;
    natsStatus status = ask(ask_without_waiting, max_wait_ms);
    if (status == NATS_NOT_FOUND && ask_without_waiting) {
        const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now())
                                 .count();
        if (left <= 0) return {};
        status = ask(false, left);
    }
    std::vector<NatsMsgPtr> messages;
    messages.reserve(static_cast<size_t>(list.Count));
    for (int i = 0; i < list.Count; ++i) {
        messages.emplace_back(list.Msgs[i]);
        list.Msgs[i] = nullptr;
    }
    natsMsgList_Destroy(&list);
    if (status == NATS_TIMEOUT && messages.empty()) return messages;
    if (status != NATS_OK && messages.empty()) check_nats(status, "fetch");
    return messages;
}

}  // namespace nomnom::host
