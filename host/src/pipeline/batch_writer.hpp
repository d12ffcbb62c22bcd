#pragma once

#include <set>
#include <string>

#include "db/database.hpp"
#include "plugins/reserved_columns.hpp"
#include "plugins/row_batch.hpp"
#include "plugins/table_outputs.hpp"

namespace nomnom::host {

// Writes the rows of a batch into the open transaction of `lease` as an idempotent upsert on each
// table's conflict keys. When several rows share a key, the last one in stream order wins,
// exactly as if the messages had been applied one by one. Tables in `sequenced` have the host's
// sequence column (kSequenceColumn): there a stored row is replaced only by a newer message's,
// whatever order batches commit in.
//
// PostgreSQL: COPY into a per-connection temporary staging table, then one
// INSERT ... SELECT DISTINCT ON (keys) ... ON CONFLICT DO UPDATE per table (a single upsert
// statement may not touch a row twice, hence the DISTINCT ON). SQLite: one prepared
// INSERT ... ON CONFLICT DO UPDATE stepped per row. MySQL: see mysql_writer.hpp.
// Tables whose `outputs` entry does not store them are skipped.
void write_batch(DbLease& lease, const RowBatch& batch, const TableOutputs& outputs,
                 const std::set<std::string>& sequenced);

// `text` with backslash, tab, newline and carriage return escaped by a backslash (\\, \t, \n,
// \r): the text format of PostgreSQL's COPY and of MySQL's LOAD DATA alike.
void append_copy_text(std::string& out, std::string_view text);

// The table's columns, quoted and separated by commas, in descriptor order; `sequenced`: the
// host's sequence column last.
std::string column_list(const nomnom_table& table, bool sequenced);

// " ON CONFLICT (keys) DO UPDATE SET ..." of the host's upsert into `table` (DO NOTHING when
// every column is a key); `sequenced`: the table has the host's sequence column, and a row
// replaces the stored one only for a newer message.
std::string conflict_action(const nomnom_table& table, bool sequenced);

}  // namespace nomnom::host
