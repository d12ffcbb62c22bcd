#pragma once

// MySQL and MariaDB under SOCI's sessions: SOCI pools and (re)connects, the client library's
// own handle runs the statements (multi-statement DDL, the batch's INSERT, escaping), as libpq
// and sqlite3 do for the other dialects (native_db.hpp).

#include <soci/mysql/soci-mysql.h>
#include <soci/soci.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nomnom/common/mysql_url.hpp"

namespace nomnom::host {

MYSQL* mysql_connection(soci::session& session);

// SOCI's connection string for `url`; `connect_timeout_s` (when given) wins over the url's.
std::string mysql_soci_connect_string(const MySqlUrl& url, std::optional<int> connect_timeout_s);

// Why a server of this version string (mysql_get_server_info: "10.11.6-MariaDB-0+deb12u1",
// "8.0.36") and number (mysql_get_server_version: 101106) is not supported, or nullopt.
std::optional<std::string> unsupported_server(const std::string& server, unsigned long version);

// Readies a fresh connection for the host: strict SQL mode (a value the column cannot hold is an
// error, not a warning and a truncated row), ANSI_QUOTES (identifiers quoted as in PostgreSQL
// and SQLite, so the host's SQL and portable persist SQL read the same), UTC, READ COMMITTED
// (no gap locks between workers upserting neighbouring keys), multi-statement DDL scripts.
// Throws DbError for a server older than the oldest supported version.
void mysql_prepare_session(MYSQL* connection);

// The connection is gone (its last call failed for want of the server): the next lease
// reconnects.
bool mysql_connection_lost(unsigned error_number);
// The server refused the data itself: the same rows will never be accepted.
bool mysql_data_error(unsigned error_number);
// The server is unreachable or refuses every write for now (the breaker holds the batch).
bool mysql_outage_error(unsigned error_number);

// Throws a DbError from the connection's last error; sqlstate() is "mysql:<error number>".
[[noreturn]] void throw_mysql_error(MYSQL* connection, const std::string& what);

// Runs one statement or several separated by ';', discarding any rows; throws DbError.
void mysql_execute(MYSQL* connection, const std::string& sql, const std::string& what);

// Every row of a query's result as text (NULL as nullopt); throws DbError.
std::vector<std::vector<std::optional<std::string>>> mysql_query_rows(MYSQL* connection,
                                                                      const std::string& sql);

// `text` as a quoted SQL string literal in the connection's character set.
void mysql_append_quoted(MYSQL* connection, std::string& out, std::string_view text);

}  // namespace nomnom::host
