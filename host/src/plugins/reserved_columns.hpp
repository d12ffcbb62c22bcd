#pragma once

namespace nomnom::host {

// The PostgreSQL staging tables' column for each row's position in the batch (the latest row of
// a key wins). Reserved: a plugin may not declare a column of that name.
inline constexpr const char* kOrderColumn = "nn_ord";

// The column the host keeps in each table it upserts into: the stream sequence of the message
// that wrote the row. An upsert replaces the row only for a newer message, so the row reflects
// the newest message of its key whatever order deliveries (several workers or hosts, retries,
// redeliveries) commit in. Reserved: a plugin may not declare a column of that name.
inline constexpr const char* kSequenceColumn = "nn_seq";

}  // namespace nomnom::host
