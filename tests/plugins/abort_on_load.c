/* A shared library whose constructor aborts: whatever loads it dies in dlopen, before any check
 * of the plugin could refuse it. A process loading a directory with it never starts. */
#include <nomnom/plugin.h>
#include <stdlib.h>

__attribute__((constructor)) static void abort_on_load(void) {
    abort();
}
