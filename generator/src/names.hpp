// Column names from field names.
#pragma once

#include <string>

namespace nomnom::generator {

// v1 fields are camelCase in the JSON; their columns are snake_case, as the original's DDL
// intended: "vehicleId" -> "vehicle_id".
std::string snake_case(const std::string& name);

}  // namespace nomnom::generator
