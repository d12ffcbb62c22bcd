#include "plugins/plugin_ddl.hpp"

namespace nomnom::host {

const char* plugin_ddl(const nomnom_plugin_descriptor& descriptor, std::string_view dialect) {
    // A descriptor built against an older header ends before the list.
    if (NOMNOM_HOST_HAS(&descriptor, ddl_count) && descriptor.ddl != nullptr) {
        for (uint32_t i = 0; i < descriptor.ddl_count; ++i) {
            if (dialect == descriptor.ddl[i].dialect) return descriptor.ddl[i].sql;
        }
    }
    if (dialect == "postgresql") return descriptor.ddl_postgresql;
    if (dialect == "sqlite") return descriptor.ddl_sqlite;
    return nullptr;
}

}  // namespace nomnom::host
