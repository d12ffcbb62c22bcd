#include "db/database.hpp"

#include <spdlog/spdlog.h>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include "db/mysql_native.hpp"
#include "db/native_db.hpp"
#include "nomnom/common/mysql_url.hpp"
#include "nomnom/common/prometheus.hpp"
#include "nomnom/common/redact.hpp"
#include "plugins/plugin_ddl.hpp"

namespace nomnom::host {

const char* dialect_name(Dialect dialect) {
    switch (dialect) {
        case Dialect::Postgres:
            return "postgresql";
        case Dialect::MySql:
            return "mysql";
        default:
            return "sqlite";
    }
}

bool is_data_sqlstate(const std::string& sqlstate) {
    return sqlstate.starts_with("22") || sqlstate.starts_with("23");
}

// The database is not there, or is there but refuses every write for now, as opposed to refusing
// this particular transaction: connection exceptions (08), server shutting down (57P01-03),
// insufficient resources (53: disk full, out of memory, too many connections), read-only (25006:
// a failover to a replica), an I/O error (58030), a statement or lock timeout on a stuck
// database (57014, 55P03); SQLite's FULL, READONLY, IOERR, CANTOPEN, and BUSY past the pool's
// 30 s busy timeout. Retried per message they would burn every delivery and dead-letter data
// that is fine: the batch is held instead (the breaker).
bool is_outage_sqlstate(const std::string& sqlstate) {
    if (sqlstate.starts_with("sqlite:")) {
        // Extended codes (SQLITE_IOERR_WRITE...) keep the primary code in their low byte.
        const int code = std::stoi(sqlstate.substr(7)) & 0xff;
        return code == SQLITE_BUSY || code == SQLITE_READONLY || code == SQLITE_IOERR ||
               code == SQLITE_FULL || code == SQLITE_CANTOPEN;
    }
    if (sqlstate.starts_with("mysql:")) {
        const std::string number = sqlstate.substr(6);
        return !number.empty() && std::isdigit(static_cast<unsigned char>(number[0])) &&
               mysql_outage_error(static_cast<unsigned>(std::stoul(number)));
    }
    return sqlstate.starts_with("08") || sqlstate.starts_with("57P0") ||
           sqlstate.starts_with("53") || sqlstate == "25006" || sqlstate == "58030" ||
           sqlstate == "57014" || sqlstate == "55P03";
}

bool is_conflict_sqlstate(const std::string& sqlstate) {
    return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "mysql:1205" ||
           sqlstate == "mysql:1213";
}

bool is_conflict_key(const nomnom_table& table, const char* column) {
    for (uint32_t k = 0; k < table.conflict_key_count; ++k) {
        if (std::string_view(table.conflict_keys[k]) == column) return true;
    }
    return false;
}

std::string quote_identifier(const char* name) {
    return std::string("\"") + name + "\"";
}

std::string derive_ddl(const nomnom_table& table, Dialect dialect) {
    std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_identifier(table.name) + " (";
    for (uint32_t c = 0; c < table.column_count; ++c) {
        const nomnom_column& column = table.columns[c];
        if (c > 0) sql += ", ";
        // MySQL indexes no TEXT column without a prefix length, and a prefix would make two keys
        // that share it one: a key's text gets a bounded type instead.
        const bool bounded = dialect == Dialect::MySql && is_conflict_key(table, column.name) &&
                             column.type == NOMNOM_TYPE_TEXT;
        sql += quote_identifier(column.name) + " " +
               (bounded ? kMySqlTextKeyType : column_sql_type(column.type, dialect));
        if (!column.nullable) sql += " NOT NULL";
    }
    if (table.conflict_key_count > 0) {
        sql += ", UNIQUE (";
        for (uint32_t k = 0; k < table.conflict_key_count; ++k) {
            if (k > 0) sql += ", ";
            sql += quote_identifier(table.conflict_keys[k]);
        }
        sql += ")";
    }
    // utf8mb4 whatever the server's default (UTF-8 of any plane, as the host checks it), and
    // compared byte for byte as PostgreSQL and SQLite compare keys: a case-insensitive default
    // collation would make "A" and "a" one key.
    return sql +
           (dialect == Dialect::MySql ? ") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" : ")");
}

namespace {

// SOCI mangles URI-style connection strings, so the URL is turned into libpq's key='value'
// form first (libpq itself parses the URI, including percent-encoding and query parameters).
std::string pg_keyword_conninfo(const std::string& url) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
    if (options == nullptr) {
        const std::string reason = error ? error : "cannot parse";
        PQfreemem(error);
        throw DbError("database.url " + redact_url(url) + ": " + reason, "08000", false);
    }
    std::string conninfo;
    for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
        if (option->val == nullptr) continue;
        std::string value;
        for (const char c : std::string_view(option->val)) {
            if (c == '\\' || c == '\'') value += '\\';
            value += c;
        }
        conninfo += std::string(conninfo.empty() ? "" : " ") + option->keyword + "='" + value + "'";
    }
    PQconninfoFree(options);
    return conninfo;
}

Dialect dialect_of(const std::string& url) {
    if (url.starts_with("sqlite:")) return Dialect::Sqlite;
    return is_mysql_url(url) ? Dialect::MySql : Dialect::Postgres;
}

// How long a commit or a check vouches for the database; also the shortest time between two
// checks, which keeps an idle host's /ready from opening a connection per scrape.
constexpr int64_t kAnswerFreshNs = 5'000'000'000;

int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

void Database::open_session(soci::session& session) {
    const std::string& url = url_;
    const Dialect dialect = dialect_;
    try {
        if (dialect == Dialect::MySql) {
            session.open(*soci::factory_mysql(),
                         mysql_soci_connect_string(parse_mysql_url(url), std::nullopt));
            MYSQL* connection = mysql_connection(session);
            mysql_prepare_session(connection);
            const auto rows = mysql_query_rows(connection, "SELECT @@max_allowed_packet");
            max_statement_bytes_ = std::stoull(rows.at(0).at(0).value_or("1048576"));
        } else if (dialect == Dialect::Sqlite) {
            // timeout: wait for the other pooled connections' write locks instead of failing.
            session.open(*soci::factory_sqlite3(), "db=\"" + url.substr(7) + "\" timeout=30");
            session << "PRAGMA journal_mode=WAL";
        } else {
            session.open(*soci::factory_postgresql(), pg_keyword_conninfo(url));
            // IF NOT EXISTS on staging tables would otherwise print a NOTICE per batch.
            session << "SET client_min_messages = warning";
        }
    } catch (const soci::soci_error& e) {
        throw DbError("cannot connect to " + redact_url(url) + ": " + e.what(), "08000", false);
    }
}

Database::Database(const DatabaseConfig& config)
    : dialect_(dialect_of(config.url)),
      url_(config.url),
      display_url_(redact_url(config.url)),
      pool_size_(static_cast<size_t>(config.pool_size)),
      pool_(pool_size_) {
    for (size_t i = 0; i < pool_size_; ++i) open_session(pool_.at(i));
}

size_t Database::acquire() {
    ++waiting_;
    const size_t position = pool_.lease();
    --waiting_;
    ++in_use_;
    return position;
}

void Database::release(size_t position) {
    --in_use_;
    pool_.give_back(position);
}

void Database::render_pool_gauges(std::string& out) const {
    const std::string labels = prometheus_labels({{"database", display_url_}});
    const struct {
        const char* name;
        const char* help;
        int64_t value;
    } gauges[] = {
        {"nomnom_db_pool_connections", "Connections in the database pool",
         static_cast<int64_t>(pool_size_)},
        {"nomnom_db_pool_in_use", "Pooled connections leased by a worker",
         static_cast<int64_t>(in_use_.load())},
        {"nomnom_db_pool_waiting", "Threads waiting for a pooled connection",
         static_cast<int64_t>(waiting_.load())},
    };
    for (const auto& gauge : gauges) {
        prometheus_family(out, gauge.name, "gauge", gauge.help);
        prometheus_sample(out, gauge.name, labels, gauge.value);
    }
}

void Database::note_answered() {
    answered_at_ns_.store(steady_now_ns(), std::memory_order_relaxed);
}

bool Database::reachable() {
    if (dialect_ == Dialect::Sqlite) return true;
    if (steady_now_ns() - answered_at_ns_.load(std::memory_order_relaxed) < kAnswerFreshNs) {
        return true;
    }
    std::lock_guard lock(check_mutex_);
    const int64_t now = steady_now_ns();
    if (checked_at_ns_ != 0 && now - checked_at_ns_ < kAnswerFreshNs) return check_succeeded_;
    if (dialect_ == Dialect::MySql) {
        try {
            soci::session check(*soci::factory_mysql(),
                                mysql_soci_connect_string(parse_mysql_url(url_), 2));
            check_succeeded_ = true;
        } catch (const soci::soci_error&) {
            check_succeeded_ = false;
        }
    } else {
        // libpq reads the last of repeated keywords, so this timeout wins over one in the url.
        const std::string conninfo = pg_keyword_conninfo(url_) + " connect_timeout='2'";
        PGconn* connection = PQconnectdb(conninfo.c_str());
        check_succeeded_ = PQstatus(connection) == CONNECTION_OK;
        PQfinish(connection);
    }
    checked_at_ns_ = steady_now_ns();
    if (check_succeeded_) note_answered();
    return check_succeeded_;
}

namespace {

std::string listed(const std::set<std::string>& columns) {
    std::string list;
    for (const auto& column : columns) list += (list.empty() ? "" : ", ") + column;
    return list;
}

// A column the host writes into `table`.
bool written(const nomnom_table& table, const std::string& column) {
    for (uint32_t c = 0; c < table.column_count; ++c) {
        if (column == table.columns[c].name) return true;
    }
    return false;
}

// MySQL: warns of each unique index of `table` (`unique`) other than its conflict keys on
// columns the host writes.
void warn_other_unique_indexes(const nomnom_table& table, const std::set<std::string>& keys,
                               const std::vector<std::set<std::string>>& unique) {
    for (const auto& index : unique) {
        // An index on a column the host never writes (an AUTO_INCREMENT id) cannot collide.
        if (index == keys || !std::all_of(index.begin(), index.end(), [&](const auto& column) {
                return written(table, column);
            })) {
            continue;
        }
        spdlog::warn(
            "table {} has a unique index on ({}) beside its conflict keys ({}): on MySQL a row "
            "that collides there updates the row it collides with (ON DUPLICATE KEY UPDATE "
            "fires on any unique index), where PostgreSQL would refuse it",
            table.name, listed(index), listed(keys));
    }
}

}  // namespace

std::set<std::string> Database::prepare_tables(const nomnom_plugin_descriptor& descriptor,
                                               const TableOutputs& outputs, bool auto_migrate) {
    DbLease lease(*this);
    std::set<std::string> sequenced;
    if (auto_migrate) {
        const char* ddl = plugin_ddl(descriptor, dialect_name(dialect_));
        if (ddl != nullptr) {
            lease.execute_script(ddl);
        } else {
            for (uint32_t t = 0; t < descriptor.table_count; ++t) {
                if (outputs[t].store) {
                    lease.execute_script(derive_ddl(descriptor.tables[t], dialect_));
                }
            }
        }
    }
    std::vector<std::string> missing;
    for (uint32_t t = 0; t < descriptor.table_count; ++t) {
        if (!outputs[t].store) continue;
        const nomnom_table& table = descriptor.tables[t];
        const std::set<std::string> existing = table_columns(lease.session(), dialect_, table.name);
        if (existing.empty()) {
            missing.push_back("table " + std::string(table.name));
            continue;
        }
        for (uint32_t c = 0; c < table.column_count; ++c) {
            if (!existing.contains(table.columns[c].name)) {
                missing.push_back("column " + std::string(table.name) + "." +
                                  table.columns[c].name);
            }
        }
        if (descriptor.persist == nullptr && table.conflict_key_count > 0 &&
            sequence_column(lease, table, existing, auto_migrate)) {
            sequenced.insert(table.name);
        }
        // The host upserts on the conflict keys: without a unique index on exactly them, a
        // redelivered message would add a row (or every upsert fail). A persist plugin's own
        // SQL says what it needs.
        if (descriptor.persist == nullptr && table.conflict_key_count > 0) {
            const std::set<std::string> keys(table.conflict_keys,
                                             table.conflict_keys + table.conflict_key_count);
            const auto unique = unique_column_sets(lease.session(), dialect_, table.name);
            if (std::find(unique.begin(), unique.end(), keys) == unique.end()) {
                missing.push_back("a unique index on " + std::string(table.name) + " (" +
                                  listed(keys) + "), its conflict keys");
            }
            if (dialect_ == Dialect::MySql) warn_other_unique_indexes(table, keys, unique);
        }
    }
    if (!missing.empty()) {
        std::string list;
        for (const auto& item : missing) list += (list.empty() ? "" : ", ") + item;
        throw DbError("database lacks " + list +
                          (auto_migrate ? "" : " (auto_migrate is off: create them first)"),
                      "42P01", false);
    }
    return sequenced;
}

bool Database::sequence_column(DbLease& lease, const nomnom_table& table,
                               const std::set<std::string>& existing, bool auto_migrate) {
    if (existing.contains(kSequenceColumn)) return true;
    const std::string name = quote_identifier(table.name);
    if (!auto_migrate) {
        spdlog::warn(
            "table {} has no {} column and auto_migrate is off: a message delivered after a "
            "newer one with the same key (several workers or hosts, a retry, a redelivery) "
            "overwrites the newer row; add it with ALTER TABLE {} ADD COLUMN {} {}",
            table.name, kSequenceColumn, name, kSequenceColumn,
            dialect_ == Dialect::Sqlite ? "INTEGER" : "BIGINT");
        return false;
    }
    try {
        lease.execute_script("ALTER TABLE " + name + " ADD COLUMN " +
                             (dialect_ == Dialect::Postgres ? "IF NOT EXISTS " : "") +
                             kSequenceColumn +
                             (dialect_ == Dialect::Sqlite ? " INTEGER" : " BIGINT"));
    } catch (const DbError&) {
        // Another host added it first (SQLite and MySQL have no IF NOT EXISTS here).
        if (!table_columns(lease.session(), dialect_, table.name).contains(kSequenceColumn)) {
            throw;
        }
    }
    spdlog::info("table {}: added the host's {} column (the newest message of a key wins)",
                 table.name, kSequenceColumn);
    return true;
}

DbLease::DbLease(Database& database)
    : database_(database), position_(database.acquire()), session_(&database.pool_.at(position_)) {
    if (!connection_ok(*session_, database_.dialect_)) {
        try {
            session_->close();
            database_.open_session(*session_);
        } catch (...) {
            database_.release(position_);
            throw;
        }
    }
}

DbLease::~DbLease() {
    database_.release(position_);
}

Dialect DbLease::dialect() const {
    return database_.dialect_;
}

void DbLease::begin() {
    failure_.reset();
    execute_script("BEGIN");
}

void DbLease::commit() {
    if (database_.dialect_ == Dialect::Sqlite) {
        execute_script("COMMIT");
        return;
    }
    if (database_.dialect_ == Dialect::MySql) {
        execute_script("COMMIT");
        database_.note_answered();
        return;
    }
    PGconn* connection = pg_connection(*session_);
    PgResult result(PQexec(connection, "COMMIT"));
    if (PQresultStatus(result.result) != PGRES_COMMAND_OK) {
        throw_pg_error(connection, result.result, "COMMIT");
    }
    if (std::string_view(PQcmdStatus(result.result)) != "COMMIT") {
        // An error the host never saw: the batch is bisected like after a data error, so that a
        // message that fails this way alone is set aside and the others commit, instead of
        // the whole batch being retried until every message is exhausted.
        throw DbError(
            "COMMIT: the transaction had been aborted by an earlier error, nothing was written",
            "25P02", true);
    }
    database_.note_answered();
}

void DbLease::record_failure(const DbError& error) {
    if (!failure_) failure_ = error;
}

void DbLease::rollback() noexcept {
    try {
        execute_script("ROLLBACK");
    } catch (const DbError&) {
        // The transaction is gone with the connection; the next lease reconnects.
    }
}

void DbLease::discard_connection() noexcept {
    try {
        session_->close();
    } catch (const soci::soci_error&) {
        // Closing what is already broken: the next lease reconnects either way.
    }
}

size_t DbLease::max_statement_bytes() const {
    return database_.max_statement_bytes_;
}

bool DbLease::local_infile_refused() const {
    return database_.local_infile_refused_.load(std::memory_order_relaxed);
}

bool DbLease::refuse_local_infile() {
    return !database_.local_infile_refused_.exchange(true);
}

void DbLease::execute_script(const std::string& sql) {
    host::execute_script(*session_, database_.dialect_, sql);
}

}  // namespace nomnom::host
