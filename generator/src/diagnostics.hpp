// Errors and warnings with their file:line, one line each, collected so that one run reports
// every problem.
#pragma once

#include "model.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace nomnom::generator {

class Diagnostics {
  public:
    void error(const Location& where, const std::string& what);
    void warning(const Location& where, const std::string& what);
    // Something recognised and deliberately not used, that needs no change.
    void note(const Location& where, const std::string& what);

    bool failed() const { return !errors_.empty(); }
    const std::vector<std::string>& errors() const { return errors_; }
    const std::vector<std::string>& warnings() const { return warnings_; }
    const std::vector<std::string>& notes() const { return notes_; }

    // Notes, then warnings, then errors, one per line.
    void print(std::ostream& out) const;

  private:
    std::vector<std::string> errors_;
    std::vector<std::string> warnings_;
    std::vector<std::string> notes_;
};

}  // namespace nomnom::generator
