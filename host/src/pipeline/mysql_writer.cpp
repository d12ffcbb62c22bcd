#include "pipeline/mysql_writer.hpp"

#include <spdlog/spdlog.h>

#include <mysqld_error.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include "db/mysql_native.hpp"
#include "nomnom/common/timestamp.hpp"
#include "pipeline/batch_writer.hpp"
#include "plugins/reserved_columns.hpp"
#include "plugins/row_json.hpp"

namespace nomnom::host {
namespace {

// The database, table and columns a write goes to: what the per-thread state below is kept by.
std::string table_signature(MYSQL* connection, const nomnom_table& table) {
    std::string signature = std::string(connection->db ? connection->db : "") + '\n' + table.name;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        signature += '\n' + std::string(table.columns[c].name);
    }
    return signature;
}

// Per table signature, which columns the server stores as DATETIME or TIMESTAMP: asked once per
// worker thread, like the connection a batch is written on.
thread_local std::unordered_map<std::string, std::vector<bool>> datetime_columns_of;

const std::vector<bool>& datetime_columns(MYSQL* connection, const nomnom_table& table,
                                          const std::string& signature) {
    auto found = datetime_columns_of.find(signature);
    if (found != datetime_columns_of.end()) return found->second;
    std::string sql =
        "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND data_type IN ('datetime', 'timestamp') AND table_name = ";
    mysql_append_quoted(connection, sql, table.name);
    std::vector<bool> datetime(table.column_count, false);
    for (const auto& row : mysql_query_rows(connection, sql)) {
        for (uint32_t c = 0; c < table.column_count; ++c) {
            datetime[c] = datetime[c] || row.at(0).value_or("") == table.columns[c].name;
        }
    }
    return datetime_columns_of.emplace(signature, std::move(datetime)).first->second;
}

// How a cell is written: a literal of an INSERT's VALUES, or a field of LOAD DATA's text.
enum class CellForm { Literal, LoadField };

void append_cell(MYSQL* connection, std::string& out, const TableRows& rows, const Cell& cell,
                 uint32_t type, bool datetime, CellForm form) {
    const bool literal = form == CellForm::Literal;
    if (cell.is_null) {
        out += literal ? "NULL" : "\\N";
        return;
    }
    switch (type) {
        case NOMNOM_TYPE_I64: {
            char buffer[24];
            out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, cell.i64).ptr);
            return;
        }
        case NOMNOM_TYPE_F64:
            // Finite (the row checks refuse NaN and infinities); exponent form when shorter,
            // which MySQL reads as a DOUBLE.
            out += shortest_double(cell.f64);
            return;
        case NOMNOM_TYPE_BOOL:
            out += cell.i64 != 0 ? "1" : "0";
            return;
        default:
            break;
    }
    std::string_view text = rows.text(cell);
    // What PostgreSQL's timestamptz reads; text of another form goes as it is, for the server to
    // refuse with its own message.
    const std::optional<std::string> utc = datetime ? rfc3339_as_utc_datetime(text) : std::nullopt;
    if (utc) text = *utc;
    if (literal) {
        mysql_append_quoted(connection, out, text);
    } else {
        append_copy_text(out, text);
    }
}

// `row`'s cells (and its message's sequence with `sequences`), separated as `form` separates them:
// the inside of an INSERT's parentheses, or a LOAD DATA line without its newline.
void append_row(MYSQL* connection, std::string& out, const TableRows& rows, size_t row,
                const RowBatch* sequences, const std::vector<bool>& datetime, CellForm form) {
    const char* separator = form == CellForm::Literal ? ", " : "\t";
    for (size_t c = 0; c < rows.column_count(); ++c) {
        if (c > 0) out += separator;
        append_cell(connection, out, rows, rows.cell(row, c), rows.table().columns[c].type,
                    datetime[c], form);
    }
    if (sequences != nullptr) {
        out += separator;
        out += std::to_string(sequences->message_sequence(rows.message_of(row)));
    }
}

// Tables written through the upsert for the next few batches after a plain LOAD DATA into them
// met a stored key (a stream of updates pays for one failed LOAD DATA every 16 batches), per
// worker thread and table signature, as PostgreSQL's plain COPY does.
constexpr int kUpsertBatchesAfterConflict = 16;
thread_local std::unordered_map<std::string, int> upserts_before_next_load;

int load_init(void** source, const char* /*file the server names, never read*/, void* data) {
    *source = data;
    return 0;
}

int load_read(void* source, char* buffer, unsigned int length) {
    auto& data = *static_cast<std::string_view*>(source);
    const size_t count = std::min<size_t>(length, data.size());
    std::memcpy(buffer, data.data(), count);
    data.remove_prefix(count);
    return static_cast<int>(count);
}

void load_end(void* /*source*/) {}

int load_error(void* /*source*/, char* /*message*/, unsigned int /*length*/) {
    return 0;
}

bool is_local_infile_refusal(unsigned error_number) {
    return error_number == ER_NOT_ALLOWED_COMMAND ||  // 1148, older servers
           error_number == 4166 ||                    // MariaDB 10.5+: capability disabled
           error_number == 3948 ||                    // MySQL 8
           error_number == 2068;                      // CR_LOAD_DATA_LOCAL_INFILE_REJECTED
}

// Most batches carry only new keys, and a LOAD DATA LOCAL of them into the table is about twice
// as fast as the upsert. LOCAL turns a stored or repeated key (skipped) and a bad value
// (adjusted) into warnings, so anything short of every row inserted without a warning is undone
// to the savepoint and left to the upsert, which applies or refuses each row as it should.
bool try_plain_load(DbLease& lease, MYSQL* connection, const TableRows& rows,
                    const std::vector<size_t>& order, const RowBatch* sequences,
                    const std::vector<bool>& datetime, const std::string& signature,
                    const std::string& columns) {
    const nomnom_table& table = rows.table();
    int& skip = upserts_before_next_load[signature];
    // A server with local_infile off: every batch takes the upsert.
    if (lease.local_infile_refused()) return false;
    if (skip > 0) {
        --skip;
        return false;
    }
    std::string data;
    for (const size_t row : order) {
        append_row(connection, data, rows, row, sequences, datetime, CellForm::LoadField);
        data += '\n';
    }
    lease.execute_script("SAVEPOINT nn_load");
    std::string_view source = data;
    mysql_set_local_infile_handler(connection, load_init, load_read, load_end, load_error, &source);
    const std::string load =
        "LOAD DATA LOCAL INFILE 'nomnom-batch' INTO TABLE " + quote_identifier(table.name) +
        " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED "
        "BY '\\n' (" +
        columns + ")";
    const bool loaded = mysql_real_query(connection, load.data(), load.size()) == 0;
    const unsigned error_number = mysql_errno(connection);
    const bool whole = loaded && mysql_affected_rows(connection) == rows.row_count() &&
                       mysql_warning_count(connection) == 0;
    mysql_set_local_infile_default(connection);
    if (!loaded && !is_local_infile_refusal(error_number)) {
        throw_mysql_error(connection, std::string("LOAD DATA into ") + table.name);
    }
    if (!loaded && lease.refuse_local_infile()) {
        spdlog::warn(
            "the MySQL server refuses LOAD DATA LOCAL INFILE ({}): batches of new keys "
            "take the multi-row upsert, about half as fast; SET GLOBAL local_infile = "
            "ON on the server to allow it",
            mysql_error(connection));
    }
    if (whole) {
        lease.execute_script("RELEASE SAVEPOINT nn_load");
        return true;
    }
    lease.execute_script("ROLLBACK TO SAVEPOINT nn_load");
    lease.execute_script("RELEASE SAVEPOINT nn_load");
    if (loaded) skip = kUpsertBatchesAfterConflict;
    return false;
}

// The bytes of `row`'s conflict keys, comparable between rows: the same for the same keys, and an
// order every worker and host agrees on.
std::string key_of(const TableRows& rows, size_t row) {
    const nomnom_table& table = rows.table();
    std::string key;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        if (!is_conflict_key(table, table.columns[c].name)) continue;
        const Cell& cell = rows.cell(row, c);
        if (cell.is_null) {
            key += '\0';
            continue;
        }
        key += '\1';
        switch (table.columns[c].type) {
            case NOMNOM_TYPE_I64:
            case NOMNOM_TYPE_BOOL:
                key.append(reinterpret_cast<const char*>(&cell.i64), sizeof cell.i64);
                break;
            case NOMNOM_TYPE_F64:
                key.append(reinterpret_cast<const char*>(&cell.f64), sizeof cell.f64);
                break;
            default: {
                // Length first, so that ("ab", "c") and ("a", "bc") differ.
                const std::string_view text = rows.text(cell);
                const uint32_t length = static_cast<uint32_t>(text.size());
                key.append(reinterpret_cast<const char*>(&length), sizeof length);
                key.append(text);
            }
        }
    }
    return key;
}

}  // namespace

std::vector<size_t> newest_row_per_key_in_key_order(const TableRows& rows,
                                                    const RowBatch* sequences) {
    // Of a key's rows, the newest message's last one (as PostgreSQL's DISTINCT ON keeps it).
    std::unordered_map<std::string, size_t> newest;
    const auto sequence_of = [&](size_t row) {
        return sequences != nullptr ? sequences->message_sequence(rows.message_of(row)) : 0;
    };
    for (size_t row = 0; row < rows.row_count(); ++row) {
        auto [found, added] = newest.try_emplace(key_of(rows, row), row);
        if (!added && sequence_of(row) >= sequence_of(found->second)) found->second = row;
    }
    // Rows locked in one order by every worker and host: two batches upserting the same keys
    // wait for each other instead of deadlocking.
    std::vector<std::pair<std::string, size_t>> sorted(newest.begin(), newest.end());
    std::sort(sorted.begin(), sorted.end());
    std::vector<size_t> order;
    order.reserve(sorted.size());
    for (const auto& entry : sorted) order.push_back(entry.second);
    return order;
}

std::string duplicate_key_action(const nomnom_table& table, bool sequenced) {
    // Assignments are made left to right, each seeing the ones before: the sequence column is
    // assigned last, after every column has compared against its stored value.
    const std::string newer = std::string("(") + kSequenceColumn + " IS NULL OR " +
                              kSequenceColumn + " <= VALUES(" + kSequenceColumn + "))";
    std::string updates;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        if (is_conflict_key(table, table.columns[c].name)) continue;
        const std::string column = quote_identifier(table.columns[c].name);
        const std::string value = "VALUES(" + column + ")";
        updates += (updates.empty() ? "" : ", ") + column + " = " +
                   (sequenced ? "IF(" + newer + ", " + value + ", " + column + ")" : value);
    }
    if (updates.empty()) {
        const std::string key = quote_identifier(table.conflict_keys[0]);
        return " ON DUPLICATE KEY UPDATE " + key + " = " + key;
    }
    if (sequenced) {
        updates += std::string(", ") + kSequenceColumn + " = IF(" + newer + ", VALUES(" +
                   kSequenceColumn + "), " + kSequenceColumn + ")";
    }
    return " ON DUPLICATE KEY UPDATE " + updates;
}

void write_mysql(DbLease& lease, const TableRows& rows, const RowBatch* sequences) {
    const nomnom_table& table = rows.table();
    MYSQL* connection = mysql_connection(lease.session());
    const std::vector<size_t> order = newest_row_per_key_in_key_order(rows, sequences);
    const std::string signature = table_signature(connection, table);
    const std::vector<bool>& datetime = datetime_columns(connection, table, signature);
    const std::string columns = column_list(table, sequences != nullptr);
    if (try_plain_load(lease, connection, rows, order, sequences, datetime, signature, columns)) {
        return;
    }
    const std::string head =
        "INSERT INTO " + quote_identifier(table.name) + " (" + columns + ") VALUES ";
    const std::string action = duplicate_key_action(table, sequences != nullptr);
    // A quarter of the server's limit: statements of a few MB already amortise the round trip.
    const size_t limit = lease.max_statement_bytes();
    const size_t target = std::min<size_t>(limit / 4, size_t{4} << 20);
    const std::string what = std::string("upsert into ") + table.name;
    std::string sql;
    std::string row_sql;
    size_t rows_in_statement = 0;
    const auto flush = [&] {
        if (rows_in_statement == 0) return;
        sql += action;
        mysql_execute(connection, sql, what);
        sql.clear();
        rows_in_statement = 0;
    };
    for (const size_t row : order) {
        row_sql.assign(1, '(');
        append_row(connection, row_sql, rows, row, sequences, datetime, CellForm::Literal);
        row_sql += ')';
        if (head.size() + row_sql.size() + action.size() > limit) {
            throw DbError(what + ": a row of " + std::to_string(row_sql.size()) +
                              " bytes exceeds the server's max_allowed_packet of " +
                              std::to_string(limit),
                          "mysql:1153", true);
        }
        if (rows_in_statement > 0 && sql.size() + row_sql.size() + action.size() > target) flush();
        sql += rows_in_statement == 0 ? head : std::string(", ");
        sql += row_sql;
        ++rows_in_statement;
    }
    flush();
}

}  // namespace nomnom::host
