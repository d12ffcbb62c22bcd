#include "subject_match.hpp"

namespace nomnom {
namespace {

std::string_view next_token(std::string_view& subject) {
    const size_t dot = subject.find('.');
    const std::string_view token = subject.substr(0, dot);
    subject = dot == std::string_view::npos ? std::string_view() : subject.substr(dot + 1);
    return token;
}

}  // namespace

bool subjects_overlap(std::string_view a, std::string_view b) {
    while (!a.empty() && !b.empty()) {
        const std::string_view left = next_token(a);
        const std::string_view right = next_token(b);
        if (left == ">" || right == ">") return true;
        if (left != "*" && right != "*" && left != right) return false;
    }
    return a.empty() && b.empty();
}

}  // namespace nomnom
