// Plugins written by nomnom-gen, loaded by a real nomnom-host: the tpch example of the original
// nomnom (also built out of tree from freshly generated source), and the test entity sets in
// tests/generator/ that use every generator feature, with exact rows in PostgreSQL and SQLite
// and a dead letter naming entity, field and value for each kind of bad message.

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "host_harness.hpp"
#include "support/mariadb_test_db.hpp"
#include "support/nats_server.hpp"
#include "support/pg_test_db.hpp"

using namespace nomnom::testing;

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

const std::filesystem::path tpch_dir = std::filesystem::path(NOMNOM_SOURCE_DIR) / "plugins/tpch";
const std::filesystem::path legacy_shop_dir =
    std::filesystem::path(NOMNOM_SOURCE_DIR) / "tests/generator/legacy_shop";
const std::filesystem::path v1_fleet_dir =
    std::filesystem::path(NOMNOM_SOURCE_DIR) / "tests/generator/v1_fleet";

// The sample messages of the test entity sets, also the seeds of their fuzz targets.
const std::string good_invoice = read_file(legacy_shop_dir / "example_invoice.json");
const std::string unpaid_invoice = read_file(legacy_shop_dir / "example_unpaid_invoice.json");
const std::string good_vehicle = read_file(v1_fleet_dir / "example_vehicle.json");

// count(sql) on whichever database the scenario runs against.
using Count = std::function<std::int64_t(const std::string&)>;

struct Target {
    std::string url;
    Count count;
    bool postgres;
    bool mysql;
};

// The query counting the tables of `names` (a quoted list) in the target's database.
std::string tables_named(const Target& db, const std::string& names) {
    if (db.postgres) {
        return "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
               "current_schema() AND table_name IN (" +
               names + ")";
    }
    if (db.mysql) {
        return "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
               "AND table_name IN (" +
               names + ")";
    }
    return "SELECT count(*) FROM sqlite_master WHERE name IN (" + names + ")";
}

// Runs `check` against PostgreSQL, MariaDB and SQLite, each with its own host and nats-server.
template <class Scenario>
void on_every_database(const std::string& plugin, bool shipped, Scenario scenario) {
    for (const std::string database : {"PostgreSQL", "MariaDB", "SQLite"}) {
        DYNAMIC_SECTION(database) {
            NatsServer nats;
            HostHarness host;
            if (shipped) {
                host.add_shipped_plugin(plugin);
            } else {
                host.add_test_plugin(plugin);
            }
            std::unique_ptr<TestDatabase> server;
            Target target;
            if (database == "SQLite") {
                const auto file = host.dir() / "generated.db";
                target = {"sqlite:" + file.string(),
                          [file](const std::string& sql) { return sqlite_int64(file, sql); }, false,
                          false};
            } else {
                const bool postgres = database == "PostgreSQL";
                server = make_test_database(postgres ? TestDbKind::Postgres : TestDbKind::MariaDb);
                target = {server->url(),
                          [&](const std::string& sql) { return server->query_int64(sql); },
                          postgres, !postgres};
            }
            host.write_config(test_config(nats.url(), target.url));
            host.start();
            REQUIRE(host.wait_log("startup summary: 1 plugin(s) running [" + plugin + "]", 30s));
            JetStreamClient client(nats.url());
            scenario(host, client, target);
            REQUIRE(host.terminate() == 0);
        }
    }
}

bool has_dead_letter(HostHarness& host, const std::string& reason) {
    for (const auto& line : dlq_list(host)) {
        if (line.find(reason) != std::string::npos) return true;
    }
    return false;
}

void check_tpch_rows(const Count& count) {
    CHECK(count("SELECT count(*) FROM orders") == 1);
    CHECK(count("SELECT count(*) FROM orders WHERE order_key = 'O12345' AND customer_key = "
                "'C1001' AND order_status = 'F' AND total_price = 1234.56 AND order_date = "
                "'2025-01-15' AND order_priority = '1-URGENT' AND clerk = 'Clerk#000001234' AND "
                "ship_priority = 0 AND comment = 'Special handling required'") == 1);
    CHECK(count("SELECT count(*) FROM order_line_items") == 2);
    CHECK(count("SELECT count(*) FROM order_line_items WHERE order_key = 'O12345' AND "
                "line_number = 1 AND part_key = 'P5001' AND supplier_key = 'S501' AND quantity = "
                "10 AND extended_price = 450 AND discount = 0.05 AND tax = 0.08 AND return_flag "
                "= 'N' AND line_status = 'O' AND ship_date = '2025-01-20' AND commit_date = "
                "'2025-01-18' AND receipt_date IS NULL") == 1);
    CHECK(count("SELECT count(*) FROM order_line_items WHERE order_key = 'O12345' AND "
                "line_number = 2 AND part_key = 'P5002' AND supplier_key = 'S502' AND quantity = "
                "5 AND extended_price = 784.56 AND discount = 0.03 AND receipt_date IS NULL") == 1);
}

void publish_tpch_example(JetStreamClient& client) {
    client.publish("messages.ingest.Order", read_file(tpch_dir / "example_order.json"));
    client.publish("messages.ingest.Customer", read_file(tpch_dir / "example_customers.json"));
    client.publish("messages.ingest.Product", read_file(tpch_dir / "example_products.json"));
}

}  // namespace

TEST_CASE("tpch: the original example order lands as 1 order and 2 line items",
          "[generator][e2e][postgresql][mariadb][sqlite]") {
    on_every_database("tpch", true, [](HostHarness& host, JetStreamClient& client, Target& db) {
        publish_tpch_example(client);
        // Each entity has its own consumer, so each table is awaited on its own.
        REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM customers") == 3; }, 30s));
        REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM products") == 3; }, 30s));
        REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM order_line_items") == 2; },
                           30s));
        check_tpch_rows(db.count);
        CHECK(db.count("SELECT count(*) FROM customers WHERE customer_key = 'C1002' AND name = "
                       "'Global Supplies Inc' AND account_balance = 3210.5") == 1);
        CHECK(db.count("SELECT count(*) FROM products WHERE part_key = 'P5002' AND size = 25 "
                       "AND retail_price = 156.91") == 1);

        // Redelivered or republished orders are upserts on the unicity fields.
        client.publish("messages.ingest.Order", read_file(tpch_dir / "example_order.json"));
        std::string changed = read_file(tpch_dir / "example_order.json");
        changed.replace(changed.find("\"F\""), 3, "\"O\"");
        client.publish("messages.ingest.Order", changed);
        REQUIRE(eventually(
            [&] { return db.count("SELECT count(*) FROM orders WHERE order_status = 'O'") == 1; },
            30s));
        REQUIRE(eventually([&] { return consumer_drained(client, "nomnom-tpch-2"); }, 20s));
        CHECK(db.count("SELECT count(*) FROM orders") == 1);
        CHECK(db.count("SELECT count(*) FROM order_line_items") == 2);

        // A line item with a string quantity: the whole order is refused, with the reason.
        std::string bad = read_file(tpch_dir / "example_order.json");
        bad.replace(bad.find("\"quantity\": 5"), 13, "\"quantity\": \"5\"");
        bad.replace(bad.find("O12345"), 6, "O99999");
        client.publish("messages.ingest.Order", bad);
        REQUIRE(eventually(
            [&] {
                return has_dead_letter(host,
                                       "OrderLineItem.quantity: member 'quantity': expected "
                                       "an integer, got string \"5\"");
            },
            30s));
        CHECK(db.count("SELECT count(*) FROM orders WHERE order_key = 'O99999'") == 0);
    });
}

TEST_CASE("tpch and legacy_shop: generated and built out of tree against the SDK, then loaded",
          "[generator][e2e][postgresql]") {
    TempDir work("nomnom-oot");
    const auto run = [&](const std::vector<std::string>& argv) {
        Process process;
        process.start(argv, {}, work.path() / "build.log");
        const auto code = process.wait_exit(300s);
        INFO(read_file(work.path() / "build.log"));
        REQUIRE(code == 0);
    };
    // legacy_shop: its C++ transforms come from nomnom.yaml into the generated build.
    for (const auto& [name, entities] :
         {std::pair{std::string("tpch"), tpch_dir / "entities"},
          std::pair{std::string("legacy_shop"), legacy_shop_dir / "entities"}}) {
        const auto out = work.path() / name;
        run({NOMNOM_GEN_BIN, "--entities", entities.string(), "--out", out.string(), "--name",
             name});
        CHECK(std::filesystem::exists(out / "sql/postgresql.sql"));
        CHECK(std::filesystem::exists(out / "sql/sqlite.sql"));
        CHECK(std::filesystem::exists(out / "sql/mysql.sql"));
        run({"cmake", "-S", out.string(), "-B", (out / "build").string(),
             "-Dnomnom_DIR=" + std::string(NOMNOM_BUILD_DIR) + "/sdk"});
        run({"cmake", "--build", (out / "build").string()});
        REQUIRE(std::filesystem::exists(out / "build" / (name + ".so")));
    }

    NatsServer nats;
    PgTestDb pg;
    HostHarness host;
    host.install_plugin(work.path() / "tpch/build/tpch.so", "tpch.so");
    host.install_plugin(work.path() / "legacy_shop/build/legacy_shop.so", "legacy_shop.so");
    host.write_config(test_config(nats.url(), pg.url()));
    host.start();
    REQUIRE(host.wait_log("startup summary: 2 plugin(s) running", 30s));
    JetStreamClient client(nats.url());
    publish_tpch_example(client);
    client.publish("shop.in.Invoice", good_invoice);
    REQUIRE(eventually([&] { return pg.query_int64("SELECT count(*) FROM order_line_items") == 2; },
                       30s));
    check_tpch_rows([&](const std::string& sql) { return pg.query_int64(sql); });
    REQUIRE(eventually(
        [&] {
            return pg.query_int64(
                       "SELECT count(*) FROM customer_snapshots WHERE name_upper = "
                       "'ADA' AND tier = 'gold'") == 1;
        },
        30s));
    REQUIRE(host.terminate() == 0);
}

namespace {

// `text` with its first `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return text;
}

std::string invoice_with(const std::string& from, const std::string& to) {
    return replaced(good_invoice, from, to);
}

}  // namespace

TEST_CASE("legacy_shop: every legacy-form feature gives exact rows",
          "[generator][e2e][postgresql][mariadb][sqlite]") {
    on_every_database(
        "legacy_shop", false, [](HostHarness& host, JetStreamClient& client, Target& db) {
            client.publish("shop.in.Invoice", good_invoice);
            client.publish("shop.in.Invoice", unpaid_invoice);
            REQUIRE(
                eventually([&] { return db.count("SELECT count(*) FROM invoices") == 2; }, 30s));
            REQUIRE(
                eventually([&] { return consumer_drained(client, "nomnom-legacy_shop"); }, 20s));

            const std::string truth = db.postgres ? "true" : "1";
            // Root: payload fields, json_get on an Object field, copy_field_conditional, constants,
            // an inherited column (extends), a column that is not a field (channel), an Integer
            // field stored in a BigInt column, a BigInt beyond double precision.
            CHECK(db.count(
                      "SELECT count(*) FROM invoices WHERE invoice_id = 'INV-1' AND tenant = "
                      "'acme' AND customer_name = 'Ada' AND vip = " +
                      truth + " AND amount = 1234.5 AND paid = " + truth +
                      " AND state = 'PAID' AND issued_on = '2026-02-28' AND "
                      "trace_id = '123e4567-e89b-12d3-a456-426614174000' AND sequence = "
                      "9007199254740993 AND priority = 3 AND weight = 2 AND channel = 'web'") == 1);
            CHECK(
                db.count("SELECT count(*) FROM invoices WHERE invoice_id = 'INV-2' AND vip IS NULL "
                         "AND amount = 99.95 AND state = 'OPEN' AND channel IS NULL AND tags IS "
                         "NULL") == 1);
            if (db.postgres) {
                CHECK(db.count("SELECT count(*) FROM invoices WHERE created_at = "
                               "'2026-02-28T10:11:12.5Z' AND tags = '[\"a\", \"b\"]'::jsonb AND "
                               "attributes = '{\"x\": [1, 2]}'::jsonb") == 1);
                CHECK(db.count("SELECT count(*) FROM invoices WHERE created_at = '2024-02-29 "
                               "22:59:59Z'") == 1);
                CHECK(
                    db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                             "'invoices' AND ((column_name = 'issued_on' AND data_type = 'date') "
                             "OR (column_name = 'trace_id' AND data_type = 'uuid') OR (column_name "
                             "= 'amount' AND data_type = 'numeric') OR (column_name = 'invoice_id' "
                             "AND character_maximum_length = 12))") == 4);
            } else if (db.mysql) {
                // DATETIME(6) holds the UTC time the host turned the offsets into.
                CHECK(db.count("SELECT count(*) FROM invoices WHERE created_at = '2026-02-28 "
                               "10:11:12.5' AND tags = '[\"a\",\"b\"]' AND attributes = "
                               "'{\"x\":[1,2]}'") == 1);
                CHECK(db.count("SELECT count(*) FROM invoices WHERE created_at = '2024-02-29 "
                               "22:59:59'") == 1);
                CHECK(db.count(
                          "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                          "DATABASE() AND table_name = 'invoices' AND ((column_name = 'issued_on' "
                          "AND data_type = 'date') OR (column_name = 'trace_id' AND column_type = "
                          "'char(36)') OR (column_name = 'amount' AND data_type = 'decimal') OR "
                          "(column_name = 'invoice_id' AND character_maximum_length = 12))") == 4);
            } else {
                CHECK(
                    db.count("SELECT count(*) FROM invoices WHERE created_at = "
                             "'2026-02-28T10:11:12.5Z' AND tags = '[\"a\",\"b\"]' AND attributes = "
                             "'{\"x\":[1,2]}'") == 1);
            }
            // Repeated (one row per line), coalesce of the line's note and the invoice's customer,
            // json_get_bool, derived_from and extraction.copy_from_parent / copy_from_source.
            const std::string untruth = db.postgres ? "false" : "0";
            CHECK(db.count("SELECT count(*) FROM invoice_lines") == 2);
            CHECK(
                db.count("SELECT count(*) FROM invoice_lines WHERE invoice_id = 'INV-1' AND "
                         "line_no = 1 AND sku = 'S1' AND qty = 2 AND unit_price = 10 AND gift = " +
                         untruth + " AND note = 'Ada' AND taxable = " + truth +
                         " AND customer_label = 'Ada' AND issued_on = '2026-02-28' AND paid = " +
                         truth) == 1);
            CHECK(
                db.count("SELECT count(*) FROM invoice_lines WHERE line_no = 2 AND qty IS NULL AND "
                         "gift IS NULL AND unit_price = 5.5 AND note = 'fragile' AND taxable = " +
                         untruth) == 1);
            // The unicity fields are a UNIQUE constraint; autogenerated ids are an identity
            // column (PostgreSQL) or AUTOINCREMENT (SQLite), one per row inserted.
            if (db.postgres) {
                CHECK(db.count("SELECT count(*) FROM information_schema.table_constraints WHERE "
                               "table_name = 'invoices' AND constraint_name = 'invoices_unique' "
                               "AND constraint_type = 'UNIQUE'") == 1);
                CHECK(db.count("SELECT count(*) FROM information_schema.columns WHERE "
                               "column_name = 'id' AND is_identity = 'YES' AND table_name IN "
                               "('invoices', 'invoice_lines')") == 2);
            } else if (db.mysql) {
                CHECK(db.count("SELECT count(*) FROM information_schema.table_constraints WHERE "
                               "table_schema = DATABASE() AND table_name = 'invoices' AND "
                               "constraint_name = 'invoices_unique' AND constraint_type = "
                               "'UNIQUE'") == 1);
                CHECK(db.count("SELECT count(*) FROM information_schema.columns WHERE "
                               "table_schema = DATABASE() AND column_name = 'id' AND extra = "
                               "'auto_increment' AND table_name IN ('invoices', "
                               "'invoice_lines')") == 2);
            } else {
                CHECK(db.count("SELECT count(*) FROM pragma_index_list('invoices') WHERE "
                               "\"unique\" = 1 AND origin = 'u'") == 1);
                CHECK(db.count("SELECT count(*) FROM sqlite_sequence WHERE name IN ('invoices', "
                               "'invoice_lines') AND seq = 2") == 2);
            }
            // Nested repetition with several parents; the tax without a rate fails
            // minimal_existence and is skipped.
            CHECK(db.count("SELECT count(*) FROM line_taxes") == 2);
            CHECK(
                db.count("SELECT count(*) FROM line_taxes WHERE invoice_id = 'INV-1' AND line_no = "
                         "1 AND kind = 'vat' AND rate = 0.2 AND nomnom_message_id <> ''") == 1);
            CHECK(db.count("SELECT count(*) FROM line_taxes WHERE line_no = 2 AND rate = 0.1") ==
                  1);
            // Singleton derived through derivation.source_entities, C++ transforms.
            CHECK(db.count("SELECT count(*) FROM customer_snapshots WHERE invoice_id = 'INV-1' AND "
                           "name_upper = 'ADA' AND tier = 'gold'") == 1);
            CHECK(db.count("SELECT count(*) FROM customer_snapshots WHERE invoice_id = 'INV-2' AND "
                           "name_upper = 'BOB' AND tier = 'standard'") == 1);
            // A singleton read by name from another entity than its parent: built after it.
            CHECK(db.count("SELECT count(*) FROM billing_summaries WHERE (invoice_id = 'INV-1' AND "
                           "tier = 'gold') OR (invoice_id = 'INV-2' AND tier = 'standard')") == 2);
            // A transient entity (no persistence) is published, one row per line, never stored.
            CHECK(client.stream_message_count("NOMNOM_ENTITIES") == 2);
            CHECK(
                client.last_message_data("NOMNOM_ENTITIES", "entities.LineEvent") ==
                R"({"invoice_id":"INV-1","sku":"S2","qty":null,"taxes":[{"kind":"vat","rate":0.1}]})");
            CHECK(db.count(tables_named(db, "'LineEvent', 'lineevent'")) == 0);
            // The abstract base has no table.
            CHECK(db.count(tables_named(db, "'documents'")) == 0);

            const std::vector<std::pair<std::string, std::string>> bad = {
                {invoice_with("2026-02-28\"", "2026-02-30\""),
                 "Invoice.issued_on: expected a date YYYY-MM-DD, got string \"2026-02-30\""},
                {invoice_with("\"price\": 10", "\"price\": \"10\""),
                 "InvoiceLine.unit_price: member 'price': expected a number, got string \"10\""},
                {invoice_with("\"customer\": {\"name\": \"Ada\", \"vip\": true}, ", ""),
                 "Invoice.customer: required, got null or nothing"},
                {invoice_with("INV-1", "INV-12345678X"),
                 "Invoice.invoice_id: length 13 exceeds maxLength 12 (\"INV-12345678X\")"},
                {invoice_with("1234.50", "-5"), "tier_of: negative amount"},
                {invoice_with("\"priority\": 3", "\"priority\": 3000000000"),
                 "Invoice.priority: expected a 32-bit integer (declare the field BigInt for more), "
                 "got number 3000000000"},
                {invoice_with("123e4567-e89b", "123e4567-e89"),
                 "Invoice.trace_id: expected a UUID"},
                {invoice_with("\"tags\": [\"a\", \"b\"]", "\"tags\": [\"a\", 7]"),
                 "Invoice.tags: item 1: Invoice.tags: expected a string, got number 7"},
                {invoice_with("\"paid\": true", "\"paid\": \"yes\""),
                 "Invoice.paid: expected true or false, got string \"yes\""},
                {invoice_with("\"sku\": \"S1\"", "\"sku\": \"S\\udc00\""),
                 "payload is not valid JSON: a \\u escape of a lone UTF-16 surrogate"},
                {invoice_with("\"taxable\": false,", ""),
                 "InvoiceLine.taxable: member 'taxable' is missing or null"},
                {"{\"invoice_id\": ", "payload is not valid JSON"},
                {invoice_with("{\"x\": [1, 2]}", std::string(300, '[') + std::string(300, ']')),
                 "payload is not valid JSON: objects and arrays nested deeper than 256 levels"},
            };
            for (const auto& [payload, reason] : bad) client.publish("shop.in.Invoice", payload);
            REQUIRE(eventually([&] { return dlq_list(host).size() == bad.size(); }, 30s));
            for (const auto& [payload, reason] : bad) {
                INFO(reason);
                CHECK(has_dead_letter(host, reason));
            }
            CHECK(db.count("SELECT count(*) FROM invoices") == 2);
        });
}

TEST_CASE("legacy_shop: a Decimal given as a JSON number keeps every digit",
          "[generator][e2e][postgresql][mariadb][sqlite]") {
    on_every_database(
        "legacy_shop", false, [](HostHarness& host, JetStreamClient& client, Target& db) {
            // More digits than a double has, beyond 64 bits, and an exponent.
            const std::vector<std::pair<std::string, std::string>> amounts = {
                {"INV-3", "12345678901234567.123456789"},
                {"INV-4", "123456789012345678901234567890"},
                {"INV-5", "1.000000000000000000001E-3"},
            };
            for (const auto& [id, amount] : amounts) {
                client.publish("shop.in.Invoice", replaced(replaced(unpaid_invoice, "INV-2", id),
                                                           "\"99.95\"", amount));
            }
            const bool landed =
                eventually([&] { return db.count("SELECT count(*) FROM invoices") == 3; }, 30s);
            for (const auto& line : dlq_list(host)) UNSCOPED_INFO("dead letter: " << line);
            REQUIRE(landed);
            if (db.postgres) {
                CHECK(db.count("SELECT count(*) FROM invoices WHERE (invoice_id = 'INV-3' AND "
                               "amount::text = '12345678901234567.123456789') OR (invoice_id = "
                               "'INV-4' AND amount::text = '123456789012345678901234567890') OR "
                               "(invoice_id = 'INV-5' AND amount = "
                               "0.001000000000000000000001)") == 3);
            } else if (db.mysql) {
                // DECIMAL(65, 30): every digit of these.
                CHECK(db.count("SELECT count(*) FROM invoices WHERE (invoice_id = 'INV-3' AND "
                               "amount = 12345678901234567.123456789) OR (invoice_id = 'INV-4' AND "
                               "amount = 123456789012345678901234567890) OR (invoice_id = 'INV-5' "
                               "AND amount = 0.001000000000000000000001)") == 3);
            } else {
                // NUMERIC affinity turns the text into an INTEGER or a REAL: about 16 digits.
                CHECK(db.count("SELECT count(*) FROM invoices WHERE invoice_id = 'INV-3' AND "
                               "typeof(amount) = 'integer' AND amount = 12345678901234568") == 1);
                CHECK(db.count("SELECT count(*) FROM invoices WHERE invoice_id = 'INV-4' AND "
                               "typeof(amount) = 'real'") == 1);
            }
        });
}

namespace {

std::string vehicle_with(const std::string& from, const std::string& to) {
    return replaced(good_vehicle, from, to);
}

}  // namespace

TEST_CASE("v1_fleet: the v1 form with every constraint enforced at parse time",
          "[generator][e2e][postgresql][mariadb][sqlite]") {
    on_every_database(
        "v1_fleet", false, [](HostHarness& host, JetStreamClient& client, Target& db) {
            client.publish("messages.ingest.Vehicle", good_vehicle);
            REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM trips") == 2; }, 30s));
            const std::string truth = db.postgres ? "true" : "1";
            // snake_case columns, the default for a missing boolean, a constant source.
            CHECK(db.count(
                      "SELECT count(*) FROM vehicles WHERE vehicle_id = 'V100' AND model = "
                      "'truck' AND year = 2020 AND mileage_km = 12000.5 AND price = 45000.10 AND "
                      "active = " +
                      truth +
                      " AND service_date IS NULL AND fleet_id = "
                      "'0b6e2f1c-9d4f-4c55-8a3e-2c1d3f4a5b6c' AND odometer = 123456789012 AND "
                      "source = 'telematics'") == 1);
            CHECK(
                db.count("SELECT count(*) FROM trips WHERE vehicle_id = 'V100' AND trip_no = 1 AND "
                         "distance_km = 12.5 AND driver = 'kim' AND model = 'truck'") == 1);
            CHECK(db.count("SELECT count(*) FROM trips WHERE trip_no = 2 AND distance_km = 0 AND "
                           "driver IS NULL") == 1);
            // persistence.enabled: false stores nothing and publishes a row per trip.
            CHECK(db.count(tables_named(db, "'trip_check', 'TripCheck', 'tripcheck'")) == 0);
            REQUIRE(eventually([&] { return client.stream_message_count("NOMNOM_ENTITIES") == 2; },
                               20s));
            CHECK(client.last_message_data("NOMNOM_ENTITIES", "entities.TripCheck") ==
                  R"({"trip_no":2})");

            const std::vector<std::pair<std::string, std::string>> bad = {
                {vehicle_with("\"V100\"", "\"X1\""),
                 "Vehicle.vehicleId: \"X1\" does not match pattern ^V[0-9]+$"},
                {vehicle_with("\"V100\"", "\"V12345678\""),
                 "Vehicle.vehicleId: length 9 exceeds maxLength 8"},
                {vehicle_with("\"V100\"", "\"V\""),
                 "Vehicle.vehicleId: length 1 is below minLength 2"},
                {vehicle_with("\"truck\"", "\"bike\""),
                 "Vehicle.model: string \"bike\" is not one of [truck, van, car]"},
                {vehicle_with("2020", "1980"), "Vehicle.year: number 1980 is below minimum 1990"},
                {vehicle_with("\"km\": 0", "\"km\": -1"),
                 "Trip.distanceKm: number -1 is below minimum 0"},
                {vehicle_with("[\"x\"]", "[1]"), "Vehicle.labels: item 0"},
                {vehicle_with("\"45000.10\"", "\"45,000\""),
                 "Vehicle.price: expected a decimal number, got string \"45,000\""},
                {vehicle_with("2026-01-01T00:00:00Z", "2026-01-01"),
                 "Vehicle.registeredAt: expected an RFC 3339 timestamp"},
                {vehicle_with("2020", "2031"), "Vehicle.year: number 2031 is above maximum 2030"},
                {vehicle_with("\"fleetId\": \"0b6e2f1c-9d4f-4c55-8a3e-2c1d3f4a5b6c\",", ""),
                 "Vehicle.fleetId: required, got null or nothing"},
            };
            for (const auto& [payload, reason] : bad)
                client.publish("messages.ingest.Vehicle", payload);
            REQUIRE(eventually([&] { return dlq_list(host).size() == bad.size(); }, 30s));
            for (const auto& [payload, reason] : bad) {
                INFO(reason);
                CHECK(has_dead_letter(host, reason));
            }
            CHECK(db.count("SELECT count(*) FROM vehicles") == 1);
        });
}
