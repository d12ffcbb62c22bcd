#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "plugins/plugin_ddl.hpp"
#include "plugins/plugin_library.hpp"
#include "support/test_descriptor.hpp"

using nomnom::host::plugin_ddl;
using nomnom::host::validate_descriptor;

namespace {

const nomnom_column kColumns[] = {{sizeof(nomnom_column), "id", NOMNOM_TYPE_I64, 0}};
const char* const kKeys[] = {"id"};
const nomnom_table kTables[] = {{sizeof(nomnom_table), "t", kColumns, 1, kKeys, 1}};
const nomnom_ddl kDdl[] = {{"mysql", "CREATE TABLE IF NOT EXISTS `t` (...)"},
                           {"postgresql", "CREATE TABLE IF NOT EXISTS \"t\" (listed)"}};

nomnom_plugin_descriptor descriptor() {
    nomnom_plugin_descriptor d = nomnom::testing::test_descriptor(kTables, 1);
    d.ddl_postgresql = "CREATE TABLE IF NOT EXISTS \"t\" (1.0 field)";
    d.ddl_sqlite = "CREATE TABLE IF NOT EXISTS t (1.0 field)";
    d.ddl = kDdl;
    d.ddl_count = 2;
    return d;
}

}  // namespace

TEST_CASE("plugin_ddl: the list's entry, else the 1.0 field, else none", "[plugin][ddl]") {
    const nomnom_plugin_descriptor d = descriptor();
    REQUIRE(validate_descriptor(&d).empty());
    CHECK(std::string(plugin_ddl(d, "mysql")) == kDdl[0].sql);
    CHECK(std::string(plugin_ddl(d, "postgresql")) == kDdl[1].sql);
    CHECK(std::string(plugin_ddl(d, "sqlite")) == d.ddl_sqlite);
    CHECK(plugin_ddl(d, "oracle") == nullptr);
    CHECK(plugin_ddl(d, "") == nullptr);
}

TEST_CASE("plugin_ddl: a descriptor of the 1.0 layout is never read past its end",
          "[plugin][ddl]") {
    // What lies past a 1.0 descriptor's struct_size is the plugin's other data, here a list
    // that the host must not take for the descriptor's.
    nomnom_plugin_descriptor d = descriptor();
    d.struct_size = offsetof(nomnom_plugin_descriptor, table_outputs);
    REQUIRE(validate_descriptor(&d).empty());
    CHECK(std::string(plugin_ddl(d, "postgresql")) == d.ddl_postgresql);
    CHECK(std::string(plugin_ddl(d, "sqlite")) == d.ddl_sqlite);
    CHECK(plugin_ddl(d, "mysql") == nullptr);
    // Built between table_outputs and the list: the count lies past its end.
    d.struct_size = offsetof(nomnom_plugin_descriptor, ddl_count);
    CHECK(plugin_ddl(d, "mysql") == nullptr);
    d.ddl_postgresql = nullptr;
    d.ddl_sqlite = nullptr;
    CHECK(plugin_ddl(d, "postgresql") == nullptr);
    CHECK(plugin_ddl(d, "sqlite") == nullptr);
}

TEST_CASE("plugin_ddl: an empty list leaves the 1.0 fields", "[plugin][ddl]") {
    nomnom_plugin_descriptor d = descriptor();
    d.ddl = nullptr;
    d.ddl_count = 0;
    REQUIRE(validate_descriptor(&d).empty());
    CHECK(std::string(plugin_ddl(d, "postgresql")) == d.ddl_postgresql);
    CHECK(plugin_ddl(d, "mysql") == nullptr);
    d.ddl = kDdl;  // a count of 0 lists nothing
    CHECK(validate_descriptor(&d).empty());
    CHECK(plugin_ddl(d, "mysql") == nullptr);
}

TEST_CASE("a ddl list the host could not look up is refused with the reason", "[plugin][ddl]") {
    nomnom_plugin_descriptor d = descriptor();
    std::vector<nomnom_ddl> list;
    const auto refusal = [&](std::initializer_list<nomnom_ddl> entries) {
        list.assign(entries);
        d.ddl = list.data();
        d.ddl_count = static_cast<uint32_t>(list.size());
        return validate_descriptor(&d);
    };
    CHECK(refusal({{"postgresql", "x"}, {"sqlite", "y"}, {"mysql", "z"}, {"my_db2", "w"}}).empty());
    CHECK(refusal({{"mysql", "x"}, {nullptr, "y"}}) == "ddl[1]: dialect is NULL");
    CHECK(refusal({{"mysql", nullptr}}) == "ddl[0]: sql is NULL");
    CHECK(refusal({{"MySQL", "x"}}) == "ddl[0]: dialect 'MySQL' must match [a-z0-9_]+");
    CHECK(refusal({{"", "x"}}) == "ddl[0]: dialect '' must match [a-z0-9_]+");
    CHECK(refusal({{"my-sql", "x"}}) == "ddl[0]: dialect 'my-sql' must match [a-z0-9_]+");
    CHECK(refusal({{"mysql", "x"}, {"sqlite", "y"}, {"mysql", "z"}}) ==
          "ddl[2]: dialect 'mysql' is listed twice");
    d.ddl = nullptr;
    d.ddl_count = 3;
    CHECK(validate_descriptor(&d) == "ddl is NULL but ddl_count is 3");
    // A 1.0 descriptor has no list, whatever lies past its end.
    d.struct_size = offsetof(nomnom_plugin_descriptor, table_outputs);
    CHECK(validate_descriptor(&d).empty());
}
