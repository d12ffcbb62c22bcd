#include "pg_test_db.hpp"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace nomnom::testing {

namespace {

constexpr const char* kUrlVariable = "NOMNOM_TEST_PG_URL";

struct ResultDeleter {
    void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnectionDeleter {
    void operator()(PGconn* connection) const { PQfinish(connection); }
};
using ConnectionPtr = std::unique_ptr<PGconn, ConnectionDeleter>;

// "NOTICE: database ... does not exist, skipping" and the like would only clutter test output.
void ignore_notice(void*, const char*) {}

ConnectionPtr connect(const std::string& url) {
    const char* keywords[] = {"dbname", "connect_timeout", nullptr};
    const char* values[] = {url.c_str(), "10", nullptr};
    ConnectionPtr connection(PQconnectdbParams(keywords, values, 1));
    if (connection == nullptr) throw std::runtime_error("PQconnectdbParams: out of memory");
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        throw std::runtime_error("connecting to " + url + ": " + PQerrorMessage(connection.get()));
    }
    PQsetNoticeProcessor(connection.get(), ignore_notice, nullptr);
    return connection;
}

void exec_on(PGconn* connection, const std::string& sql) {
    ResultPtr result(PQexec(connection, sql.c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw std::runtime_error(sql + ": " + PQerrorMessage(connection));
    }
}

// Points a postgresql:// URL (or a key=value conninfo) at another database, keeping host,
// port, user and query parameters.
std::string with_database(const std::string& base, const std::string& database) {
    const auto scheme = base.find("://");
    if (scheme == std::string::npos) return base + " dbname=" + database;
    const auto path = base.find_first_of("/?", scheme + 3);
    if (path == std::string::npos) return base + "/" + database;
    const auto query = base.find('?', path);
    const std::string rest = query == std::string::npos ? "" : base.substr(query);
    return base.substr(0, path) + "/" + database + rest;
}

}  // namespace

PgTestDb::PgTestDb() {
    const char* base = std::getenv(kUrlVariable);
    if (base == nullptr || *base == '\0') {
        throw std::runtime_error(
            std::string(kUrlVariable) +
            " is not set: run the tests through tests/run.sh, which starts a throwaway "
            "PostgreSQL cluster (scripts/pg-test-cluster.sh) and exports it");
    }
    base_url_ = base;
    static std::atomic<unsigned> counter{0};
    name_ = "nn_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    url_ = with_database(base_url_, name_);

    ConnectionPtr admin = connect(base_url_);
    // A crashed earlier run with the same pid may have left this name behind.
    exec_on(admin.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    exec_on(admin.get(), "CREATE DATABASE " + name_);
    try {
        connection_ = connect(url_).release();
    } catch (...) {
        exec_on(admin.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        throw;
    }
}

PgTestDb::~PgTestDb() {
    PQfinish(connection_);
    try {
        ConnectionPtr admin = connect(base_url_);
        exec_on(admin.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& error) {
        std::cerr << "PgTestDb: could not drop " << name_ << ": " << error.what() << '\n';
    }
}

PGresult* PgTestDb::run(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        PQclear(result);
        throw std::runtime_error(sql + ": " + PQerrorMessage(connection_));
    }
    return result;
}

void PgTestDb::exec(const std::string& sql) {
    PQclear(run(sql));
}

std::int64_t PgTestDb::lock_waiters() {
    exec("SELECT pg_stat_clear_snapshot()");
    return query_int64(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "wait_event_type = 'Lock'");
}

std::int64_t PgTestDb::query_int64(const std::string& sql) {
    ResultPtr result(run(sql));
    if (PQntuples(result.get()) != 1 || PQnfields(result.get()) != 1) {
        throw std::runtime_error(sql + ": expected 1 row and 1 column, got " +
                                 std::to_string(PQntuples(result.get())) + " rows and " +
                                 std::to_string(PQnfields(result.get())) + " columns");
    }
    if (PQgetisnull(result.get(), 0, 0)) throw std::runtime_error(sql + ": result is NULL");
    const std::string_view text = PQgetvalue(result.get(), 0, 0);
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        throw std::runtime_error(sql + ": not an int64: " + std::string(text));
    }
    return value;
}

PgTestDb::Rows PgTestDb::query_rows(const std::string& sql) {
    ResultPtr result(run(sql));
    Rows rows(static_cast<std::size_t>(PQntuples(result.get())));
    const int columns = PQnfields(result.get());
    for (int row = 0; row < PQntuples(result.get()); ++row) {
        auto& values = rows[static_cast<std::size_t>(row)];
        for (int column = 0; column < columns; ++column) {
            if (PQgetisnull(result.get(), row, column)) {
                values.emplace_back();
            } else {
                values.emplace_back(PQgetvalue(result.get(), row, column));
            }
        }
    }
    return rows;
}

}  // namespace nomnom::testing
