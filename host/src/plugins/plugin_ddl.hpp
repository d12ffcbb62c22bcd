#pragma once

#include <nomnom/plugin.h>

#include <string_view>

namespace nomnom::host {

// The script the plugin gives for `dialect` (a string db_dialect returns): its entry in the
// descriptor's `ddl` (ABI 1.1), else ddl_postgresql or ddl_sqlite for those two dialects, else
// nullptr: the host derives the DDL from the tables.
const char* plugin_ddl(const nomnom_plugin_descriptor& descriptor, std::string_view dialect);

}  // namespace nomnom::host
