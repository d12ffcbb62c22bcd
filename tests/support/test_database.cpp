#include "test_database.hpp"

#include <cstdlib>
#include <stdexcept>

#include "mariadb_test_db.hpp"
#include "pg_test_db.hpp"

namespace nomnom::testing {

std::string_view to_string(TestDbKind kind) {
    switch (kind) {
        case TestDbKind::Postgres:
            return "PostgreSQL";
        case TestDbKind::MariaDb:
            return "MariaDB";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& out, TestDbKind kind) {
    return out << to_string(kind);
}

std::unique_ptr<TestDatabase> make_test_database(TestDbKind kind) {
    switch (kind) {
        case TestDbKind::Postgres:
            return std::make_unique<PgTestDb>();
        case TestDbKind::MariaDb:
            return std::make_unique<MariaDbTestDb>();
    }
    throw std::invalid_argument("make_test_database: unknown TestDbKind");
}

std::string_view test_database_url_variable(TestDbKind kind) {
    switch (kind) {
        case TestDbKind::Postgres:
            return "NOMNOM_TEST_PG_URL";
        case TestDbKind::MariaDb:
            return "NOMNOM_TEST_MARIADB_URL";
    }
    throw std::invalid_argument("test_database_url_variable: unknown TestDbKind");
}

bool test_database_enabled(TestDbKind kind) {
    const char* url = std::getenv(std::string(test_database_url_variable(kind)).c_str());
    return url != nullptr && *url != '\0';
}

bool mariadb_tests_enabled() {
    return test_database_enabled(TestDbKind::MariaDb);
}

}  // namespace nomnom::testing
