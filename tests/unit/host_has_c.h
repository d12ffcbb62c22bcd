/* NOMNOM_HOST_HAS expanded by a C compiler, for plugin_abi_test.cpp. */
#ifndef NOMNOM_TESTS_HOST_HAS_C_H
#define NOMNOM_TESTS_HOST_HAS_C_H

#include <nomnom/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

int c_host_has_db_execute(const nomnom_host_api* host);
int c_message_has_header_count(const nomnom_message* message);

#ifdef __cplusplus
}
#endif

#endif
