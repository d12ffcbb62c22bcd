#include "db/native_db.hpp"

#include <map>
#include <vector>

#include "db/mysql_native.hpp"
#include "nomnom/common/utf8.hpp"

namespace nomnom::host {

using namespace sqlite_api;

PGconn* pg_connection(soci::session& session) {
    return static_cast<soci::postgresql_session_backend*>(session.get_backend())->conn_;
}

sqlite3_handle* sqlite_connection(soci::session& session) {
    return static_cast<soci::sqlite3_session_backend*>(session.get_backend())->conn_;
}

bool connection_ok(soci::session& session, Dialect dialect) {
    if (session.get_backend() == nullptr) return false;
    if (dialect == Dialect::Sqlite) return sqlite_connection(session) != nullptr;
    if (dialect == Dialect::MySql) {
        // The client library keeps no connection state to ask without a round trip: a
        // connection whose last call lost the server is taken as broken.
        MYSQL* connection = mysql_connection(session);
        return connection != nullptr && !mysql_connection_lost(mysql_errno(connection));
    }
    PGconn* connection = pg_connection(session);
    return connection != nullptr && PQstatus(connection) == CONNECTION_OK;
}

const char* column_sql_type(uint32_t type, Dialect dialect) {
    if (dialect == Dialect::MySql) {
        switch (type) {
            case NOMNOM_TYPE_I64:
                return "BIGINT";
            case NOMNOM_TYPE_F64:
                return "DOUBLE";
            case NOMNOM_TYPE_BOOL:
                return "BOOLEAN";
            case NOMNOM_TYPE_JSON:
                return "JSON";
            default:
                return "LONGTEXT";
        }
    }
    const bool pg = dialect == Dialect::Postgres;
    switch (type) {
        case NOMNOM_TYPE_I64:
            return pg ? "BIGINT" : "INTEGER";
        case NOMNOM_TYPE_F64:
            return pg ? "DOUBLE PRECISION" : "REAL";
        case NOMNOM_TYPE_BOOL:
            return pg ? "BOOLEAN" : "INTEGER";
        case NOMNOM_TYPE_JSON:
            return pg ? "JSONB" : "TEXT";
        default:
            return "TEXT";
    }
}

void throw_pg_error(PGconn* connection, PGresult* result, const std::string& what) {
    std::string sqlstate;
    std::string message;
    if (result != nullptr) {
        if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = state;
        message = PQresultErrorMessage(result);
    }
    if (message.empty()) message = PQerrorMessage(connection);
    if (sqlstate.empty() && PQstatus(connection) != CONNECTION_OK) sqlstate = "08006";
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
    }
    throw DbError(what + ": " + message + (sqlstate.empty() ? "" : " [SQLSTATE " + sqlstate + "]"),
                  sqlstate, is_data_sqlstate(sqlstate));
}

void throw_sqlite_error(sqlite3_handle* connection, int code, const std::string& what) {
    const int primary = code & 0xff;
    const bool data = primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH ||
                      primary == SQLITE_TOOBIG || primary == SQLITE_RANGE;
    throw DbError(
        what + ": " + sqlite3_errmsg(connection) + " [sqlite " + std::to_string(code) + "]",
        "sqlite:" + std::to_string(code), data);
}

void execute_script(soci::session& session, Dialect dialect, const std::string& sql) {
    if (dialect == Dialect::MySql) {
        mysql_execute(mysql_connection(session), sql, std::string(utf8_prefix(sql, 60)));
        return;
    }
    if (dialect == Dialect::Postgres) {
        PGconn* connection = pg_connection(session);
        PgResult result(PQexec(connection, sql.c_str()));
        const auto status = PQresultStatus(result.result);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            throw_pg_error(connection, result.result, std::string(utf8_prefix(sql, 60)));
        }
        return;
    }
    sqlite3_handle* connection = sqlite_connection(session);
    char* error = nullptr;
    const int code = sqlite3_exec(connection, sql.c_str(), nullptr, nullptr, &error);
    sqlite3_free(error);
    if (code != SQLITE_OK) throw_sqlite_error(connection, code, std::string(utf8_prefix(sql, 60)));
}

namespace {

// "SELECT ... WHERE table_schema = DATABASE() AND table_name = '<table>'" for information_schema.
std::string mysql_schema_query(MYSQL* connection, const std::string& select, const char* table) {
    std::string sql = select + " WHERE table_schema = DATABASE() AND table_name = ";
    mysql_append_quoted(connection, sql, table);
    return sql;
}

}  // namespace

std::set<std::string> table_columns(soci::session& session, Dialect dialect, const char* table) {
    std::set<std::string> columns;
    if (dialect == Dialect::MySql) {
        MYSQL* connection = mysql_connection(session);
        for (const auto& row : mysql_query_rows(
                 connection,
                 mysql_schema_query(connection,
                                    "SELECT column_name FROM information_schema.columns", table))) {
            columns.insert(row.at(0).value_or(""));
        }
        return columns;
    }
    if (dialect == Dialect::Postgres) {
        PGconn* connection = pg_connection(session);
        const char* params[] = {table};
        PgResult result(PQexecParams(connection,
                                     "SELECT column_name FROM information_schema.columns "
                                     "WHERE table_schema = current_schema() AND table_name = $1",
                                     1, nullptr, params, nullptr, nullptr, 0));
        if (PQresultStatus(result.result) != PGRES_TUPLES_OK) {
            throw_pg_error(connection, result.result, "reading columns of " + std::string(table));
        }
        for (int row = 0; row < PQntuples(result.result); ++row) {
            columns.insert(PQgetvalue(result.result, row, 0));
        }
        return columns;
    }
    SqliteStatement statement(sqlite_connection(session), "SELECT name FROM pragma_table_info(?1)");
    sqlite3_bind_text(statement.get(), 1, table, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(statement.get()) == SQLITE_ROW) {
        columns.insert(reinterpret_cast<const char*>(sqlite3_column_text(statement.get(), 0)));
    }
    return columns;
}

std::vector<std::set<std::string>> unique_column_sets(soci::session& session, Dialect dialect,
                                                      const char* table) {
    std::map<std::string, std::set<std::string>> indexes;
    if (dialect == Dialect::MySql) {
        // A prefix (sub_part) makes two keys sharing it one, an expression (no column_name) is
        // not the keys: such an index is no conflict target.
        MYSQL* connection = mysql_connection(session);
        std::set<std::string> partial;
        for (const auto& row : mysql_query_rows(
                 connection, mysql_schema_query(connection,
                                                "SELECT index_name, column_name, sub_part FROM "
                                                "information_schema.statistics",
                                                table) +
                                 " AND non_unique = 0")) {
            const std::string index = row.at(0).value_or("");
            if (!row.at(1) || row.at(2)) {
                partial.insert(index);
            } else {
                indexes[index].insert(*row.at(1));
            }
        }
        for (const std::string& index : partial) indexes.erase(index);
    } else if (dialect == Dialect::Postgres) {
        PGconn* connection = pg_connection(session);
        const char* params[] = {table};
        PgResult result(
            PQexecParams(connection,
                         "SELECT i.indexrelid::text, a.attname FROM pg_index i "
                         "JOIN pg_class c ON c.oid = i.indrelid "
                         "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
                         "WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace "
                         "AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL",
                         1, nullptr, params, nullptr, nullptr, 0));
        if (PQresultStatus(result.result) != PGRES_TUPLES_OK) {
            throw_pg_error(connection, result.result,
                           "reading unique indexes of " + std::string(table));
        }
        for (int row = 0; row < PQntuples(result.result); ++row) {
            indexes[PQgetvalue(result.result, row, 0)].insert(PQgetvalue(result.result, row, 1));
        }
    } else {
        SqliteStatement list(sqlite_connection(session),
                             "SELECT il.name, ii.name FROM pragma_index_list(?1) AS il "
                             "JOIN pragma_index_info(il.name) AS ii "
                             "WHERE il.\"unique\" = 1 AND il.partial = 0");
        sqlite3_bind_text(list.get(), 1, table, -1, SQLITE_TRANSIENT);
        std::set<std::string> with_expressions;
        while (sqlite3_step(list.get()) == SQLITE_ROW) {
            const std::string index =
                reinterpret_cast<const char*>(sqlite3_column_text(list.get(), 0));
            const auto* column = sqlite3_column_text(list.get(), 1);
            if (column == nullptr) {
                with_expressions.insert(index);  // an expression, not a column
            } else {
                indexes[index].insert(reinterpret_cast<const char*>(column));
            }
        }
        for (const std::string& index : with_expressions) indexes.erase(index);
    }
    std::vector<std::set<std::string>> sets;
    for (auto& [index, columns] : indexes) sets.push_back(std::move(columns));
    return sets;
}

SqliteStatement::SqliteStatement(sqlite3_handle* connection, const std::string& sql)
    : connection_(connection) {
    const int code = sqlite3_prepare_v2(connection, sql.c_str(), static_cast<int>(sql.size()),
                                        &statement_, nullptr);
    if (code != SQLITE_OK)
        throw_sqlite_error(connection, code, "prepare " + std::string(utf8_prefix(sql, 60)));
}

SqliteStatement::~SqliteStatement() {
    sqlite3_finalize(statement_);
}

void SqliteStatement::run(const char* what) {
    int code;
    while ((code = sqlite3_step(statement_)) == SQLITE_ROW) {
    }
    try {
        if (code != SQLITE_DONE) throw_sqlite_error(connection_, code, what);
    } catch (...) {
        sqlite3_reset(statement_);
        sqlite3_clear_bindings(statement_);
        throw;
    }
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
}

}  // namespace nomnom::host
