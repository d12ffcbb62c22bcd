#include "dashboard/host_names.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace nomnom::host {
namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool is_ip_literal(const std::string& name) {
    unsigned char address[16];
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
        return ::inet_pton(AF_INET6, name.substr(1, name.size() - 2).c_str(), address) == 1;
    }
    return ::inet_pton(AF_INET, name.c_str(), address) == 1;
}

}  // namespace

std::string host_name_of(const std::string& authority) {
    std::string name = authority;
    if (!name.empty() && name.front() == '[') {
        name = name.substr(0, name.find(']') + 1);
    } else if (const size_t colon = name.rfind(':'); colon != std::string::npos) {
        name.resize(colon);
    }
    return lower(name);
}

bool host_allowed(const std::string& host_header, const std::vector<std::string>& allowed) {
    const std::string name = host_name_of(host_header);
    if (name.empty() || name == "localhost" || is_ip_literal(name)) return true;
    char own[256] = {};
    if (::gethostname(own, sizeof own - 1) == 0 && name == lower(own)) return true;
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const std::string& entry) { return lower(entry) == name; });
}

}  // namespace nomnom::host
