#include "pipeline/mysql_writer.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "db/mysql_native.hpp"
#include "nomnom/common/timestamp.hpp"
#include "pipeline/batch_writer.hpp"
#include "plugins/reserved_columns.hpp"
#include "plugins/row_json.hpp"

namespace nomnom::host {
namespace {

// Per table layout and database, which columns the server stores as DATETIME or TIMESTAMP: asked
// once per worker thread, like the connection a batch is written on.
thread_local std::unordered_map<std::string, std::vector<bool>> datetime_columns_of;

const std::vector<bool>& datetime_columns(MYSQL* connection, const nomnom_table& table) {
    std::string signature = std::string(connection->db ? connection->db : "") + '\n' + table.name;
    for (uint32_t c = 0; c < table.column_count; ++c)
        signature += '\n' + std::string(table.columns[c].name);
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

void append_literal(MYSQL* connection, std::string& out, const TableRows& rows, const Cell& cell,
                    uint32_t type, bool datetime) {
    if (cell.is_null) {
        out += "NULL";
        return;
    }
    switch (type) {
        case NOMNOM_TYPE_I64: {
            char buffer[24];
            out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, cell.i64).ptr);
            break;
        }
        case NOMNOM_TYPE_F64:
            // Finite (the row checks refuse NaN and infinities); exponent form when shorter,
            // which MySQL reads as a DOUBLE literal.
            out += shortest_double(cell.f64);
            break;
        case NOMNOM_TYPE_BOOL:
            out += cell.i64 != 0 ? "TRUE" : "FALSE";
            break;
        default:
            if (datetime) {
                // What PostgreSQL's timestamptz reads; text of another form goes as it is, for
                // the server to refuse with its own message.
                if (const auto utc = rfc3339_as_utc_datetime(rows.text(cell))) {
                    mysql_append_quoted(connection, out, *utc);
                    break;
                }
            }
            mysql_append_quoted(connection, out, rows.text(cell));
    }
}

}  // namespace

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
    std::vector<size_t> order(rows.row_count());
    std::iota(order.begin(), order.end(), size_t{0});
    if (sequences != nullptr) {
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return sequences->message_sequence(rows.message_of(a)) <
                   sequences->message_sequence(rows.message_of(b));
        });
    }
    const std::string head =
        "INSERT INTO " + quote_identifier(table.name) + " (" + column_list(table) +
        (sequences != nullptr ? ", " + std::string(kSequenceColumn) : "") + ") VALUES ";
    const std::string action = duplicate_key_action(table, sequences != nullptr);
    const std::vector<bool>& datetime = datetime_columns(connection, table);
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
        row_sql.clear();
        row_sql += '(';
        for (size_t c = 0; c < rows.column_count(); ++c) {
            if (c > 0) row_sql += ", ";
            append_literal(connection, row_sql, rows, rows.cell(row, c), table.columns[c].type,
                           datetime[c]);
        }
        if (sequences != nullptr) {
            row_sql += ", ";
            row_sql += std::to_string(sequences->message_sequence(rows.message_of(row)));
        }
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
