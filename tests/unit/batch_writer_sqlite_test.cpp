#include <catch2/catch.hpp>

#include <limits>
#include <set>
#include <string>

#include "db/database.hpp"
#include "db/native_db.hpp"
#include "db/plugin_db_api.hpp"
#include "pipeline/batch_writer.hpp"
#include "support/temp_dir.hpp"

namespace {

const nomnom_column kColumns[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                  {sizeof(nomnom_column), "order", NOMNOM_TYPE_I64, 0},
                                  {sizeof(nomnom_column), "note", NOMNOM_TYPE_TEXT, 1}};
const char* const kKeys[] = {"k"};
const nomnom_table kTable{sizeof(nomnom_table), "kv", kColumns, 3, kKeys, 1};

// `sequence`: the message's stream sequence (by default, its index in the batch plus 100).
void add_row(nomnom::host::RowBatch& batch, uint32_t message, const std::string& key, int64_t value,
             uint64_t sequence = 0) {
    const nomnom_host_api& api = *nomnom::host::host_api();
    batch.begin_message(message, sequence != 0 ? sequence : message + 100);
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
    const auto sequenced = database.prepare_tables(d, nomnom::host::declared_outputs(d), true);
    CHECK(sequenced == std::set<std::string>{"kv"});

    nomnom::host::RowBatch batch(d);
    for (uint32_t m = 0; m < 10; ++m) add_row(batch, m, m % 2 ? "odd" : "even", m);
    {
        nomnom::host::DbLease lease(database);
        lease.begin();
        nomnom::host::write_batch(lease, batch, nomnom::host::declared_outputs(d), sequenced);
        lease.commit();
        // Redelivery of the same batch changes nothing.
        lease.begin();
        nomnom::host::write_batch(lease, batch, nomnom::host::declared_outputs(d), sequenced);
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

namespace {

// The kv table of kTable in a fresh SQLite database behind a one-connection pool, created by
// hand (`create_sql`), as before the host managed it.
struct SqliteKv {
    nomnom::testing::TempDir dir;
    nomnom::host::Database database;
    nomnom_plugin_descriptor descriptor{};

    explicit SqliteKv(const std::string& create_sql) : database(config_in(dir)) {
        descriptor.tables = &kTable;
        descriptor.table_count = 1;
        nomnom::host::DbLease lease(database);
        lease.execute_script(create_sql);
    }

    static nomnom::host::DatabaseConfig config_in(const nomnom::testing::TempDir& dir) {
        nomnom::host::DatabaseConfig config;
        config.url = "sqlite:" + (dir.path() / "kv.db").string();
        config.pool_size = 1;
        return config;
    }

    void write(const nomnom::host::RowBatch& batch, const std::set<std::string>& sequenced) {
        nomnom::host::DbLease lease(database);
        lease.begin();
        nomnom::host::write_batch(lease, batch, nomnom::host::declared_outputs(descriptor),
                                  sequenced);
        lease.commit();
    }

    // One row of `key` from a message of stream sequence `sequence`, in a batch of its own.
    void write_one(const std::set<std::string>& sequenced, const std::string& key, int64_t value,
                   uint64_t sequence) {
        nomnom::host::RowBatch batch(descriptor);
        add_row(batch, 0, key, value, sequence);
        write(batch, sequenced);
    }

    long long stored_order(const std::string& key) {
        nomnom::host::DbLease lease(database);
        long long value = 0;
        lease.session() << "SELECT \"order\" FROM kv WHERE k = :k", soci::use(key),
            soci::into(value);
        return value;
    }
};

}  // namespace

TEST_CASE("SQLite: a row is replaced only by a newer message, whatever the commit order",
          "[db][sqlite]") {
    // A table from before the sequence column: its rows have none yet.
    SqliteKv kv(R"(CREATE TABLE kv (k TEXT NOT NULL UNIQUE, "order" INTEGER NOT )"
                R"(NULL, note TEXT); INSERT INTO kv VALUES ('a', 1, NULL))");
    const auto sequenced = kv.database.prepare_tables(
        kv.descriptor, nomnom::host::declared_outputs(kv.descriptor), true);
    REQUIRE(sequenced.contains("kv"));
    kv.write_one(sequenced, "a", 50, 50);  // a row without a sequence is replaced
    CHECK(kv.stored_order("a") == 50);
    kv.write_one(sequenced, "a", 40, 40);  // an older message commits late
    CHECK(kv.stored_order("a") == 50);
    kv.write_one(sequenced, "a", 60, 60);
    CHECK(kv.stored_order("a") == 60);

    // In one batch, the newest message wins even when it comes first (a redelivery).
    nomnom::host::RowBatch batch(kv.descriptor);
    add_row(batch, 0, "b", 90, 90);
    add_row(batch, 1, "b", 70, 70);
    kv.write(batch, sequenced);
    CHECK(kv.stored_order("b") == 90);
}

TEST_CASE("a table without the sequence column is written as before, with a warning",
          "[db][sqlite]") {
    SqliteKv kv(R"(CREATE TABLE kv (k TEXT NOT NULL UNIQUE, "order" INTEGER NOT NULL, note TEXT))");
    const auto sequenced = kv.database.prepare_tables(
        kv.descriptor, nomnom::host::declared_outputs(kv.descriptor), false);  // auto_migrate off
    CHECK(sequenced.empty());
    kv.write_one(sequenced, "a", 50, 50);
    kv.write_one(sequenced, "a", 40, 40);
    CHECK(kv.stored_order("a") == 40);  // the last commit wins there
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
