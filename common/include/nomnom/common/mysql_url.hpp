#pragma once

#include <map>
#include <string>
#include <string_view>

namespace nomnom {

// A `mysql://user:password@host:port/database?key=value` (or `mariadb://`) URL, taken apart with
// its percent-encoding undone. Read by worker.toml's checks (so a bad url fails at start-up,
// naming what is wrong) and by the host, which connects with it.
struct MySqlUrl {
    std::string user;
    std::string password;
    std::string host;  // empty with a `socket` parameter
    int port = 3306;
    std::string database;
    // The query parameters a url may carry: socket, connect_timeout, read_timeout,
    // write_timeout (seconds), sslca, sslcert, sslkey.
    std::map<std::string, std::string> parameters;
};

bool is_mysql_url(std::string_view url);

// Throws std::invalid_argument naming what is wrong (never the password).
MySqlUrl parse_mysql_url(std::string_view url);

}  // namespace nomnom
