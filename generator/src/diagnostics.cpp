#include "diagnostics.hpp"

#include <ostream>

namespace nomnom::generator {

void Diagnostics::error(const Location& where, const std::string& what) {
    errors_.push_back(where.str() + ": error: " + what);
}

void Diagnostics::warning(const Location& where, const std::string& what) {
    warnings_.push_back(where.str() + ": warning: " + what);
}

void Diagnostics::note(const Location& where, const std::string& what) {
    notes_.push_back(where.str() + ": note: " + what);
}

void Diagnostics::print(std::ostream& out) const {
    for (const auto& line : notes_) out << line << "\n";
    for (const auto& line : warnings_) out << line << "\n";
    for (const auto& line : errors_) out << line << "\n";
}

}  // namespace nomnom::generator
