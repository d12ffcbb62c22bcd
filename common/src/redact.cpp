#include "nomnom/common/redact.hpp"

#include <array>

namespace nomnom {
namespace {

bool is_nats_scheme(std::string_view scheme) {
    return scheme == "nats" || scheme == "tls" || scheme == "ws" || scheme == "wss";
}

bool is_postgres_scheme(std::string_view scheme) {
    return scheme == "postgresql" || scheme == "postgres";
}

bool is_secret_parameter(std::string_view name) {
    static constexpr std::array<std::string_view, 4> secrets = {"password", "sslpassword", "token",
                                                                "auth_token"};
    for (const std::string_view secret : secrets) {
        if (name == secret) return true;
    }
    return false;
}

// Masks the values of secret parameters in a "a=1&password=x" query string.
std::string redact_query(std::string_view query) {
    std::string out;
    size_t start = 0;
    while (start <= query.size()) {
        const size_t end = std::min(query.find('&', start), query.size());
        const std::string_view parameter = query.substr(start, end - start);
        const size_t equals = parameter.find('=');
        if (equals != std::string_view::npos && is_secret_parameter(parameter.substr(0, equals))) {
            out.append(parameter.substr(0, equals + 1)).append("***");
        } else {
            out.append(parameter);
        }
        if (end == query.size()) break;
        out += '&';
        start = end + 1;
    }
    return out;
}

std::string redact_one(std::string_view url) {
    std::string out;
    const size_t scheme_end = url.find("://");
    if (scheme_end != std::string_view::npos) {
        const std::string_view scheme = url.substr(0, scheme_end);
        const size_t authority = scheme_end + 3;
        // libpq ends the user info at the first '@' or '/', so '?' and '#' may be part of a
        // password there; the last '@' of the whole url masks at least all of it (and perhaps
        // more, which only hides, never shows). Elsewhere the authority ends at '/', '?' or '#',
        // and its last '@' ends the user info: a password may itself contain '@'.
        const size_t authority_end =
            is_postgres_scheme(scheme) ? url.size()
                                       : std::min(url.find_first_of("/?#", authority), url.size());
        const size_t at = url.substr(0, authority_end).rfind('@');
        if (at != std::string_view::npos && at >= authority) {
            const std::string_view user_info = url.substr(authority, at - authority);
            const size_t colon = user_info.find(':');
            out.append(url.substr(0, authority));
            if (colon != std::string_view::npos) {
                out.append(user_info.substr(0, colon)).append(":***");
            } else if (is_nats_scheme(scheme)) {
                out.append("***");
            } else {
                out.append(user_info);
            }
            url = url.substr(at);
        }
    }
    const size_t question = url.find('?');
    if (question == std::string_view::npos) return out.append(url);
    const size_t fragment = std::min(url.find('#', question), url.size());
    out.append(url.substr(0, question + 1));
    out.append(redact_query(url.substr(question + 1, fragment - question - 1)));
    return out.append(url.substr(fragment));
}

// A libpq keyword/value string ("host=db password='x y'"): each secret keyword's value, quoted
// ('...' with backslash escapes) or not, becomes ***.
std::string redact_keywords(std::string_view text) {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
        const size_t equals = text.find('=', i);
        if (equals == std::string_view::npos) break;
        size_t key_end = equals;
        while (key_end > i && text[key_end - 1] == ' ') --key_end;
        size_t key_start = key_end;
        while (key_start > i && text[key_start - 1] != ' ') --key_start;
        size_t value = equals + 1;
        while (value < text.size() && text[value] == ' ') ++value;
        size_t value_end = value;
        if (value_end < text.size() && text[value_end] == '\'') {
            for (++value_end; value_end < text.size() && text[value_end] != '\''; ++value_end) {
                if (text[value_end] == '\\') ++value_end;
            }
            value_end = std::min(value_end + 1, text.size());
        } else {
            while (value_end < text.size() && text[value_end] != ' ') ++value_end;
        }
        out.append(text.substr(i, value - i));
        const bool secret = is_secret_parameter(text.substr(key_start, key_end - key_start));
        out.append(secret ? std::string_view("***") : text.substr(value, value_end - value));
        i = value_end;
    }
    return out.append(text.substr(std::min(i, text.size())));
}

}  // namespace

std::string redact_url(std::string_view url) {
    if (url.find("://") == std::string_view::npos && url.find('=') != std::string_view::npos) {
        return redact_keywords(url);
    }
    std::string out;
    size_t start = 0;
    for (;;) {
        const size_t comma = url.find(',', start);
        out +=
            redact_one(url.substr(start, comma == std::string_view::npos ? comma : comma - start));
        if (comma == std::string_view::npos) return out;
        out += ',';
        start = comma + 1;
    }
}

}  // namespace nomnom
