// Errors and warnings with their file:line, collected so that one run reports every problem.
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

    bool failed() const { return !errors_.empty(); }
    const std::vector<std::string>& errors() const { return errors_; }
    const std::vector<std::string>& warnings() const { return warnings_; }

    // Warnings first, then errors, one per line.
    void print(std::ostream& out) const;

  private:
    std::vector<std::string> errors_;
    std::vector<std::string> warnings_;
};

}  // namespace nomnom::generator
