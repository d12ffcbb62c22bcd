#pragma once

#include <string_view>

namespace nomnom {

// Whether some subject could match both NATS subject patterns ('*' one token, '>' the rest).
bool subjects_overlap(std::string_view a, std::string_view b);

}  // namespace nomnom
