#include "nomnom/common/mysql_url.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

namespace nomnom {
namespace {

constexpr std::array<std::string_view, 7> kParameters = {
    "socket", "connect_timeout", "read_timeout", "write_timeout", "sslca", "sslcert", "sslkey"};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decoded(std::string_view text, const char* what) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        const int high = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
        const int low = high >= 0 ? hex_digit(text[i + 2]) : -1;
        if (low < 0)
            throw std::invalid_argument(std::string("bad percent-encoding in the ") + what);
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

int positive_number(std::string_view text, const std::string& what) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value <= 0) {
        throw std::invalid_argument(what + " must be a positive number, got '" + std::string(text) +
                                    "'");
    }
    return value;
}

}  // namespace

bool is_mysql_url(std::string_view url) {
    return url.starts_with("mysql://") || url.starts_with("mariadb://");
}

MySqlUrl parse_mysql_url(std::string_view url) {
    if (!is_mysql_url(url)) throw std::invalid_argument("expected mysql:// or mariadb://");
    MySqlUrl parsed;
    std::string_view rest = url.substr(url.find("://") + 3);
    const size_t query_at = rest.find('?');
    const std::string_view query =
        query_at == std::string_view::npos ? std::string_view() : rest.substr(query_at + 1);
    rest = rest.substr(0, query_at);
    const size_t path_at = rest.find('/');
    if (path_at != std::string_view::npos) {
        parsed.database = percent_decoded(rest.substr(path_at + 1), "database name");
        rest = rest.substr(0, path_at);
    }
    if (parsed.database.empty()) throw std::invalid_argument("no database name after the host");
    // The last '@' ends the user info: a password may contain '@' unencoded.
    const size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view user_info = rest.substr(0, at);
        const size_t colon = user_info.find(':');
        parsed.user = percent_decoded(user_info.substr(0, colon), "user name");
        if (colon != std::string_view::npos) {
            parsed.password = percent_decoded(user_info.substr(colon + 1), "password");
        }
        rest = rest.substr(at + 1);
    }
    if (rest.starts_with('[')) {  // an IPv6 address
        const size_t close = rest.find(']');
        if (close == std::string_view::npos)
            throw std::invalid_argument("unclosed '[' in the host");
        parsed.host = std::string(rest.substr(1, close - 1));
        rest = rest.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) {
            throw std::invalid_argument("unexpected text after the host's ']'");
        }
    } else {
        parsed.host = std::string(rest.substr(0, rest.find(':')));
        rest = rest.substr(std::min(rest.find(':'), rest.size()));
    }
    if (rest.starts_with(':')) {
        parsed.port = positive_number(rest.substr(1), "the port");
        if (parsed.port > 65535) throw std::invalid_argument("the port is above 65535");
    }
    size_t start = 0;
    while (start < query.size()) {
        const size_t end = std::min(query.find('&', start), query.size());
        const std::string_view pair = query.substr(start, end - start);
        start = end + 1;
        if (pair.empty()) continue;
        const size_t equals = pair.find('=');
        const std::string name(pair.substr(0, equals));
        if (std::find(kParameters.begin(), kParameters.end(), name) == kParameters.end()) {
            std::string known;
            for (const std::string_view p : kParameters)
                known += (known.empty() ? "" : ", ") + std::string(p);
            throw std::invalid_argument("unknown parameter '" + name + "' (known: " + known + ")");
        }
        const std::string value = equals == std::string_view::npos
                                      ? std::string()
                                      : percent_decoded(pair.substr(equals + 1), name.c_str());
        if (name.ends_with("_timeout")) positive_number(value, name);
        parsed.parameters[name] = value;
    }
    if (parsed.host.empty() && !parsed.parameters.contains("socket")) {
        throw std::invalid_argument("no host (or socket parameter)");
    }
    return parsed;
}

}  // namespace nomnom
