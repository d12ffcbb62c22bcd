#pragma once

#include <string>

#include "plugins/row_batch.hpp"

namespace nomnom::host {

// Row `row` of `rows` as a JSON object of its columns, in the descriptor's order: numbers,
// booleans, strings, a JSON column's own JSON, null. What `nomnom-host parse` prints and what a
// published table's rows carry, so the two always agree.
void append_row_json(std::string& out, const TableRows& rows, size_t row);

// The shortest text that reads back as the same double.
std::string shortest_double(double value);

}  // namespace nomnom::host
