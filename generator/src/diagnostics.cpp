#include "diagnostics.hpp"

#include <cstdio>
#include <ostream>

namespace nomnom::generator {

namespace {

// A message is one line whatever YAML text it quotes: a line break in a name or a value would
// otherwise print a line without file:line, and an escape character would act on the terminal.
// Control characters are shown as escapes.
std::string one_line(const std::string& text) {
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte != 0x7f) {
            out += c;
            continue;
        }
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
        out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : escaped;
    }
    return out;
}

}  // namespace

void Diagnostics::error(const Location& where, const std::string& what) {
    errors_.push_back(one_line(where.str() + ": error: " + what));
}

void Diagnostics::warning(const Location& where, const std::string& what) {
    warnings_.push_back(one_line(where.str() + ": warning: " + what));
}

void Diagnostics::note(const Location& where, const std::string& what) {
    notes_.push_back(one_line(where.str() + ": note: " + what));
}

void Diagnostics::print(std::ostream& out) const {
    for (const auto& line : notes_) out << line << "\n";
    for (const auto& line : warnings_) out << line << "\n";
    for (const auto& line : errors_) out << line << "\n";
}

}  // namespace nomnom::generator
