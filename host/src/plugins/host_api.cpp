// The C function table plugins call back into. Every entry point catches everything: an
// exception must never unwind into plugin code.

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "db/native_db.hpp"
#include "isolation/inflight_record.hpp"
#include "nomnom/common/logging.hpp"
#include "nomnom/common/utf8.hpp"
#include "plugins/row_batch.hpp"

namespace nomnom::host {
namespace {

void write_error(nomnom_error* error, const std::string& text) {
    if (error == nullptr || error->message == nullptr || error->capacity == 0) return;
    const std::string_view fitting = utf8_prefix(text, error->capacity - 1);
    const size_t length = fitting.size();
    std::memcpy(error->message, fitting.data(), length);
    error->message[length] = '\0';
}

template <typename Call>
int guarded(nomnom_row_sink* sink, Call&& call) {
    RowBatch& batch = *RowBatch::from(sink);
    try {
        return call(batch);
    } catch (const std::exception& e) {
        return batch.refuse(std::string("host error while writing a row: ") + e.what());
    } catch (...) {
        return batch.refuse("host error while writing a row");
    }
}

int begin_row(nomnom_row_sink* sink, uint32_t table) {
    return guarded(sink, [&](RowBatch& batch) { return batch.begin_row(table); });
}
int put_null(nomnom_row_sink* sink, uint32_t column) {
    return guarded(sink, [&](RowBatch& batch) { return batch.put_null(column); });
}
int put_i64(nomnom_row_sink* sink, uint32_t column, int64_t value) {
    return guarded(sink, [&](RowBatch& batch) { return batch.put_i64(column, value); });
}
int put_f64(nomnom_row_sink* sink, uint32_t column, double value) {
    return guarded(sink, [&](RowBatch& batch) { return batch.put_f64(column, value); });
}
int put_bool(nomnom_row_sink* sink, uint32_t column, int value) {
    return guarded(sink, [&](RowBatch& batch) { return batch.put_bool(column, value != 0); });
}
int put_text(nomnom_row_sink* sink, uint32_t column, const char* data, size_t length) {
    return guarded(sink, [&](RowBatch& batch) { return batch.put_text(column, data, length); });
}
int end_row(nomnom_row_sink* sink) {
    return guarded(sink, [&](RowBatch& batch) { return batch.end_row(); });
}

void log(nomnom_log_level level, const char* plugin, const char* message) {
    try {
        const auto spd_level = level == NOMNOM_LOG_DEBUG  ? spdlog::level::debug
                               : level == NOMNOM_LOG_INFO ? spdlog::level::info
                               : level == NOMNOM_LOG_WARN ? spdlog::level::warn
                                                          : spdlog::level::err;
        // Keeps the message fields when the plugin logs from inside parse().
        LogFields fields = current_log_fields() ? *current_log_fields() : LogFields{};
        fields.plugin = plugin ? plugin : "?";
        const LogScope scope(fields);
        spdlog::log(spd_level, "{}", message ? message : "");
    } catch (const std::exception&) {
        // Logging must never fail the caller.
    }
}

uint64_t row_count(const nomnom_rows* rows, uint32_t table) {
    const RowBatch* batch = RowBatch::from(rows);
    if (batch == nullptr || table >= batch->tables().size()) return 0;
    return batch->tables()[table].row_count();
}

int get_value(const nomnom_rows* rows, uint32_t table, uint64_t row, uint32_t column,
              nomnom_value* out) {
    const RowBatch* batch = RowBatch::from(rows);
    if (batch == nullptr || out == nullptr || table >= batch->tables().size()) return 1;
    const TableRows& table_rows = batch->tables()[table];
    if (row >= table_rows.row_count() || column >= table_rows.column_count()) return 1;
    const Cell& cell = table_rows.cell(row, column);
    *out = nomnom_value{};
    out->type = table_rows.table().columns[column].type;
    out->is_null = cell.is_null ? 1 : 0;
    out->i64 = cell.i64;
    out->f64 = cell.f64;
    if (!cell.is_null && (out->type == NOMNOM_TYPE_TEXT || out->type == NOMNOM_TYPE_JSON)) {
        const std::string_view text = table_rows.text(cell);
        out->text = {text.data(), text.size()};
    }
    return 0;
}

const char* db_dialect(const nomnom_db* db) {
    return dialect_name(reinterpret_cast<const DbLease*>(db)->dialect());
}

std::string value_as_text(const nomnom_value& value) {
    switch (value.type) {
        case NOMNOM_TYPE_I64:
            return std::to_string(value.i64);
        case NOMNOM_TYPE_BOOL:
            return value.i64 != 0 ? "true" : "false";
        case NOMNOM_TYPE_F64: {
            char buffer[32];
            const auto result = std::to_chars(buffer, buffer + sizeof buffer, value.f64);
            return std::string(buffer, result.ptr);
        }
        default:
            return std::string(value.text.data ? value.text.data : "", value.text.len);
    }
}

void execute_postgres(DbLease& lease, const char* sql, const nomnom_value* params, uint32_t count) {
    std::vector<std::string> texts(count);
    std::vector<const char*> values(count);
    for (uint32_t i = 0; i < count; ++i) {
        if (params[i].is_null) continue;
        texts[i] = value_as_text(params[i]);
        values[i] = texts[i].c_str();
    }
    PGconn* connection = pg_connection(lease.session());
    PgResult result(PQexecParams(connection, sql, static_cast<int>(count), nullptr, values.data(),
                                 nullptr, nullptr, 0));
    const auto status = PQresultStatus(result.result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw_pg_error(connection, result.result, "persist SQL");
    }
}

void execute_sqlite(DbLease& lease, const char* sql, const nomnom_value* params, uint32_t count) {
    using namespace sqlite_api;
    SqliteStatement statement(sqlite_connection(lease.session()), sql);
    for (uint32_t i = 0; i < count; ++i) {
        const std::string name = "$" + std::to_string(i + 1);
        const int index = sqlite3_bind_parameter_index(statement.get(), name.c_str());
        if (index == 0) continue;
        const nomnom_value& value = params[i];
        if (value.is_null) {
            sqlite3_bind_null(statement.get(), index);
        } else if (value.type == NOMNOM_TYPE_I64 || value.type == NOMNOM_TYPE_BOOL) {
            sqlite3_bind_int64(statement.get(), index, value.i64);
        } else if (value.type == NOMNOM_TYPE_F64) {
            sqlite3_bind_double(statement.get(), index, value.f64);
        } else {
            sqlite3_bind_text(statement.get(), index, value.text.data ? value.text.data : "",
                              static_cast<int>(value.text.len), SQLITE_STATIC);
        }
    }
    statement.run("persist SQL");
}

nomnom_status db_execute(nomnom_db* db, const char* sql, const nomnom_value* params, uint32_t count,
                         nomnom_error* error) {
    // The database's time, not the plugin's: parse_timeout_ms does not run meanwhile.
    const HostCallScope in_database;
    try {
        if (sql == nullptr || (count > 0 && params == nullptr)) {
            write_error(error, "db_execute: NULL sql or params");
            return NOMNOM_FATAL;
        }
        for (uint32_t i = 0; i < count; ++i) {
            // Refused like a non-finite value in a row: the dialects would store it differently.
            if (!params[i].is_null && params[i].type == NOMNOM_TYPE_F64 &&
                !std::isfinite(params[i].f64)) {
                throw DbError("db_execute: parameter $" + std::to_string(i + 1) + " is " +
                                  non_finite_name(params[i].f64),
                              "22000", true);
            }
        }
        DbLease& lease = *reinterpret_cast<DbLease*>(db);
        if (lease.dialect() == Dialect::Postgres) {
            execute_postgres(lease, sql, params, count);
        } else {
            execute_sqlite(lease, sql, params, count);
        }
        return NOMNOM_OK;
    } catch (const DbError& e) {
        reinterpret_cast<DbLease*>(db)->record_failure(e);
        write_error(error, e.what());
        return e.data_error() ? NOMNOM_INVALID : NOMNOM_RETRY;
    } catch (const std::exception& e) {
        reinterpret_cast<DbLease*>(db)->record_failure(DbError(e.what(), "", false));
        write_error(error, e.what());
        return NOMNOM_RETRY;
    }
}

const nomnom_host_api kHostApi = {
    .struct_size = sizeof(nomnom_host_api),
    .abi_major = NOMNOM_ABI_MAJOR,
    .abi_minor = NOMNOM_ABI_MINOR,
    .begin_row = begin_row,
    .put_null = put_null,
    .put_i64 = put_i64,
    .put_f64 = put_f64,
    .put_bool = put_bool,
    .put_text = put_text,
    .end_row = end_row,
    .log = log,
    .row_count = row_count,
    .get_value = get_value,
    .db_dialect = db_dialect,
    .db_execute = db_execute,
};

}  // namespace

const nomnom_host_api* host_api() {
    return &kHostApi;
}

}  // namespace nomnom::host
