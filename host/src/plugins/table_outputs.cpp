#include "plugins/table_outputs.hpp"

#include <algorithm>
#include <cstddef>

#include "plugins/plugin_library.hpp"

namespace nomnom::host {
namespace {

TableOutput output_of(uint32_t value) {
    return {value != NOMNOM_OUTPUT_PUBLISH,
            value == NOMNOM_OUTPUT_PUBLISH || value == NOMNOM_OUTPUT_BOTH};
}

}  // namespace

TableOutputs declared_outputs(const nomnom_plugin_descriptor& descriptor,
                              std::vector<uint32_t>* unknown) {
    TableOutputs outputs(descriptor.table_count);
    // A descriptor built against 1.0 ends before table_outputs: what lies past its struct_size
    // is not part of it.
    if (!NOMNOM_HOST_HAS(&descriptor, table_outputs) || descriptor.table_outputs == nullptr) {
        return outputs;
    }
    for (uint32_t t = 0; t < descriptor.table_count; ++t) {
        const uint32_t value = descriptor.table_outputs[t];
        if (value > NOMNOM_OUTPUT_BOTH && unknown != nullptr) unknown->push_back(t);
        outputs[t] = output_of(value);
    }
    return outputs;
}

TableOutputs resolve_outputs(const nomnom_plugin_descriptor& descriptor,
                             const std::map<std::string, nomnom_output>& overrides,
                             const std::string& plugin) {
    TableOutputs outputs = declared_outputs(descriptor);
    for (const auto& [name, output] : overrides) {
        const std::string key = "plugins." + plugin + ".outputs." + name;
        const nomnom_table* end = descriptor.tables + descriptor.table_count;
        const nomnom_table* table = std::find_if(
            descriptor.tables, end, [&](const nomnom_table& t) { return name == t.name; });
        if (table == end) {
            std::string tables;
            for (const nomnom_table* t = descriptor.tables; t != end; ++t) {
                tables += (tables.empty() ? "" : ", ") + std::string(t->name);
            }
            throw PluginRefused(key + ": the plugin has no table '" + name +
                                "' (its tables: " + tables + ")");
        }
        const TableOutput resolved = output_of(output);
        if (resolved.store && descriptor.persist == nullptr && table->conflict_key_count == 0) {
            throw PluginRefused(key + ": table '" + name +
                                "' declares no conflict keys, so the host cannot store it with "
                                "an idempotent upsert; it can only be published");
        }
        outputs[static_cast<size_t>(table - descriptor.tables)] = resolved;
    }
    return outputs;
}

bool publishes_any(const TableOutputs& outputs) {
    return std::any_of(outputs.begin(), outputs.end(),
                       [](const TableOutput& output) { return output.publish; });
}

}  // namespace nomnom::host
