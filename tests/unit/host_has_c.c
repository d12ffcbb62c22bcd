/* Built as strict C99 (tests/CMakeLists.txt), like a C plugin, so that the macro is known to
 * compile and to give the same answers in C as in C++. */
#include "host_has_c.h"

int c_host_has_db_execute(const nomnom_host_api* host) {
    return NOMNOM_HOST_HAS(host, db_execute);
}

int c_message_has_header_count(const nomnom_message* message) {
    return NOMNOM_HOST_HAS(message, header_count);
}
