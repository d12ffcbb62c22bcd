#include <catch2/catch.hpp>

#include <cstddef>

#include "plugins/plugin_library.hpp"
#include "plugins/table_outputs.hpp"
#include "support/test_descriptor.hpp"
#include "worker_config.hpp"

using nomnom::host::declared_outputs;
using nomnom::host::PluginRefused;
using nomnom::host::resolve_outputs;
using nomnom::host::TableOutput;

namespace {

const nomnom_column kColumns[] = {{sizeof(nomnom_column), "id", NOMNOM_TYPE_I64, 0}};
const char* const kKeys[] = {"id"};
// "keyed" can be upserted; "events" has no conflict keys, so it can only be published.
const nomnom_table kTables[] = {{sizeof(nomnom_table), "keyed", kColumns, 1, kKeys, 1},
                                {sizeof(nomnom_table), "events", kColumns, 1, nullptr, 0}};
const uint32_t kOutputs[] = {NOMNOM_OUTPUT_BOTH, NOMNOM_OUTPUT_PUBLISH};

nomnom_plugin_descriptor descriptor() {
    nomnom_plugin_descriptor d = nomnom::testing::test_descriptor(kTables, 2);
    d.table_outputs = kOutputs;
    return d;
}

std::string refusal(const std::map<std::string, nomnom_output>& overrides) {
    try {
        resolve_outputs(descriptor(), overrides, "p");
    } catch (const PluginRefused& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("table outputs: what the descriptor declares, 1.0 descriptors store everything",
          "[outputs]") {
    nomnom_plugin_descriptor d = descriptor();
    CHECK(declared_outputs(d) ==
          nomnom::host::TableOutputs{TableOutput{true, true}, TableOutput{false, true}});
    // Built against 1.0: whatever lies past its struct_size is not its table_outputs.
    d.struct_size = offsetof(nomnom_plugin_descriptor, table_outputs);
    CHECK(declared_outputs(d) == nomnom::host::TableOutputs(2));
    d = descriptor();
    d.table_outputs = nullptr;
    CHECK(declared_outputs(d) == nomnom::host::TableOutputs(2));
    // Only a table the host stores needs conflict keys.
    CHECK(nomnom::host::validate_descriptor(&d) ==
          "table 'events': declares no conflict keys; the host writes it with an idempotent "
          "upsert and needs them (or the plugin must provide persist, or only publish it)");
    d.table_outputs = kOutputs;
    CHECK(nomnom::host::validate_descriptor(&d).empty());
}

TEST_CASE("table outputs: worker.toml overrides per table, refused naming the key", "[outputs]") {
    CHECK(resolve_outputs(descriptor(), {{"keyed", NOMNOM_OUTPUT_STORE}}, "p") ==
          nomnom::host::TableOutputs{TableOutput{true, false}, TableOutput{false, true}});
    CHECK(refusal({{"nope", NOMNOM_OUTPUT_PUBLISH}}) ==
          "plugins.p.outputs.nope: the plugin has no table 'nope' (its tables: keyed, events)");
    CHECK(refusal({{"events", NOMNOM_OUTPUT_BOTH}}) ==
          "plugins.p.outputs.events: table 'events' declares no conflict keys, so the host "
          "cannot store it with an idempotent upsert; it can only be published");
}

TEST_CASE("[outputs] and [plugins.<name>.outputs] are read and checked", "[outputs][config]") {
    const auto config = nomnom::host::parse_worker_config(R"(
[outputs]
subject_prefix = "derived.rows"
publish_timeout_ms = 2500
[outputs.stream]
name = "DERIVED"
duplicate_window_s = 600
[plugins.tpch.outputs]
order_line_items = "publish"
orders = "both"
)",
                                                          "/etc/nomnom/worker.toml");
    CHECK(config.outputs.subject_prefix == "derived.rows");
    CHECK(config.outputs.publish_timeout_ms == 2500);
    CHECK(config.outputs.stream.name == "DERIVED");
    CHECK(config.outputs.stream.subjects == std::vector<std::string>{"derived.rows.>"});
    CHECK(config.outputs.stream.duplicate_window_s == 600);
    CHECK(config.plugins.at("tpch").outputs ==
          std::map<std::string, nomnom_output>{{"order_line_items", NOMNOM_OUTPUT_PUBLISH},
                                               {"orders", NOMNOM_OUTPUT_BOTH}});
    const auto defaults = nomnom::host::parse_worker_config("", "/etc/nomnom/worker.toml");
    CHECK(defaults.outputs.subject_prefix == "entities");
    CHECK(defaults.outputs.stream.name == "NOMNOM_ENTITIES");
    CHECK(defaults.outputs.stream.subjects == std::vector<std::string>{"entities.>"});

    const auto error_of = [](const std::string& toml) -> std::string {
        try {
            nomnom::host::parse_worker_config(toml, "/etc/nomnom/worker.toml");
        } catch (const nomnom::ConfigError& e) {
            return e.what();
        }
        return "";
    };
    CHECK_THAT(
        error_of("[plugins.tpch.outputs]\norders = \"sometimes\"\n"),
        Catch::Contains("plugins.tpch.outputs.orders") && Catch::Contains("store, publish, both"));
    CHECK_THAT(error_of("[outputs]\nsubject_prefix = \"rows.*\"\n"),
               Catch::Contains("outputs.subject_prefix") &&
                   Catch::Contains("not a NATS subject without wildcards"));
    CHECK_THAT(error_of("[outputs]\nprefix = \"x\"\n"), Catch::Contains("outputs.prefix"));
    CHECK_THAT(error_of("[outputs.stream]\nsubjects = [\"other.>\"]\n"),
               Catch::Contains("outputs.stream.subjects") &&
                   Catch::Contains("none of them captures 'entities.>'"));
    CHECK_THAT(error_of("[outputs.stream]\nname = \"MESSAGES\"\n"),
               Catch::Contains("outputs.stream.name") &&
                   Catch::Contains("is the [stream] the plugins consume"));
    CHECK_THAT(error_of("[stream]\nsubjects = [\"entities.orders\"]\n[outputs]\n"),
               Catch::Contains("outputs.subject_prefix") &&
                   Catch::Contains("overlaps the stream subject 'entities.orders'"));
}
