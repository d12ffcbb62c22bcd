#include "plugins/row_batch.hpp"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cmath>
#include <limits>

#include "nomnom/common/utf8.hpp"
#include "nomnom/json_error.hpp"

namespace nomnom::host {
namespace {

const char* type_name(uint32_t type) {
    switch (type) {
        case NOMNOM_TYPE_I64:
            return "i64";
        case NOMNOM_TYPE_F64:
            return "f64";
        case NOMNOM_TYPE_BOOL:
            return "bool";
        case NOMNOM_TYPE_TEXT:
            return "text";
        case NOMNOM_TYPE_JSON:
            return "json";
        default:
            return "unknown";
    }
}

// Why `text` is not one JSON value, or empty. Iterative, so no nesting depth reaches the stack.
std::string json_error(std::string_view text) {
    rapidjson::MemoryStream stream(text.data(), text.size());
    rapidjson::Reader reader;
    rapidjson::BaseReaderHandler<> ignore;
    // RapidJSON refuses a number whose exponent no double reaches (1e400), which jsonb would
    // take: the one JSON text refused here that PostgreSQL stores.
    constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                                rapidjson::kParseValidateEncodingFlag |
                                rapidjson::kParseStopWhenDoneFlag;
    const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, ignore);
    if (result.IsError()) {
        return json_error_reason(text, result.Code(), result.Offset()) + " at offset " +
               std::to_string(result.Offset());
    }
    // Only whitespace may follow the value.
    for (size_t i = stream.Tell(); i < text.size(); ++i) {
        const char c = text[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return "text after the JSON value at offset " + std::to_string(i);
        }
    }
    return {};
}

}  // namespace

const char* non_finite_name(double value) {
    return std::isnan(value) ? "NaN" : value > 0 ? "+Infinity" : "-Infinity";
}

RowBatch::RowBatch(const nomnom_plugin_descriptor& descriptor) : descriptor_(descriptor) {
    tables_.reserve(descriptor.table_count);
    for (uint32_t t = 0; t < descriptor.table_count; ++t)
        tables_.emplace_back(descriptor.tables[t]);
    marks_.resize(tables_.size());
}

void RowBatch::clear() {
    for (auto& table : tables_) {
        table.cells_.clear();
        table.row_message_.clear();
        table.text_.clear();
    }
    error_.clear();
    open_table_ = -1;
    message_sequences_.clear();
}

size_t RowBatch::total_rows() const {
    size_t rows = 0;
    for (const auto& table : tables_) rows += table.row_count();
    return rows;
}

void RowBatch::begin_message(uint32_t message_index, uint64_t stream_sequence) {
    message_index_ = message_index;
    if (message_sequences_.size() <= message_index) message_sequences_.resize(message_index + 1);
    message_sequences_[message_index] = stream_sequence;
    error_.clear();
    open_table_ = -1;
    for (size_t t = 0; t < tables_.size(); ++t) {
        marks_[t] = {tables_[t].row_count(), tables_[t].text_.size()};
    }
}

void RowBatch::discard_message() {
    for (size_t t = 0; t < tables_.size(); ++t) {
        TableRows& table = tables_[t];
        table.row_message_.resize(marks_[t].rows);
        table.cells_.resize(marks_[t].rows * table.column_count());
        table.text_.resize(marks_[t].text);
    }
    open_table_ = -1;
}

void RowBatch::finish_message() {
    if (open_table_ >= 0) {
        refuse("parse returned with a row of table '" +
               std::string(descriptor_.tables[open_table_].name) + "' begun but not ended");
    }
}

int RowBatch::refuse(std::string reason) noexcept {
    if (error_.empty()) error_ = std::move(reason);
    return 1;
}

int RowBatch::begin_row(uint32_t table) {
    if (table >= tables_.size()) {
        return refuse("begin_row: table index " + std::to_string(table) + " out of range");
    }
    if (open_table_ >= 0) return refuse("begin_row: previous row was not ended");
    TableRows& rows = tables_[table];
    rows.cells_.resize(rows.cells_.size() + rows.column_count());
    rows.row_message_.push_back(message_index_);
    open_table_ = table;
    return 0;
}

Cell* RowBatch::target(uint32_t column, nomnom_type type) {
    if (open_table_ < 0) {
        refuse("put: no row begun");
        return nullptr;
    }
    TableRows& rows = tables_[open_table_];
    if (column >= rows.column_count()) {
        refuse("put: column index " + std::to_string(column) + " out of range for table '" +
               rows.table().name + "'");
        return nullptr;
    }
    const nomnom_column& declared = rows.table().columns[column];
    const bool compatible = declared.type == static_cast<uint32_t>(type) ||
                            (type == NOMNOM_TYPE_TEXT && declared.type == NOMNOM_TYPE_JSON);
    if (!compatible) {
        refuse(std::string("column '") + declared.name + "' of table '" + rows.table().name +
               "' is " + type_name(declared.type) + ", plugin wrote " + type_name(type));
        return nullptr;
    }
    Cell* cell = &rows.cells_[(rows.row_count() - 1) * rows.column_count() + column];
    cell->is_set = true;
    cell->is_null = false;
    return cell;
}

int RowBatch::put_null(uint32_t column) {
    if (open_table_ < 0) return refuse("put_null: no row begun");
    TableRows& rows = tables_[open_table_];
    if (column >= rows.column_count()) {
        return refuse("put_null: column index " + std::to_string(column) + " out of range");
    }
    const nomnom_column& declared = rows.table().columns[column];
    if (!declared.nullable) {
        return refuse(std::string("column '") + declared.name + "' of table '" + rows.table().name +
                      "' is NOT NULL, plugin wrote null");
    }
    Cell& cell = rows.cells_[(rows.row_count() - 1) * rows.column_count() + column];
    cell.is_set = true;
    cell.is_null = true;
    return 0;
}

int RowBatch::put_i64(uint32_t column, int64_t value) {
    Cell* cell = target(column, NOMNOM_TYPE_I64);
    if (cell == nullptr) return 1;
    cell->i64 = value;
    return 0;
}

int RowBatch::put_f64(uint32_t column, double value) {
    Cell* cell = target(column, NOMNOM_TYPE_F64);
    if (cell == nullptr) return 1;
    // PostgreSQL would store NaN and infinities, SQLite turns NaN into NULL: neither is a value
    // of the message that both databases keep alike.
    if (!std::isfinite(value)) {
        const nomnom_column& declared = tables_[open_table_].table().columns[column];
        return refuse(std::string("column '") + declared.name + "' of table '" +
                      tables_[open_table_].table().name + "' is f64, plugin wrote " +
                      non_finite_name(value));
    }
    cell->f64 = value;
    return 0;
}

int RowBatch::put_bool(uint32_t column, bool value) {
    Cell* cell = target(column, NOMNOM_TYPE_BOOL);
    if (cell == nullptr) return 1;
    cell->i64 = value ? 1 : 0;
    return 0;
}

int RowBatch::put_text(uint32_t column, const char* data, size_t length) {
    if (data == nullptr && length > 0) return refuse("put_text: NULL data with non-zero length");
    TableRows& rows = tables_[open_table_ < 0 ? 0 : open_table_];
    if (rows.text_.size() + length > std::numeric_limits<uint32_t>::max()) {
        return refuse("put_text: batch text exceeds 4 GiB");
    }
    Cell* cell = target(column, NOMNOM_TYPE_TEXT);
    if (cell == nullptr) return 1;
    // Text is UTF-8 by the ABI: PostgreSQL would refuse anything else at the write, SQLite store
    // it, a published row carry it as invalid JSON.
    if (const size_t bad = invalid_utf8_offset({data, length}); bad != std::string_view::npos) {
        const nomnom_column& declared = rows.table().columns[column];
        cell->is_set = false;
        return refuse(std::string("column '") + declared.name + "' of table '" + rows.table().name +
                      "' is " + type_name(declared.type) +
                      ", plugin wrote text that is not UTF-8 (byte " + std::to_string(bad) +
                      " of " + std::to_string(length) + ")");
    }
    // Not JSON at all: SQLite would store it, a published row carry it (PostgreSQL's jsonb, which
    // refuses it too, also refuses "\u0000", a data error at the write).
    if (const nomnom_column& declared = rows.table().columns[column];
        declared.type == NOMNOM_TYPE_JSON) {
        if (std::string error = json_error({data, length}); !error.empty()) {
            cell->is_set = false;
            return refuse(std::string("column '") + declared.name + "' of table '" +
                          rows.table().name +
                          "' is json, plugin wrote text that is not JSON: " + error);
        }
    }
    const size_t offset = rows.text_.size();
    rows.text_.append(data, length);
    cell->text_offset = static_cast<uint32_t>(offset);
    cell->text_length = static_cast<uint32_t>(length);
    return 0;
}

int RowBatch::end_row() {
    if (open_table_ < 0) return refuse("end_row: no row begun");
    TableRows& rows = tables_[open_table_];
    const size_t first = (rows.row_count() - 1) * rows.column_count();
    for (size_t c = 0; c < rows.column_count(); ++c) {
        const nomnom_column& declared = rows.table().columns[c];
        if (!rows.cells_[first + c].is_set && !declared.nullable) {
            return refuse(std::string("column '") + declared.name + "' of table '" +
                          rows.table().name + "' is NOT NULL but was not set");
        }
    }
    open_table_ = -1;
    return 0;
}

}  // namespace nomnom::host
