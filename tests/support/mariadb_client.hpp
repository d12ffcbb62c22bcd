#pragma once

#include <cstdint>
#include <string>

#include "support/test_database.hpp"

struct st_mysql;

namespace nomnom::testing {

// One MariaDB Connector/C connection for the test helpers, opened from a
// mysql://user:password@host:port/database URL (mariadb:// too; user and password may be
// percent-encoded). Errors throw std::runtime_error with the statement and the server's message.
class MariaDbConnection {
  public:
    // `database` overrides the URL's; empty connects to none (for CREATE and DROP DATABASE).
    explicit MariaDbConnection(const std::string& url);
    MariaDbConnection(const std::string& url, const std::string& database);
    ~MariaDbConnection();
    MariaDbConnection(const MariaDbConnection&) = delete;
    MariaDbConnection& operator=(const MariaDbConnection&) = delete;

    // Runs one or more statements (separated by ';'), discarding any rows.
    void exec(const std::string& sql);
    // The rows of the last statement's result set.
    TestDatabase::Rows query_rows(const std::string& sql);
    // The single non-NULL value of a one-row, one-column result.
    std::int64_t query_int64(const std::string& sql);

  private:
    void open(const std::string& url, const std::string* database);
    TestDatabase::Rows run(const std::string& sql, bool keep_rows);

    st_mysql* connection_ = nullptr;
};

// Points a mysql:// URL at another database, keeping user, password, host, port and query
// parameters.
std::string mariadb_url_with_database(const std::string& url, const std::string& database);

// `name` as a quoted identifier (`name`, backquotes doubled).
std::string mariadb_quote_identifier(const std::string& name);

}  // namespace nomnom::testing
