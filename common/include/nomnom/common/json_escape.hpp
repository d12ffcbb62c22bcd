#pragma once

#include <string>
#include <string_view>

namespace nomnom {

// `text` escaped as the contents of a JSON string (without the quotes).
std::string json_escape(std::string_view text);

}  // namespace nomnom
