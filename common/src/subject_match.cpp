#include "nomnom/common/subject_match.hpp"

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

bool subject_covers(std::string_view outer, std::string_view inner) {
    while (!outer.empty() && !inner.empty()) {
        const std::string_view left = next_token(outer);
        const std::string_view right = next_token(inner);
        if (left == ">") return true;
        if (right == ">") return false;
        if (left != "*" && left != right) return false;
    }
    return outer.empty() && inner.empty();
}

}  // namespace nomnom
