#pragma once

#include <string_view>

namespace nomnom {

// Whether some subject could match both NATS subject patterns ('*' one token, '>' the rest).
bool subjects_overlap(std::string_view a, std::string_view b);

// Whether every subject that matches `inner` also matches `outer` (a stream capturing `outer`
// stores everything published on `inner`).
bool subject_covers(std::string_view outer, std::string_view inner);

}  // namespace nomnom
