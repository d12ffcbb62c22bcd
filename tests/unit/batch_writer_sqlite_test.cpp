#include <catch2/catch.hpp>

#include <limits>
#include <string>

#include "db/database.hpp"
#include "db/native_db.hpp"
#include "pipeline/batch_writer.hpp"
#include "support/temp_dir.hpp"

namespace {

const nomnom_column kColumns[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                  {sizeof(nomnom_column), "order", NOMNOM_TYPE_I64, 0},
                                  {sizeof(nomnom_column), "note", NOMNOM_TYPE_TEXT, 1}};
const char* const kKeys[] = {"k"};
const nomnom_table kTable{sizeof(nomnom_table), "kv", kColumns, 3, kKeys, 1};

void add_row(nomnom::host::RowBatch& batch, uint32_t message, const std::string& key,
             int64_t value) {
    const nomnom_host_api& api = *nomnom::host::host_api();
    batch.begin_message(message);
    api.begin_row(batch.as_sink(), 0);
    api.put_text(batch.as_sink(), 0, key.data(), key.size());
    api.put_i64(batch.as_sink(), 1, value);
    api.put_text(batch.as_sink(), 2, "tab\there\nnewline", 16);
    api.end_row(batch.as_sink());
}

}  // namespace

TEST_CASE("derived DDL quotes identifiers and declares the conflict key", "[db]") {
    CHECK(nomnom::host::derive_ddl(kTable, nomnom::host::Dialect::Postgres) ==
          R"(CREATE TABLE IF NOT EXISTS "kv" ("k" TEXT NOT NULL, "order" BIGINT NOT NULL, )"
          R"("note" TEXT, UNIQUE ("k")))");
}

TEST_CASE("SQLite upsert: repeated keys in a batch end with the last value", "[db][sqlite]") {
    nomnom::testing::TempDir dir;
    nomnom::host::DatabaseConfig config;
    config.url = "sqlite:" + (dir.path() / "t.db").string();
    config.pool_size = 1;
    nomnom::host::Database database(config);
    nomnom_plugin_descriptor d{};
    d.tables = &kTable;
    d.table_count = 1;
    database.prepare_tables(d, true);

    nomnom::host::RowBatch batch(d);
    for (uint32_t m = 0; m < 10; ++m) add_row(batch, m, m % 2 ? "odd" : "even", m);
    {
        nomnom::host::DbLease lease(database);
        lease.begin();
        nomnom::host::write_batch(lease, batch);
        lease.commit();
        // Redelivery of the same batch changes nothing.
        lease.begin();
        nomnom::host::write_batch(lease, batch);
        lease.commit();
    }
    nomnom::host::DbLease lease(database);
    int count = 0;
    lease.session() << "SELECT count(*) FROM kv", soci::into(count);
    CHECK(count == 2);
    long long odd = 0;
    lease.session() << "SELECT \"order\" FROM kv WHERE k = 'odd'", soci::into(odd);
    CHECK(odd == 9);
    std::string note;
    lease.session() << "SELECT note FROM kv WHERE k = 'even'", soci::into(note);
    CHECK(note == "tab\there\nnewline");
}

TEST_CASE("a persist plugin's NaN parameter is a data error, as in a row", "[db][sqlite]") {
    nomnom::testing::TempDir dir;
    nomnom::host::DatabaseConfig config;
    config.url = "sqlite:" + (dir.path() / "nan.db").string();
    config.pool_size = 1;
    nomnom::host::Database database(config);
    nomnom::host::DbLease lease(database);
    lease.execute_script("CREATE TABLE m (x REAL)");
    lease.begin();
    nomnom_value value{};
    value.type = NOMNOM_TYPE_F64;
    value.f64 = std::numeric_limits<double>::quiet_NaN();
    char reason[256] = "";
    nomnom_error error{reason, sizeof reason};
    CHECK(nomnom::host::host_api()->db_execute(reinterpret_cast<nomnom_db*>(&lease),
                                               "INSERT INTO m VALUES ($1)", &value, 1,
                                               &error) == NOMNOM_INVALID);
    CHECK(std::string(reason) == "db_execute: parameter $1 is NaN");
    REQUIRE(lease.recorded_failure());
    CHECK(lease.recorded_failure()->data_error());
    lease.rollback();
}
