#include "pipeline/batch_writer.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <unordered_map>

#include "db/native_db.hpp"
#include "pipeline/mysql_writer.hpp"

namespace nomnom::host {

std::string column_list(const nomnom_table& table, bool sequenced) {
    std::string list;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        if (c > 0) list += ", ";
        list += quote_identifier(table.columns[c].name);
    }
    if (sequenced) list += ", " + std::string(kSequenceColumn);
    return list;
}

namespace {

std::string key_list(const nomnom_table& table) {
    std::string list;
    for (uint32_t k = 0; k < table.conflict_key_count; ++k) {
        if (k > 0) list += ", ";
        list += quote_identifier(table.conflict_keys[k]);
    }
    return list;
}

template <typename T>
void append_number(std::string& out, T value) {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

// COPY's text format escapes backslash, tab, newline and carriage return; most text has none,
// so it is appended in runs between them rather than a character at a time.
constexpr char copy_escape(char c) {
    switch (c) {
        case '\\':
            return '\\';
        case '\t':
            return 't';
        case '\n':
            return 'n';
        case '\r':
            return 'r';
        default:
            return 0;
    }
}

}  // namespace

void append_copy_text(std::string& out, std::string_view text) {
    size_t run = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char escaped = copy_escape(text[i]);
        if (escaped == 0) continue;
        out.append(text.data() + run, i - run);
        out += '\\';
        out += escaped;
        run = i + 1;
    }
    out.append(text.data() + run, text.size() - run);
}

namespace {

void append_copy_cell(std::string& out, const TableRows& rows, const Cell& cell, uint32_t type) {
    if (cell.is_null) {
        out += "\\N";
        return;
    }
    switch (type) {
        case NOMNOM_TYPE_I64:
            append_number(out, cell.i64);
            break;
        case NOMNOM_TYPE_F64:
            append_number(out, cell.f64);
            break;
        case NOMNOM_TYPE_BOOL:
            out += cell.i64 != 0 ? 't' : 'f';
            break;
        default:
            append_copy_text(out, rows.text(cell));
    }
}

// Rows are sent to COPY in slices of this size: PQputCopyData takes an int length, and the
// buffer of a large batch need not be held whole.
constexpr size_t kCopySliceBytes = size_t{4} << 20;

bool put_copy_data(PGconn* connection, std::string_view data) {
    while (!data.empty()) {
        const size_t slice = std::min(data.size(), kCopySliceBytes);
        if (PQputCopyData(connection, data.data(), static_cast<int>(slice)) != 1) return false;
        data.remove_prefix(slice);
    }
    return true;
}

// A session keeps its temporary staging table across batches, so the name carries the column
// signature: after a reload changes the columns of a table, the new layout gets its own staging
// table instead of COPYing into the stale one. 63 bytes at most, PostgreSQL's identifier limit.
std::string staging_table(const nomnom_table& table, bool sequenced) {
    std::string signature = table.name + std::string(sequenced ? "\nsequenced" : "");
    for (uint32_t c = 0; c < table.column_count; ++c) {
        signature += '\n' + std::string(table.columns[c].name) + ' ' +
                     column_sql_type(table.columns[c].type, Dialect::Postgres);
    }
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(signature));
    return "nn_stage_" + std::string(table.name).substr(0, 37) + "_" + hash;
}

// COPY of every row of `rows` into `target`, whose `columns` end with the sequence column when
// `sequences` is given (each row's message's sequence is appended then); with `ordinal`, each
// row's position in the batch is appended as the last column.
void copy_rows(PGconn* connection, const std::string& target, const std::string& columns,
               const TableRows& rows, const RowBatch* sequences, bool ordinal) {
    const nomnom_table& table = rows.table();
    const std::string copy = "COPY " + target + " (" + columns +
                             (ordinal ? ", " + std::string(kOrderColumn) : "") + ") FROM STDIN";
    {
        PgResult started(PQexec(connection, copy.c_str()));
        if (PQresultStatus(started.result) != PGRES_COPY_IN) {
            throw_pg_error(connection, started.result, "COPY into " + target);
        }
    }
    std::string data;
    data.reserve(std::min(rows.row_count() * rows.column_count() * 16, kCopySliceBytes * 2));
    bool sent = true;
    for (size_t row = 0; row < rows.row_count() && sent; ++row) {
        for (size_t c = 0; c < rows.column_count(); ++c) {
            if (c > 0) data += '\t';
            append_copy_cell(data, rows, rows.cell(row, c), table.columns[c].type);
        }
        if (sequences != nullptr) {
            data += '\t';
            append_number(data, sequences->message_sequence(rows.message_of(row)));
        }
        if (ordinal) {
            data += '\t';
            append_number(data, static_cast<int64_t>(row));
        }
        data += '\n';
        if (data.size() >= kCopySliceBytes) {
            sent = put_copy_data(connection, data);
            data.clear();
        }
    }
    sent = sent && put_copy_data(connection, data);
    if (PQputCopyEnd(connection, sent ? nullptr : "client failed to send data") != 1) {
        throw_pg_error(connection, nullptr, "COPY into " + target);
    }
    PgResult finished(PQgetResult(connection));
    if (PQresultStatus(finished.result) != PGRES_COMMAND_OK) {
        throw_pg_error(connection, finished.result, "COPY into " + target);
    }
    while (PGresult* extra = PQgetResult(connection)) PQclear(extra);
}

// Batches to write through the staged upsert after an optimistic COPY into a table hit a key
// that was already there: a stream of updates then pays for one failed COPY every 16 batches,
// not every batch. Per worker thread, like the connection a batch is written on.
constexpr int kUpsertBatchesAfterConflict = 16;
thread_local std::unordered_map<std::string, int> upserts_before_next_copy;

// Most batches carry only new keys, and a plain COPY into the table is then the whole write;
// the staged upsert (COPY into a temporary table, then INSERT ... SELECT DISTINCT ON ... ON
// CONFLICT) costs PostgreSQL about twice the work. A key already stored, or repeated inside the
// batch, makes the COPY fail with unique_violation: the savepoint undoes it, and the batch takes
// the upsert path, so the outcome is the same either way.
bool try_plain_copy(DbLease& lease, PGconn* connection, const TableRows& rows,
                    const std::string& columns, const RowBatch* sequences) {
    const nomnom_table& table = rows.table();
    int& skip = upserts_before_next_copy[table.name];
    if (skip > 0) {
        --skip;
        return false;
    }
    lease.execute_script("SAVEPOINT nn_copy");
    try {
        copy_rows(connection, quote_identifier(table.name), columns, rows, sequences, false);
    } catch (const DbError& e) {
        if (e.sqlstate() != "23505") throw;
        lease.execute_script("ROLLBACK TO SAVEPOINT nn_copy");
        lease.execute_script("RELEASE SAVEPOINT nn_copy");
        skip = kUpsertBatchesAfterConflict;
        return false;
    }
    lease.execute_script("RELEASE SAVEPOINT nn_copy");
    return true;
}

void write_postgres(DbLease& lease, const TableRows& rows, const RowBatch* sequences) {
    const nomnom_table& table = rows.table();
    PGconn* connection = pg_connection(lease.session());
    const std::string columns = column_list(table, sequences != nullptr);
    if (try_plain_copy(lease, connection, rows, columns, sequences)) return;

    const std::string stage = quote_identifier(staging_table(table, sequences != nullptr).c_str());
    // Typed like the target's columns, not the descriptor's: a TEXT value reaches a DATE, NUMERIC
    // or UUID column through COPY's text input, which an INSERT ... SELECT from a TEXT column
    // would refuse.
    lease.execute_script("CREATE TEMP TABLE IF NOT EXISTS " + stage +
                         " ON COMMIT DELETE ROWS AS SELECT " + columns + ", 0::BIGINT AS " +
                         kOrderColumn + " FROM " + quote_identifier(table.name) + " WITH NO DATA");
    copy_rows(connection, stage, columns, rows, sequences, true);

    // Of a key's rows, the newest message's (and its last row) is the one upserted.
    const std::string keys = key_list(table);
    const std::string newest =
        sequences != nullptr ? std::string(kSequenceColumn) + " DESC, " : std::string();
    const std::string upsert = "INSERT INTO " + quote_identifier(table.name) + " (" + columns +
                               ") SELECT DISTINCT ON (" + keys + ") " + columns + " FROM " + stage +
                               " ORDER BY " + keys + ", " + newest + kOrderColumn + " DESC" +
                               conflict_action(table, sequences != nullptr);
    lease.execute_script(upsert);
}

void write_sqlite(DbLease& lease, const TableRows& rows, const RowBatch* sequences) {
    using namespace sqlite_api;
    const nomnom_table& table = rows.table();
    std::string placeholders;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        placeholders += (c > 0 ? ", ?" : "?") + std::to_string(c + 1);
    }
    const std::string columns = column_list(table, sequences != nullptr);
    const int sequence_index = static_cast<int>(table.column_count + 1);
    if (sequences != nullptr) placeholders += ", ?" + std::to_string(sequence_index);
    SqliteStatement statement(sqlite_connection(lease.session()),
                              "INSERT INTO " + quote_identifier(table.name) + " (" + columns +
                                  ") VALUES (" + placeholders + ")" +
                                  conflict_action(table, sequences != nullptr));
    const std::string what = std::string("upsert into ") + table.name;
    for (size_t row = 0; row < rows.row_count(); ++row) {
        for (size_t c = 0; c < rows.column_count(); ++c) {
            const Cell& cell = rows.cell(row, c);
            const int index = static_cast<int>(c + 1);
            if (cell.is_null) {
                sqlite3_bind_null(statement.get(), index);
                continue;
            }
            switch (table.columns[c].type) {
                case NOMNOM_TYPE_I64:
                case NOMNOM_TYPE_BOOL:
                    sqlite3_bind_int64(statement.get(), index, cell.i64);
                    break;
                case NOMNOM_TYPE_F64:
                    sqlite3_bind_double(statement.get(), index, cell.f64);
                    break;
                default: {
                    const std::string_view text = rows.text(cell);
                    sqlite3_bind_text(statement.get(), index, text.data(),
                                      static_cast<int>(text.size()), SQLITE_STATIC);
                }
            }
        }
        if (sequences != nullptr) {
            sqlite3_bind_int64(
                statement.get(), sequence_index,
                static_cast<sqlite3_int64>(sequences->message_sequence(rows.message_of(row))));
        }
        statement.run(what.c_str());
    }
}

}  // namespace

std::string conflict_action(const nomnom_table& table, bool sequenced) {
    std::string updates;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        if (is_conflict_key(table, table.columns[c].name)) continue;
        const std::string column = quote_identifier(table.columns[c].name);
        updates += (updates.empty() ? "" : ", ") + column + " = excluded." + column;
    }
    const std::string target = " ON CONFLICT (" + key_list(table) + ") DO ";
    if (updates.empty()) return target + "NOTHING";
    if (!sequenced) return target + "UPDATE SET " + updates;
    const std::string stored = quote_identifier(table.name) + "." + kSequenceColumn;
    return target + "UPDATE SET " + updates + ", " + kSequenceColumn + " = excluded." +
           kSequenceColumn + " WHERE " + stored + " IS NULL OR " + stored + " < excluded." +
           kSequenceColumn;
}

void write_batch(DbLease& lease, const RowBatch& batch, const TableOutputs& outputs,
                 const std::set<std::string>& sequenced) {
    for (size_t t = 0; t < batch.tables().size(); ++t) {
        const TableRows& rows = batch.tables()[t];
        if (rows.row_count() == 0 || !outputs[t].store) continue;
        const RowBatch* sequences = sequenced.contains(rows.table().name) ? &batch : nullptr;
        if (lease.dialect() == Dialect::Postgres) {
            write_postgres(lease, rows, sequences);
        } else if (lease.dialect() == Dialect::MySql) {
            write_mysql(lease, rows, sequences);
        } else {
            write_sqlite(lease, rows, sequences);
        }
    }
}

}  // namespace nomnom::host
