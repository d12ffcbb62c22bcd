#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "support/test_database.hpp"

namespace nomnom::testing {

class MariaDbConnection;

// A fresh, uniquely named database on the MariaDB server given by NOMNOM_TEST_MARIADB_URL (set
// by tests/run.sh), dropped again on destruction: PgTestDb's counterpart.
class MariaDbTestDb : public TestDatabase {
  public:
    using Rows = TestDatabase::Rows;

    // Throws std::runtime_error when NOMNOM_TEST_MARIADB_URL is unset or the database cannot be
    // made.
    MariaDbTestDb();
    ~MariaDbTestDb() override;

    TestDbKind kind() const override { return TestDbKind::MariaDb; }
    // The URL of the new database, in the form of NOMNOM_TEST_MARIADB_URL.
    const std::string& url() const override { return url_; }
    const std::string& name() const override { return name_; }

    void exec(const std::string& sql) override;
    std::int64_t query_int64(const std::string& sql) override;
    Rows query_rows(const std::string& sql) override;
    // Sessions whose current database is this one, waiting for an InnoDB row or table lock, or
    // for a metadata or table-level lock, as of now.
    std::int64_t lock_waiters() override;

  private:
    std::string base_url_;
    std::string name_;
    std::string url_;
    std::unique_ptr<MariaDbConnection> connection_;
};

}  // namespace nomnom::testing
