#pragma once

#include <cstddef>
#include <string_view>

namespace nomnom {

// How deep JSON may nest before nomnom refuses it unparsed: RapidJSON's DOM parser recurses
// once per level, so a body of 200 KB of '[' would overflow the stack of whoever parses it.
// The generated parsers stop at the same depth.
inline constexpr size_t kMaxJsonDepth = 256;

// Whether `json` opens more than `max_depth` arrays/objects inside each other (brackets in
// strings do not count). Linear and allocation-free; a document it passes never makes the
// parser nest deeper, since the parser reads the same brackets and stops at its first error.
bool json_nests_deeper_than(std::string_view json, size_t max_depth);

}  // namespace nomnom
