#include <catch2/catch.hpp>

#include "nomnom/common/redact.hpp"

using nomnom::redact_url;

TEST_CASE("redact_url masks passwords and tokens and keeps the rest", "[redact]") {
    CHECK(redact_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db");
    CHECK(redact_url("postgresql://u:p@ss@h:5432/db") == "postgresql://u:***@h:5432/db");
    CHECK(redact_url("postgresql://u@h/db") == "postgresql://u@h/db");
    CHECK(redact_url("postgresql://h/db?user=u&password=secret&sslmode=require") ==
          "postgresql://h/db?user=u&password=***&sslmode=require");
    CHECK(redact_url("nats://user:pw@127.0.0.1:4222") == "nats://user:***@127.0.0.1:4222");
    CHECK(redact_url("nats://s3cr3tToken@127.0.0.1:4222") == "nats://***@127.0.0.1:4222");
    CHECK(redact_url("nats://a:x@h1:4222,nats://b:y@h2:4222") ==
          "nats://a:***@h1:4222,nats://b:***@h2:4222");
    CHECK(redact_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222");
    CHECK(redact_url("sqlite:/var/lib/nomnom/n@me.db") == "sqlite:/var/lib/nomnom/n@me.db");
    CHECK(redact_url("http://h/p?x=1#a@b") == "http://h/p?x=1#a@b");
}

TEST_CASE("redact_url masks what libpq would read as the password", "[redact]") {
    // libpq ends the user info at the first '@' or '/', not at '?' or '#': these connect.
    CHECK(redact_url("postgresql://u:pa?ss@db/x") == "postgresql://u:***@db/x");
    CHECK(redact_url("postgres://u:pa#ss@db:5432/x") == "postgres://u:***@db:5432/x");
    CHECK(redact_url("postgresql://u:p%40ss@db/x?sslmode=require") ==
          "postgresql://u:***@db/x?sslmode=require");
    // A '/' in the password makes libpq read no user info at all; masking up to the last '@'
    // hides more than needed rather than a piece of the password.
    CHECK(redact_url("postgresql://u:pa/ss@db/x") == "postgresql://u:***@db/x");
    CHECK(redact_url("postgresql://u:s3cret@db/x?application_name=a@b") == "postgresql://u:***@b");
    CHECK(redact_url("postgresql://db/x?password=a%26b&user=u") ==
          "postgresql://db/x?password=***&user=u");
    CHECK(redact_url("postgresql:///x?host=/run/pg&sslpassword=k") ==
          "postgresql:///x?host=/run/pg&sslpassword=***");
}

TEST_CASE("redact_url masks the password of a libpq keyword string", "[redact]") {
    CHECK(redact_url("host=db user=u password=secret dbname=x") ==
          "host=db user=u password=*** dbname=x");
    CHECK(redact_url("host=db password='s3 cr\\'et' dbname=x") == "host=db password=*** dbname=x");
    CHECK(redact_url("password = secret host=db") == "password = *** host=db");
    CHECK(redact_url("host=db sslpassword='' user=u") == "host=db sslpassword=*** user=u");
    CHECK(redact_url("host=db user=password") == "host=db user=password");
}
