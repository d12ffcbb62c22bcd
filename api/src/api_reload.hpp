#pragma once

#include "api_config.hpp"
#include "bearer_auth.hpp"
#include "validator_pool.hpp"

namespace nomnom::api {

// What SIGHUP does: reads the config file (running.source; the defaults without one) again.
// The bearer tokens (auth.*, the tokens file read anew: token rotation without a restart) and
// log.level take effect at once and are stored in `running`, [validate] restarts `validators` on
// the directory's plugins as they are now (requests in flight finish on the old ones); any other
// change needs a restart
// (a warning names the section, the running value stays). A file that does not load, or tokens
// that cannot be read, change nothing of theirs and make the result false.
//
// Only running.auth, running.log and running.validate are written, which the request threads do
// not read (ValidatorPool keeps its own copy).
bool reload_api_config(ApiConfig& running, BearerAuth& auth, ValidatorPool& validators);

}  // namespace nomnom::api
