#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <utility>

#include "db/plugin_db_api.hpp"
#include "plugins/row_batch.hpp"

namespace {

const nomnom_column kColumns[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                  {sizeof(nomnom_column), "v", NOMNOM_TYPE_I64, 0},
                                  {sizeof(nomnom_column), "note", NOMNOM_TYPE_TEXT, 1}};
const char* const kKeys[] = {"k"};
const nomnom_table kTable{sizeof(nomnom_table), "kv", kColumns, 3, kKeys, 1};

nomnom_plugin_descriptor descriptor() {
    nomnom_plugin_descriptor d{};
    d.tables = &kTable;
    d.table_count = 1;
    return d;
}

}  // namespace

TEST_CASE("rows are typed - nullable columns default to NULL", "[rows]") {
    const auto d = descriptor();
    nomnom::host::RowBatch batch(d);
    const nomnom_host_api& api = *nomnom::host::host_api();
    batch.begin_message(0, 1);
    auto* sink = batch.as_sink();
    CHECK(api.begin_row(sink, 0) == 0);
    CHECK(api.put_text(sink, 0, "abc", 3) == 0);
    CHECK(api.put_i64(sink, 1, 42) == 0);
    CHECK(api.end_row(sink) == 0);
    batch.finish_message();
    CHECK(batch.message_error().empty());
    const auto& rows = batch.tables()[0];
    REQUIRE(rows.row_count() == 1);
    CHECK(rows.text(rows.cell(0, 0)) == "abc");
    CHECK(rows.cell(0, 1).i64 == 42);
    CHECK(rows.cell(0, 2).is_null);
}

TEST_CASE("wrong types - NULL in NOT NULL and unended rows are refused", "[rows]") {
    const auto d = descriptor();
    nomnom::host::RowBatch batch(d);
    const nomnom_host_api& api = *nomnom::host::host_api();
    auto* sink = batch.as_sink();

    batch.begin_message(0, 1);
    api.begin_row(sink, 0);
    CHECK(api.put_f64(sink, 1, 1.5) != 0);
    CHECK(batch.message_error() == "column 'v' of table 'kv' is i64, plugin wrote f64");
    batch.discard_message();

    batch.begin_message(1, 1);
    api.begin_row(sink, 0);
    CHECK(api.put_null(sink, 0) != 0);
    CHECK(batch.message_error() == "column 'k' of table 'kv' is NOT NULL, plugin wrote null");
    batch.discard_message();

    batch.begin_message(2, 1);
    api.begin_row(sink, 0);
    api.put_text(sink, 0, "x", 1);
    CHECK(api.end_row(sink) != 0);
    CHECK(batch.message_error() == "column 'v' of table 'kv' is NOT NULL but was not set");
    batch.discard_message();

    batch.begin_message(3, 1);
    api.begin_row(sink, 0);
    batch.finish_message();
    CHECK(batch.message_error() == "parse returned with a row of table 'kv' begun but not ended");
    batch.discard_message();

    CHECK(batch.total_rows() == 0);
}

TEST_CASE("NaN and infinities are refused: the dialects would store them differently", "[rows]") {
    static const nomnom_column columns[] = {{sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
                                            {sizeof(nomnom_column), "x", NOMNOM_TYPE_F64, 1}};
    static const nomnom_table table{sizeof(nomnom_table), "m", columns, 2, kKeys, 1};
    nomnom_plugin_descriptor d{};
    d.tables = &table;
    d.table_count = 1;
    nomnom::host::RowBatch batch(d);
    const nomnom_host_api& api = *nomnom::host::host_api();
    auto* sink = batch.as_sink();
    const std::pair<double, const char*> refused[] = {
        {std::numeric_limits<double>::quiet_NaN(), "NaN"},
        {std::numeric_limits<double>::infinity(), "+Infinity"},
        {-std::numeric_limits<double>::infinity(), "-Infinity"}};
    for (const auto& [value, name] : refused) {
        batch.begin_message(0, 1);
        api.begin_row(sink, 0);
        CHECK(api.put_f64(sink, 1, value) != 0);
        CHECK(batch.message_error() ==
              std::string("column 'x' of table 'm' is f64, plugin wrote ") + name);
        batch.discard_message();
    }
    batch.begin_message(1, 1);
    api.begin_row(sink, 0);
    api.put_text(sink, 0, "k", 1);
    CHECK(api.put_f64(sink, 1, -0.25) == 0);
    CHECK(api.end_row(sink) == 0);
    CHECK(batch.message_error().empty());
    CHECK(batch.total_rows() == 1);
}

TEST_CASE("discarding a message drops only its rows and text", "[rows]") {
    const auto d = descriptor();
    nomnom::host::RowBatch batch(d);
    const nomnom_host_api& api = *nomnom::host::host_api();
    auto* sink = batch.as_sink();
    for (uint32_t m = 0; m < 3; ++m) {
        batch.begin_message(m, 1);
        for (int r = 0; r < 2; ++r) {
            const std::string key = "m" + std::to_string(m) + "r" + std::to_string(r);
            api.begin_row(sink, 0);
            api.put_text(sink, 0, key.data(), key.size());
            api.put_i64(sink, 1, m);
            api.end_row(sink);
        }
        if (m == 1) batch.discard_message();
    }
    const auto& rows = batch.tables()[0];
    REQUIRE(rows.row_count() == 4);
    CHECK(rows.text(rows.cell(2, 0)) == "m2r0");
    CHECK(rows.message_of(3) == 2);
}

TEST_CASE("a JSON column takes one JSON value, however deep, and refuses anything else", "[rows]") {
    const nomnom_column columns[] = {{sizeof(nomnom_column), "j", NOMNOM_TYPE_JSON, 1}};
    const nomnom_table table{sizeof(nomnom_table), "docs", columns, 1, nullptr, 0};
    nomnom_plugin_descriptor d{};
    d.tables = &table;
    d.table_count = 1;
    nomnom::host::RowBatch batch(d);
    const nomnom_host_api& api = *nomnom::host::host_api();
    const auto put = [&](const std::string& text) {
        batch.begin_message(0, 1);
        api.begin_row(batch.as_sink(), 0);
        api.put_text(batch.as_sink(), 0, text.data(), text.size());
        api.end_row(batch.as_sink());
        std::string error = batch.message_error();
        batch.discard_message();
        return error;
    };
    CHECK(put(R"( {"a": [1, 2.5, true, null, "x"]} )").empty());
    CHECK(put("42").empty());
    CHECK(put("[123456789012345678901234567890, 1e300]").empty());
    // The one difference with PostgreSQL's jsonb, documented in sdk/README.md.
    CHECK_THAT(put("1e400"), Catch::Contains("Number too big to be stored in double at offset"));
    // Iterative parsing: a nesting far deeper than any stack would take is checked, not a crash.
    CHECK(put(std::string(100000, '[') + std::string(100000, ']')).empty());
    CHECK(put("{\"a\":") ==
          "column 'j' of table 'docs' is json, plugin wrote text that is not "
          "JSON: Invalid value at offset 5");
    CHECK(put("[\"a\nb\"]") ==
          "column 'j' of table 'docs' is json, plugin wrote text that is not JSON: unescaped "
          "control character 0x0A in a string (JSON needs it written as \\n) at offset 3");
    CHECK(put("{} {}") ==
          "column 'j' of table 'docs' is json, plugin wrote text that is not "
          "JSON: text after the JSON value at offset 3");
    CHECK_THAT(put(""), Catch::Contains("The document is empty"));
    CHECK(put("\"\xff\"") ==
          "column 'j' of table 'docs' is json, plugin wrote text that is not "
          "UTF-8 (byte 1 of 3)");
}

TEST_CASE("text that is not UTF-8 is refused naming the column and the byte", "[rows]") {
    const auto d = descriptor();
    nomnom::host::RowBatch batch(d);
    const nomnom_host_api& api = *nomnom::host::host_api();
    batch.begin_message(0, 1);
    api.begin_row(batch.as_sink(), 0);
    const std::string latin1 = "caf\xe9";
    CHECK(api.put_text(batch.as_sink(), 0, latin1.data(), latin1.size()) != 0);
    CHECK(batch.message_error() ==
          "column 'k' of table 'kv' is text, plugin wrote text that is not UTF-8 (byte 3 of 4)");
}
