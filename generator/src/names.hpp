// The names the YAML may give, column names from field names, and the C++ names of the generated
// plugin.
#pragma once

#include <string>

#include "diagnostics.hpp"
#include "model.hpp"

namespace nomnom::generator {

struct Schema;

// Entity, field, table, column and index names go as they are into the DDL (quoted identifiers, the
// `-- <Entity>` comment), the plugin's `//` comments and the subjects it reads
// (<prefix>.<Entity>), where a line break, a quote, a '.' or a space would end or split them.
// The original made entity and field names Rust identifiers (struct Order, pub order_key) and
// table names SQL names, so a name is what both take: ASCII letters, digits and '_', not
// starting with a digit. Any other is refused at `where`, as "<what> '<name>': ...".
void check_plain_name(const std::string& what, const std::string& name, const Location& where,
                      Diagnostics& diagnostics);

// v1 fields are camelCase in the JSON; their columns are snake_case, as the original's DDL
// intended: "vehicleId" -> "vehicle_id".
std::string snake_case(const std::string& name);

// The column a field of `entity` is stored in.
std::string column_name(const Entity& entity, const Field& field);

// The generated code names things after the schema, so that it reads like the YAML and an
// entity's names do not depend on the other entities. Both forms are built from the name's
// words (runs of ASCII letters and digits, split at camelCase humps); they are empty when the
// name has none.
//   cpp_type_name: an entity's struct, "order_lineItem" -> "OrderLineItem".
//   cpp_member_name: a field or column, and the stem of an entity's other names,
//   "orderLineItem" -> "order_line_item". A C++ keyword, or one of the lower-case macros that
//   compilers and C libraries define (unix, errno), gets a trailing '_'.
std::string cpp_type_name(const std::string& name);
std::string cpp_member_name(const std::string& name);

// Refuses, at the YAML's file:line, a name that gives no C++ name or the same one as another in
// the same scope of the generated code: two entities, or two fields or columns of one entity.
void check_cpp_names(const Schema& schema, Diagnostics& diagnostics);

}  // namespace nomnom::generator
