#include "mariadb_test_db.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

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
    // A row lock wait shows in PROCESSLIST as the statement's ordinary state ("Updating",
    // "Sending data"); only InnoDB's transaction list says LOCK WAIT. Metadata and table-level
    // lock waits are states of their own.
    return query_int64(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST p WHERE p.DB = DATABASE() AND "
        "p.ID <> CONNECTION_ID() AND (p.STATE LIKE 'Waiting for%lock' OR p.ID IN (SELECT "
        "trx_mysql_thread_id FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'))");
}

}  // namespace nomnom::testing
