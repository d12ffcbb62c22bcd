// The database half of the host API table: db_dialect and db_execute, which persist calls on the
// host's open transaction.

#include "db/plugin_db_api.hpp"

#include <cmath>
#include <string>
#include <vector>

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

}  // namespace

const nomnom_host_api* host_api() {
    static const nomnom_host_api api = make_host_api(db_dialect, db_execute);
    return &api;
}

}  // namespace nomnom::host
