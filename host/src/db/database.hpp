#pragma once

#include <nomnom/plugin.h>

#include <soci/soci.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "plugins/reserved_columns.hpp"
#include "plugins/table_outputs.hpp"
#include "worker_config.hpp"

namespace nomnom::host {

enum class Dialect { Postgres, Sqlite, MySql };

const char* dialect_name(Dialect dialect);

// A database error with what the host needs to decide between retrying and blaming the data.
class DbError : public std::runtime_error {
  public:
    DbError(const std::string& message, std::string sqlstate, bool data_error)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)), data_error_(data_error) {}
    const std::string& sqlstate() const { return sqlstate_; }
    // The database refused the data itself (bad value, constraint violation): the same rows
    // will never be accepted. Anything else (connection lost, serialization failure, lock
    // contention, a table an operator dropped) may succeed later and is retried.
    bool data_error() const { return data_error_; }

  private:
    std::string sqlstate_;
    bool data_error_;
};

// SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
bool is_data_sqlstate(const std::string& sqlstate);
// The database is unreachable or refuses every write for now (see the definition for the list):
// the batch is held, not retried message by message.
bool is_outage_sqlstate(const std::string& sqlstate);
// A serialization failure, deadlock or lock wait timeout: the same transaction may well succeed
// when tried again.
bool is_conflict_sqlstate(const std::string& sqlstate);

class Database;

// A pooled connection, given back on destruction. Reconnects a connection found broken.
class DbLease {
  public:
    explicit DbLease(Database& database);
    ~DbLease();
    DbLease(const DbLease&) = delete;
    DbLease& operator=(const DbLease&) = delete;

    soci::session& session() { return *session_; }
    Dialect dialect() const;

    void begin();
    // Throws when the database did not commit (PostgreSQL answers a COMMIT of a transaction
    // aborted by an earlier error with ROLLBACK, not with an error).
    void commit();
    void rollback() noexcept;
    // Closes the connection, so that the next lease of this slot connects anew.
    void discard_connection() noexcept;
    // Runs one or more statements without parameters (DDL, SET ...).
    void execute_script(const std::string& sql);
    // The longest statement the server takes (MySQL's max_allowed_packet; unbounded elsewhere).
    size_t max_statement_bytes() const;
    // MySQL: whether the server refused LOAD DATA LOCAL INFILE; refuse_local_infile() records it
    // and answers true only the first time, so that it is said once.
    bool local_infile_refused() const;
    bool refuse_local_infile();

    // A statement a plugin ran through the host API failed. Kept so the batch fails even when
    // the plugin ignores the error it was given.
    void record_failure(const DbError& error);
    const std::optional<DbError>& recorded_failure() const { return failure_; }

  private:
    Database& database_;
    size_t position_;
    soci::session* session_;
    std::optional<DbError> failure_;
};

class Database {
  public:
    // Connects every pooled session; throws DbError when the database cannot be reached.
    explicit Database(const DatabaseConfig& config);

    Dialect dialect() const { return dialect_; }
    // The url with any password masked, for logs.
    const std::string& display_url() const { return display_url_; }

    // With auto_migrate, runs the plugin's DDL (or DDL derived from its stored tables) and adds
    // the host's sequence column to each table it upserts into; in all cases checks that every
    // table and column the plugin stores exists (a table only published is never looked for).
    // Throws with the names of what is missing. Returns the tables that have the sequence
    // column (the others get a warning).
    std::set<std::string> prepare_tables(const nomnom_plugin_descriptor& descriptor,
                                         const TableOutputs& outputs, bool auto_migrate);

    // Prometheus gauges of the connection pool: its size, the connections leased and the
    // threads waiting for one (a pool too small for the workers shows as waiting > 0).
    void render_pool_gauges(std::string& out) const;

    // Whether the database answers, for /ready: yes when a commit (or an earlier check)
    // succeeded within the last few seconds; otherwise PostgreSQL is asked now with a fresh
    // connection and a 2 s connect timeout, so that busy workers holding the pool cannot hold
    // the answer up, and an idle host notices an outage. That answer is kept as long. SQLite is
    // a local file the pool keeps open: only failed writes count there.
    bool reachable();

  private:
    friend class DbLease;
    // Whether `table` (of columns `existing`) has the sequence column, adding it with
    // auto_migrate; warns when it cannot.
    bool sequence_column(DbLease& lease, const nomnom_table& table,
                         const std::set<std::string>& existing, bool auto_migrate);
    void open_session(soci::session& session);
    void note_answered();
    // A pooled connection's position, counted as waiting until the pool hands one out.
    size_t acquire();
    void release(size_t position);

    Dialect dialect_;
    std::string url_;
    std::string display_url_;
    // MySQL's max_allowed_packet, read when the first session connects.
    std::atomic<size_t> max_statement_bytes_{SIZE_MAX};
    std::atomic<bool> local_infile_refused_{false};
    size_t pool_size_;
    soci::connection_pool pool_;
    std::atomic<int64_t> in_use_{0};
    std::atomic<int64_t> waiting_{0};
    // steady_clock nanoseconds of the last commit or successful check.
    std::atomic<int64_t> answered_at_ns_{0};
    std::mutex check_mutex_;  // one check at a time; guards the two fields below
    int64_t checked_at_ns_ = 0;
    bool check_succeeded_ = false;
};

// CREATE TABLE IF NOT EXISTS for a table descriptor, in the given dialect.
std::string derive_ddl(const nomnom_table& table, Dialect dialect);

// Whether `column` is one of `table`'s conflict keys.
bool is_conflict_key(const nomnom_table& table, const char* column);

// "name" quoted as an SQL identifier (the descriptor validator already restricts the charset).
std::string quote_identifier(const char* name);

}  // namespace nomnom::host
