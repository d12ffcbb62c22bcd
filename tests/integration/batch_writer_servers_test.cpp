// The write paths of the database servers on their own, against real servers: PostgreSQL's
// per-connection staging tables and COPY stream, MariaDB's multi-row upserts, and what both must
// agree on (text unchanged, the newest message wins, a key's last row wins within a batch).

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "db/database.hpp"
#include "db/mysql_native.hpp"
#include "db/plugin_db_api.hpp"
#include "pipeline/batch_writer.hpp"
#include "support/mariadb_client.hpp"
#include "support/mariadb_test_db.hpp"
#include "support/pg_test_db.hpp"
#include "support/private_mariadb.hpp"
#include "support/test_database.hpp"

namespace {

constexpr nomnom_column kNarrow[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                     {sizeof(nomnom_column), "v", NOMNOM_TYPE_I64, 0}};
constexpr nomnom_column kWide[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                   {sizeof(nomnom_column), "v", NOMNOM_TYPE_I64, 0},
                                   {sizeof(nomnom_column), "extra", NOMNOM_TYPE_TEXT, 1}};
const char* const kKeys[] = {"k"};
const nomnom_table kWideTable{sizeof(nomnom_table), "kv", kWide, 3, kKeys, 1};

nomnom_plugin_descriptor descriptor_of(const nomnom_table& table) {
    nomnom_plugin_descriptor descriptor{};
    descriptor.tables = &table;
    descriptor.table_count = 1;
    return descriptor;
}

// `batch` into the descriptor's one table, committed.
void write_in_one_transaction(nomnom::host::Database& database, nomnom::host::RowBatch& batch,
                              const nomnom_plugin_descriptor& descriptor) {
    nomnom::host::DbLease lease(database);
    lease.begin();
    nomnom::host::write_batch(lease, batch, nomnom::host::declared_outputs(descriptor),
                              {descriptor.tables[0].name});
    lease.commit();
}

// One row per key, each from a message newer than any before unless `sequence` says which
// (`sequences`, when given, one per key); `extra` is written when the table has a third column.
void write_rows(nomnom::host::Database& database, const nomnom_plugin_descriptor& descriptor,
                const std::vector<std::string>& keys, const std::string& extra = "",
                uint64_t sequence = 0, const std::vector<uint64_t>& sequences = {}) {
    nomnom::host::RowBatch batch(descriptor);
    const nomnom_host_api& api = *nomnom::host::host_api();
    static uint64_t next_sequence = 1000000;
    for (uint32_t m = 0; m < keys.size(); ++m) {
        batch.begin_message(m, !sequences.empty() ? sequences[m]
                               : sequence != 0    ? sequence
                                                  : next_sequence++);
        api.begin_row(batch.as_sink(), 0);
        api.put_text(batch.as_sink(), 0, keys[m].data(), keys[m].size());
        api.put_i64(batch.as_sink(), 1, m);
        if (descriptor.tables[0].column_count > 2) {
            api.put_text(batch.as_sink(), 2, extra.data(), extra.size());
        }
        api.end_row(batch.as_sink());
        REQUIRE(batch.message_error().empty());
    }
    write_in_one_transaction(database, batch, descriptor);
}

nomnom::host::DatabaseConfig one_connection(const std::string& url) {
    nomnom::host::DatabaseConfig config;
    config.url = url;
    config.pool_size = 1;
    return config;
}

// The wide `kv` table, created by the host on a fresh database of `kind` behind a
// one-connection pool.
struct WideKv {
    std::unique_ptr<nomnom::testing::TestDatabase> db;
    nomnom::host::Database database;
    nomnom_plugin_descriptor descriptor = descriptor_of(kWideTable);

    explicit WideKv(nomnom::testing::TestDbKind kind)
        : db(nomnom::testing::make_test_database(kind)), database(one_connection(db->url())) {
        database.prepare_tables(descriptor, nomnom::host::declared_outputs(descriptor), true);
    }
    std::string text_of(const std::string& sql) {
        return db->query_rows(sql)[0][0].value_or("NULL");
    }
};

using nomnom::testing::TestDbKind;

}  // namespace

TEST_CASE("a table's new columns reach PostgreSQL through a session that staged the old ones",
          "[db][postgresql]") {
    nomnom::testing::PgTestDb pg;
    nomnom::host::Database database(one_connection(pg.url()));
    const nomnom_table narrow{sizeof(nomnom_table), "kv", kNarrow, 2, kKeys, 1};
    const nomnom_plugin_descriptor before = descriptor_of(narrow);
    database.prepare_tables(before, nomnom::host::declared_outputs(before), true);
    write_rows(database, before, {"a", "b"});

    // What a reloaded plugin does: same table, one more column, on the same pooled session.
    pg.exec("ALTER TABLE kv ADD COLUMN extra TEXT");
    const nomnom_plugin_descriptor after = descriptor_of(kWideTable);
    write_rows(database, after, {"b", "c"}, "new");
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == 3);
    CHECK(pg.query_int64("SELECT count(*) FROM kv WHERE extra = 'new'") == 2);

    // And back: the old layout still writes through its own staging table.
    write_rows(database, before, {"d"});
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == 4);
}

TEST_CASE("a batch larger than one COPY slice or one MySQL statement is written whole",
          "[db][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    WideKv kv(kind);
    // 12 MiB of text in rows of 64 KiB: the COPY goes out in several slices (a row's text
    // straddling their boundaries). The same keys again take the upsert: on MariaDB several
    // statements.
    std::vector<std::string> keys;
    for (int i = 0; i < 192; ++i) keys.push_back("key-" + std::to_string(i));
    for (const char extra : {'x', 'y'}) {
        CAPTURE(extra);
        write_rows(kv.database, kv.descriptor, keys, std::string(65536, extra));
        CHECK(kv.db->query_int64("SELECT count(*) FROM kv") == 192);
        CHECK(kv.db->query_int64("SELECT sum(length(extra)) FROM kv") == 192LL * 65536);
        CHECK(kv.db->query_int64("SELECT sum(v) FROM kv") == 191LL * 192 / 2);
        CHECK(kv.db->query_int64(std::string("SELECT count(*) FROM kv WHERE extra LIKE '") + extra +
                                 "%'") == 192);
    }
}

TEST_CASE("text with quotes, escapes and 4-byte UTF-8 lands unchanged, new and upserted",
          "[db][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    WideKv kv(kind);
    const std::string text = "a\\b\tc\nd\re\\N\\\\f\t\t\xc3\xa9\\'\"`$1 \xf0\x9f\x8d\x9c\x1a";
    const std::vector<std::string> keys = {"\\", "\t\n", "plain", "'", "A", "a", text};
    // PostgreSQL: new keys go through the plain COPY; the same keys again conflict and take the
    // upsert. "A" and "a" are two keys on both servers.
    write_rows(kv.database, kv.descriptor, keys, text);
    write_rows(kv.database, kv.descriptor, keys, text + "!");
    const auto rows = kv.db->query_rows("SELECT k, extra FROM kv ORDER BY v");
    REQUIRE(rows.size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        CHECK(rows[i][0].value_or("NULL") == keys[i]);
        CHECK(rows[i][1].value_or("NULL") == text + "!");
    }
}

TEST_CASE("a row is replaced only by a newer message", "[db][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    WideKv kv(kind);
    // An older message committing after a newer one (two workers, a retry, a redelivery).
    write_rows(kv.database, kv.descriptor, {"a"}, "newer", 100);
    write_rows(kv.database, kv.descriptor, {"a"}, "older", 50);
    CHECK(kv.text_of("SELECT extra FROM kv WHERE k = 'a'") == "newer");
    CHECK(kv.db->query_int64("SELECT nn_seq FROM kv WHERE k = 'a'") == 100);
    write_rows(kv.database, kv.descriptor, {"a"}, "newest", 150);
    CHECK(kv.text_of("SELECT extra FROM kv WHERE k = 'a'") == "newest");
    // A row stored before the column existed has no sequence: any message replaces it.
    kv.db->exec("UPDATE kv SET nn_seq = NULL");
    write_rows(kv.database, kv.descriptor, {"a"}, "after", 1);
    CHECK(kv.text_of("SELECT extra FROM kv WHERE k = 'a'") == "after");
}

TEST_CASE("within a batch, a key's row from the newest message wins, whatever the batch order",
          "[db][postgresql][mariadb]") {
    const TestDbKind kind = GENERATE(TestDbKind::Postgres, TestDbKind::MariaDb);
    CAPTURE(kind);
    WideKv kv(kind);
    // A redelivered older message can sit behind a newer one in a batch; v is the row's index.
    write_rows(kv.database, kv.descriptor, {"a", "b", "a", "a", "b", "c"}, "x", 0,
               {10, 11, 30, 20, 5, 1});
    const auto rows = kv.db->query_rows("SELECT k, v, nn_seq FROM kv ORDER BY k");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0][1].value_or("") == "2");  // a: the message of sequence 30
    CHECK(rows[0][2].value_or("") == "30");
    CHECK(rows[1][1].value_or("") == "1");  // b: 11 beats 5
    CHECK(rows[2][1].value_or("") == "5");
}

// PostgreSQL answers the COMMIT of a transaction an earlier error aborted with ROLLBACK, not an
// error: a statement failing where the host could not record it must still fail the batch, as
// a data error so that it is bisected.
TEST_CASE("a COMMIT that PostgreSQL turns into ROLLBACK fails the batch as a data error",
          "[postgresql]") {
    nomnom::testing::PgTestDb pg;
    pg.exec("CREATE TABLE checked (v BIGINT CHECK (v < 100))");
    nomnom::host::Database database(one_connection(pg.url()));
    nomnom::host::DbLease lease(database);
    lease.begin();
    lease.execute_script("INSERT INTO checked VALUES (1)");
    CHECK_THROWS(lease.execute_script("INSERT INTO checked VALUES (100)"));
    REQUIRE_FALSE(lease.recorded_failure());
    try {
        lease.commit();
        FAIL("COMMIT of an aborted transaction did not throw");
    } catch (const nomnom::host::DbError& e) {
        CHECK(e.sqlstate() == "25P02");
        CHECK(e.data_error());
    }
    CHECK(pg.query_int64("SELECT count(*) FROM checked") == 0);
}

namespace {

// The DbError a write of `keys` (with `extra`) into the table made by `ddl` fails with.
nomnom::host::DbError mariadb_write_error(const std::string& ddl,
                                          const std::vector<std::string>& keys,
                                          const std::string& extra) {
    nomnom::testing::MariaDbTestDb db;
    db.exec(ddl);
    db.exec("ALTER TABLE kv ADD COLUMN nn_seq BIGINT");
    nomnom::host::Database database(one_connection(db.url()));
    const nomnom_plugin_descriptor descriptor = descriptor_of(kWideTable);
    database.prepare_tables(descriptor, nomnom::host::declared_outputs(descriptor), false);
    try {
        write_rows(database, descriptor, keys, extra);
    } catch (const nomnom::host::DbError& e) {
        CHECK(db.query_int64("SELECT count(*) FROM kv") == 0);
        return e;
    }
    FAIL("the write succeeded");
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("MariaDB: values the column cannot hold are data errors with the server's message",
          "[db][mariadb]") {
    const auto too_long = mariadb_write_error(
        "CREATE TABLE kv (k VARCHAR(10) NOT NULL, v BIGINT NOT NULL, extra VARCHAR(3), "
        "UNIQUE (k))",
        {"a"}, "four");
    CHECK(too_long.data_error());
    CHECK(too_long.sqlstate() == "mysql:1406");
    CHECK(std::string(too_long.what()).find("Data too long for column 'extra'") !=
          std::string::npos);

    const auto not_a_number = mariadb_write_error(
        "CREATE TABLE kv (k VARCHAR(10) NOT NULL, v BIGINT NOT NULL, extra INT, UNIQUE (k))", {"a"},
        "five");
    CHECK(not_a_number.data_error());
    CHECK(not_a_number.sqlstate() == "mysql:1366");

    const auto out_of_range = mariadb_write_error(
        "CREATE TABLE kv (k VARCHAR(10) NOT NULL, v TINYINT NOT NULL, extra TEXT, UNIQUE (k))",
        std::vector<std::string>(300, "x"), "");
    CHECK(out_of_range.data_error());
    CHECK(out_of_range.sqlstate() == "mysql:1264");
}

TEST_CASE("MariaDB: a row above max_allowed_packet is a data error and the connection lives on",
          "[db][mariadb]") {
    WideKv kv(TestDbKind::MariaDb);
    const int64_t packet = kv.db->query_int64("SELECT @@max_allowed_packet");
    // A stored key: the batch takes the upsert (a plain LOAD DATA streams any row).
    write_rows(kv.database, kv.descriptor, {"big"}, "x");
    CHECK_THROWS_MATCHES(write_rows(kv.database, kv.descriptor, {"big"}, std::string(packet, 'x')),
                         nomnom::host::DbError,
                         Catch::Predicate<nomnom::host::DbError>([](const auto& e) {
                             return e.data_error() && e.sqlstate() == "mysql:1153";
                         }));
    write_rows(kv.database, kv.descriptor, {"small"}, "x");
    CHECK(kv.db->query_int64("SELECT count(*) FROM kv") == 2);
}

TEST_CASE("MariaDB: conflict keys without a unique index, or with a prefix index, are refused",
          "[db][mariadb]") {
    nomnom::testing::MariaDbTestDb db;
    db.exec("CREATE TABLE kv (k TEXT NOT NULL, v BIGINT NOT NULL, extra TEXT, UNIQUE (k(20)))");
    nomnom::host::Database database(one_connection(db.url()));
    const nomnom_plugin_descriptor descriptor = descriptor_of(kWideTable);
    CHECK_THROWS_WITH(
        database.prepare_tables(descriptor, nomnom::host::declared_outputs(descriptor), true),
        Catch::Contains("a unique index on kv (k), its conflict keys"));
}

TEST_CASE("MariaDB: the host derives utf8mb4 tables with VARCHAR text keys", "[db][mariadb]") {
    WideKv kv(TestDbKind::MariaDb);
    const auto columns = kv.db->query_rows(
        "SELECT column_name, column_type, collation_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'kv' ORDER BY ordinal_position");
    REQUIRE(columns.size() == 4);
    CHECK(columns[0][1].value_or("") == "varchar(255)");
    CHECK(columns[0][2].value_or("") == "utf8mb4_bin");
    CHECK(columns[1][1].value_or("") == "bigint(20)");
    CHECK(columns[2][1].value_or("") == "longtext");
    CHECK(columns[3][0].value_or("") == "nn_seq");
}

TEST_CASE("MariaDB: db_execute's $n are the parameters, never text inside quotes or comments",
          "[db][mariadb]") {
    nomnom::testing::MariaDbTestDb db;
    db.exec("CREATE TABLE t (a TEXT, b BIGINT, c DOUBLE, d BOOLEAN, e TEXT)");
    nomnom::host::Database database(one_connection(db.url()));
    nomnom::host::DbLease lease(database);
    const nomnom_host_api& api = *nomnom::host::host_api();
    auto* handle = reinterpret_cast<nomnom_db*>(&lease);
    CHECK(std::string(api.db_dialect(handle)) == "mysql");
    const std::string text = "it's \\ $2 \"quoted\"";
    nomnom_value params[5] = {};
    params[0].type = NOMNOM_TYPE_TEXT;
    params[0].text = {text.data(), text.size()};
    params[1].type = NOMNOM_TYPE_I64;
    params[1].i64 = -42;
    params[2].type = NOMNOM_TYPE_F64;
    params[2].f64 = 0.1;
    params[3].type = NOMNOM_TYPE_BOOL;
    params[3].i64 = 1;
    params[4].is_null = 1;
    char reason[512] = "";
    nomnom_error error{reason, sizeof reason};
    lease.begin();
    REQUIRE(api.db_execute(handle,
                           "INSERT INTO t /* $9 */ VALUES ($1, $2, $3, $4, $5) -- $7\n"
                           "ON DUPLICATE KEY UPDATE a = '$1'",
                           params, 5, &error) == NOMNOM_OK);
    CHECK(api.db_execute(handle, "INSERT INTO t (a) VALUES ($6)", params, 5, &error) ==
          NOMNOM_RETRY);
    CHECK(std::string(reason) == "db_execute: $6 but 5 parameter(s) given");
    // After a failed statement the transaction is done with, as on PostgreSQL.
    CHECK(api.db_execute(handle, "INSERT INTO t (b) VALUES (1)", params, 0, &error) ==
          NOMNOM_RETRY);
    lease.rollback();
    lease.begin();
    REQUIRE(api.db_execute(handle, "INSERT INTO t VALUES ($1, $2, $3, $4, $5)", params, 5,
                           &error) == NOMNOM_OK);
    lease.commit();
    const auto rows = db.query_rows("SELECT a, b, c, d, e FROM t");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0].value_or("") == text);
    CHECK(rows[0][1].value_or("") == "-42");
    CHECK(rows[0][2].value_or("") == "0.1");
    CHECK(rows[0][3].value_or("") == "1");
    CHECK_FALSE(rows[0][4]);
}

namespace {

// A session status counter of the pool's only connection.
int64_t session_counter(nomnom::host::Database& database, const std::string& name) {
    nomnom::host::DbLease lease(database);
    const auto rows = nomnom::host::mysql_query_rows(
        nomnom::host::mysql_connection(lease.session()), "SHOW SESSION STATUS LIKE '" + name + "'");
    return std::stoll(rows.at(0).at(1).value_or("-1"));
}

// LOAD DATA statements run so far on the pool's only connection.
int64_t loads_run(nomnom::host::Database& database) {
    return session_counter(database, "Com_load");
}

}  // namespace

TEST_CASE("MariaDB: new keys go in by one LOAD DATA, a stored key sends the batch to the upsert",
          "[db][mariadb]") {
    WideKv kv(TestDbKind::MariaDb);
    write_rows(kv.database, kv.descriptor, {"a", "b"}, "first");
    CHECK(loads_run(kv.database) == 1);
    // "b" is stored: the LOAD DATA skips it, is undone, and the upsert writes both.
    write_rows(kv.database, kv.descriptor, {"c", "b"}, "second");
    CHECK(loads_run(kv.database) == 2);
    CHECK(kv.db->query_int64("SELECT count(*) FROM kv") == 3);
    CHECK(kv.db->query_int64("SELECT count(*) FROM kv WHERE extra = 'second'") == 2);
    // A repeated key inside one batch is no new key either: the newest row wins.
    write_rows(kv.database, kv.descriptor, {"d", "d"}, "third", 0, {90000000, 90000001});
    CHECK(kv.db->query_int64("SELECT v FROM kv WHERE k = 'd'") == 1);
    // After a conflict the next batches go straight to the upsert.
    write_rows(kv.database, kv.descriptor, {"e"}, "fourth");
    CHECK(loads_run(kv.database) == 2);
    CHECK(kv.db->query_int64("SELECT count(*) FROM kv") == 5);
}

TEST_CASE("MariaDB: a server that refuses LOAD DATA LOCAL gets every batch by the upsert",
          "[db][mariadb]") {
    nomnom::testing::PrivateMariaDb server;
    nomnom::testing::MariaDbConnection admin(server.url());
    admin.exec("SET GLOBAL local_infile = OFF");
    nomnom::host::Database database(one_connection(server.url()));
    const nomnom_plugin_descriptor descriptor = descriptor_of(kWideTable);
    database.prepare_tables(descriptor, nomnom::host::declared_outputs(descriptor), true);
    write_rows(database, descriptor, {"a", "b"}, "x");
    write_rows(database, descriptor, {"c"}, "y");
    CHECK(server.query_int64("SELECT count(*) FROM kv") == 3);
    CHECK(server.query_int64("SELECT count(*) FROM kv WHERE k = 'c' AND extra = 'y'") == 1);
    CHECK(loads_run(database) == 1);  // the refused one, tried once for the pool
}

namespace {

constexpr nomnom_column kTyped[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                    {sizeof(nomnom_column), "i", NOMNOM_TYPE_I64, 1},
                                    {sizeof(nomnom_column), "f", NOMNOM_TYPE_F64, 1},
                                    {sizeof(nomnom_column), "d", NOMNOM_TYPE_F64, 1},
                                    {sizeof(nomnom_column), "b", NOMNOM_TYPE_BOOL, 1},
                                    {sizeof(nomnom_column), "j", NOMNOM_TYPE_JSON, 1},
                                    {sizeof(nomnom_column), "t", NOMNOM_TYPE_TEXT, 1}};
const nomnom_table kTypedTable{sizeof(nomnom_table), "typed", kTyped, 7, kKeys, 1};

// A row of `typed`; an empty optional is NULL.
struct TypedRow {
    std::string k;
    std::optional<int64_t> i;
    std::optional<double> f;
    std::optional<double> d;
    std::optional<bool> b;
    std::optional<std::string> j;
    std::optional<std::string> t;
};

// `typed` on a fresh MariaDB database, by DDL: a DECIMAL and a DATETIME column besides the types
// the host derives.
struct TypedTable {
    nomnom::testing::MariaDbTestDb db;
    nomnom::host::Database database{one_connection(db.url())};
    nomnom_plugin_descriptor descriptor = descriptor_of(kTypedTable);

    TypedTable() {
        db.exec(
            "CREATE TABLE typed (k VARCHAR(20) NOT NULL, i BIGINT, f DOUBLE, d DECIMAL(10,2), "
            "b BOOLEAN, j JSON, t DATETIME(6), nn_seq BIGINT, UNIQUE (k))");
        database.prepare_tables(descriptor, nomnom::host::declared_outputs(descriptor), false);
    }
    // Each row from a message of `sequence`.
    void write(const std::vector<TypedRow>& rows, uint64_t sequence) {
        nomnom::host::RowBatch batch(descriptor);
        const nomnom_host_api& api = *nomnom::host::host_api();
        nomnom_row_sink* sink = batch.as_sink();
        for (uint32_t m = 0; m < rows.size(); ++m) {
            const TypedRow& row = rows[m];
            batch.begin_message(m, sequence);
            api.begin_row(sink, 0);
            api.put_text(sink, 0, row.k.data(), row.k.size());
            if (row.i) api.put_i64(sink, 1, *row.i);
            if (row.f) api.put_f64(sink, 2, *row.f);
            if (row.d) api.put_f64(sink, 3, *row.d);
            if (row.b) api.put_bool(sink, 4, *row.b ? 1 : 0);
            if (row.j) api.put_text(sink, 5, row.j->data(), row.j->size());
            if (row.t) api.put_text(sink, 6, row.t->data(), row.t->size());
            api.end_row(sink);
            REQUIRE(batch.message_error().empty());
        }
        write_in_one_transaction(database, batch, descriptor);
    }
    nomnom::testing::TestDatabase::Rows stored() {
        return db.query_rows("SELECT k, i, f, d, b, j, t, nn_seq FROM typed ORDER BY k");
    }
};

}  // namespace

TEST_CASE("MariaDB: each column type lands the same by LOAD DATA as by the upsert",
          "[db][mariadb]") {
    const std::vector<TypedRow> older = {{"a", 1, 1.0, 1.0, false, "{}", "2000-01-01T00:00:00Z"},
                                         {"b", 2, 2.0, 2.0, true, "[1]", "2000-01-01T00:00:00Z"},
                                         {"c", {}, {}, {}, {}, {}, {}},
                                         {"d", 4, 4.0, 4.0, true, "4", "2000-01-01T00:00:00Z"}};
    const std::vector<TypedRow> newer = {
        {"a", -9007199254740993LL, 1e-7, 12.5, true, "{\"x\": [1, \"\\u00e9\", \"\xc3\xa9\"]}",
         "2026-02-28T10:11:12.5+05:30"},
        {"b", {}, {}, {}, {}, {}, {}},
        {"c", INT64_MAX, -2.5e300, -0.25, false, "[]", "2024-02-29T23:59:59Z"},
        {"d", 0, 0.1, 99.99, false, "\"it's\"", "2026-12-06T00:00:00.000001-01:00"}};
    // Over stored keys: the upsert.
    TypedTable upserted;
    upserted.write(older, 10);
    upserted.write(newer, 20);
    const auto stored = upserted.stored();
    // New keys: the plain LOAD DATA, and nothing after it.
    TypedTable loaded;
    loaded.write(newer, 20);
    CHECK(loads_run(loaded.database) == 1);
    CHECK(session_counter(loaded.database, "Com_insert") == 0);
    CHECK(loaded.stored() == stored);
    REQUIRE(stored.size() == 4);
    CHECK(stored[0][1].value_or("") == "-9007199254740993");
    CHECK(stored[0][3].value_or("") == "12.50");
    CHECK(stored[0][6].value_or("") == "2026-02-28 04:41:12.500000");
    CHECK(stored[1][0].value_or("") == "b");
    CHECK_FALSE(stored[1][1]);
    CHECK_FALSE(stored[1][6]);
    CHECK(stored[2][1].value_or("") == std::to_string(INT64_MAX));
    CHECK(stored[3][6].value_or("") == "2026-12-06 01:00:00.000001");
}
