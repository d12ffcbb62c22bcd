#pragma once

// The hot paths (COPY, prepared upserts, multi-statement DDL) use the native handles under SOCI's
// sessions: SOCI gives us pooling and connection management, libpq and sqlite3 give us COPY and
// statement reuse without per-value allocations.

#include <libpq-fe.h>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <set>
#include <string>
#include <vector>

#include "db/database.hpp"

namespace nomnom::host {

using sqlite3_handle = sqlite_api::sqlite3;
using sqlite3_stmt_handle = sqlite_api::sqlite3_stmt;

PGconn* pg_connection(soci::session& session);
sqlite3_handle* sqlite_connection(soci::session& session);

bool connection_ok(soci::session& session, Dialect dialect);

const char* column_sql_type(uint32_t type, Dialect dialect);
// A TEXT column of a MySQL table's conflict keys: 255 characters of utf8mb4 (4 bytes each) stay
// within InnoDB's 3,072-byte index key for up to three such columns; nomnom-gen uses the same.
inline constexpr const char* kMySqlTextKeyType = "VARCHAR(255)";

// Runs statements without parameters; throws DbError.
void execute_script(soci::session& session, Dialect dialect, const std::string& sql);

// Column names of `table`, empty when the table does not exist.
std::set<std::string> table_columns(soci::session& session, Dialect dialect, const char* table);

// The column sets of `table`'s unique indexes (its primary key included), without partial and
// expression indexes: the conflict targets an upsert's ON CONFLICT can name.
std::vector<std::set<std::string>> unique_column_sets(soci::session& session, Dialect dialect,
                                                      const char* table);

// Throws a DbError built from a failed libpq result (or the connection's error when null).
[[noreturn]] void throw_pg_error(PGconn* connection, PGresult* result, const std::string& what);
[[noreturn]] void throw_sqlite_error(sqlite3_handle* connection, int code, const std::string& what);

// RAII for results and statements.
struct PgResult {
    PGresult* result;
    explicit PgResult(PGresult* r) : result(r) {}
    ~PgResult() { PQclear(result); }
    PgResult(const PgResult&) = delete;
    PgResult& operator=(const PgResult&) = delete;
};

class SqliteStatement {
  public:
    SqliteStatement(sqlite3_handle* connection, const std::string& sql);
    ~SqliteStatement();
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;
    sqlite3_stmt_handle* get() const { return statement_; }
    // Steps to completion and resets for the next bindings; throws DbError.
    void run(const char* what);

  private:
    sqlite3_handle* connection_;
    sqlite3_stmt_handle* statement_ = nullptr;
};

}  // namespace nomnom::host
