// `nomnom-host parse`: messages through a plugin with no servers, the rows printed, and the
// refusals the host would make named with the message's number.

#include <catch2/catch.hpp>

#include <fstream>

#include "host_harness.hpp"

using namespace nomnom::testing;

namespace {

const std::filesystem::path kPlugins(NOMNOM_PLUGINS_BUILD_DIR);
const std::filesystem::path kTestPlugins(NOMNOM_TEST_PLUGINS_DIR);
const std::filesystem::path kSource(NOMNOM_SOURCE_DIR);

std::filesystem::path write_file(HostHarness& host, const std::string& name,
                                 const std::string& text) {
    const auto path = host.dir() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

}  // namespace

TEST_CASE("parse prints a plugin's rows as JSON lines and names each refused message",
          "[cli][parse]") {
    HostHarness host;
    const auto input = write_file(host, "readings.csv",
                                  "dev-kitchen,1735689600,21.5,40.2\n"
                                  "a line that is not a reading\n"
                                  "\n"
                                  "dev-garage,1735689660,8.25,\n" +
                                      std::string(200000, '[') + "\n");
    const auto [code, output] =
        host.run_cli({"parse", "--plugin", (kPlugins / "sensor_csv.so").string(), input.string()});
    INFO(output);
    CHECK(code == 1);
    CHECK(output.find(R"({"table":"readings","row":{"device_id":"dev-kitchen","ts":1735689600,)"
                      R"("temperature":21.5,"humidity":40.2},"message":1})") != std::string::npos);
    CHECK(output.find(R"({"table":"readings","row":{"device_id":"dev-garage","ts":1735689660,)"
                      R"("temperature":8.25,"humidity":null},"message":3})") != std::string::npos);
    CHECK(output.find("message 2 (" + input.string() + ":2): invalid: line 1: expected 4 fields") !=
          std::string::npos);
    CHECK(output.find("message 4 (" + input.string() + ":5): invalid:") != std::string::npos);
    CHECK(occurrences(output, "\"table\"") == 2);
}

TEST_CASE("parse prints the generated tpch plugin's rows as CSV per table and as SQL upserts",
          "[cli][parse]") {
    HostHarness host;
    const std::string order = (kSource / "plugins/tpch/example_order.json").string();
    const std::string plugin = (kPlugins / "tpch.so").string();
    auto [code, output] =
        host.run_cli({"parse", "--plugin", plugin, "--subject", "messages.ingest.Order", "--whole",
                      order, "--output", "csv", "--table", "order_line_items"});
    INFO(output);
    CHECK(code == 0);
    CHECK(output.starts_with("order_key,line_number,part_key,supplier_key,quantity,"));
    CHECK(output.find("\nO12345,1,P5001,S501,10,450,0.05,0.08,N,O,2025-01-20,2025-01-18,\n") !=
          std::string::npos);
    CHECK(occurrences(output, "\nO12345,") == 2);

    std::tie(code, output) =
        host.run_cli({"parse", "--plugin", plugin, "--subject", "messages.ingest.Order", "--whole",
                      order, "--output", "sql", "--dialect", "sqlite"});
    CHECK(code == 0);
    CHECK(occurrences(output, "INSERT INTO \"orders\" (") == 1);
    CHECK(occurrences(output, "INSERT INTO \"order_line_items\" (") == 2);
    CHECK(output.find(R"(ON CONFLICT ("order_key", "line_number") DO UPDATE SET)") !=
          std::string::npos);
    // The statements run as they are: what an operator pastes into sqlite3 lands.
    const auto database = host.dir() / "pasted.db";
    sqlite_exec(database,
                "CREATE TABLE orders (order_key TEXT PRIMARY KEY, customer_key TEXT, order_status "
                "TEXT, total_price REAL, order_date TEXT, order_priority TEXT, clerk TEXT, "
                "ship_priority INTEGER, comment TEXT); CREATE TABLE order_line_items (order_key "
                "TEXT, line_number INTEGER, part_key TEXT, supplier_key TEXT, quantity INTEGER, "
                "extended_price REAL, discount REAL, tax REAL, return_flag TEXT, line_status "
                "TEXT, ship_date TEXT, commit_date TEXT, receipt_date TEXT, PRIMARY KEY "
                "(order_key, line_number))");
    sqlite_exec(database, output + output);
    CHECK(sqlite_int64(database, "SELECT count(*) FROM order_line_items") == 2);
    CHECK(sqlite_int64(database, "SELECT count(*) FROM orders") == 1);
}

TEST_CASE("parse reads envelopes and the generated test sets like the host", "[cli][parse]") {
    HostHarness host;
    const auto envelope =
        write_file(host, "envelope.jsonl",
                   R"({"message_id":"m-1","entity_type":"Reading","body":"dev-a,1,2.5,3"})"
                   "\n"
                   R"({"message_id":"m-2","body":17})"
                   "\n");
    auto [code, output] = host.run_cli({"parse", "--plugin", (kPlugins / "sensor_csv.so").string(),
                                        "--format", "envelope", envelope.string()});
    INFO(output);
    CHECK(code == 1);
    CHECK(output.find(R"("device_id":"dev-a","ts":1,"temperature":2.5,"humidity":3})") !=
          std::string::npos);
    CHECK(output.find("message 2 (" + envelope.string() + ":2): invalid: envelope") !=
          std::string::npos);

    std::tie(code, output) = host.run_cli(
        {"parse", "--plugin", (kTestPlugins / "legacy_shop.so").string(), "--whole",
         (kSource / "tests/generator/legacy_shop/example_invoice.json").string(),
         (kSource / "tests/generator/legacy_shop/example_unpaid_invoice.json").string()});
    CHECK(code == 0);
    CHECK(occurrences(output, R"({"table":"invoices",)") == 2);
    CHECK(output.find(R"("name_upper":"ADA")") != std::string::npos);

    std::tie(code, output) =
        host.run_cli({"parse", "--plugin", (kTestPlugins / "v1_fleet.so").string(), "--whole",
                      (kSource / "tests/generator/v1_fleet/example_vehicle.json").string()});
    CHECK(code == 0);
    CHECK(occurrences(output, R"({"table":"trips",)") == 2);
}

TEST_CASE("parse exits 2 on usage errors, a plugin that cannot load and a FATAL", "[cli][parse]") {
    HostHarness host;
    auto [code, output] = host.run_cli({"parse", "--output", "xml"});
    CHECK(code == 2);
    CHECK(output.find("--output xml: jsonl, csv or sql") != std::string::npos);

    std::tie(code, output) =
        host.run_cli({"parse", "--plugin", (kTestPlugins / "test_bad_major.so").string()});
    CHECK(code == 2);
    CHECK(output.find("test_bad_major.so refused:") != std::string::npos);

    const auto input = write_file(host, "fatal.jsonl",
                                  R"({"k":"a","v":1})"
                                  "\n"
                                  R"({"k":"b","action":"fatal"})"
                                  "\n"
                                  R"({"k":"c","v":3})"
                                  "\n");
    std::tie(code, output) =
        host.run_cli({"parse", "--plugin", (kTestPlugins / "test_kv.so").string(), input.string()});
    INFO(output);
    CHECK(code == 2);
    CHECK(output.find("message 2 (" + input.string() + ":2): FATAL: action=fatal requested") !=
          std::string::npos);
    // Nothing after a FATAL: the plugin is not trusted with more.
    CHECK(output.find(R"("k":"c")") == std::string::npos);
}
