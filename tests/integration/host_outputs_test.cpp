// Entity outputs ([outputs], ABI 1.1 table_outputs): rows published to NATS after the commit and
// before the ack, exactly once across a kill -9, and stored by a second host downstream.

#include <catch2/catch.hpp>

#include <csignal>
#include <optional>

#include "host_harness.hpp"
#include "support/eventually.hpp"
#include "support/nats_server.hpp"

using namespace nomnom::testing;

namespace {

constexpr int kOrders = 300;

// Order i has 1 + i % 3 line items; line l's quantity is 10 * i + l.
std::vector<std::string> tpch_orders() {
    std::vector<std::string> orders;
    for (int i = 0; i < kOrders; ++i) {
        std::string items;
        for (int l = 1; l <= 1 + i % 3; ++l) {
            items += std::string(l > 1 ? "," : "") + R"({"line_number":)" + std::to_string(l) +
                     R"(,"part_key":"P)" + std::to_string(l) + R"(","quantity":)" +
                     std::to_string(10 * i + l) +
                     R"(,"extended_price":1.5,"discount":0.25,"tax":0.125})";
        }
        orders.push_back(R"({"order_key":"O)" + std::to_string(i) +
                         R"(","customer_key":"C1","order_status":"O","total_price":9.5,)"
                         R"("order_date":"2025-01-15","line_items":[)" +
                         items + "]}");
    }
    return orders;
}

int64_t expected_line_items() {
    int64_t count = 0;
    for (int i = 0; i < kOrders; ++i) count += 1 + i % 3;
    return count;
}

int64_t expected_quantity_sum() {
    int64_t sum = 0;
    for (int i = 0; i < kOrders; ++i) {
        for (int l = 1; l <= 1 + i % 3; ++l) sum += 10 * i + l;
    }
    return sum;
}

// The consumer of `stream` that reads `subject`, once it has one.
std::optional<ListedConsumer> consumer_of(JetStreamClient& client, const std::string& stream,
                                          const std::string& subject) {
    for (ListedConsumer& consumer : client.consumers(stream)) {
        if (consumer.filter_subject == subject) return consumer;
    }
    return std::nullopt;
}

bool drained(JetStreamClient& client, const std::string& stream, const std::string& subject) {
    const auto consumer = consumer_of(client, stream, subject);
    return consumer && consumer->stats.num_pending == 0 && consumer->stats.num_ack_pending == 0;
}

// A host that runs entity_archive on what the first host published.
std::string downstream_config(const std::string& nats_url, const std::string& database_url) {
    return "[nats]\nurl = \"" + nats_url +
           "\"\n[stream]\nname = \"NOMNOM_ENTITIES\"\nsubjects = [\"entities.>\"]\n"
           "create = false\n[database]\nurl = \"" +
           database_url +
           "\"\n[consumer]\nmax_wait_ms = 200\nbackoff_ms = [200]\nack_wait_ms = 5000\n"
           "[dlq]\nstream = \"DOWNSTREAM_DLQ\"\nsubject_prefix = \"downstream.dlq\"\n"
           "[http]\nlisten = \"127.0.0.1:0\"\n";
}

}  // namespace

TEST_CASE(
    "tpch line items published: each arrives once across a kill -9 between commit and ack, "
    "and a second host stores them",
    "[outputs][faults][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    publish_backlog(client, "messages.ingest.Order", tpch_orders());

    HostHarness host;
    host.add_shipped_plugin("tpch");
    const auto database = host.dir() / "tpch.db";
    // The host's own process is the one the failpoint kills.
    const std::string config = test_config(nats.url(), "sqlite:" + database.string(),
                                           "[plugins]\nisolation = \"thread\"\n"
                                           "[plugins.tpch]\nbatch_size = 40\n"
                                           "[plugins.tpch.outputs]\norder_line_items = \"both\"\n");
    host.write_config(config);
    // Killed after the first batch committed and its rows were published, before any ack.
    host.start({{"NOMNOM_FAILPOINT", "before_settle"}});
    REQUIRE(host.process().wait_exit(30s) == 128 + SIGKILL);
    const uint64_t published_before_kill = client.stream_message_count("NOMNOM_ENTITIES");
    REQUIRE(published_before_kill > 0);
    const auto orders = consumer_of(client, "TEST", "messages.ingest.Order");
    REQUIRE(orders);
    CHECK(orders->stats.ack_floor_stream_seq == 0);

    host.start();
    REQUIRE(host.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(eventually([&] { return drained(client, "TEST", "messages.ingest.Order"); }, 60s));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM orders") == kOrders);
    CHECK(sqlite_int64(database, "SELECT count(*) FROM order_line_items") == expected_line_items());
    // The first batch was published again on its redelivery; the stream kept one of each.
    CHECK(client.stream_message_count("NOMNOM_ENTITIES") ==
          static_cast<uint64_t>(expected_line_items()));
    CHECK(metric_value(host.http_get("/metrics").second,
                       R"(nomnom_rows_published_total{plugin="tpch",table="order_line_items"})") ==
          expected_line_items());
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(host.terminate() == 0);

    HostHarness downstream;
    downstream.add_shipped_plugin("entity_archive/entity_archive");
    const auto archive = downstream.dir() / "archive.db";
    downstream.write_config(downstream_config(nats.url(), "sqlite:" + archive.string()));
    downstream.start();
    REQUIRE(downstream.wait_log("startup summary: 1 plugin(s) running", 20s));
    REQUIRE(eventually([&] { return drained(client, "NOMNOM_ENTITIES", "entities.>"); }, 60s));
    CHECK(sqlite_int64(archive, "SELECT count(*) FROM entity_archive") == expected_line_items());
    CHECK(sqlite_int64(archive,
                       "SELECT count(*) FROM entity_archive WHERE subject = "
                       "'entities.order_line_items'") == expected_line_items());
    CHECK(
        sqlite_int64(archive, "SELECT sum(json_extract(row, '$.quantity')) FROM entity_archive") ==
        expected_quantity_sum());
    // Every row names where it came from: one distinct source message per order.
    CHECK(sqlite_int64(archive, "SELECT count(DISTINCT source_seq) FROM entity_archive") ==
          kOrders);
    CHECK(sqlite_int64(archive,
                       "SELECT count(*) FROM entity_archive WHERE msg_id NOT LIKE 'TEST:%'") == 0);
    REQUIRE(downstream.terminate() == 0);
}

TEST_CASE(
    "a table only published is not written - rows the outputs stream refuses are "
    "retried until it stores them",
    "[outputs][sqlite]") {
    NatsServer nats;
    JetStreamClient client(nats.url());
    std::vector<std::string> orders = tpch_orders();
    orders.resize(30);
    const int64_t line_items = 10 * (1 + 2 + 3);  // 1 + i % 3 for i in [0, 30)
    publish_backlog(client, "messages.ingest.Order", orders);
    // An operator's outputs stream, full after 10 rows: the host keeps its limits.
    client.ensure_stream("NOMNOM_ENTITIES", {"entities.>"}, 10);

    HostHarness host;
    host.add_shipped_plugin("tpch");
    const auto database = host.dir() / "tpch.db";
    host.write_config(test_config(nats.url(), "sqlite:" + database.string(),
                                  "[plugins.tpch]\nmax_deliver = -1\n"
                                  "[plugins.tpch.outputs]\norder_line_items = \"publish\"\n"));
    host.start();
    REQUIRE(host.wait_log("entity outputs not all stored, will retry", 30s));
    // The operator's stream deduplicates over nats-server's default 2 minutes only.
    CHECK(
        host.log_contains("max_deliver = -1: a message redelivered more than 120 s (the "
                          "duplicate window of stream NOMNOM_ENTITIES)"));
    CHECK(host.log_contains("maximum messages exceeded"));
    CHECK(client.stream_message_count("NOMNOM_ENTITIES") == 10);

    client.ensure_stream("NOMNOM_ENTITIES", {"entities.>"});  // the operator makes room
    REQUIRE(eventually([&] { return drained(client, "TEST", "messages.ingest.Order"); }, 60s));
    CHECK(client.stream_message_count("NOMNOM_ENTITIES") == static_cast<uint64_t>(line_items));
    CHECK(sqlite_int64(database, "SELECT count(*) FROM orders") == 30);
    // tpch's own DDL created the table; the host writes nothing into it.
    CHECK(sqlite_int64(database, "SELECT count(*) FROM order_line_items") == 0);
    CHECK(client.stream_message_count("NOMNOM_DLQ") == 0);
    REQUIRE(host.terminate() == 0);
}
