#include "ops/dead_letter_queue.hpp"

#include <cstdio>
#include <ctime>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>

#include "pipeline/dead_letter.hpp"

namespace nomnom::host {

std::string header_of(natsMsg* message, const char* key) {
    const char* value = nullptr;
    return natsMsgHeader_Get(message, key, &value) == NATS_OK && value ? value : "";
}

std::string since_timestamp(const std::string& since) {
    if (since.empty()) return since;
    const auto fail = [&]() -> std::string {
        throw std::invalid_argument("since '" + since +
                                    "' is neither an age (30s, 30m, 12h, 7d) nor a UTC time "
                                    "(2026-01-31T12:00:00Z)");
    };
    std::tm parts{};
    int millis = 0;
    int consumed = 0;
    if (std::sscanf(since.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                    &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) == 6 &&
        consumed == 19) {
        std::string_view rest = std::string_view(since).substr(19);
        if (rest.size() == 5 && rest[0] == '.' &&
            std::sscanf(since.c_str() + 20, "%3d", &millis) == 1 &&
            rest.substr(1, 3).find_first_not_of("0123456789") == std::string_view::npos) {
            rest.remove_prefix(4);
        }
        if (rest != "Z" || parts.tm_mon < 1 || parts.tm_mon > 12 || parts.tm_mday < 1 ||
            parts.tm_mday > 31 || parts.tm_hour > 23 || parts.tm_min > 59 || parts.tm_sec > 60) {
            return fail();
        }
        char text[96];  // room for any int, which the checks above rule out
        std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year,
                      parts.tm_mon, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                      millis);
        return text;
    }
    const std::string number = since.substr(0, since.size() - 1);
    const char unit = since.back();
    const long long scale = unit == 's'   ? 1
                            : unit == 'm' ? 60
                            : unit == 'h' ? 3600
                            : unit == 'd' ? 86400
                                          : 0;
    if (scale == 0 || number.empty() || number.size() > 9 ||
        number.find_first_not_of("0123456789") != std::string::npos) {
        return fail();
    }
    const std::time_t then = std::time(nullptr) - std::stoll(number) * scale;
    ::gmtime_r(&then, &parts);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.000Z", &parts);
    return text;
}

std::string dead_letter_class(const std::string& name) {
    if (name.empty()) return name;
    std::string names;
    for (const DeadLetterClass kind :
         {DeadLetterClass::Invalid, DeadLetterClass::Data, DeadLetterClass::RetriesExhausted,
          DeadLetterClass::Crashed, DeadLetterClass::Timeout}) {
        if (name == dead_letter_class_name(kind)) return name;
        names += (names.empty() ? "" : ", ") + std::string(dead_letter_class_name(kind));
    }
    throw std::invalid_argument("class '" + name + "' is none of " + names);
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
    if (seq == 0) return nullptr;  // sequences start at 1
    natsMsg* raw = nullptr;
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status =
        js_GetMsg(&raw, client_.jetstream(), config_.stream.c_str(), seq, nullptr, &js_error);
    if (status == NATS_NOT_FOUND) return nullptr;
    check_nats(status, "reading dead letter " + std::to_string(seq), js_error);
    return NatsMsgPtr(raw);
}

bool DeadLetterQueue::matches(natsMsg* letter, const DeadLetterFilter& filter) const {
    return (filter.plugin.empty() || header_of(letter, dlq_header::kPlugin) == filter.plugin) &&
           (filter.error_class.empty() ||
            header_of(letter, dlq_header::kErrorClass) == filter.error_class) &&
           (filter.since.empty() || header_of(letter, dlq_header::kTimestamp) >= filter.since);
}

void DeadLetterQueue::for_each(const DeadLetterFilter& filter,
                               const std::function<bool(uint64_t seq, natsMsg* letter)>& visit) {
    Range bounds = range();
    if (filter.seq) bounds.first = bounds.last = *filter.seq;
    for (uint64_t seq = bounds.first; seq != 0 && seq <= bounds.last; ++seq) {
        const NatsMsgPtr found = letter(seq);
        if (found && matches(found.get(), filter) && !visit(seq, found.get())) return;
    }
}

uint64_t DeadLetterQueue::for_each_newest_first(const DeadLetterFilter& filter, uint64_t before,
                                                uint64_t limit, uint64_t max_scanned,
                                                const Visit& visit) {
    const Range bounds = range();
    if (bounds.first == 0 || bounds.last < bounds.first) return 0;
    uint64_t seq = before == 0 || before > bounds.last + 1 ? bounds.last : before - 1;
    uint64_t visited = 0;
    // No early stop at the first letter older than `since`: hosts' clocks differ, and a letter
    // replay or purge would act on must not be missing from the list.
    for (uint64_t scanned = 0; seq >= bounds.first && seq != 0; --seq) {
        if (visited == limit || scanned == max_scanned) return seq + 1;
        ++scanned;
        const NatsMsgPtr found = letter(seq);
        if (!found || !matches(found.get(), filter)) continue;
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

int64_t DeadLetterQueue::replay_count(natsMsg* letter) {
    const std::string replays_text = header_of(letter, dlq_header::kReplayCount);
    return replays_text.empty() ? 0 : std::stoll(replays_text);
}

bool DeadLetterQueue::replays_exhausted(natsMsg* letter) const {
    return replay_count(letter) >= config_.max_replays;
}

void DeadLetterQueue::replay(uint64_t seq, natsMsg* letter) {
    const int64_t replays = replay_count(letter);
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

bool DeadLetterQueue::remove(uint64_t seq) {
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status =
        js_DeleteMsg(client_.jetstream(), config_.stream.c_str(), seq, nullptr, &js_error);
    if (status != NATS_OK && !letter(seq)) return false;
    check_nats(status, "deleting dead letter " + std::to_string(seq), js_error);
    return true;
}

}  // namespace nomnom::host
