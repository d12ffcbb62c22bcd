#include "ingest_service.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>

#include "message_check.hpp"
#include "nomnom/common/identifiers.hpp"
#include "nomnom/common/json_escape.hpp"
#include "nomnom/common/subject_match.hpp"
#include "nomnom/common/timestamp.hpp"
#include "nomnom/common/utf8.hpp"

namespace nomnom::api {

std::string error_json(const std::string& error) {
    return "{\"error\":\"" + json_escape(error) + "\"}";
}

namespace {

std::string subject_for(const std::string& pattern, const std::string& entity) {
    std::string subject = pattern;
    for (size_t at; (at = subject.find("{entity}")) != std::string::npos;) {
        subject.replace(at, 8, entity);
    }
    return subject;
}

}  // namespace

IngestService::IngestService(const ApiConfig& config, NatsClient& nats, ApiMetrics& metrics,
                             ValidatorPool& validators)
    : config_(config),
      nats_(nats),
      metrics_(metrics),
      validators_(validators),
      publisher_(nats, config.ingest, config.stream.name) {
    if (config.status.enabled) statuses_ = std::make_unique<StatusStore>(nats, config.status);
}

IngestService::InFlight IngestService::send_one(std::string_view payload,
                                                std::string_view path_entity,
                                                const std::string& id_hint, const char* id_source,
                                                PubAckWindow::Followed followed) {
    InFlight flight;
    CheckedMessage checked = check_message(payload, path_entity, id_hint, id_source);
    if (!checked.error.empty()) {
        flight.refused = {400, "", checked.error, ""};
        return flight;
    }
    const std::optional<std::string>& entity = checked.entity;
    const std::string id = checked.id.empty() ? random_uuid() : checked.id;

    flight.message = {
        subject_for(config_.ingest.subject, entity.value_or(config_.ingest.default_entity)), id,
        entity, utc_timestamp_now(), payload};
    const OutgoingMessage& message = flight.message;
    NatsMsgPtr built = publisher_.build(message);
    if (!built) {
        flight.refused = {503, "", "cannot create the NATS message", ""};
        return flight;
    }
    const Verdict verdict = validators_.validate(built.get(), id);
    if (verdict.kind == Verdict::Kind::Unavailable) {
        flight.refused = {503, "", verdict.reason, ""};
        return flight;
    }
    if (verdict.kind != Verdict::Kind::Ok && verdict.kind != Verdict::Kind::NoPlugin) {
        spdlog::debug("refused {} for {}: {}", id, message.subject, verdict.reason);
        flight.refused = {400, "", verdict.reason, ""};
        return flight;
    }
    flight.sent = publisher_.send(message, std::move(built), followed);
    return flight;
}

IngestService::Outcome IngestService::finish_one(InFlight& flight) {
    if (flight.refused.code != 0) return flight.refused;
    const OutgoingMessage& message = flight.message;
    const std::string& id = message.message_id;
    const PublishResult result = publisher_.result_of(flight.sent);
    // Only publishes that got a PubAck: a refusal while disconnected takes no time and a
    // timeout takes publish_timeout_ms, which would say nothing about JetStream's latency
    // (failures are counted on their own).
    if (result.kind != PublishResult::Kind::Unavailable) {
        metrics_.publish_seconds.observe(
            std::chrono::duration<double>(flight.sent.answered_at - flight.sent.sent_at).count());
    }
    switch (result.kind) {
        case PublishResult::Kind::Unavailable:
            ++metrics_.publish_failures;
            spdlog::warn("publish of {} to {} failed: {}", id, message.subject, result.error);
            return {503, "", result.error, ""};
        case PublishResult::Kind::TooLarge:
            spdlog::debug("refused {} for {}: {}", id, message.subject, result.error);
            return {413, "", result.error, ""};
        case PublishResult::Kind::Duplicate:
            ++metrics_.duplicates;
            spdlog::debug("{} is a duplicate of stream sequence {}", id, result.sequence);
            return {202, id, "", message.received_at, true, result.sequence};
        case PublishResult::Kind::Stored:
            break;
    }
    ++metrics_.published;
    if (statuses_ && config_.status.record_accepted) record_accepted(message, result.sequence);
    spdlog::debug("accepted {} on {} as sequence {} ({} bytes)", id, message.subject,
                  result.sequence, message.payload.size());
    return {202, id, "", message.received_at, false};
}

void IngestService::record_accepted(const OutgoingMessage& message, uint64_t sequence) {
    const std::string entity =
        message.entity_type ? "\"" + *message.entity_type + "\"" : std::string("null");
    const std::string json = "{\"time\":\"" + message.received_at +
                             "\",\"status\":\"accepted\",\"entity_type\":" + entity +
                             ",\"subject\":\"" + json_escape(message.subject) +
                             "\",\"stream_seq\":" + std::to_string(sequence) + "}";
    statuses_->create_unconfirmed(message.message_id, json);
}

std::unique_ptr<IngestService::MessageSent> IngestService::send_message(
    std::string body, std::string_view path_entity, std::string_view idempotency_key) {
    auto sent = std::make_unique<MessageSent>();
    sent->body = std::move(body);
    sent->flight = send_one(sent->body, path_entity, std::string(idempotency_key),
                            "Idempotency-Key", PubAckWindow::Followed::No);
    return sent;
}

bool IngestService::on_answer(MessageSent& sent, std::function<void()> answered) {
    InFlight& flight = sent.flight;
    if (flight.refused.code != 0 || !flight.sent.pending) return false;
    return flight.sent.pending->on_answer(std::move(answered));
}

Reply IngestService::finish_message(MessageSent& sent) {
    const Outcome outcome = finish_one(sent.flight);
    if (outcome.code != 202) {
        if (outcome.code == 400) {
            spdlog::debug("rejected body ({}): {}", outcome.error, utf8_prefix(sent.body, 256));
        }
        return {outcome.code, error_json(outcome.error), outcome.code == 503};
    }
    // A retry is answered as the first request was: same id, same timestamp. Only here: a
    // batch reply carries no timestamps, so a retried batch costs no lookups.
    std::string timestamp = outcome.timestamp;
    if (outcome.duplicate) {
        std::string first = publisher_.received_at_of(outcome.stream_seq);
        if (!first.empty()) timestamp = std::move(first);
    }
    return {202,
            "{\"message_id\":\"" + outcome.message_id +
                "\",\"status\":\"accepted\",\"timestamp\":\"" + timestamp + "\"" +
                (outcome.duplicate ? ",\"duplicate\":true}" : "}"),
            false};
}

Reply IngestService::ingest_batch(std::string_view body, std::string_view idempotency_key) {
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::pair<size_t, std::string_view>> lines;
    for (size_t number = 1, begin = 0; begin < body.size(); ++number) {
        size_t end = body.find('\n', begin);
        if (end == std::string_view::npos) end = body.size();
        std::string_view line = body.substr(begin, end - begin);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") != std::string_view::npos)
            lines.emplace_back(number, line);
        begin = end + 1;
    }
    if (lines.empty()) return {400, error_json("the batch has no non-empty lines"), false};
    if (lines.size() > static_cast<size_t>(config_.ingest.max_batch_lines)) {
        return {413,
                error_json("the batch has " + std::to_string(lines.size()) +
                           " lines; ingest.max_batch_lines is " +
                           std::to_string(config_.ingest.max_batch_lines)),
                false};
    }
    size_t accepted = 0, duplicates = 0, failed = 0;
    bool unavailable = false;
    std::string results, errors;
    const auto collect = [&](size_t number, InFlight& flight) {
        const Outcome outcome = finish_one(flight);
        if (!results.empty()) results += ',';
        results += "{\"line\":" + std::to_string(number);
        if (outcome.code == 202) {
            ++accepted;
            duplicates += outcome.duplicate ? 1 : 0;
            results += ",\"message_id\":\"" + outcome.message_id + "\",\"status\":\"accepted\"" +
                       (outcome.duplicate ? ",\"duplicate\":true}" : "}");
            return;
        }
        ++failed;
        unavailable = unavailable || outcome.code == 503;
        const std::string error = "Line " + std::to_string(number) + ": " + outcome.error;
        results += ",\"error\":\"" + json_escape(outcome.error) + "\"}";
        errors += (errors.empty() ? "\"" : ",\"") + json_escape(error) + "\"";
    };
    // Lines are sent without waiting for the PubAcks of the ones before, so that the batch's
    // publishes share their round trips; a line's outcome is collected once more than
    // ingest.max_pending_acks lines follow it (or at the end), which keeps the answer in line
    // order and what is held per line bounded by the window, whatever max_batch_lines allows.
    // Once JetStream failed a line (refused at once, or a 503 collected), the lines after it
    // are not tried.
    std::deque<std::pair<size_t, InFlight>> flights;
    bool sending = true;
    for (size_t i = 0; i < lines.size(); ++i) {
        const auto& [number, line] = lines[i];
        InFlight flight;
        if (!sending || unavailable) {
            flight.refused = {503, "", "not attempted: JetStream unavailable", ""};
        } else {
            const std::string hint = idempotency_key.empty() ? std::string()
                                                             : std::string(idempotency_key) + "-" +
                                                                   std::to_string(number);
            flight = send_one(
                line, "", hint, "Idempotency-Key + line number",
                i + 1 < lines.size() ? PubAckWindow::Followed::Yes : PubAckWindow::Followed::No);
            sending = !flight.unavailable_at_once();
        }
        flights.emplace_back(number, std::move(flight));
        if (static_cast<int64_t>(flights.size()) > config_.ingest.max_pending_acks) {
            collect(flights.front().first, flights.front().second);
            flights.pop_front();
        }
    }
    for (auto& [number, flight] : flights) collect(number, flight);
    const int code = failed == 0 ? 202 : unavailable ? 503 : accepted == 0 ? 400 : 207;
    // "success" and "partial" as the original says them; it has no "failed" (its batch route
    // answers 202 whatever happened).
    const char* summary = failed == 0 ? "success" : accepted == 0 ? "failed" : "partial";
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
    return {code,
            std::string("{\"status\":\"") + summary + "\",\"processed\":" +
                std::to_string(lines.size()) + ",\"inserted\":" + std::to_string(accepted) +
                ",\"duplicates\":" + std::to_string(duplicates) +
                ",\"failed\":" + std::to_string(failed) + ",\"errors\":[" + errors +
                "],\"results\":[" + results + "],\"duration_ms\":" + std::to_string(millis) + "}",
            unavailable};
}

Reply IngestService::status(std::string_view message_id) const {
    const std::string id(message_id);
    if (!valid_message_id(id)) {
        return {400, error_json("'" + id + "' is not a message id (1-128 of A-Z a-z 0-9 _ - =)"),
                false};
    }
    if (!statuses_) {
        return {501, error_json("status tracking is off (status.enabled = false)"), false};
    }
    if (!nats_.connected()) return {503, error_json("not connected to NATS"), true};
    std::optional<std::string> stored;
    try {
        stored = statuses_->get(id);
    } catch (const NatsError& e) {
        return {503, error_json(e.what()), true};
    }
    if (!stored) {
        return {404,
                "{\"message_id\":\"" + id +
                    "\",\"status\":\"unknown\",\"error\":\"no status for this message id: never "
                    "accepted, or older than status.ttl_s\"}",
                false};
    }
    return {200, "{\"message_id\":\"" + id + "\"," + stored->substr(1), false};
}

Reply IngestService::ready() const {
    const auto not_ready = [](const std::string& nats, const std::string& error) {
        return Reply{503,
                     R"({"status":"not ready","service":"nomnom-api","nats":")" + nats +
                         R"(","error":")" + json_escape(error) + "\"}",
                     true};
    };
    if (!nats_.connected()) return not_ready("disconnected", "not connected to NATS");
    std::optional<std::vector<std::string>> subjects;
    try {
        subjects = nats_.stream_subjects(config_.stream.name);
    } catch (const NatsError& e) {
        return not_ready("connected", e.what());
    }
    const std::string& stream = config_.stream.name;
    if (!subjects) return not_ready("connected", "stream " + stream + " does not exist");
    // Every subject the API can publish on, whatever the entity.
    const std::string published = subject_for(config_.ingest.subject, "*");
    bool all = false;
    bool some = false;
    std::string listed;
    for (const std::string& subject : *subjects) {
        all = all || subject_covers(subject, published);
        some = some || subjects_overlap(subject, published);
        listed += (listed.empty() ? "" : ", ") + subject;
    }
    if (!some) {
        return not_ready("connected", "stream " + stream + " (subjects: " + listed +
                                          ") does not capture ingest.subject " +
                                          config_.ingest.subject + ": every publish would fail");
    }
    std::string body = R"({"status":"ready","service":"nomnom-api","nats":"connected","stream":")" +
                       json_escape(stream) + "\"";
    if (!all) {
        body += R"(,"warning":")" +
                json_escape("stream " + stream + " (subjects: " + listed +
                            ") captures ingest.subject " + config_.ingest.subject +
                            " for some entities only: publishes for the others fail") +
                "\"";
    }
    return {200, body + "}", false};
}

}  // namespace nomnom::api
