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
