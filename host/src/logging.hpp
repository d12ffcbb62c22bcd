#pragma once

#include "config.hpp"

namespace nomnom {

// Sets the default spdlog logger: text or one JSON object per line, on stderr.
void setup_logging(const LogConfig& config);

}  // namespace nomnom
