// The PostgreSQL write path on its own, against a real server: the per-connection staging tables
// and the COPY stream.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "db/database.hpp"
#include "db/plugin_db_api.hpp"
#include "pipeline/batch_writer.hpp"
#include "support/pg_test_db.hpp"

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

// One row per key, each from a message newer than any before unless `sequence` says which;
// `extra` is written when the table has a third column.
void write_rows(nomnom::host::Database& database, const nomnom_plugin_descriptor& descriptor,
                const std::vector<std::string>& keys, const std::string& extra = "",
                uint64_t sequence = 0) {
    nomnom::host::RowBatch batch(descriptor);
    const nomnom_host_api& api = *nomnom::host::host_api();
    static uint64_t next_sequence = 1000000;
    for (uint32_t m = 0; m < keys.size(); ++m) {
        batch.begin_message(m, sequence != 0 ? sequence : next_sequence++);
        api.begin_row(batch.as_sink(), 0);
        api.put_text(batch.as_sink(), 0, keys[m].data(), keys[m].size());
        api.put_i64(batch.as_sink(), 1, m);
        if (descriptor.tables[0].column_count > 2) {
            api.put_text(batch.as_sink(), 2, extra.data(), extra.size());
        }
        api.end_row(batch.as_sink());
        REQUIRE(batch.message_error().empty());
    }
    nomnom::host::DbLease lease(database);
    lease.begin();
    nomnom::host::write_batch(lease, batch, nomnom::host::declared_outputs(descriptor), {"kv"});
    lease.commit();
}

nomnom::host::DatabaseConfig one_connection(const std::string& url) {
    nomnom::host::DatabaseConfig config;
    config.url = url;
    config.pool_size = 1;
    return config;
}

// The wide `kv` table, created on a fresh database behind a one-connection pool.
struct WideKv {
    nomnom::testing::PgTestDb pg;
    nomnom::host::Database database{one_connection(pg.url())};
    nomnom_plugin_descriptor descriptor = descriptor_of(kWideTable);

    WideKv() {
        database.prepare_tables(descriptor, nomnom::host::declared_outputs(descriptor), true);
    }
};

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

TEST_CASE_METHOD(WideKv, "a batch larger than one COPY slice is streamed whole",
                 "[db][postgresql]") {
    // 12 MiB of text in rows of 64 KiB: the COPY goes out in several slices, and a row's text
    // straddles the slice boundaries.
    std::vector<std::string> keys;
    for (int i = 0; i < 192; ++i) keys.push_back("key-" + std::to_string(i));
    write_rows(database, descriptor, keys, std::string(65536, 'x'));
    CHECK(pg.query_int64("SELECT count(*) FROM kv") == 192);
    CHECK(pg.query_int64("SELECT sum(length(extra)) FROM kv") == 192LL * 65536);
    CHECK(pg.query_int64("SELECT sum(v) FROM kv") == 191LL * 192 / 2);
}

TEST_CASE_METHOD(WideKv,
                 "text with COPY's special characters lands unchanged, by plain COPY and by upsert",
                 "[db][postgresql]") {
    const std::string text = "a\\b\tc\nd\re\\N\\\\f\t\t\xc3\xa9\\";
    const std::vector<std::string> keys = {"\\", "\t\n", "plain", text};
    // New keys go through the plain COPY; the same keys again conflict and take the upsert.
    write_rows(database, descriptor, keys, text);
    write_rows(database, descriptor, keys, text + "!");
    const auto rows = pg.query_rows("SELECT k, extra FROM kv ORDER BY v");
    REQUIRE(rows.size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        CHECK(rows[i][0].value_or("NULL") == keys[i]);
        CHECK(rows[i][1].value_or("NULL") == text + "!");
    }
}

TEST_CASE_METHOD(WideKv, "PostgreSQL: a row is replaced only by a newer message",
                 "[db][postgresql]") {
    // An older message committing after a newer one (two workers, a retry, a redelivery).
    write_rows(database, descriptor, {"a"}, "newer", 100);
    write_rows(database, descriptor, {"a"}, "older", 50);
    CHECK(pg.query_rows("SELECT extra FROM kv WHERE k = 'a'")[0][0].value_or("NULL") == "newer");
    CHECK(pg.query_int64("SELECT nn_seq FROM kv WHERE k = 'a'") == 100);
    write_rows(database, descriptor, {"a"}, "newest", 150);
    CHECK(pg.query_rows("SELECT extra FROM kv WHERE k = 'a'")[0][0].value_or("NULL") == "newest");
    // A row stored before the column existed has no sequence: any message replaces it.
    pg.exec("UPDATE kv SET nn_seq = NULL");
    write_rows(database, descriptor, {"a"}, "after", 1);
    CHECK(pg.query_rows("SELECT extra FROM kv WHERE k = 'a'")[0][0].value_or("NULL") == "after");
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
