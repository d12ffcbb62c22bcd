#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "db/plugin_db_api.hpp"
#include "nomnom/common/subject_match.hpp"
#include "plugins/plugin_ddl.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_library.hpp"
#include "plugins/row_batch.hpp"
#include "support/temp_dir.hpp"
#include "support/test_descriptor.hpp"

using nomnom::host::PluginLibrary;
using nomnom::host::PluginRefused;

namespace {

// A private plugins directory with safe permissions holding copies of the named test plugins.
std::filesystem::path stage(const nomnom::testing::TempDir& dir,
                            std::initializer_list<const char*> names) {
    const auto plugins = dir.path() / "plugins";
    std::filesystem::create_directory(plugins);
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(plugins.c_str(), 0755);
    for (const char* name : names) {
        const auto target = plugins / (std::string(name) + ".so");
        std::filesystem::copy_file(
            std::filesystem::path(NOMNOM_TEST_PLUGINS_DIR) / (std::string(name) + ".so"), target);
        ::chmod(target.c_str(), 0755);
    }
    return plugins;
}

std::string refusal(const std::filesystem::path& file) {
    try {
        PluginLibrary::open(file);
    } catch (const PluginRefused& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a valid plugin loads and describes itself", "[plugin]") {
    nomnom::testing::TempDir dir;
    const auto plugins = stage(dir, {"test_kv"});
    const auto library = PluginLibrary::open(plugins / "test_kv.so");
    CHECK(library->name() == "test_kv");
    CHECK(library->subjects() == std::vector<std::string>{"test.kv.>"});
    CHECK(library->descriptor().table_count == 1);
}

TEST_CASE("a plugin built against the frozen ABI 1.0 header loads and writes rows", "[plugin]") {
    nomnom::testing::TempDir dir;
    const auto plugins = stage(dir, {"test_abi_1_0"});
    const auto library = PluginLibrary::open(plugins / "test_abi_1_0.so");
    CHECK(library->descriptor().abi_minor == 0);
    // Its descriptor ends before the DDL list: whatever follows it in the library is not one.
    for (const char* dialect : {"postgresql", "sqlite", "mysql"}) {
        CHECK(nomnom::host::plugin_ddl(library->descriptor(), dialect) == nullptr);
    }
    const nomnom::host::PluginInstance instance(library, "{}", nomnom::host::host_api());
    nomnom::host::RowBatch batch(library->descriptor());
    nomnom_message message{};
    message.struct_size = sizeof message;
    message.payload = {"alpha", 5};
    message.subject = {"test.abi10.x", 12};
    message.stream_sequence = 7;
    message.delivery_count = 1;
    std::string reason;
    REQUIRE(instance.parse(message, batch, 0, reason) == NOMNOM_OK);
    const nomnom::host::TableRows& rows = batch.tables()[0];
    REQUIRE(rows.row_count() == 1);
    CHECK(rows.text(rows.cell(0, 0)) == "alpha");
    CHECK(rows.cell(0, 1).i64 == 7);
    CHECK(rows.cell(0, 2).f64 == 3.5);
    CHECK(rows.cell(0, 3).i64 == 1);
    CHECK(rows.text(rows.cell(0, 4)) == R"({"subject_length":12})");
    CHECK(rows.cell(0, 5).is_null);
}

TEST_CASE("a plugin built against a later minor than the host's loads", "[plugin]") {
    nomnom::testing::TempDir dir;
    const auto plugins = stage(dir, {"test_next_minor"});
    const auto library = PluginLibrary::open(plugins / "test_next_minor.so");
    CHECK(library->descriptor().abi_minor == NOMNOM_ABI_MINOR + 1);
}

TEST_CASE("each kind of bad plugin is refused with the exact reason", "[plugin]") {
    nomnom::testing::TempDir dir;
    const auto plugins = stage(dir, {"test_kv", "test_bad_major", "test_no_symbol",
                                     "test_bad_descriptor", "test_bad_output"});
    CHECK(refusal(plugins / "test_bad_major.so") == "plugin ABI major 2, host supports 1");
    CHECK(refusal(plugins / "test_no_symbol.so") ==
          "missing entry symbol nomnom_plugin_v1 (not a nomnom ABI v1 plugin)");
    CHECK(refusal(plugins / "test_bad_descriptor.so") ==
          "table 'defective': conflict key 'missing_col' is not one of its columns");
    CHECK(refusal(plugins / "test_bad_output.so") == "table_outputs[0] is 9, not a nomnom_output");
    CHECK(refusal(plugins / "missing.so").starts_with("cannot stat"));

    std::ofstream(plugins / ".test_kv.so.tmp") << "being installed";
    CHECK(nomnom::host::list_plugin_files(plugins).size() == 5);
}

TEST_CASE("a rebuilt plugin under the same file name is loaded, not served from dlopen's cache",
          "[plugin]") {
    nomnom::testing::TempDir dir;
    const auto plugins = stage(dir, {"test_kv"});
    const auto first = PluginLibrary::open(plugins / "test_kv.so");
    // Same path, new content: dlopen() of the same path would hand back the loaded library.
    std::filesystem::copy_file(
        std::filesystem::path(NOMNOM_TEST_PLUGINS_DIR) / "test_kv_persist.so",
        plugins / "test_kv.so", std::filesystem::copy_options::overwrite_existing);
    const auto second = PluginLibrary::open(plugins / "test_kv.so");
    CHECK(first->name() == "test_kv");
    CHECK(second->name() == "test_kv_persist");
    CHECK(first->content_hash() != second->content_hash());
}

TEST_CASE("plugin files or directories writable by others are refused", "[plugin]") {
    nomnom::testing::TempDir dir;
    const auto plugins = stage(dir, {"test_kv"});
    ::chmod((plugins / "test_kv.so").c_str(), 0646);
    CHECK(refusal(plugins / "test_kv.so").find("is writable by group or others (mode 646)") !=
          std::string::npos);
    ::chmod((plugins / "test_kv.so").c_str(), 0755);
    ::chmod(plugins.c_str(), 0777);
    CHECK(refusal(plugins / "test_kv.so").find("is writable by group or others (mode 777)") !=
          std::string::npos);
    ::chmod(plugins.c_str(), 0755);

    // A safe-looking symlink to a file in a directory anyone can write to.
    const auto open_dir = dir.path() / "open";
    std::filesystem::create_directory(open_dir);
    ::chmod(open_dir.c_str(), 0777);
    std::filesystem::copy_file(plugins / "test_kv.so", open_dir / "real.so");
    std::filesystem::create_symlink(open_dir / "real.so", plugins / "linked.so");
    CHECK(refusal(plugins / "linked.so").find("open is writable by group or others (mode 777)") !=
          std::string::npos);
}

TEST_CASE("descriptor validation catches layout and naming mistakes", "[plugin]") {
    static const nomnom_column columns[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                            {sizeof(nomnom_column), "k", NOMNOM_TYPE_I64, 0}};
    static const char* const keys[] = {"k"};
    nomnom_table table{sizeof(nomnom_table), "t", columns, 2, keys, 1};
    nomnom_plugin_descriptor d = nomnom::testing::test_descriptor(&table, 1);
    CHECK(nomnom::host::validate_descriptor(&d) == "table 't': column 'k' is declared twice");
    static const nomnom_column reserved[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                             {sizeof(nomnom_column), "nn_ord", NOMNOM_TYPE_I64, 0}};
    table.columns = reserved;
    CHECK(nomnom::host::validate_descriptor(&d) ==
          "table 't': column name 'nn_ord' is reserved by the host (its staging tables order rows "
          "with it)");
    static const nomnom_column sequence[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                             {sizeof(nomnom_column), "nn_seq", NOMNOM_TYPE_I64, 0}};
    table.columns = sequence;
    CHECK(nomnom::host::validate_descriptor(&d) ==
          "table 't': column name 'nn_seq' is reserved by the host (it keeps each row's message "
          "sequence there)");
    table.columns = columns;
    table.column_count = 1;
    CHECK(nomnom::host::validate_descriptor(&d).empty());
    // As a later minor will build it: a field appended, which this host ignores.
    struct {
        nomnom_plugin_descriptor base;
        const char* appended;
    } grown{d, "unknown here"};
    grown.base.struct_size = sizeof grown;
    grown.base.abi_minor = NOMNOM_ABI_MINOR + 1;
    CHECK(nomnom::host::validate_descriptor(&grown.base).empty());
    d.struct_size = 8;
    CHECK(nomnom::host::validate_descriptor(&d).starts_with("descriptor struct_size 8 is smaller"));
    d.struct_size = sizeof d;
    // Tables and columns come in arrays: a larger element would be read with the wrong stride.
    table.struct_size = sizeof table + 8;
    CHECK(nomnom::host::validate_descriptor(&d) ==
          "table 0: struct_size " + std::to_string(sizeof table + 8) + ", expected " +
              std::to_string(sizeof table) + " (array elements never grow within ABI major 1)");
    table.struct_size = sizeof table;
    static const nomnom_column wide_columns[] = {
        {sizeof(nomnom_column) + 8, "k", NOMNOM_TYPE_TEXT, 0}};
    table.columns = wide_columns;
    CHECK(nomnom::host::validate_descriptor(&d) ==
          "table 't': column 0 has struct_size " + std::to_string(sizeof(nomnom_column) + 8) +
              ", expected " + std::to_string(sizeof(nomnom_column)) +
              " (array elements never grow within ABI major 1)");
    table.columns = columns;
    d.name = "Bad Name";
    CHECK(nomnom::host::validate_descriptor(&d) == "descriptor name must match [a-z0-9_-]+");
    d.name = "p";
    static const nomnom_column nullable_key[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 1}};
    table.columns = nullable_key;
    CHECK(nomnom::host::validate_descriptor(&d) == "table 't': conflict key 'k' is nullable");
    table.conflict_key_count = 0;
    CHECK(nomnom::host::validate_descriptor(&d).find("declares no conflict keys") !=
          std::string::npos);
}

TEST_CASE("subject patterns overlap as NATS would match them", "[plugin]") {
    using nomnom::subjects_overlap;
    CHECK(subjects_overlap("orders.created", "orders.created"));
    CHECK(subjects_overlap("orders.*", "orders.created"));
    CHECK(subjects_overlap("orders.>", "orders.eu.created"));
    CHECK(subjects_overlap("*.created", "orders.*"));
    CHECK(subjects_overlap(">", "anything.at.all"));
    CHECK_FALSE(subjects_overlap("orders.*", "orders.eu.created"));
    CHECK_FALSE(subjects_overlap("orders.>", "orders"));
    CHECK_FALSE(subjects_overlap("orders.created", "orders.deleted"));
    CHECK_FALSE(subjects_overlap("test.kv.>", "test.kvp.>"));
}

TEST_CASE("a subject pattern covers another when it matches all its subjects", "[plugin]") {
    using nomnom::subject_covers;
    CHECK(subject_covers("messages.ingest.>", "messages.ingest.*"));
    CHECK(subject_covers("messages.>", "messages.ingest.*"));
    CHECK(subject_covers("messages.*.*", "messages.ingest.*"));
    CHECK(subject_covers(">", "a.*.c"));
    CHECK(subject_covers("a.*.c", "a.b.c"));
    CHECK(subject_covers("a.b", "a.b"));
    CHECK_FALSE(subject_covers("messages.ingest.Order", "messages.ingest.*"));
    CHECK_FALSE(subject_covers("messages.ingest.*", "messages.ingest.>"));
    CHECK_FALSE(subject_covers("messages.ingest.>", "messages.ingest"));
    CHECK_FALSE(subject_covers("messages.ingest", "messages.ingest.*"));
    CHECK_FALSE(subject_covers("a.*", "a.*.c"));
}
