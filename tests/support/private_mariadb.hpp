#pragma once

#include <cstdint>
#include <string>

#include "support/temp_dir.hpp"

namespace nomnom::testing {

// A MariaDB server of the test's own (scripts/mariadb-test-server.sh), for tests that stop,
// kill and start the database: PrivatePostgres's counterpart. Restarts keep the port, so a
// client reconnects to the same url(). Not the suite's shared server (NOMNOM_TEST_MARIADB_URL),
// which the tests running beside this one still use.
class PrivateMariaDb {
  public:
    PrivateMariaDb();
    ~PrivateMariaDb();
    PrivateMariaDb(const PrivateMariaDb&) = delete;
    PrivateMariaDb& operator=(const PrivateMariaDb&) = delete;

    // mysql://nomnom:nomnom@127.0.0.1:PORT/nomnom_test
    const std::string& url() const { return url_; }
    // A clean shutdown.
    void stop();
    // SIGKILL, as a crash or a lost machine ends it; the next start() recovers InnoDB.
    void kill9();
    void start();
    // The single value of a one-row, one-column result, on a connection of its own.
    std::int64_t query_int64(const std::string& sql) const;

  private:
    void run(const std::string& command);

    TempDir dir_;
    std::string url_;
};

}  // namespace nomnom::testing
