#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string>

#include "support/test_database.hpp"

namespace nomnom::testing {

// A fresh, uniquely named database on the server given by NOMNOM_TEST_PG_URL (set by
// tests/run.sh), dropped again on destruction.
class PgTestDb : public TestDatabase {
  public:
    using Rows = TestDatabase::Rows;

    // Throws std::runtime_error when NOMNOM_TEST_PG_URL is unset or the database cannot be made.
    PgTestDb();
    ~PgTestDb() override;

    TestDbKind kind() const override { return TestDbKind::Postgres; }
    // The URL of the new database, in the form of NOMNOM_TEST_PG_URL.
    const std::string& url() const override { return url_; }
    const std::string& name() const override { return name_; }

    // Runs one or more statements, discarding any rows.
    void exec(const std::string& sql) override;
    // The single non-NULL value of a one-row, one-column result.
    std::int64_t query_int64(const std::string& sql) override;
    // Every row as text, NULL as nullopt.
    Rows query_rows(const std::string& sql) override;
    // Sessions of this database waiting for a lock, as of now (the statistics snapshot of an
    // open transaction of this connection is cleared first). This connection's own never wait
    // while it asks.
    std::int64_t lock_waiters() override;

  private:
    PGresult* run(const std::string& sql);

    std::string base_url_;
    std::string name_;
    std::string url_;
    PGconn* connection_ = nullptr;
};

}  // namespace nomnom::testing
