#pragma once

#include <string>

#include "db/database.hpp"
#include "plugins/row_batch.hpp"

namespace nomnom::host {

// Writes `rows` into the open MySQL transaction of `lease`: first, under a savepoint, as a plain
// LOAD DATA LOCAL INFILE fed from memory, which is all a batch of new keys needs; when a row did
// not go in as it is (a stored or repeated key, a value the column adjusted), as multi-row
// INSERT ... ON DUPLICATE KEY UPDATE statements, each below the server's max_allowed_packet.
// MySQL applies the rows of one statement one after the other, so in stream order (by message
// sequence when `sequences` is given, then by row) a key's last row wins, as if the messages
// had been applied one by one: no in-batch dedupe is needed. A row longer than the server takes
// is a data error (bisected and dead-lettered), never an outage. Text for a DATETIME or
// TIMESTAMP column is turned from RFC 3339 into UTC (MySQL refuses Z and offsets).
void write_mysql(DbLease& lease, const TableRows& rows, const RowBatch* sequences);

// " ON DUPLICATE KEY UPDATE ..." of the host's upsert into `table` (a no-op assignment of the
// first key when every column is a key); `sequenced`: the stored row is replaced only by a
// message as new or newer.
std::string duplicate_key_action(const nomnom_table& table, bool sequenced);

}  // namespace nomnom::host
