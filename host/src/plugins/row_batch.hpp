#pragma once

#include <nomnom/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nomnom::host {

// One value of a row. Text lives in the owning TableRows' arena so that a batch of thousands of
// rows costs a handful of allocations, not one per cell.
struct Cell {
    bool is_set = false;
    bool is_null = true;
    int64_t i64 = 0;
    double f64 = 0;
    uint32_t text_offset = 0;
    uint32_t text_length = 0;
};

// The rows a batch writes into one table, in the order the plugin produced them (stream order).
class TableRows {
  public:
    explicit TableRows(const nomnom_table& table) : table_(&table) {}

    const nomnom_table& table() const { return *table_; }
    size_t column_count() const { return table_->column_count; }
    size_t row_count() const { return row_message_.size(); }
    const Cell& cell(size_t row, size_t column) const {
        return cells_[row * column_count() + column];
    }
    std::string_view text(const Cell& cell) const {
        return {text_.data() + cell.text_offset, cell.text_length};
    }
    // Index, within the batch, of the message that produced `row`.
    uint32_t message_of(size_t row) const { return row_message_[row]; }

  private:
    friend class RowBatch;
    const nomnom_table* table_;
    std::vector<Cell> cells_;
    std::vector<uint32_t> row_message_;
    std::string text_;
};

// Host-owned buffer of every row a batch of messages produced, filled through the row-sink calls
// of the host API. The plugin's writes are checked against the table descriptors as they arrive:
// the first refusal is kept as the message's error, and the message's rows are discarded.
class RowBatch {
  public:
    explicit RowBatch(const nomnom_plugin_descriptor& descriptor);

    void clear();
    // `stream_sequence` is the message's: its rows carry it into a table with the host's
    // sequence column, where the row of the newest message wins.
    void begin_message(uint32_t message_index, uint64_t stream_sequence);
    uint64_t message_sequence(uint32_t message_index) const {
        return message_sequences_[message_index];
    }
    // Drops every row the current message wrote.
    void discard_message();
    // First refusal since begin_message, or empty.
    const std::string& message_error() const { return error_; }
    // Rows must be complete when parse returns.
    void finish_message();

    const std::vector<TableRows>& tables() const { return tables_; }
    size_t total_rows() const;

    int begin_row(uint32_t table);
    int put_null(uint32_t column);
    int put_i64(uint32_t column, int64_t value);
    int put_f64(uint32_t column, double value);
    int put_bool(uint32_t column, bool value);
    int put_text(uint32_t column, const char* data, size_t length);
    int end_row();
    // Records the first reason the current message's rows cannot be used; returns 1.
    int refuse(std::string reason) noexcept;

    nomnom_row_sink* as_sink() { return reinterpret_cast<nomnom_row_sink*>(this); }
    static RowBatch* from(nomnom_row_sink* sink) { return reinterpret_cast<RowBatch*>(sink); }
    const nomnom_rows* as_rows() const { return reinterpret_cast<const nomnom_rows*>(this); }
    static const RowBatch* from(const nomnom_rows* rows) {
        return reinterpret_cast<const RowBatch*>(rows);
    }

  private:
    struct Mark {
        size_t rows;
        size_t text;
    };

    Cell* target(uint32_t column, nomnom_type type);

    const nomnom_plugin_descriptor& descriptor_;
    std::vector<TableRows> tables_;
    std::vector<Mark> marks_;
    std::vector<uint64_t> message_sequences_;  // by message index
    uint32_t message_index_ = 0;
    int64_t open_table_ = -1;
    std::string error_;
};

// "NaN", "+Infinity" or "-Infinity": how a refused non-finite f64 is named in error messages.
const char* non_finite_name(double value);

}  // namespace nomnom::host
