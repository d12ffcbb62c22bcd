#include <catch2/catch.hpp>

#include <stdexcept>

#include "db/mysql_native.hpp"
#include "nomnom/common/mysql_url.hpp"

using nomnom::parse_mysql_url;

TEST_CASE("a mysql url is taken apart with its percent-encoding undone", "[config][mysql]") {
    const auto url = parse_mysql_url("mysql://app%40eu:p%3As@w@db.example:3307/shop%20eu");
    CHECK(url.user == "app@eu");
    CHECK(url.password == "p:s@w");
    CHECK(url.host == "db.example");
    CHECK(url.port == 3307);
    CHECK(url.database == "shop eu");
    CHECK(url.parameters.empty());

    const auto defaults = parse_mysql_url("mariadb://[::1]/db?connect_timeout=3&sslca=%2Fca.pem");
    CHECK(defaults.host == "::1");
    CHECK(defaults.port == 3306);
    CHECK(defaults.user.empty());
    CHECK(defaults.parameters.at("connect_timeout") == "3");
    CHECK(defaults.parameters.at("sslca") == "/ca.pem");

    const auto socket = parse_mysql_url("mysql://root@/db?socket=%2Frun%2Fmysqld%2Fmysqld.sock");
    CHECK(socket.host.empty());
    CHECK(socket.parameters.at("socket") == "/run/mysqld/mysqld.sock");
}

TEST_CASE("a bad mysql url says what is wrong", "[config][mysql]") {
    const auto error_of = [](const char* url) {
        try {
            parse_mysql_url(url);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK(error_of("mysql://h") == "no database name after the host");
    CHECK(error_of("mysql://u:p@/db") == "no host (or socket parameter)");
    CHECK(error_of("mysql://h:0/db") == "the port must be a positive number, got '0'");
    CHECK(error_of("mysql://[::1/db") == "unclosed '[' in the host");
    CHECK(error_of("mysql://u:%zz@h/db") == "bad percent-encoding in the password");
    CHECK(error_of("mysql://h/db?read_timeout=0") ==
          "read_timeout must be a positive number, got '0'");
}

TEST_CASE("MySQL and MariaDB servers older than the oldest maintained are refused by version",
          "[mysql]") {
    using nomnom::host::unsupported_server;
    CHECK_FALSE(unsupported_server("10.11.19-MariaDB-0+deb12u1", 101119));
    CHECK_FALSE(unsupported_server("10.6.16-MariaDB", 100616));
    CHECK_FALSE(unsupported_server("8.0.36", 80036));
    CHECK_FALSE(unsupported_server("8.4.0", 80400));
    CHECK(unsupported_server("10.5.23-MariaDB", 100523) ==
          "server version 10.5.23-MariaDB is not supported (MariaDB 10.6 or later, MySQL 8.0 or "
          "later)");
    CHECK(unsupported_server("5.7.44-log", 50744));
}
