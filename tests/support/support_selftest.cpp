#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/eventually.hpp"
#include "support/free_port.hpp"
#include "support/mariadb_client.hpp"
#include "support/mariadb_test_db.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/private_mariadb.hpp"
#include "support/process.hpp"
#include "support/service_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

using namespace nomnom::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> numbered(int count) {
    std::vector<std::string> payloads;
    for (int i = 0; i < count; ++i) payloads.push_back("message " + std::to_string(i));
    return payloads;
}

}  // namespace

TEST_CASE("TempDir is created and removed with its contents") {
    std::filesystem::path path;
    {
        TempDir dir("selftest");
        path = dir.path();
        REQUIRE(std::filesystem::is_directory(path));
        std::filesystem::create_directories(path / "a" / "b");
        std::ofstream(path / "a" / "b" / "file") << "x";
    }
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("free_tcp_port returns a usable port") {
    CHECK(free_tcp_port() > 0);
}

TEST_CASE("Process reports exit codes and signals") {
    Process process;
    process.start({"/bin/sh", "-c", "exit 3"});
    CHECK(process.wait_exit(10s) == 3);
    CHECK_FALSE(process.running());

    process.start({"sleep", "30"});
    CHECK(process.running());
    CHECK_FALSE(process.wait_exit(50ms).has_value());
    process.signal(SIGTERM);
    CHECK(process.wait_exit(10s) == 128 + SIGTERM);

    process.start({"sleep", "30"});
    process.kill9();
    CHECK(process.wait_exit(0ms) == 128 + SIGKILL);
}

TEST_CASE("Process passes environment and writes the log file") {
    TempDir dir;
    const auto log = dir.path() / "out.log";
    Process process;
    process.start({"/bin/sh", "-c", "echo \"$NN_SELFTEST\"; echo err >&2"},
                  {{"NN_SELFTEST", "hello"}}, log);
    REQUIRE(process.wait_exit(10s) == 0);
    std::ifstream in(log);
    std::string first, second;
    std::getline(in, first);
    std::getline(in, second);
    CHECK(first == "hello");
    CHECK(second == "err");
}

TEST_CASE("Process reports a missing executable") {
    Process process;
    CHECK_THROWS(process.start({"/nonexistent/program"}));
    CHECK_THROWS(process.start({"no-such-program-nomnom"}));
}

TEST_CASE("ServiceProcess keeps every start in its log and waits on the current one") {
    TempDir bin;
    // Announces the port its config holds and runs until signalled; "exit" exits at once.
    const auto script = bin.path() / "fake-service";
    std::ofstream(script) << "#!/bin/sh\nread -r port < \"$2\"\n[ \"$port\" = exit ] && exit 3\n"
                             "echo \"serving on port $port\"\nexec sleep 30\n";
    std::filesystem::permissions(script, std::filesystem::perms(0755));
    ServiceProcess service(script, "fake.conf", "serving on port ");

    service.write_config("1234\n");
    service.start();
    CHECK(service.port() == 1234);
    CHECK(service.terminate() == 128 + SIGTERM);

    service.write_config("5678\n");
    service.start();
    CHECK(service.port() == 5678);
    CHECK(service.wait_log("port 5678", 10s));
    CHECK_FALSE(service.wait_log("port 1234", 0ms));
    CHECK(service.log().find("port 1234") != std::string::npos);
    CHECK(service.terminate() == 128 + SIGTERM);
    CHECK(service.current_log().find("port 5678") != std::string::npos);

    service.write_config("exit\n");
    service.start();
    CHECK_THROWS_WITH(service.port(), Catch::Contains("logged no HTTP port"));
    CHECK(service.process().wait_exit(0ms) == 3);
}

TEST_CASE("NatsServer with JetStreamClient") {
    NatsServer server;
    REQUIRE(server.running());
    CHECK(server.url() == "nats://127.0.0.1:" + std::to_string(server.port()));

    JetStreamClient client(server.url());
    client.ensure_stream("SELFTEST", {"selftest.>"});
    client.ensure_stream("SELFTEST", {"selftest.>"});
    client.publish_many("selftest.a", numbered(100));
    CHECK(client.stream_message_count("SELFTEST") == 100);

    SECTION("a duplicate msg id is stored once") {
        CHECK(client.publish("selftest.b", "one", "id-1") == 101);
        client.publish("selftest.b", "one again", "id-1");
        CHECK(client.stream_message_count("SELFTEST") == 101);
    }

    SECTION("publishing where no stream listens fails") {
        CHECK_THROWS(client.publish("nostream.x", "lost"));
        CHECK_THROWS(client.publish_many("nostream.x", numbered(3), 5s));
    }

    SECTION("restart keeps the file store") {
        server.restart();
        CHECK(client.stream_message_count("SELFTEST") == 100);
        client.publish("selftest.a", "after restart");
        CHECK(client.stream_message_count("SELFTEST") == 101);
    }

    SECTION("kill9 and restart") {
        server.kill9();
        CHECK_FALSE(server.running());
        server.restart();
        CHECK(client.stream_message_count("SELFTEST") == 100);
    }

    SECTION("consumer_info of a durable pull consumer") {
        jsConsumerConfig config;
        jsConsumerConfig_Init(&config);
        config.Durable = "selftest-durable";
        config.AckPolicy = js_AckExplicit;
        jsConsumerInfo* info = nullptr;
        REQUIRE(js_AddConsumer(&info, client.js(), "SELFTEST", &config, nullptr, nullptr) ==
                NATS_OK);
        jsConsumerInfo_Destroy(info);
        const ConsumerStats stats = client.consumer_info("SELFTEST", "selftest-durable");
        CHECK(stats.num_pending == 100);
        CHECK(stats.num_ack_pending == 0);
        CHECK(stats.delivered_consumer_seq == 0);
        CHECK_THROWS(client.consumer_info("SELFTEST", "missing"));
    }
}

TEST_CASE("PgTestDb creates a database and drops it") {
    std::string name;
    {
        PgTestDb db;
        name = db.name();
        CHECK(db.url().find("/" + name) != std::string::npos);
        db.exec("CREATE TABLE t (id bigint, label text)");
        db.exec("INSERT INTO t VALUES (1, 'one'), (2, NULL)");
        CHECK(db.query_int64("SELECT count(*) FROM t") == 2);
        const auto rows = db.query_rows("SELECT id, label FROM t ORDER BY id");
        REQUIRE(rows.size() == 2);
        CHECK(rows[0][0] == "1");
        CHECK(rows[0][1] == "one");
        CHECK_FALSE(rows[1][1].has_value());
        CHECK_THROWS(db.query_int64("SELECT label FROM t WHERE id = 1"));
        CHECK_THROWS(db.exec("SELECT * FROM missing_table"));
    }
    PgTestDb other;
    CHECK(other.query_int64("SELECT count(*) FROM pg_database WHERE datname = '" + name + "'") ==
          0);
}

TEST_CASE("MariaDbTestDb creates a database and drops it") {
    std::string name;
    std::unique_ptr<MariaDbConnection> lingering;
    {
        MariaDbTestDb db;
        name = db.name();
        CHECK(db.url().find("/" + name) != std::string::npos);
        CHECK(db.query_rows("SELECT DATABASE()").at(0).at(0) == name);
        db.exec(
            "CREATE TABLE t (id bigint PRIMARY KEY, label text); INSERT INTO t VALUES (1, 'one')");
        db.exec("INSERT INTO t VALUES (2, NULL), (3, 'a\\0b')");
        CHECK(db.query_int64("SELECT count(*) FROM t") == 3);
        const auto rows = db.query_rows("SELECT id, label FROM t ORDER BY id");
        REQUIRE(rows.size() == 3);
        CHECK(rows[0][0] == "1");
        CHECK(rows[0][1] == "one");
        CHECK_FALSE(rows[1][1].has_value());
        CHECK(rows[2][1] == std::string("a\0b", 3));
        // The rows of the last statement, as PostgreSQL's PQexec returns them.
        CHECK(db.query_int64("SELECT 1; SELECT 2") == 2);
        CHECK_THROWS(db.query_int64("SELECT label FROM t WHERE id = 1"));
        CHECK_THROWS_WITH(db.exec("SELECT * FROM missing_table"), Catch::Contains("1146"));
        // An error in a later statement stops the string there, and leaves the connection usable.
        CHECK_THROWS(
            db.exec("INSERT INTO t VALUES (4, 'four'); INSERT INTO t VALUES (1, 'dup'); "
                    "INSERT INTO t VALUES (5, 'five')"));
        CHECK(db.query_int64("SELECT count(*) FROM t") == 4);
        CHECK(db.lock_waiters() == 0);
        // A session still in the database (a host under test left running) does not keep it.
        lingering = std::make_unique<MariaDbConnection>(db.url());
        lingering->exec("BEGIN; SELECT * FROM t FOR UPDATE");
    }
    MariaDbTestDb other;
    CHECK(other.query_int64("SELECT count(*) FROM information_schema.SCHEMATA WHERE "
                            "SCHEMA_NAME = '" +
                            name + "'") == 0);
}

TEST_CASE("MariaDbTestDb counts the sessions waiting for a lock") {
    MariaDbTestDb db;
    db.exec("CREATE TABLE t (id bigint PRIMARY KEY, n bigint); INSERT INTO t VALUES (1, 0)");
    MariaDbConnection holder(db.url());
    holder.exec("BEGIN; UPDATE t SET n = 1 WHERE id = 1");

    SECTION("a row lock") {
        auto waiter = std::async(std::launch::async, [&] {
            MariaDbConnection connection(db.url());
            connection.exec("UPDATE t SET n = 2 WHERE id = 1");
        });
        CHECK(eventually([&] { return db.lock_waiters() == 1; }, 20s));
        holder.exec("COMMIT");
        waiter.get();
        CHECK(db.query_int64("SELECT n FROM t") == 2);
    }
    SECTION("a metadata lock") {
        auto waiter = std::async(std::launch::async, [&] {
            MariaDbConnection connection(db.url());
            connection.exec("ALTER TABLE t ADD COLUMN m bigint");
        });
        CHECK(eventually([&] { return db.lock_waiters() == 1; }, 20s));
        holder.exec("COMMIT");
        waiter.get();
        CHECK(db.query_rows("SHOW COLUMNS FROM t").size() == 3);
    }
    CHECK(db.lock_waiters() == 0);
}

TEST_CASE("mariadb_url_with_database keeps everything but the database") {
    CHECK(mariadb_url_with_database("mysql://u:p@127.0.0.1:3306/a", "b") ==
          "mysql://u:p@127.0.0.1:3306/b");
    CHECK(mariadb_url_with_database("mysql://u:p@h:1/a?x=1", "b") == "mysql://u:p@h:1/b?x=1");
    CHECK(mariadb_url_with_database("mysql://h", "b") == "mysql://h/b");
    CHECK(mariadb_url_with_database("mysql://h?x=1", "b") == "mysql://h/b?x=1");
    CHECK(mariadb_quote_identifier("a`b") == "`a``b`");
}

TEST_CASE("make_test_database over each kind") {
    const auto kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    CHECK(test_database_enabled(kind));
    const auto db = make_test_database(kind);
    CHECK(db->kind() == kind);
    CHECK(db->url().find(db->name()) != std::string::npos);
    db->exec("CREATE TABLE t (id bigint PRIMARY KEY, label varchar(20))");
    db->exec("INSERT INTO t VALUES (1, 'one'), (2, NULL)");
    CHECK(db->query_int64("SELECT count(*) FROM t") == 2);
    CHECK(db->query_rows("SELECT id, label FROM t ORDER BY id") ==
          TestDatabase::Rows{{"1", "one"}, {"2", std::nullopt}});
    CHECK(db->lock_waiters() == 0);
}

TEST_CASE("make_test_database fails when the server's URL is not set") {
    const auto kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    const std::string variable(test_database_url_variable(kind));
    const char* value = std::getenv(variable.c_str());
    const std::optional<std::string> saved =
        value != nullptr ? std::optional<std::string>(value) : std::nullopt;
    // ctest runs each test case in a process of its own, so no other thread reads the variable.
    ::unsetenv(variable.c_str());
    CHECK_FALSE(test_database_enabled(kind));
    CHECK_THROWS_WITH(make_test_database(kind), Catch::Contains(variable + " is not set"));
    if (saved) ::setenv(variable.c_str(), saved->c_str(), 1);
}

TEST_CASE("PrivateMariaDb comes back on the same URL after a stop and a kill") {
    PrivateMariaDb server;
    const std::string url = server.url();
    CHECK(url.rfind("mysql://nomnom:nomnom@127.0.0.1:", 0) == 0);
    {
        MariaDbConnection connection(url);
        connection.exec("CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t VALUES (1)");
    }
    CHECK(server.query_int64("SELECT count(*) FROM t") == 1);

    server.stop();
    CHECK_THROWS(server.query_int64("SELECT 1"));
    server.stop();  // a no-op when stopped
    server.start();
    CHECK(server.url() == url);
    CHECK(server.query_int64("SELECT count(*) FROM t") == 1);

    // A connection open across the outage sees it end; a new one works once the server is back.
    MariaDbConnection before(url);
    {
        MariaDbConnection connection(url);
        connection.exec("INSERT INTO t VALUES (2)");
    }
    server.kill9();
    CHECK_THROWS(server.query_int64("SELECT 1"));
    CHECK_THROWS(before.exec("SELECT 1"));
    server.start();
    CHECK(server.url() == url);
    // Committed before the kill, so recovered.
    CHECK(server.query_int64("SELECT count(*) FROM t") == 2);
}
