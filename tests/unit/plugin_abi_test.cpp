#include <catch2/catch.hpp>

#include <cstddef>

#include "host_has_c.h"

TEST_CASE("NOMNOM_HOST_HAS is true only for fields inside the struct_size the host gave", "[abi]") {
    nomnom_host_api host{};
    host.struct_size = sizeof host;
    CHECK(NOMNOM_HOST_HAS(&host, struct_size));
    CHECK(NOMNOM_HOST_HAS(&host, db_execute));
    CHECK(c_host_has_db_execute(&host));

    // A host of an older minor, whose table ends just before db_execute.
    host.struct_size = offsetof(nomnom_host_api, db_execute);
    CHECK(NOMNOM_HOST_HAS(&host, db_dialect));
    CHECK_FALSE(NOMNOM_HOST_HAS(&host, db_execute));
    CHECK_FALSE(c_host_has_db_execute(&host));
    // The whole field must fit, not only its first byte.
    host.struct_size = offsetof(nomnom_host_api, db_execute) + sizeof host.db_execute - 1;
    CHECK_FALSE(NOMNOM_HOST_HAS(&host, db_execute));
    CHECK_FALSE(c_host_has_db_execute(&host));

    nomnom_message message{};
    message.struct_size = offsetof(nomnom_message, header_count);
    CHECK(NOMNOM_HOST_HAS(&message, headers));
    CHECK_FALSE(NOMNOM_HOST_HAS(&message, header_count));
    CHECK_FALSE(c_message_has_header_count(&message));
    message.struct_size = sizeof message;
    CHECK(NOMNOM_HOST_HAS(&message, header_count));
    CHECK(c_message_has_header_count(&message));
}
