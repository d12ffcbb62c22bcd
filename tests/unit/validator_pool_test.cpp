// nomnom-api's validator pool without validator processes: [validate] off.

#include <catch2/catch.hpp>

#include "api_config.hpp"
#include "api_metrics.hpp"
#include "validator_pool.hpp"

using namespace nomnom::api;

TEST_CASE("validate: with [validate] off, or turned off by a SIGHUP, a message has no plugin",
          "[api][validate]") {
    ApiConfig config;
    ApiMetrics metrics(config.stream.name);
    ValidatorPool pool(config, metrics);
    // What a request sees when a SIGHUP turns [validate] off while it is on its way: the pool is
    // asked all the same, and must not need a message to say so.
    CHECK(pool.validate(nullptr, "id").kind == Verdict::Kind::NoPlugin);
    pool.reconfigure(config.validate);
    CHECK(pool.validate(nullptr, "id").kind == Verdict::Kind::NoPlugin);
}
