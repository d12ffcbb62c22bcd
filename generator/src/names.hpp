// Column names from field names.
#pragma once

#include <string>

#include "model.hpp"

namespace nomnom::generator {

// v1 fields are camelCase in the JSON; their columns are snake_case, as the original's DDL
// intended: "vehicleId" -> "vehicle_id".
std::string snake_case(const std::string& name);

// The column a field of `entity` is stored in.
std::string column_name(const Entity& entity, const Field& field);

}  // namespace nomnom::generator
