#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/free_port.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"
#include "support/process.hpp"
#include "support/service_process.hpp"
#include "support/temp_dir.hpp"

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
