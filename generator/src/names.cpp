#include "names.hpp"

namespace nomnom::generator {

std::string snake_case(const std::string& name) {
    std::string out;
    for (std::size_t k = 0; k < name.size(); ++k) {
        const char c = name[k];
        if (c >= 'A' && c <= 'Z') {
            if (k > 0 && name[k - 1] != '_') out += '_';
            out += static_cast<char>(c - 'A' + 'a');
        } else {
            out += c;
        }
    }
    return out;
}

std::string column_name(const Entity& entity, const Field& field) {
    return entity.snake_case_columns ? snake_case(field.name) : field.name;
}

}  // namespace nomnom::generator
