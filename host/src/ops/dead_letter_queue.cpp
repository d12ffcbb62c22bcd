#include "ops/dead_letter_queue.hpp"

#include <ctime>
#include <memory>
#include <set>
#include <string_view>

#include "pipeline/dead_letter.hpp"

namespace nomnom::host {

std::string header_of(natsMsg* message, const char* key) {
    const char* value = nullptr;
    return natsMsgHeader_Get(message, key, &value) == NATS_OK && value ? value : "";
}

std::string since_timestamp(const std::string& since) {
    if (since.size() < 2) return since;
    const char unit = since.back();
    const std::string number = since.substr(0, since.size() - 1);
    if (number.find_first_not_of("0123456789") != std::string::npos || number.size() > 9) {
        return since;
    }
    const long long amount = std::stoll(number);
    const long long seconds = unit == 's'   ? amount
                              : unit == 'm' ? amount * 60
                              : unit == 'h' ? amount * 3600
                              : unit == 'd' ? amount * 86400
                                            : -1;
    if (seconds < 0) return since;
    const std::time_t then = std::time(nullptr) - seconds;
    std::tm parts{};
    ::gmtime_r(&then, &parts);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.000Z", &parts);
    return text;
}

DeadLetterQueue::DeadLetterQueue(NatsClient& client, DlqConfig config)
    : client_(client), config_(std::move(config)) {}

DeadLetterQueue::Range DeadLetterQueue::range() {
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    check_nats(
        js_GetStreamInfo(&info, client_.jetstream(), config_.stream.c_str(), nullptr, &js_error),
        "reading dead-letter stream " + config_.stream, js_error);
    const Range range{info->State.FirstSeq, info->State.LastSeq};
    jsStreamInfo_Destroy(info);
    return range;
}

DeadLetterQueue::Counts DeadLetterQueue::counts() {
    jsOptions options;
    jsOptions_Init(&options);
    const std::string prefix = config_.subject_prefix + ".";
    const std::string all = prefix + ">";
    options.Stream.Info.SubjectsFilter = all.c_str();
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = jsErrCode(0);
    check_nats(
        js_GetStreamInfo(&info, client_.jetstream(), config_.stream.c_str(), &options, &js_error),
        "reading dead-letter stream " + config_.stream, js_error);
    const std::unique_ptr<jsStreamInfo, decltype(&jsStreamInfo_Destroy)> owned(
        info, &jsStreamInfo_Destroy);
    Counts counts;
    counts.total = info->State.Msgs;
    if (info->State.Subjects == nullptr) return counts;
    for (int i = 0; i < info->State.Subjects->Count; ++i) {
        const jsStreamStateSubject& subject = info->State.Subjects->List[i];
        const std::string_view name(subject.Subject);
        if (name.starts_with(prefix))
            counts.by_plugin[std::string(name.substr(prefix.size()))] += subject.Msgs;
    }
    return counts;
}

NatsMsgPtr DeadLetterQueue::letter(uint64_t seq) {
    natsMsg* raw = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status =
        js_GetMsg(&raw, client_.jetstream(), config_.stream.c_str(), seq, nullptr, &js_error);
    if (status == NATS_NOT_FOUND) return nullptr;
    check_nats(status, "reading dead letter " + std::to_string(seq), js_error);
    return NatsMsgPtr(raw);
}

bool DeadLetterQueue::matches(natsMsg* letter, const DeadLetterFilter& filter,
                              const std::string& since) const {
    return (filter.plugin.empty() || header_of(letter, dlq_header::kPlugin) == filter.plugin) &&
           (filter.error_class.empty() ||
            header_of(letter, dlq_header::kErrorClass) == filter.error_class) &&
           (since.empty() || header_of(letter, dlq_header::kTimestamp) >= since);
}

void DeadLetterQueue::for_each(const DeadLetterFilter& filter, uint64_t limit, const Visit& visit) {
    Range bounds = range();
    if (filter.seq) bounds.first = bounds.last = *filter.seq;
    const std::string since = filter.since.empty() ? "" : since_timestamp(filter.since);
    uint64_t visited = 0;
    for (uint64_t seq = bounds.first; seq != 0 && seq <= bounds.last && visited < limit; ++seq) {
        const NatsMsgPtr found = letter(seq);
        if (!found || !matches(found.get(), filter, since)) continue;
        ++visited;
        visit(seq, found.get());
    }
}

uint64_t DeadLetterQueue::for_each_newest_first(const DeadLetterFilter& filter, uint64_t before,
                                                uint64_t limit, uint64_t max_scanned,
                                                const Visit& visit) {
    const Range bounds = range();
    if (bounds.first == 0 || bounds.last < bounds.first) return 0;
    uint64_t seq = before == 0 || before > bounds.last + 1 ? bounds.last : before - 1;
    const std::string since = filter.since.empty() ? "" : since_timestamp(filter.since);
    uint64_t visited = 0;
    for (uint64_t scanned = 0; seq >= bounds.first && seq != 0; --seq) {
        if (visited == limit || scanned == max_scanned) return seq + 1;
        ++scanned;
        const NatsMsgPtr found = letter(seq);
        if (!found) continue;
        // Letters are stored in time order: older ones cannot match `since` either.
        if (!since.empty() && header_of(found.get(), dlq_header::kTimestamp) < since) return 0;
        if (!matches(found.get(), filter, since)) continue;
        ++visited;
        visit(seq, found.get());
    }
    return 0;
}

NatsMsgPtr DeadLetterQueue::original_of(uint64_t seq, natsMsg* letter) {
    if (header_of(letter, dlq_header::kPayload) != dlq_header::kPayloadInStream) return nullptr;
    natsMsg* copy = nullptr;
    const std::string stream = header_of(letter, dlq_header::kStream);
    const std::string original = header_of(letter, dlq_header::kStreamSequence);
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_GetMsg(&copy, client_.jetstream(), stream.c_str(),
                                        std::stoull(original), nullptr, &js_error);
    if (status == NATS_NOT_FOUND) {
        throw NatsError("the payload of dead letter " + std::to_string(seq) +
                        " was too large to copy and its original (stream " + stream + " seq " +
                        original +
                        ") is gone: aged out of the stream (max_age, max_bytes) or "
                        "deleted");
    }
    check_nats(status, "reading the original of dead letter " + std::to_string(seq), js_error);
    return NatsMsgPtr(copy);
}

void DeadLetterQueue::replay(uint64_t seq, natsMsg* letter) {
    const std::string replays_text = header_of(letter, dlq_header::kReplayCount);
    const int64_t replays = replays_text.empty() ? 0 : std::stoll(replays_text);
    if (replays >= config_.max_replays) {
        throw NatsError("dead letter " + std::to_string(seq) + " was replayed " +
                        std::to_string(replays) + " times already (dlq.max_replays = " +
                        std::to_string(config_.max_replays) + "); not replayed again");
    }
    const std::string subject = header_of(letter, dlq_header::kSubject);
    if (subject.empty()) throw NatsError("dead letter " + std::to_string(seq) + " has no subject");
    const NatsMsgPtr original = original_of(seq, letter);
    natsMsg* source = original ? original.get() : letter;
    natsMsg* created = nullptr;
    check_nats(natsMsg_Create(&created, subject.c_str(), nullptr, natsMsg_GetData(source),
                              natsMsg_GetDataLength(source)),
               "creating replay");
    const NatsMsgPtr out(created);
    static const std::set<std::string> metadata = {
        dlq_header::kSubject,       dlq_header::kStream,      dlq_header::kStreamSequence,
        dlq_header::kDeliveryCount, dlq_header::kPlugin,      dlq_header::kPluginVersion,
        dlq_header::kErrorClass,    dlq_header::kError,       dlq_header::kHost,
        dlq_header::kTimestamp,     dlq_header::kReplayCount, dlq_header::kPayload};
    for_each_header(source, [&](const char* key, const char* value) {
        if (metadata.contains(key) || std::string_view(key).starts_with("Nats-")) return;
        natsMsgHeader_Set(created, key, value);
    });
    natsMsgHeader_Set(created, dlq_header::kReplayCount, std::to_string(replays + 1).c_str());

    // Replaying the same dead letter twice inside the duplicate window stores it once.
    const std::string id = "nomnom-replay:" + config_.stream + ":" + std::to_string(seq);
    const PublishOutcome outcome = client_.publish_awaiting_ack(created, {.msg_id = id.c_str()});
    check_nats(outcome.status, "replaying dead letter " + std::to_string(seq) + " to " + subject,
               outcome.js_error);
    remove(seq);
}

void DeadLetterQueue::remove(uint64_t seq) {
    jsErrCode js_error = jsErrCode(0);
    check_nats(js_DeleteMsg(client_.jetstream(), config_.stream.c_str(), seq, nullptr, &js_error),
               "deleting dead letter " + std::to_string(seq), js_error);
}

}  // namespace nomnom::host
