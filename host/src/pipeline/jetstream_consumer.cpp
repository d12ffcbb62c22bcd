#include "pipeline/jetstream_consumer.hpp"

#include "nomnom/common/subject_match.hpp"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string_view>

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

// A consumer's description names the plugin that owns it ("nomnom plugin <name>"), since names
// alone are ambiguous (plugin "foo-2"'s consumer "nomnom-foo-2" is also a name plugin "foo"
// would give its second subject); once new consumers took its position, it says so
// ("...; taken over by <names>"), and is then no longer a position to start from.
constexpr std::string_view kOwnerTag = "nomnom plugin ";
constexpr std::string_view kTakenOver = "; taken over by ";

std::string owner_description(const std::string& plugin) {
    return std::string(kOwnerTag) + plugin;
}

// The plugin named in a description; empty for a consumer made by an operator or an older host.
std::string owner_of(const std::string& description) {
    if (!description.starts_with(kOwnerTag)) return "";
    const std::string rest = description.substr(kOwnerTag.size());
    return rest.substr(0, rest.find(kTakenOver));
}

bool was_taken_over(const std::string& description) {
    return description.find(kTakenOver) != std::string::npos;
}

// "<durable>" or "<durable>-<n>", as plugin_consumers() names them.
bool named_after(const std::string& durable, const std::string& name) {
    if (name == durable) return true;
    if (!name.starts_with(durable + "-") || name.size() == durable.size() + 1) return false;
    return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(durable.size()) + 1, name.end(),
                       [](char c) { return c >= '0' && c <= '9'; });
}

// Whether a consumer on the server is `plugin`'s: its description says so; or, untagged, it
// bears the plugin's single name, or one of its numbered names and a subject the plugin lists
// (an untagged numbered consumer of a subject it does not list may be another plugin's).
bool owned_by(const ListedConsumer& consumer, const std::string& plugin, const std::string& durable,
              const std::vector<ConsumerSpec>& wanted) {
    const std::string owner = owner_of(consumer.description);
    if (!owner.empty()) return owner == plugin;
    if (consumer.name == durable) return true;
    return named_after(durable, consumer.name) &&
           std::any_of(wanted.begin(), wanted.end(),
                       [&](const ConsumerSpec& spec) { return spec.subject == consumer.subject; });
}

std::string named_with_subjects(const std::vector<ListedConsumer>& consumers) {
    std::vector<std::string> names;
    for (const ListedConsumer& consumer : consumers) {
        names.push_back(consumer.name + " ('" + consumer.subject + "')");
    }
    return fmt::format("{}", fmt::join(names, ", "));
}

// Sets the description of an existing consumer, all else as it is on the server.
void describe(NatsClient& client, const std::string& stream, const std::string& durable,
              const std::string& description) {
    jsConsumerInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    check_nats(js_GetConsumerInfo(&info, client.jetstream(), stream.c_str(), durable.c_str(),
                                  nullptr, &js_error),
               "reading consumer " + durable, js_error);
    std::unique_ptr<jsConsumerInfo, decltype(&jsConsumerInfo_Destroy)> owned(
        info, jsConsumerInfo_Destroy);
    jsConsumerConfig config = *info->Config;
    config.Description = description.empty() ? nullptr : description.c_str();
    jsConsumerInfo* updated = nullptr;
    const natsStatus status = js_UpdateConsumer(&updated, client.jetstream(), stream.c_str(),
                                                &config, nullptr, &js_error);
    jsConsumerInfo_Destroy(updated);
    check_nats(status, "describing consumer " + durable, js_error);
}

}  // namespace

std::string plugin_durable(const std::string& plugin, const ConsumerSettings& settings) {
    return settings.durable.empty() ? settings.durable_prefix + "-" + plugin : settings.durable;
}

std::vector<ConsumerSpec> plugin_consumers(const std::string& stream, const std::string& plugin,
                                           const std::vector<std::string>& subjects,
                                           const ConsumerSettings& settings) {
    const std::string durable = plugin_durable(plugin, settings);
    std::vector<ConsumerSpec> specs;
    for (size_t i = 0; i < subjects.size(); ++i) {
        specs.push_back({stream,
                         subjects.size() == 1 ? durable : durable + "-" + std::to_string(i + 1),
                         subjects[i], settings, 0, owner_description(plugin)});
    }
    return specs;
}

std::vector<ListedConsumer> list_consumers(NatsClient& client, const std::string& stream) {
    jsConsumerInfoList* list = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status =
        js_Consumers(&list, client.jetstream(), stream.c_str(), nullptr, &js_error);
    // cnats says NOT_FOUND for a stream without consumers.
    if (status == NATS_NOT_FOUND) return {};
    check_nats(status, "listing the consumers of stream " + stream, js_error);
    std::unique_ptr<jsConsumerInfoList, decltype(&jsConsumerInfoList_Destroy)> owned(
        list, jsConsumerInfoList_Destroy);
    std::vector<ListedConsumer> listed;
    for (int i = 0; i < list->Count; ++i) {
        const jsConsumerInfo& info = *list->List[i];
        const jsConsumerConfig& config = *info.Config;
        listed.push_back({info.Name,
                          config.FilterSubject != nullptr ? config.FilterSubject : "",
                          config.Description != nullptr ? config.Description : "",
                          info.AckFloor.Stream,
                          {info.NumPending, info.NumAckPending, info.NumRedelivered,
                           info.NumWaiting, info.Delivered.Stream, info.Delivered.Last}});
    }
    return listed;
}

ConsumerPlan plan_plugin_consumers(const std::vector<ListedConsumer>& listed,
                                   const std::string& plugin, std::vector<ConsumerSpec> wanted) {
    ConsumerPlan plan;
    if (wanted.empty()) return plan;
    const std::string durable = plugin_durable(plugin, wanted.front().settings);
    std::vector<ListedConsumer> mine;
    std::set<std::string> taken;
    for (const ListedConsumer& consumer : listed) {
        taken.insert(consumer.name);
        if (owned_by(consumer, plugin, durable, wanted)) mine.push_back(consumer);
    }
    std::vector<bool> used(mine.size(), false);
    for (ConsumerSpec& spec : wanted) {
        PlannedConsumer planned{std::move(spec), std::nullopt, {}};
        for (size_t i = 0; i < mine.size(); ++i) {
            if (!used[i] && mine[i].subject == planned.spec.subject) {
                used[i] = true;
                planned.spec.durable = mine[i].name;
                planned.existing = mine[i];
                break;
            }
        }
        plan.consumers.push_back(std::move(planned));
    }
    for (size_t i = 0; i < mine.size(); ++i) {
        if (!used[i]) plan.orphans.push_back(mine[i]);
    }
    std::set<std::string> starting_points;
    for (PlannedConsumer& planned : plan.consumers) {
        if (planned.existing) continue;
        std::string& name = planned.spec.durable;
        for (int n = 1; taken.contains(name); ++n) name = durable + "-" + std::to_string(n);
        taken.insert(name);
        // A subject that shares messages with subjects the plugin dropped continues where their
        // consumers stood, so what they acked is not read again; any other subject is new to
        // the plugin and read from the start, so that nothing stored before is skipped.
        for (const ListedConsumer& old : plan.orphans) {
            if (was_taken_over(old.description) ||
                !subjects_overlap(old.subject, planned.spec.subject)) {
                continue;
            }
            const uint64_t after = old.ack_floor + 1;
            uint64_t& start = planned.spec.start_sequence;
            start = start == 0 ? after : std::min(start, after);
            planned.takes_over.push_back(old);
            if (starting_points.insert(old.name).second) plan.taken_over.push_back(old);
        }
    }
    return plan;
}

std::vector<ConsumerSpec> ensure_plugin_consumers(NatsClient& client, const std::string& stream,
                                                  const std::string& plugin,
                                                  const std::vector<std::string>& subjects,
                                                  const ConsumerSettings& settings) {
    ConsumerPlan plan = plan_plugin_consumers(list_consumers(client, stream), plugin,
                                              plugin_consumers(stream, plugin, subjects, settings));
    std::vector<ConsumerSpec> specs;
    std::vector<std::string> created;
    for (PlannedConsumer& planned : plan.consumers) {
        ConsumerSpec& spec = planned.spec;
        ensure_consumer(client, spec);
        if (planned.existing && planned.existing->description != spec.description) {
            // Tagged as the plugin's (a consumer of an older host, or one in use again after it
            // was taken over): unambiguous from now on, and a position to start from again.
            describe(client, stream, spec.durable, spec.description);
        }
        if (!planned.takes_over.empty()) {
            spdlog::info(
                "consumer {} on stream {}: subject '{}' takes over from {} at stream sequence {} "
                "(what they had not acked may come again; messages before it that only '{}' "
                "matches are not delivered)",
                spec.durable, stream, spec.subject, named_with_subjects(planned.takes_over),
                spec.start_sequence, spec.subject);
        }
        if (!planned.existing) created.push_back(spec.durable);
        specs.push_back(std::move(spec));
    }
    for (const ListedConsumer& old : plan.taken_over) {
        describe(client, stream, old.name,
                 owner_description(plugin) + std::string(kTakenOver) +
                     fmt::format("{}", fmt::join(created, ", ")));
    }
    // A consumer left behind is kept, not deleted: during a rolling upgrade a host still runs
    // the old version on it, and deleting it would break that host's fetches, then have it
    // recreate the consumer at its next start, from wherever the new consumers stood, skipping
    // what was published to the old subject meanwhile. Kept, it merely holds its position.
    for (const ListedConsumer& old : plan.orphans) {
        spdlog::warn(
            "consumer {} on stream {} filters '{}', which {} no longer consumes: kept for any "
            "host still running the old version; once none does, delete it (nats consumer rm {} "
            "{})",
            old.name, stream, old.subject, plugin, stream, old.name);
    }
    return specs;
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
    config.DeliverPolicy = spec.start_sequence > 0 ? js_DeliverByStartSequence : js_DeliverAll;
    config.OptStartSeq = spec.start_sequence;
    config.AckWait = settings.ack_wait_ms * kNanosPerMilli;
    config.MaxDeliver = kUnlimitedDeliveries;
    config.MaxAckPending = settings.max_ack_pending;
    config.FilterSubject = spec.subject.c_str();
    config.Description = spec.description.empty() ? nullptr : spec.description.c_str();
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
