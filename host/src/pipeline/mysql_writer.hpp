#pragma once

#include <string>
#include <vector>

#include "db/database.hpp"
#include "plugins/row_batch.hpp"

namespace nomnom::host {

// The rows of `rows` to write: of each key's rows the newest message's last one (by
// `sequences` when given, else the last), sorted by key, so that concurrent batches lock the rows
// they share in one order.
std::vector<size_t> newest_row_per_key_in_key_order(const TableRows& rows,
                                                    const RowBatch* sequences);

// Writes `rows` into the open MySQL transaction of `lease`: first, under a savepoint, as a plain
// LOAD DATA LOCAL INFILE fed from memory, which is all a batch of new keys needs; when a row did
// not go in as it is (a stored or repeated key, a value the column adjusted), as multi-row
// INSERT ... ON DUPLICATE KEY UPDATE statements, each below the server's max_allowed_packet.
// Only each key's newest row is written (newest_row_per_key_in_key_order), with the same result
// as applying the messages one by one. A row longer than the server takes
// is a data error (bisected and dead-lettered), never an outage. Text for a DATETIME or
// TIMESTAMP column is turned from RFC 3339 into UTC (MySQL refuses Z and offsets).
void write_mysql(DbLease& lease, const TableRows& rows, const RowBatch* sequences);

// " ON DUPLICATE KEY UPDATE ..." of the host's upsert into `table` (a no-op assignment of the
// first key when every column is a key); `sequenced`: the stored row is replaced only by a
// message as new or newer.
std::string duplicate_key_action(const nomnom_table& table, bool sequenced);

}  // namespace nomnom::host
