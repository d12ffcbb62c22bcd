#include "mariadb_client.hpp"

#include <mysql.h>

#include <charconv>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace nomnom::testing {

namespace {

struct ResultDeleter {
    void operator()(MYSQL_RES* result) const { mysql_free_result(result); }
};
using ResultPtr = std::unique_ptr<MYSQL_RES, ResultDeleter>;

struct UrlParts {
    std::string user;
    std::string password;
    std::string host;
    unsigned port = 0;
    std::string database;
};

std::string percent_decode(std::string_view text, const std::string& url) {
    std::string decoded;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            decoded += text[i];
            continue;
        }
        unsigned value = 0;
        const char* begin = text.data() + i + 1;
        if (i + 2 >= text.size() || std::from_chars(begin, begin + 2, value, 16).ptr != begin + 2) {
            throw std::runtime_error("bad percent-encoding in " + url);
        }
        decoded += static_cast<char>(value);
        i += 2;
    }
    return decoded;
}

UrlParts parse_url(const std::string& url) {
    const auto scheme = url.find("://");
    const std::string_view scheme_name = std::string_view(url).substr(0, scheme);
    if (scheme == std::string::npos || (scheme_name != "mysql" && scheme_name != "mariadb")) {
        throw std::runtime_error("not a mysql:// URL: " + url);
    }
    const auto path = url.find_first_of("/?", scheme + 3);
    std::string_view authority = std::string_view(url).substr(
        scheme + 3, path == std::string::npos ? std::string::npos : path - scheme - 3);
    UrlParts parts;
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view credentials = authority.substr(0, at);
        const auto colon = credentials.find(':');
        parts.user = percent_decode(credentials.substr(0, colon), url);
        if (colon != std::string_view::npos) {
            parts.password = percent_decode(credentials.substr(colon + 1), url);
        }
        authority.remove_prefix(at + 1);
    }
    // [::1]:3306 or host:3306.
    const auto bracket = authority.rfind(']');
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        const std::string_view port = authority.substr(colon + 1);
        if (std::from_chars(port.data(), port.data() + port.size(), parts.port).ptr !=
                port.data() + port.size() ||
            parts.port > 65535) {
            throw std::runtime_error("bad port in " + url);
        }
        authority = authority.substr(0, colon);
    }
    if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
        authority = authority.substr(1, authority.size() - 2);
    }
    parts.host = authority.empty() ? "localhost" : std::string(authority);
    if (path != std::string::npos && url[path] == '/') {
        const auto query = url.find('?', path);
        parts.database = percent_decode(
            std::string_view(url).substr(
                path + 1, query == std::string::npos ? std::string::npos : query - path - 1),
            url);
    }
    return parts;
}

// mysql_init() initialises the library on first use, which is not thread-safe.
void init_library() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (mysql_library_init(0, nullptr, nullptr) != 0) {
            throw std::runtime_error("mysql_library_init failed");
        }
    });
}

}  // namespace

MariaDbConnection::MariaDbConnection(const std::string& url) {
    open(url, nullptr);
}

MariaDbConnection::MariaDbConnection(const std::string& url, const std::string& database) {
    open(url, &database);
}

void MariaDbConnection::open(const std::string& url, const std::string* database) {
    const UrlParts parts = parse_url(url);
    init_library();
    connection_ = mysql_init(nullptr);
    if (connection_ == nullptr) throw std::runtime_error("mysql_init: out of memory");
    const unsigned connect_timeout_s = 10;
    mysql_options(connection_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout_s);
    mysql_options(connection_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const std::string& schema = database != nullptr ? *database : parts.database;
    if (mysql_real_connect(connection_, parts.host.c_str(), parts.user.c_str(),
                           parts.password.c_str(), schema.empty() ? nullptr : schema.c_str(),
                           parts.port, nullptr, CLIENT_MULTI_STATEMENTS) == nullptr) {
        const std::string error = mysql_error(connection_);
        mysql_close(connection_);
        connection_ = nullptr;
        throw std::runtime_error("connecting to " + url +
                                 (database != nullptr ? " (database '" + *database + "')" : "") +
                                 ": " + error);
    }
}

MariaDbConnection::~MariaDbConnection() {
    mysql_close(connection_);
}

TestDatabase::Rows MariaDbConnection::run(const std::string& sql, bool keep_rows) {
    const auto fail = [&] {
        throw std::runtime_error(sql + ": " + mysql_error(connection_) + " (" +
                                 std::to_string(mysql_errno(connection_)) + ")");
    };
    if (mysql_real_query(connection_, sql.data(), sql.size()) != 0) fail();
    TestDatabase::Rows rows;
    // Every result of a multi-statement string must be read before the connection takes the
    // next query; an error in a later statement shows up here.
    for (;;) {
        ResultPtr result(mysql_store_result(connection_));
        if (result == nullptr && mysql_field_count(connection_) != 0) fail();
        if (result != nullptr && keep_rows) {
            rows.clear();
            const unsigned columns = mysql_num_fields(result.get());
            while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
                const unsigned long* lengths = mysql_fetch_lengths(result.get());
                auto& values = rows.emplace_back();
                for (unsigned column = 0; column < columns; ++column) {
                    if (row[column] == nullptr) {
                        values.emplace_back();
                    } else {
                        values.emplace_back(std::string(row[column], lengths[column]));
                    }
                }
            }
        }
        const int next = mysql_next_result(connection_);
        if (next > 0) fail();
        if (next < 0) break;
    }
    return rows;
}

void MariaDbConnection::exec(const std::string& sql) {
    run(sql, false);
}

TestDatabase::Rows MariaDbConnection::query_rows(const std::string& sql) {
    return run(sql, true);
}

std::int64_t MariaDbConnection::query_int64(const std::string& sql) {
    const TestDatabase::Rows rows = run(sql, true);
    if (rows.size() != 1 || rows[0].size() != 1) {
        throw std::runtime_error(sql + ": expected 1 row and 1 column, got " +
                                 std::to_string(rows.size()) + " rows and " +
                                 std::to_string(rows.empty() ? 0 : rows[0].size()) + " columns");
    }
    if (!rows[0][0].has_value()) throw std::runtime_error(sql + ": result is NULL");
    const std::string& text = *rows[0][0];
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        throw std::runtime_error(sql + ": not an int64: " + text);
    }
    return value;
}

std::string mariadb_url_with_database(const std::string& url, const std::string& database) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) throw std::runtime_error("not a mysql:// URL: " + url);
    const auto path = url.find_first_of("/?", scheme + 3);
    if (path == std::string::npos) return url + "/" + database;
    const auto query = url.find('?', path);
    const std::string rest = query == std::string::npos ? "" : url.substr(query);
    return url.substr(0, path) + "/" + database + rest;
}

std::string mariadb_quote_identifier(const std::string& name) {
    std::string quoted = "`";
    for (const char c : name) {
        quoted += c;
        if (c == '`') quoted += '`';
    }
    return quoted + "`";
}

}  // namespace nomnom::testing
