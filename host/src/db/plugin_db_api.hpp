#pragma once

#include <nomnom/plugin.h>

namespace nomnom::host {

// The function table nomnom-host hands to every plugin's create(): the rows and logging of
// plugins/host_api.cpp, and db_dialect/db_execute on the connection persist is given.
const nomnom_host_api* host_api();

}  // namespace nomnom::host
