/*
 * A plugin that is valid except for the one difference its build selects, so that what the host
 * does with it (refuse it or not) can only come from that difference:
 *   TEST_PLUGIN_NAME     the plugin name (required)
 *   TEST_ABI_MAJOR       the ABI major the descriptor claims (default: the real one)
 *   TEST_ABI_MINOR       the ABI minor the descriptor claims (default: the real one)
 *   TEST_CONFLICT_KEY    the table's conflict key (default: its only column)
 *   TEST_TABLE_OUTPUT    the table's table_outputs entry (default: no table_outputs)
 */
#include <nomnom/plugin.h>

#ifndef TEST_ABI_MAJOR
#define TEST_ABI_MAJOR NOMNOM_ABI_MAJOR
#endif
#ifndef TEST_ABI_MINOR
#define TEST_ABI_MINOR NOMNOM_ABI_MINOR
#endif
#ifndef TEST_CONFLICT_KEY
#define TEST_CONFLICT_KEY "id"
#endif

static const char* const subjects[] = {"test.defective.>"};
static const nomnom_column columns[] = {{sizeof(nomnom_column), "id", NOMNOM_TYPE_I64, 0}};
static const char* const conflict_keys[] = {TEST_CONFLICT_KEY};
static const nomnom_table tables[] = {
    {sizeof(nomnom_table), "defective", columns, 1, conflict_keys, 1},
};
#ifdef TEST_TABLE_OUTPUT
static const uint32_t table_outputs[] = {TEST_TABLE_OUTPUT};
#else
#define table_outputs NULL
#endif

/* Stateless, so every instance is the same static object. */
static int instance_storage;

static nomnom_instance* defective_create(const nomnom_host_api* host, const char* config_json,
                                         nomnom_error* error) {
    (void)host;
    (void)config_json;
    (void)error;
    return (nomnom_instance*)&instance_storage;
}

static void defective_destroy(nomnom_instance* instance) {
    (void)instance;
}

static nomnom_status defective_parse(nomnom_instance* instance, const nomnom_message* message,
                                     nomnom_row_sink* sink, nomnom_error* error) {
    (void)instance;
    (void)message;
    (void)sink;
    (void)error;
    return NOMNOM_OK;
}

static const nomnom_plugin_descriptor descriptor = {
    sizeof(nomnom_plugin_descriptor),
    TEST_ABI_MAJOR,
    TEST_ABI_MINOR,
    TEST_PLUGIN_NAME,
    "1.0.0",
    subjects,
    1,
    tables,
    1,
    NULL,
    NULL,
    NOMNOM_THREADING_SHARED_INSTANCE,
    defective_create,
    defective_destroy,
    defective_parse,
    NULL,
    table_outputs,
    NULL,
    0,
};

NOMNOM_EXPORT const nomnom_plugin_descriptor* nomnom_plugin_v1(void) {
    return &descriptor;
}
