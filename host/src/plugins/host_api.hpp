#pragma once

#include <nomnom/plugin.h>

#include <string>

namespace nomnom::host {

using DbDialectFn = decltype(nomnom_host_api::db_dialect);
using DbExecuteFn = decltype(nomnom_host_api::db_execute);

// The function table handed to a plugin's create(): writing rows, logging and reading rows back
// (host_api.cpp), with the database functions of the process that runs persist (nomnom-host's
// db/plugin_db_api.cpp). Where persist never runs (nomnom-api's validators) there are none: a
// plugin gets a database handle only in persist, so nothing can call them.
nomnom_host_api make_host_api(DbDialectFn db_dialect, DbExecuteFn db_execute);

// Writes `text` into a plugin's error buffer, cut at a character boundary to fit.
void write_error(nomnom_error* error, const std::string& text);

}  // namespace nomnom::host
