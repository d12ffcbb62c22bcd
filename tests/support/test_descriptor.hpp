#pragma once

#include <nomnom/plugin.h>

#include <cstdint>

namespace nomnom::testing {

// A descriptor of the current layout that the host's checks pass, named "p", for `tables`
// (stored tables need conflict keys), with callbacks that do nothing: a test sets on it the
// fields it is about.
inline nomnom_plugin_descriptor test_descriptor(const nomnom_table* tables,
                                                std::uint32_t table_count) {
    static const char* const subjects[] = {"s.>"};
    nomnom_plugin_descriptor d{};
    d.struct_size = sizeof d;
    d.abi_major = NOMNOM_ABI_MAJOR;
    d.abi_minor = NOMNOM_ABI_MINOR;
    d.name = "p";
    d.version = "1";
    d.subjects = subjects;
    d.subject_count = 1;
    d.tables = tables;
    d.table_count = table_count;
    d.threading = NOMNOM_THREADING_SHARED_INSTANCE;
    d.create = [](const nomnom_host_api*, const char*, nomnom_error*) -> nomnom_instance* {
        return nullptr;
    };
    d.destroy = [](nomnom_instance*) {};
    d.parse = [](nomnom_instance*, const nomnom_message*, nomnom_row_sink*, nomnom_error*) {
        return NOMNOM_OK;
    };
    return d;
}

}  // namespace nomnom::testing
