#include "mariadb_test_db.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string_view>

#include "mariadb_client.hpp"

namespace nomnom::testing {

namespace {

constexpr const char* kUrlVariable = "NOMNOM_TEST_MARIADB_URL";

// DROP DATABASE waits for the metadata locks of every session still in the database (a host
// under test that was not stopped, a transaction left open), so those are killed first, as
// PostgreSQL's DROP DATABASE ... WITH (FORCE) does; lock_wait_timeout bounds what is left
// (its default is a day).
void drop_database(MariaDbConnection& admin, const std::string& name) {
    admin.exec("SET SESSION lock_wait_timeout = 30");
    const auto sessions =
        admin.query_rows("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" + name +
                         "' AND ID <> CONNECTION_ID()");
    for (const auto& session : sessions) {
        try {
            admin.exec("KILL " + session.at(0).value());
        } catch (const std::runtime_error&) {
            // It ended between the listing and the KILL.
        }
    }
    admin.exec("DROP DATABASE IF EXISTS " + mariadb_quote_identifier(name));
}

}  // namespace

MariaDbTestDb::MariaDbTestDb() {
    const char* base = std::getenv(kUrlVariable);
    if (base == nullptr || *base == '\0') {
        throw std::runtime_error(
            std::string(kUrlVariable) +
            " is not set: run the tests through tests/run.sh, which starts a throwaway MariaDB "
            "server (scripts/mariadb-test-server.sh) and exports it");
    }
    base_url_ = base;
    static std::atomic<unsigned> counter{0};
    name_ = "nn_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    url_ = mariadb_url_with_database(base_url_, name_);

    MariaDbConnection admin(base_url_, "");
    // A crashed earlier run with the same pid may have left this name behind.
    drop_database(admin, name_);
    admin.exec("CREATE DATABASE " + mariadb_quote_identifier(name_));
    try {
        connection_ = std::make_unique<MariaDbConnection>(url_);
    } catch (...) {
        drop_database(admin, name_);
        throw;
    }
}

MariaDbTestDb::~MariaDbTestDb() {
    connection_.reset();
    try {
        MariaDbConnection admin(base_url_, "");
        drop_database(admin, name_);
    } catch (const std::exception& error) {
        std::cerr << "MariaDbTestDb: could not drop " << name_ << ": " << error.what() << '\n';
    }
}

void MariaDbTestDb::exec(const std::string& sql) {
    connection_->exec(sql);
}

std::int64_t MariaDbTestDb::query_int64(const std::string& sql) {
    return connection_->query_int64(sql);
}

MariaDbTestDb::Rows MariaDbTestDb::query_rows(const std::string& sql) {
    return connection_->query_rows(sql);
}

std::int64_t MariaDbTestDb::lock_waiters() {
    // A row lock wait shows in PROCESSLIST as the statement's ordinary state ("Updating"); only
    // InnoDB says LOCK WAIT. Not from information_schema.INNODB_TRX: its cache is refreshed only
    // after 100 ms without a reader, so a caller polling it (eventually(), or tests beside on
    // the shared server) can keep it stale for good. SHOW ENGINE INNODB STATUS is made on each
    // call; its transactions read "---TRANSACTION ...", "LOCK WAIT ...", "... thread id N, ...".
    const Rows status = query_rows("SHOW ENGINE INNODB STATUS");
    const std::string text = status.at(0).at(2).value_or("");
    std::string waiting;
    for (auto block = text.find("\n---TRANSACTION "); block != std::string::npos;) {
        const auto next = text.find("\n---TRANSACTION ", block + 1);
        const std::string_view transaction = std::string_view(text).substr(
            block, next == std::string::npos ? std::string::npos : next - block);
        const auto thread = transaction.find(" thread id ");
        if (transaction.find("\nLOCK WAIT ") != std::string_view::npos &&
            thread != std::string_view::npos) {
            const auto digits = transaction.substr(thread + 11);
            const auto length = digits.find_first_not_of("0123456789");
            if (length != 0) waiting += "," + std::string(digits.substr(0, length));
        }
        block = next;
    }
    // Metadata and table-level lock waits are states of their own.
    std::string sql =
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND "
        "ID <> CONNECTION_ID() AND (STATE LIKE 'Waiting for%lock'";
    if (!waiting.empty()) sql += " OR ID IN (" + waiting.substr(1) + ")";
    return query_int64(sql + ")");
}

}  // namespace nomnom::testing
