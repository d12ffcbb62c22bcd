#include "names.hpp"

#include "schema.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace nomnom::generator {

namespace {

bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
char to_lower(char c) {
    return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

void check_plain_name(const std::string& what, const std::string& name, const Location& where,
                      Diagnostics& diagnostics) {
    const bool plain =
        !name.empty() && !is_digit(name[0]) && std::all_of(name.begin(), name.end(), [](char c) {
            return is_upper(c) || is_lower(c) || is_digit(c) || c == '_';
        });
    if (!plain) {
        diagnostics.error(where, what + " '" + name +
                                     "': use ASCII letters, digits and _, not starting with a "
                                     "digit");
    }
}

std::string snake_case(const std::string& name) {
    std::string out;
    for (std::size_t k = 0; k < name.size(); ++k) {
        if (is_upper(name[k]) && k > 0 && name[k - 1] != '_') out += '_';
        out += to_lower(name[k]);
    }
    return out;
}

std::string column_name(const Entity& entity, const Field& field) {
    return entity.snake_case_columns ? snake_case(field.name) : field.name;
}

namespace {

// Lower case. A word ends before a capital that follows a lower-case letter or a digit
// ("lineItem"), and before the last capital of a run that a lower-case letter follows
// ("HTTPServer": HTTP, Server).
std::vector<std::string> words(const std::string& name) {
    std::vector<std::string> out;
    std::string word;
    const auto end_word = [&] {
        if (!word.empty()) out.push_back(std::move(word));
        word.clear();
    };
    for (std::size_t k = 0; k < name.size(); ++k) {
        const char c = name[k];
        if (!is_upper(c) && !is_lower(c) && !is_digit(c)) {
            end_word();
            continue;
        }
        if (is_upper(c) && !word.empty() &&
            (!is_upper(name[k - 1]) || (k + 1 < name.size() && is_lower(name[k + 1])))) {
            end_word();
        }
        word += to_lower(c);
    }
    end_word();
    return out;
}

// An identifier cannot start with a digit.
std::string leading_letter(std::string name, char letter) {
    return !name.empty() && is_digit(name[0]) ? letter + name : name;
}

const std::set<std::string>& reserved_words() {
    static const std::set<std::string> reserved = {
        // C++20 keywords and alternative tokens, and the identifiers the preprocessor treats
        // specially at the start of a line.
        "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
        "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
        "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
        "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
        "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
        "if", "import", "inline", "int", "long", "module", "mutable", "namespace", "new",
        "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected",
        "public", "register", "reinterpret_cast", "requires", "return", "short", "signed", "sizeof",
        "static", "static_assert", "static_cast", "struct", "switch", "template", "this",
        "thread_local", "throw", "true", "try", "typedef", "typeid", "typename", "union",
        "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
        // Object-like macros of GCC's GNU dialects and of the C library.
        "errno", "linux", "unix"};
    return reserved;
}

// The C++ names taken in one scope of the generated code, each with what took it.
class Scope {
  public:
    void reserve(const std::string& cpp_name, const std::string& what) { takers_[cpp_name] = what; }

    // False, with an error, when the name is empty or already taken.
    bool take(const std::string& cpp_name, const std::string& what, const Location& where,
              Diagnostics& diagnostics) {
        if (cpp_name.empty()) {
            diagnostics.error(where, what +
                                         ": the generated plugin names it after its ASCII "
                                         "letters and digits, and it has none");
            return false;
        }
        const auto [taker, fresh] = takers_.emplace(cpp_name, what + " (" + where.str() + ")");
        if (!fresh) {
            diagnostics.error(where, what + " has the same C++ name in the generated plugin, '" +
                                         cpp_name + "', as " + taker->second + ": rename it");
        }
        return fresh;
    }

  private:
    std::map<std::string, std::string> takers_;
};

}  // namespace

std::string cpp_type_name(const std::string& name) {
    std::string out;
    for (std::string word : words(name)) {
        if (is_lower(word[0])) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        out += word;
    }
    return leading_letter(out, 'N');
}

std::string cpp_member_name(const std::string& name) {
    std::string out;
    for (const auto& word : words(name)) out += (out.empty() ? "" : "_") + word;
    out = leading_letter(out, 'n');
    return reserved_words().contains(out) ? out + "_" : out;
}

void check_cpp_names(const Schema& schema, Diagnostics& diagnostics) {
    Scope types;
    types.reserve("GeneratedPlugin", "the plugin class");
    Scope stems;
    for (const int k : schema.order) {
        const Entity& entity = schema.entities[static_cast<std::size_t>(k)];
        const std::string what = "entity '" + entity.name + "'";
        // One error for an entity: its stem is checked when its struct's name is free.
        if (types.take(cpp_type_name(entity.name), what, entity.where, diagnostics)) {
            stems.take(cpp_member_name(entity.name), what, entity.where, diagnostics);
        }
        Scope fields;
        for (const Field& field : entity.fields) {
            fields.take(cpp_member_name(field.name),
                        "field '" + entity.name + "." + field.name + "'", field.where, diagnostics);
        }
        Scope columns;
        const ResolvedEntity& resolved = schema.resolved[static_cast<std::size_t>(k)];
        for (const ResolvedColumn& rc : resolved.columns) {
            columns.take(cpp_member_name(rc.column.name),
                         "column '" + resolved.table + "." + rc.column.name + "'", rc.column.where,
                         diagnostics);
        }
    }
}

}  // namespace nomnom::generator
