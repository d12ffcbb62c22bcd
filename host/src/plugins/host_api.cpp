// The C function table plugins call back into, but for its database functions
// (db/plugin_db_api.cpp in nomnom-host). Every entry point catches everything: an exception must
// never unwind into plugin code.

#include "plugins/host_api.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "nomnom/common/logging.hpp"
#include "nomnom/common/utf8.hpp"
#include "plugins/row_batch.hpp"

namespace nomnom::host {
namespace {

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

}  // namespace

void write_error(nomnom_error* error, const std::string& text) {
    if (error == nullptr || error->message == nullptr || error->capacity == 0) return;
    const std::string_view fitting = utf8_prefix(text, error->capacity - 1);
    const size_t length = fitting.size();
    std::memcpy(error->message, fitting.data(), length);
    error->message[length] = '\0';
}

nomnom_host_api make_host_api(DbDialectFn db_dialect, DbExecuteFn db_execute) {
    return {
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
}

}  // namespace nomnom::host
