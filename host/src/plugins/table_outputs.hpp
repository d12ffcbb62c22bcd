#pragma once

#include <nomnom/plugin.h>

#include <map>
#include <string>
#include <vector>

namespace nomnom::host {

// Where one table's rows go.
struct TableOutput {
    bool store = true;
    bool publish = false;

    bool operator==(const TableOutput&) const = default;
};

// By table index, as the descriptor lists the tables.
using TableOutputs = std::vector<TableOutput>;

// What the descriptor declares: its table_outputs (ABI 1.1) when its struct_size holds them,
// every table stored otherwise. The index of each table whose entry is outside nomnom_output
// goes into `unknown` (when given); such a table reads as stored.
TableOutputs declared_outputs(const nomnom_plugin_descriptor& descriptor,
                              std::vector<uint32_t>* unknown = nullptr);

// The declared outputs with worker.toml's [plugins.<plugin>.outputs] over them. Throws
// PluginRefused naming the key when an override names no table of the plugin, or stores a table
// the host would have to upsert without conflict keys.
TableOutputs resolve_outputs(const nomnom_plugin_descriptor& descriptor,
                             const std::map<std::string, nomnom_output>& overrides,
                             const std::string& plugin);

// Whether any table is published.
bool publishes_any(const TableOutputs& outputs);

}  // namespace nomnom::host
