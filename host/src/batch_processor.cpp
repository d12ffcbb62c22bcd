#include "batch_processor.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <random>

#include "batch_writer.hpp"
#include "failpoint.hpp"

namespace nomnom {
namespace {

struct WriteFailure {
    enum class Kind { Data, Retry, Fatal } kind;
    std::string reason;
    bool database_unreachable = false;
};

std::string reason_or_default(const char* reason) {
    return reason[0] != '\0' ? reason : "(the plugin gave no reason)";
}

// Runs the write of a parsed batch in one transaction; a failure leaves nothing written.
std::optional<WriteFailure> write_in_transaction(Database& database, PluginInstance& instance,
                                                 const RowBatch& rows) {
    try {
        DbLease lease(database);
        lease.begin();
        try {
            const nomnom_plugin_descriptor& descriptor = instance.descriptor();
            if (descriptor.persist != nullptr) {
                char reason[2048] = "";
                nomnom_error error{reason, sizeof reason};
                const int status = descriptor.persist(
                    instance.get(), reinterpret_cast<nomnom_db*>(&lease), rows.as_rows(), &error);
                if (status != NOMNOM_OK) {
                    lease.rollback();
                    const auto kind = status == NOMNOM_INVALID ? WriteFailure::Kind::Data
                                      : status == NOMNOM_RETRY ? WriteFailure::Kind::Retry
                                                               : WriteFailure::Kind::Fatal;
                    return WriteFailure{kind, "persist: " + reason_or_default(reason)};
                }
                if (const auto& ignored = lease.recorded_failure()) throw DbError(*ignored);
            } else {
                write_batch(lease, rows);
            }
            lease.commit();
        } catch (...) {
            lease.rollback();
            throw;
        }
    } catch (const DbError& e) {
        const bool unreachable = e.sqlstate().starts_with("08");
        return WriteFailure{e.data_error() ? WriteFailure::Kind::Data : WriteFailure::Kind::Retry,
                            e.what(), unreachable};
    } catch (const std::exception& e) {
        return WriteFailure{WriteFailure::Kind::Retry, e.what(), false};
    }
    return std::nullopt;
}

}  // namespace

BatchProcessor::BatchProcessor(PluginRunner& runner, PluginInstance& instance)
    : runner_(runner), instance_(instance), rows_(instance.descriptor()) {}

bool BatchProcessor::process(std::vector<NatsMsgPtr> fetched) {
    database_unreachable_ = false;
    const PayloadFormat format = runner_.settings().consumer.format;
    std::vector<Entry> entries(fetched.size());
    std::vector<Entry*> all;
    all.reserve(entries.size());
    for (size_t i = 0; i < fetched.size(); ++i) {
        entries[i].message = decode_message(std::move(fetched[i]), format);
        all.push_back(&entries[i]);
    }
    attempt(all);
    for (Entry& entry : entries) settle(entry);
    return !database_unreachable_;
}

void BatchProcessor::attempt(const std::vector<Entry*>& entries) {
    const nomnom_plugin_descriptor& descriptor = instance_.descriptor();
    rows_.clear();
    std::vector<Entry*> parsed;
    parsed.reserve(entries.size());
    char reason[2048];
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
        rows_.begin_message(i);
        reason[0] = '\0';
        nomnom_error error{reason, sizeof reason};
        const nomnom_message view = entry.message->view();
        int status = descriptor.parse(instance_.get(), &view, rows_.as_sink(), &error);
        if (status == NOMNOM_OK) {
            rows_.finish_message();
            if (!rows_.message_error().empty()) {
                status = NOMNOM_INVALID;
                entry.reason = rows_.message_error();
            }
        } else {
            entry.reason = reason_or_default(reason);
        }
        if (status == NOMNOM_OK) {
            parsed.push_back(&entry);
            continue;
        }
        rows_.discard_message();
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
    if (parsed.empty()) return;

    const std::optional<WriteFailure> failure =
        write_in_transaction(runner_.database(), instance_, rows_);
    if (!failure) {
        failpoint("after_commit");
        for (Entry* entry : parsed) entry->outcome = Outcome::Persisted;
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
        case WriteFailure::Kind::Retry:
            database_unreachable_ = database_unreachable_ || failure->database_unreachable;
            spdlog::warn("[plugin={}] write of {} messages failed, will retry: {}", runner_.name(),
                         parsed.size(), failure->reason);
            for (Entry* entry : parsed) {
                entry->outcome = Outcome::Retry;
                entry->reason = failure->reason;
            }
            return;
        case WriteFailure::Kind::Fatal:
            runner_.mark_fatal(failure->reason);
            for (Entry* entry : parsed) entry->outcome = Outcome::Unprocessed;
            return;
    }
}

int64_t BatchProcessor::backoff_ms(uint64_t delivery_count) const {
    const auto& schedule = runner_.settings().consumer.backoff_ms;
    const size_t step =
        std::min<size_t>(delivery_count > 0 ? delivery_count - 1 : 0, schedule.size() - 1);
    // +-20% jitter so that a batch that failed together does not come back together.
    thread_local std::minstd_rand random(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return static_cast<int64_t>(static_cast<double>(schedule[step]) * jitter(random));
}

void BatchProcessor::settle(Entry& entry) {
    IncomingMessage& message = *entry.message;
    natsMsg* raw = message.message.get();
    const std::string& plugin = runner_.name();
    natsStatus status = NATS_OK;
    switch (entry.outcome) {
        case Outcome::Persisted:
            status = natsMsg_Ack(raw, nullptr);
            break;
        case Outcome::Invalid:
        case Outcome::DataError:
            runner_.dead_letters().dead_letter(plugin, message,
                                               entry.outcome == Outcome::Invalid
                                                   ? DeadLetterClass::Invalid
                                                   : DeadLetterClass::Data,
                                               entry.reason);
            status = natsMsg_Term(raw, nullptr);
            break;
        case Outcome::Retry: {
            const int64_t max_deliver = runner_.settings().consumer.max_deliver;
            if (max_deliver > 0 && message.delivery_count >= static_cast<uint64_t>(max_deliver)) {
                runner_.dead_letters().dead_letter(
                    plugin, message, DeadLetterClass::RetriesExhausted,
                    "after " + std::to_string(message.delivery_count) +
                        " deliveries: " + entry.reason);
                status = natsMsg_Term(raw, nullptr);
                break;
            }
            const int64_t delay = backoff_ms(message.delivery_count);
            spdlog::info("[plugin={} subject={} seq={} delivery={}] retry in {} ms: {}", plugin,
                         message.subject, message.stream_sequence, message.delivery_count, delay,
                         entry.reason);
            status = natsMsg_NakWithDelay(raw, delay, nullptr);
            break;
        }
        case Outcome::Pending:
        case Outcome::Unprocessed:
            status = natsMsg_Nak(raw, nullptr);
            break;
    }
    if (status != NATS_OK) {
        // Not fatal: without a settle JetStream redelivers after ack_wait, and writes are
        // idempotent.
        spdlog::warn("[plugin={} subject={} seq={}] could not settle message: {}", plugin,
                     message.subject, message.stream_sequence, natsStatus_GetText(status));
    }
}

}  // namespace nomnom
