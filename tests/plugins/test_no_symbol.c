/* A shared library that exports a function but not the entry symbol, so loading it must fail
 * with a clear reason rather than a crash. */
#include <nomnom/plugin.h>

NOMNOM_EXPORT int test_no_symbol_answer(void) {
    return 42;
}
