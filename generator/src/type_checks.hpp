// Generation-time checks of what would otherwise refuse every message at parse time: constants
// and defaults that do not fit their field, transform results and columns whose types can never
// convert to the field's, constraints that contradict each other or do not apply to the type.
#pragma once

#include "diagnostics.hpp"
#include "schema.hpp"

namespace nomnom::generator {

void check_types(const Schema& schema, Diagnostics& diagnostics);

}  // namespace nomnom::generator
