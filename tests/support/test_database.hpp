#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace nomnom::testing {

// The database servers the suite runs against. A test over several of them:
//   const auto kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
//   CAPTURE(kind);
//   const auto db = make_test_database(kind);
enum class TestDbKind { Postgres, MariaDb };

std::string_view to_string(TestDbKind kind);
// So that Catch2 names the kind in CAPTURE and in failed assertions.
std::ostream& operator<<(std::ostream& out, TestDbKind kind);

// A fresh, uniquely named database on the suite's server of its kind, dropped again on
// destruction. SQL is the server's own dialect.
class TestDatabase {
  public:
    using Rows = std::vector<std::vector<std::optional<std::string>>>;

    TestDatabase() = default;
    virtual ~TestDatabase() = default;
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    virtual TestDbKind kind() const = 0;
    // The URL of the new database, as database.url takes it.
    virtual const std::string& url() const = 0;
    virtual const std::string& name() const = 0;

    // Runs one or more statements, discarding any rows.
    virtual void exec(const std::string& sql) = 0;
    // The single non-NULL value of a one-row, one-column result.
    virtual std::int64_t query_int64(const std::string& sql) = 0;
    // Every row as text, NULL as nullopt.
    virtual Rows query_rows(const std::string& sql) = 0;
    // Sessions of this database waiting for a lock, as of now. This connection's own never wait
    // while it asks.
    virtual std::int64_t lock_waiters() = 0;
};

// Throws std::runtime_error, naming the variable and tests/run.sh, when the kind's server is
// not configured (NOMNOM_TEST_PG_URL, NOMNOM_TEST_MARIADB_URL): a test over a database that is
// not there fails rather than passes untested.
std::unique_ptr<TestDatabase> make_test_database(TestDbKind kind);

// The environment variable holding the URL of the kind's server.
std::string_view test_database_url_variable(TestDbKind kind);
// Whether that variable is set. For reporting what a run covers; a test does not skip on it
// (make_test_database fails instead).
bool test_database_enabled(TestDbKind kind);
bool mariadb_tests_enabled();

}  // namespace nomnom::testing
