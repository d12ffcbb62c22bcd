#include "db/mysql_native.hpp"

#include <errmsg.h>
#include <mysqld_error.h>

#include <string>

#include "db/database.hpp"
#include "nomnom/common/utf8.hpp"

namespace nomnom::host {
namespace {

// MariaDB 10.6 and MySQL 8.0 are the oldest still maintained; what the host relies on (utf8mb4,
// JSON, strict mode, ON DUPLICATE KEY UPDATE with VALUES()) is older, but nothing earlier is
// tested.
constexpr unsigned long kOldestMariaDb = 100600;
constexpr unsigned long kOldestMySql = 80000;

void append_parameter(std::string& out, std::string_view name, std::string_view value) {
    out += std::string(out.empty() ? "" : " ") + std::string(name) + "='";
    for (const char c : value) {
        if (c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    out += '\'';
}

}  // namespace

MYSQL* mysql_connection(soci::session& session) {
    return static_cast<soci::mysql_session_backend*>(session.get_backend())->conn_;
}

std::string mysql_soci_connect_string(const MySqlUrl& url, std::optional<int> connect_timeout_s) {
    std::string out;
    // SOCI takes the first of repeated parameters.
    if (connect_timeout_s)
        append_parameter(out, "connect_timeout", std::to_string(*connect_timeout_s));
    append_parameter(out, "db", url.database);
    if (!url.user.empty()) append_parameter(out, "user", url.user);
    if (!url.password.empty()) append_parameter(out, "password", url.password);
    if (!url.host.empty()) {
        append_parameter(out, "host", url.host);
        append_parameter(out, "port", std::to_string(url.port));
    }
    // utf8mb4: the host checks every text it writes is UTF-8, of any plane.
    append_parameter(out, "charset", "utf8mb4");
    for (const auto& [name, value] : url.parameters) {
        append_parameter(out, name == "socket" ? "unix_socket" : name, value);
    }
    // For the writer's LOAD DATA LOCAL, which its own handler feeds from memory: whatever file a
    // server asks for, no file of the host's is ever read.
    append_parameter(out, "local_infile", "1");
    return out;
}

std::optional<std::string> unsupported_server(const std::string& server, unsigned long version) {
    const bool mariadb = server.find("MariaDB") != std::string::npos;
    if (version >= (mariadb ? kOldestMariaDb : kOldestMySql)) return std::nullopt;
    return "server version " + server +
           " is not supported (MariaDB 10.6 or later, MySQL 8.0 or later)";
}

void mysql_prepare_session(MYSQL* connection) {
    if (const auto refusal = unsupported_server(mysql_get_server_info(connection),
                                                mysql_get_server_version(connection))) {
        throw DbError(*refusal, "mysql:version", false);
    }
    if (mysql_set_server_option(connection, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0) {
        throw_mysql_error(connection, "enabling multi-statement scripts");
    }
    mysql_execute(connection,
                  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                  "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,ANSI_QUOTES', "
                  "time_zone = '+00:00'; "
                  "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                  "setting the session up");
}

bool mysql_connection_lost(unsigned error_number) {
    switch (error_number) {
        case CR_CONNECTION_ERROR:
        case CR_CONN_HOST_ERROR:
        case CR_SERVER_GONE_ERROR:
        case CR_SERVER_LOST:
        case 2055:  // CR_SERVER_LOST_EXTENDED
        case ER_SERVER_SHUTDOWN:
        case 1927:  // MariaDB: connection killed
        case 4031:  // MySQL 8: disconnected by the server for inactivity
            return true;
        default:
            return false;
    }
}

bool mysql_data_error(unsigned error_number) {
    switch (error_number) {
        case ER_BAD_NULL_ERROR:                   // 1048
        case ER_DUP_ENTRY:                        // 1062: another unique index than the keys
        case ER_WARN_DATA_OUT_OF_RANGE:           // 1264
        case WARN_DATA_TRUNCATED:                 // 1265
        case ER_TRUNCATED_WRONG_VALUE:            // 1292
        case ER_INVALID_CHARACTER_STRING:         // 1300
        case ER_NO_DEFAULT_FOR_FIELD:             // 1364
        case ER_DIVISION_BY_ZERO:                 // 1365
        case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:  // 1366
        case ER_ILLEGAL_VALUE_FOR_TYPE:           // 1367
        case ER_DATA_TOO_LONG:                    // 1406
        case ER_WRONG_VALUE_FOR_TYPE:             // 1411
        case ER_CANT_CREATE_GEOMETRY_OBJECT:      // 1416
        case ER_ROW_IS_REFERENCED_2:              // 1451
        case ER_NO_REFERENCED_ROW_2:              // 1452
        case ER_DATA_OUT_OF_RANGE:                // 1690
        case 3140:                                // MySQL 8: invalid JSON text
        case 3819:                                // MySQL 8: check constraint violated
        case 4025:                                // MariaDB: CONSTRAINT failed (JSON columns too)
        case ER_NET_PACKET_TOO_LARGE:             // 1153: one row above max_allowed_packet
            return true;
        default:
            return false;
    }
}

bool mysql_outage_error(unsigned error_number) {
    if (mysql_connection_lost(error_number)) return true;
    switch (error_number) {
        case CR_UNKNOWN_HOST:
        case 2026:                          // CR_SSL_CONNECTION_ERROR
        case ER_CON_COUNT_ERROR:            // 1040: too many connections
        case ER_TOO_MANY_USER_CONNECTIONS:  // 1203
        case ER_DISK_FULL:                  // 1021
        case ER_RECORD_FILE_FULL:           // 1114
        case ER_OPTION_PREVENTS_STATEMENT:  // 1290: --read-only (a failover to a replica)
        case 1792:                          // read-only transaction
        case 1836:                          // MySQL: read-only mode
        case 1969:                          // MariaDB: max_statement_time exceeded
        case 3024:                          // MySQL: max_execution_time exceeded
            return true;
        default:
            return false;
    }
}

void throw_mysql_error(MYSQL* connection, const std::string& what) {
    const unsigned number = mysql_errno(connection);
    throw DbError(what + ": " + mysql_error(connection) + " [MySQL error " +
                      std::to_string(number) + ", SQLSTATE " + mysql_sqlstate(connection) + "]",
                  "mysql:" + std::to_string(number), mysql_data_error(number));
}

void mysql_execute(MYSQL* connection, const std::string& sql, const std::string& what) {
    if (mysql_real_query(connection, sql.data(), sql.size()) != 0) {
        throw_mysql_error(connection, what);
    }
    // Every result of a multi-statement script is read, or the connection stays busy; an error
    // in a later statement surfaces here.
    for (;;) {
        if (MYSQL_RES* result = mysql_store_result(connection)) mysql_free_result(result);
        const int more = mysql_next_result(connection);
        if (more < 0) return;
        if (more > 0) throw_mysql_error(connection, what);
    }
}

std::vector<std::vector<std::optional<std::string>>> mysql_query_rows(MYSQL* connection,
                                                                      const std::string& sql) {
    if (mysql_real_query(connection, sql.data(), sql.size()) != 0) {
        throw_mysql_error(connection, std::string(utf8_prefix(sql, 60)));
    }
    MYSQL_RES* result = mysql_store_result(connection);
    if (result == nullptr) throw_mysql_error(connection, std::string(utf8_prefix(sql, 60)));
    std::vector<std::vector<std::optional<std::string>>> rows;
    const unsigned columns = mysql_num_fields(result);
    while (MYSQL_ROW row = mysql_fetch_row(result)) {
        const unsigned long* lengths = mysql_fetch_lengths(result);
        auto& out = rows.emplace_back();
        for (unsigned c = 0; c < columns; ++c) {
            if (row[c] == nullptr) {
                out.emplace_back();
            } else {
                out.emplace_back(std::string(row[c], lengths[c]));
            }
        }
    }
    mysql_free_result(result);
    return rows;
}

void mysql_append_quoted(MYSQL* connection, std::string& out, std::string_view text) {
    const size_t start = out.size();
    out.resize(start + 2 * text.size() + 3);
    out[start] = '\'';
    const unsigned long written =
        mysql_real_escape_string(connection, out.data() + start + 1, text.data(), text.size());
    out[start + 1 + written] = '\'';
    out.resize(start + 2 + written);
}

}  // namespace nomnom::host
