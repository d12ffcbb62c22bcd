#include "pipeline/batch_processor.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <set>
#include <span>

#include "pipeline/batch_writer.hpp"
#include "pipeline/failpoint.hpp"

namespace nomnom::host {

struct WriteFailure {
    enum class Kind { Data, Retry, Fatal } kind;
    std::string reason;
    bool database_unreachable = false;
    std::string sqlstate;  // of a database error
};

namespace {

// Whether the batch has anything for the database: a persist callback, or a row of a stored
// table (a batch of published rows only needs no transaction).
bool stores_anything(const nomnom_plugin_descriptor& descriptor, const RowBatch& rows,
                     const TableOutputs& outputs) {
    if (descriptor.persist != nullptr) return true;
    for (size_t t = 0; t < rows.tables().size(); ++t) {
        if (outputs[t].store && rows.tables()[t].row_count() > 0) return true;
    }
    return false;
}

// Runs the write of a parsed batch in one transaction; a failure leaves nothing written.
// `in_hand`: the batch's messages the rows are from, recorded while persist runs; `sequenced`:
// the tables where the newest message wins.
std::optional<WriteFailure> write_in_transaction(Database& database, PluginInstance& instance,
                                                 const RowBatch& rows, InflightRecord& record,
                                                 std::span<const uint32_t> in_hand,
                                                 const TableOutputs& outputs,
                                                 const std::set<std::string>& sequenced) {
    if (!stores_anything(instance.descriptor(), rows, outputs)) return std::nullopt;
    try {
        DbLease lease(database);
        lease.begin();
        try {
            const nomnom_plugin_descriptor& descriptor = instance.descriptor();
            if (descriptor.persist != nullptr) {
                char reason[2048] = "";
                nomnom_error error{reason, sizeof reason};
                record.enter(InflightRecord::Phase::Persist, in_hand);
                const int status = descriptor.persist(
                    instance.get(), reinterpret_cast<nomnom_db*>(&lease), rows.as_rows(), &error);
                record.leave();
                if (status != NOMNOM_OK) {
                    lease.rollback();
                    const auto kind = status == NOMNOM_INVALID ? WriteFailure::Kind::Data
                                      : status == NOMNOM_RETRY ? WriteFailure::Kind::Retry
                                                               : WriteFailure::Kind::Fatal;
                    return WriteFailure{kind, "persist: " + reason_or_default(reason), false, ""};
                }
                if (const auto& ignored = lease.recorded_failure()) throw DbError(*ignored);
            } else {
                write_batch(lease, rows, outputs, sequenced);
            }
            lease.commit();
        } catch (const DbError& e) {
            lease.rollback();
            // A session keeps what the database was when it connected (read-only after a
            // failover stays read-only): the retry gets a fresh connection.
            if (is_outage_sqlstate(e.sqlstate())) lease.discard_connection();
            throw;
        } catch (...) {
            lease.rollback();
            throw;
        }
    } catch (const DbError& e) {
        const bool unreachable = is_outage_sqlstate(e.sqlstate());
        return WriteFailure{e.data_error() ? WriteFailure::Kind::Data : WriteFailure::Kind::Retry,
                            e.what(), unreachable, e.sqlstate()};
    } catch (const std::exception& e) {
        return WriteFailure{WriteFailure::Kind::Retry, e.what(), false, ""};
    }
    return std::nullopt;
}

}  // namespace

BatchProcessor::BatchProcessor(PluginRunner& runner, PluginInstance& instance,
                               EntityPublisher* publisher)
    : runner_(runner), instance_(instance), publisher_(publisher), rows_(instance.descriptor()) {}

uint32_t BatchProcessor::index_of(const Entry& entry) const {
    return static_cast<uint32_t>(&entry - entries_.data());
}

BatchProcessor::Received BatchProcessor::receive(PluginRunner& runner, const ConsumerSpec& consumer,
                                                 std::vector<NatsMsgPtr>& fetched,
                                                 InflightRecord& record) {
    PluginMetrics& metrics = runner.metrics();
    metrics.fetched += fetched.size();
    metrics.batch_size.observe(static_cast<double>(fetched.size()));
    const PayloadFormat format = runner.settings().consumer.format;
    Received batch;
    batch.record = &record;
    batch.entries.resize(fetched.size());
    std::vector<InflightRecord::Recorded> recorded;
    recorded.reserve(fetched.size());
    std::vector<natsMsg*> held;
    held.reserve(fetched.size());
    try {
        for (size_t i = 0; i < fetched.size(); ++i) {
            Entry& entry = batch.entries[i];
            entry.message = decode_message(std::move(fetched[i]), format);
            entry.verdict =
                runner.crash_verdicts().find(entry.message->stream, entry.message->stream_sequence);
            entry.forgiven = entry.verdict
                                 ? std::min(entry.verdict->forgiven, entry.message->delivery_count)
                                 : 0;
            recorded.push_back(
                {entry.message.get(), entry.forgiven,
                 entry.verdict && entry.verdict->kind == CrashVerdicts::Kind::Suspect});
            held.push_back(entry.message->message.get());
        }
        record.begin_batch(batch.entries.front().message->stream, recorded);
        failpoint("receive");
        batch.hold = std::make_unique<KeepAlive::Hold>(
            runner.keep_alive(), std::move(held),
            std::chrono::milliseconds(consumer.settings.ack_wait_ms));
    } catch (...) {
        // Back to the caller, which returns them to JetStream at once rather than after
        // ack_wait; nothing of them is left to recover.
        record.end_batch();
        for (size_t i = 0; i < batch.entries.size(); ++i) {
            if (batch.entries[i].message) fetched[i] = std::move(batch.entries[i].message->message);
        }
        throw;
    }
    fetched.clear();
    return batch;
}

void BatchProcessor::process(Received batch) {
    entries_ = std::move(batch.entries);
    record_ = batch.record;
    hold_ = std::move(batch.hold);
    try {
        process_batch();
    } catch (const std::exception& e) {
        // Unsettled, these messages would wait for ack_wait to come back; what was committed
        // is upserted again on redelivery.
        const LogScope scope(runner_.log_fields());
        spdlog::error("batch of {} messages failed: {}; returning the unsettled ones",
                      entries_.size(), e.what());
        runner_.metrics().last_error.record("batch failed: " + std::string(e.what()));
        hand_back();
    }
}

void BatchProcessor::hand_back() {
    hold_.reset();
    for (Entry& entry : entries_) {
        if (entry.settled || !entry.message) continue;
        ++runner_.metrics().retried;
        natsMsg_NakWithDelay(
            entry.message->message.get(),
            runner_.settings().consumer.retry_delay_ms(entry.message->delivery_count), nullptr);
    }
    entries_.clear();
    record_->end_batch();
}

void BatchProcessor::process_batch() {
    const auto started = std::chrono::steady_clock::now();
    PluginMetrics& metrics = runner_.metrics();
    const int64_t max_deliver = runner_.settings().consumer.max_deliver;
    std::vector<Entry*> all;
    all.reserve(entries_.size());
    // Suspects of a crash are written one by one, so that a second crash names one message.
    std::vector<Entry*> alone;
    for (Entry& entry : entries_) {
        if (const auto& verdict = entry.verdict) {
            if (verdict->kind == CrashVerdicts::Kind::Culprit) {
                entry.outcome = Outcome::Crashed;
                entry.reason = verdict->reason;
                continue;
            }
            if (verdict->kind == CrashVerdicts::Kind::Suspect) {
                alone.push_back(&entry);
                continue;
            }
        }
        // Only a message whose last allowed delivery was nak'ed gets here (its dead-lettering
        // failed, the plugin went FATAL, the host crashed, or max_deliver was lowered).
        if (max_deliver > 0 && entry.charged_deliveries() > static_cast<uint64_t>(max_deliver)) {
            entry.outcome = Outcome::Exhausted;
            entry.reason =
                "delivery " + std::to_string(entry.message->delivery_count) +
                (entry.forgiven > 0
                     ? " (" + std::to_string(entry.forgiven) + " lost to crashes not counted)"
                     : std::string()) +
                " exceeds max_deliver = " + std::to_string(max_deliver) + "; not processed again";
            continue;
        }
        all.push_back(&entry);
    }
    phase_times_ = {};
    attempt(all);
    // Each suspect is settled (and the ack sent) as soon as it is written: when the next one
    // kills the process, the ones before it are not written again.
    for (Entry* suspect : alone) {
        attempt({suspect});
        settle(*suspect);
        try {
            runner_.nats().flush(5000);
        } catch (const NatsError& e) {
            const LogScope scope(runner_.log_fields());
            spdlog::warn("flushing the ack of a crash suspect: {}", e.what());
        }
    }
    all.insert(all.end(), alone.begin(), alone.end());
    failpoint("before_settle");
    bool persisted = false;
    for (Entry& entry : entries_) {
        if (!entry.settled) settle(entry);
        persisted = persisted || entry.outcome == Outcome::Persisted;
    }
    hold_.reset();
    entries_.clear();
    record_->end_batch();
    if (persisted) {
        metrics.last_persisted_unix_ns.store(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count());
    }
    ++metrics.batches;
    using Seconds = std::chrono::duration<double>;
    if (!all.empty()) metrics.parse_seconds.observe(Seconds(phase_times_.parse).count());
    if (phase_times_.wrote) metrics.write_seconds.observe(Seconds(phase_times_.write).count());
    metrics.batch_seconds.observe(Seconds(std::chrono::steady_clock::now() - started).count());
}

std::optional<WriteFailure> BatchProcessor::write_holding_through_outage(
    const std::vector<Entry*>& parsed) {
    const size_t messages = parsed.size();
    std::vector<uint32_t> in_hand;
    in_hand.reserve(parsed.size());
    for (const Entry* entry : parsed) in_hand.push_back(index_of(*entry));
    std::optional<WriteFailure> failure;
    const auto started = std::chrono::steady_clock::now();
    bool reported = false;
    std::string reported_sqlstate;
    for (size_t step = 0;; ++step) {
        ++runner_.metrics().write_transactions;
        failure = write_in_transaction(runner_.database(), instance_, rows_, *record_, in_hand,
                                       runner_.table_outputs(), runner_.sequenced_tables());
        if (!failure || !failure->database_unreachable || runner_.stopping()) break;
        const int64_t wait = runner_.settings().consumer.backoff_step_ms(step);
        if (!reported) {
            runner_.set_database_unreachable(true);
            const LogScope scope(runner_.log_fields());
            spdlog::error(
                "database unreachable, holding {} messages and retrying (every {} ms at most, "
                "fetching paused): {}",
                messages, wait, failure->reason);
        } else if (failure->sqlstate != reported_sqlstate) {
            // The outage changed its face (lost connection, then a read-only replica): say so
            // once per kind, not once per retry.
            const LogScope scope(runner_.log_fields());
            spdlog::error("database still unavailable, holding {} messages: {}", messages,
                          failure->reason);
        }
        if (!reported || failure->sqlstate != reported_sqlstate) {
            runner_.metrics().last_error.record("database unreachable: " + failure->reason);
            reported = true;
            reported_sqlstate = failure->sqlstate;
        }
        runner_.pause(wait);
    }
    if (reported) runner_.set_database_unreachable(false);
    if (reported && !failure) {
        const LogScope scope(runner_.log_fields());
        spdlog::info("database reachable again after {} s",
                     std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now() - started)
                         .count());
    }
    return failure;
}

void BatchProcessor::attempt(const std::vector<Entry*>& entries) {
    rows_.clear();
    std::vector<Entry*> parsed;
    parsed.reserve(entries.size());
    const auto parse_started = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < entries.size(); ++i) {
        Entry& entry = *entries[i];
        if (runner_.fatal()) {
            entry.outcome = Outcome::Unprocessed;
            continue;
        }
        if (!entry.message->decode_error.empty()) {
            entry.outcome = Outcome::Invalid;
            entry.reason = entry.message->decode_error;
            continue;
        }
        // Whatever the plugin logs while parsing is about this message.
        const LogFields fields = entry.message->log_fields(runner_.name());
        const LogScope scope(fields);
        const uint32_t in_hand = index_of(entry);
        record_->enter(InflightRecord::Phase::Parse, {&in_hand, 1});
        const int status = instance_.parse(entry.message->view(), rows_, i, entry.reason);
        record_->leave();
        if (status == NOMNOM_OK) {
            parsed.push_back(&entry);
            continue;
        }
        if (status == NOMNOM_INVALID) {
            entry.outcome = Outcome::Invalid;
        } else if (status == NOMNOM_RETRY) {
            entry.outcome = Outcome::Retry;
        } else {
            runner_.mark_fatal(status == NOMNOM_FATAL
                                   ? entry.reason
                                   : "parse returned unknown status " + std::to_string(status));
            entry.outcome = Outcome::Unprocessed;
        }
    }
    const auto parse_finished = std::chrono::steady_clock::now();
    phase_times_.parse += parse_finished - parse_started;
    if (parsed.empty()) return;

    const std::optional<WriteFailure> failure = write_holding_through_outage(parsed);
    phase_times_.write += std::chrono::steady_clock::now() - parse_finished;
    phase_times_.wrote = true;
    if (!failure) {
        failpoint("after_commit");
        if (!publish_outputs(entries, parsed)) return;
        for (Entry* entry : parsed) entry->outcome = Outcome::Persisted;
        const TableOutputs& outputs = runner_.table_outputs();
        for (size_t t = 0; t < rows_.tables().size(); ++t) {
            const TableRows& table = rows_.tables()[t];
            if (table.row_count() == 0) continue;
            if (outputs[t].store) {
                runner_.metrics().rows_by_table.add(table.table().name, table.row_count());
            }
            if (outputs[t].publish) {
                runner_.metrics().rows_published_by_table.add(table.table().name,
                                                              table.row_count());
            }
        }
        return;
    }
    switch (failure->kind) {
        case WriteFailure::Kind::Data:
            if (parsed.size() > 1) {
                const auto middle = parsed.begin() + static_cast<std::ptrdiff_t>(parsed.size() / 2);
                attempt(std::vector<Entry*>(parsed.begin(), middle));
                attempt(std::vector<Entry*>(middle, parsed.end()));
                return;
            }
            parsed.front()->outcome = Outcome::DataError;
            parsed.front()->reason = failure->reason;
            return;
        case WriteFailure::Kind::Retry: {
            if (failure->database_unreachable && runner_.stopping()) {
                // Stopping during an outage: hand the batch back untouched; an outage must
                // never end in the dead-letter queue.
                for (Entry* entry : parsed) entry->outcome = Outcome::Unprocessed;
                return;
            }
            const LogScope scope(runner_.log_fields());
            spdlog::warn("write of {} messages failed, will retry: {}", parsed.size(),
                         failure->reason);
            runner_.metrics().last_error.record("write failed, will retry: " + failure->reason);
            for (Entry* entry : parsed) {
                entry->outcome = Outcome::Retry;
                entry->reason = failure->reason;
            }
            return;
        }
        case WriteFailure::Kind::Fatal:
            runner_.mark_fatal(failure->reason);
            for (Entry* entry : parsed) entry->outcome = Outcome::Unprocessed;
            return;
    }
}

bool BatchProcessor::publish_outputs(const std::vector<Entry*>& entries,
                                     const std::vector<Entry*>& parsed) {
    if (publisher_ == nullptr) return true;
    std::vector<const IncomingMessage*> sources;
    sources.reserve(entries.size());
    for (const Entry* entry : entries) sources.push_back(entry->message.get());
    try {
        publisher_->publish(rows_, runner_.table_outputs(), sources);
        return true;
    } catch (const std::exception& e) {
        // The rows are committed: the redelivery upserts them again and publishes what the
        // outputs stream has not stored yet (the rest it drops as duplicates).
        const LogScope scope(runner_.log_fields());
        spdlog::warn("{} messages committed, their entity outputs not all stored, will retry: {}",
                     parsed.size(), e.what());
        runner_.metrics().last_error.record(std::string("publishing entity outputs: ") + e.what());
        for (Entry* entry : parsed) {
            entry->outcome = Outcome::Retry;
            entry->reason = e.what();
        }
        return false;
    }
}

void BatchProcessor::settle(Entry& entry) {
    hold_->release(index_of(entry));
    IncomingMessage& message = *entry.message;
    natsMsg* raw = message.message.get();
    const std::string& plugin = runner_.name();
    const LogFields fields = message.log_fields(plugin);
    const LogScope scope(fields);
    PluginMetrics& metrics = runner_.metrics();
    const auto nak_later = [&] {
        ++metrics.retried;
        const int64_t delay = runner_.settings().consumer.retry_delay_ms(message.delivery_count);
        spdlog::info("retry in {} ms: {}", delay, entry.reason);
        return natsMsg_NakWithDelay(raw, delay, nullptr);
    };
    // Terminates only once the dead letter is stored; otherwise the message comes back later.
    const auto dead_letter = [&](DeadLetterClass kind, const std::string& reason) {
        try {
            runner_.dead_letters().dead_letter(
                message, DeadLetter{plugin, runner_.library().version(), kind, reason});
        } catch (const std::exception& e) {
            entry.reason = std::string("dead-lettering failed (") + e.what() + ") for: " + reason;
            spdlog::error("{}", entry.reason);
            metrics.last_error.record(entry.reason);
            return nak_later();
        }
        ++metrics.dead_lettered;
        metrics.last_error.record(std::string("dead-lettered (") + dead_letter_class_name(kind) +
                                  ") " + message.subject + " seq " +
                                  std::to_string(message.stream_sequence) + ": " + reason);
        return natsMsg_Term(raw, nullptr);
    };
    const int64_t max_deliver = runner_.settings().consumer.max_deliver;
    natsStatus status = NATS_OK;
    switch (entry.outcome) {
        case Outcome::Persisted:
            ++metrics.persisted;
            status = natsMsg_Ack(raw, nullptr);
            if (message.stored_at_ns > 0) {
                const auto now = std::chrono::system_clock::now().time_since_epoch();
                const int64_t elapsed_ns =
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() -
                    message.stored_at_ns;
                metrics.end_to_end_seconds.observe(static_cast<double>(elapsed_ns) / 1e9);
            }
            if (StatusRecorder* recorder = runner_.status_recorder()) {
                recorder->persisted(message, plugin);
            }
            break;
        case Outcome::Invalid:
            ++metrics.invalid;
            status = dead_letter(DeadLetterClass::Invalid, entry.reason);
            break;
        case Outcome::DataError:
            status = dead_letter(DeadLetterClass::Data, entry.reason);
            break;
        case Outcome::Exhausted:
            status = dead_letter(DeadLetterClass::RetriesExhausted, entry.reason);
            break;
        case Outcome::Crashed:
            status = dead_letter(entry.verdict->dead_letter_class, entry.reason);
            break;
        case Outcome::Retry:
            // Set aside at the last allowed delivery, with the reason of this failure.
            if (max_deliver > 0 &&
                entry.charged_deliveries() >= static_cast<uint64_t>(max_deliver)) {
                status = dead_letter(DeadLetterClass::RetriesExhausted,
                                     "after " + std::to_string(message.delivery_count) +
                                         " deliveries: " + entry.reason);
            } else {
                status = nak_later();
            }
            break;
        case Outcome::Pending:
        case Outcome::Unprocessed:
            // A FATAL plugin's messages wait a back-off step: nak'ed at once, they could come
            // straight back to the fetch this worker has ahead.
            status = runner_.fatal()
                         ? natsMsg_NakWithDelay(raw, runner_.settings().consumer.retry_delay_ms(1),
                                                nullptr)
                         : natsMsg_Nak(raw, nullptr);
            break;
    }
    entry.settled = true;
    if (status != NATS_OK) {
        // Not fatal: without a settle JetStream redelivers after ack_wait, and writes are
        // idempotent.
        spdlog::warn("could not settle message: {}", natsStatus_GetText(status));
    }
}

}  // namespace nomnom::host
