#pragma once

#include <string>
#include <string_view>

namespace nomnom {

// `text` escaped as the contents of a JSON string (without the quotes).
std::string json_escape(std::string_view text);

// The same, appended to `out`: a payload is escaped into its envelope without a copy of its own.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace nomnom
