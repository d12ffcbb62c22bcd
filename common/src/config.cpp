#include "nomnom/common/config.hpp"

#include <cstdlib>

namespace nomnom {

std::string expand_env(std::string_view value, std::string_view what) {
    std::string out;
    out.reserve(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '$' || i + 1 >= value.size() || value[i + 1] != '{') {
            out += value[i];
            continue;
        }
        const size_t close = value.find('}', i + 2);
        if (close == std::string_view::npos) {
            // Not echoing the value: it may be a secret.
            throw ConfigError(std::string(what) + ": unterminated ${ at character " +
                              std::to_string(i + 1));
        }
        std::string_view inner = value.substr(i + 2, close - i - 2);
        std::string_view fallback;
        bool has_fallback = false;
        if (const size_t dash = inner.find(":-"); dash != std::string_view::npos) {
            fallback = inner.substr(dash + 2);
            inner = inner.substr(0, dash);
            has_fallback = true;
        }
        const std::string name(inner);
        if (const char* env = std::getenv(name.c_str()); env != nullptr && *env != '\0') {
            out += env;
        } else if (has_fallback) {
            out += fallback;
        } else {
            throw ConfigError(std::string(what) + ": environment variable " + name + " is not set");
        }
        i = close;
    }
    return out;
}

}  // namespace nomnom
