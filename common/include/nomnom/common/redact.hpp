#pragma once

#include <string>
#include <string_view>

namespace nomnom {

// A connection url fit for logs, errors and printed output: the password of the user info is
// masked (postgresql://user:secret@host -> postgresql://user:***@host), so is a NATS token given
// as the whole user info (nats://s3cr3t@host -> nats://***@host), and so are password and token
// query parameters (?password=secret -> ?password=***). A comma-separated list of urls (a NATS
// cluster) is masked url by url. PostgreSQL urls are read as libpq reads them (its user info may
// hold '?' and '#'), and a libpq keyword/value string (host=db password=x) has its password
// values masked.
std::string redact_url(std::string_view url);

}  // namespace nomnom
