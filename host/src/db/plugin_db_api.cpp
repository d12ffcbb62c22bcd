// The database half of the host API table: db_dialect and db_execute, which persist calls on the
// host's open transaction.

#include "db/plugin_db_api.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "db/mysql_native.hpp"
#include "db/native_db.hpp"
#include "isolation/inflight_record.hpp"
#include "plugins/host_api.hpp"
#include "plugins/row_batch.hpp"
#include "plugins/row_json.hpp"

namespace nomnom::host {
namespace {

const char* db_dialect(const nomnom_db* db) {
    return dialect_name(reinterpret_cast<const DbLease*>(db)->dialect());
}

std::string value_as_text(const nomnom_value& value) {
    switch (value.type) {
        case NOMNOM_TYPE_I64:
            return std::to_string(value.i64);
        case NOMNOM_TYPE_BOOL:
            return value.i64 != 0 ? "true" : "false";
        case NOMNOM_TYPE_F64:
            return shortest_double(value.f64);
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

// MySQL has no numbered parameters: each $n outside quotes and comments becomes the literal of
// parameter n, escaped by the client library (as PostgreSQL receives them, typed by their use).
std::string mysql_with_literals(MYSQL* connection, std::string_view sql, const nomnom_value* params,
                                uint32_t count) {
    std::string out;
    out.reserve(sql.size());
    size_t i = 0;
    const auto copy_until = [&](std::string_view end) {
        const size_t found = sql.find(end, i);
        const size_t stop = found == std::string_view::npos ? sql.size() : found + end.size();
        out.append(sql.substr(i, stop - i));
        i = stop;
    };
    while (i < sql.size()) {
        const char c = sql[i];
        if (c == '\'' || c == '"' || c == '`') {
            // A quoted string or identifier; a backslash escapes the next character in strings.
            size_t end = i + 1;
            while (end < sql.size() && sql[end] != c)
                end += (sql[end] == '\\' && c == '\'') ? 2 : 1;
            end = std::min(end + 1, sql.size());
            out.append(sql.substr(i, end - i));
            i = end;
        } else if (sql.substr(i, 2) == "--" || c == '#') {
            copy_until("\n");
        } else if (sql.substr(i, 2) == "/*") {
            copy_until("*/");
        } else if (c == '$' && i + 1 < sql.size() &&
                   std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
            size_t end = i + 1;
            uint32_t number = 0;
            while (end < sql.size() && std::isdigit(static_cast<unsigned char>(sql[end])) &&
                   number <= count) {
                number = number * 10 + static_cast<uint32_t>(sql[end] - '0');
                ++end;
            }
            if (number == 0 || number > count) {
                throw DbError("db_execute: $" + std::to_string(number) + " but " +
                                  std::to_string(count) + " parameter(s) given",
                              "mysql:params", false);
            }
            const nomnom_value& value = params[number - 1];
            if (value.is_null) {
                out += "NULL";
            } else if (value.type == NOMNOM_TYPE_TEXT || value.type == NOMNOM_TYPE_JSON) {
                mysql_append_quoted(
                    connection, out,
                    std::string_view(value.text.data ? value.text.data : "", value.text.len));
            } else {
                out += value_as_text(value);
            }
            i = end;
        } else {
            out += c;
            ++i;
        }
    }
    return out;
}

void execute_mysql(DbLease& lease, const char* sql, const nomnom_value* params, uint32_t count) {
    MYSQL* connection = mysql_connection(lease.session());
    mysql_execute(connection, mysql_with_literals(connection, sql, params, count), "persist SQL");
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
        if (const auto& failed = lease.recorded_failure()) {
            // As PostgreSQL does in an aborted transaction; MySQL may have rolled the transaction
            // back (a deadlock), and later statements would commit on their own.
            throw DbError("db_execute: an earlier statement of this batch failed (" +
                              std::string(failed->what()) + "); the transaction is aborted",
                          failed->sqlstate(), failed->data_error());
        }
        if (lease.dialect() == Dialect::Postgres) {
            execute_postgres(lease, sql, params, count);
        } else if (lease.dialect() == Dialect::MySql) {
            execute_mysql(lease, sql, params, count);
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

}  // namespace

const nomnom_host_api* host_api() {
    static const nomnom_host_api api = make_host_api(db_dialect, db_execute);
    return &api;
}

}  // namespace nomnom::host
