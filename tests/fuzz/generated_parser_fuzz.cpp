// libFuzzer target for the parsers nomnom-gen writes: a generated plugin's source (tpch,
// legacy_shop, v1_fleet) is compiled into this binary and driven through its C ABI by a minimal
// in-process host.
//
// Input layout: the first byte picks the subject (byte % the number of subjects, in the order of
// NOMNOM_FUZZ_SUBJECTS, e.g. for tpch 0 Order, 1 Customer, 2 Product), the rest is the message
// payload. Every input is parsed twice by one instance, as the host reuses an instance across
// messages, and both parses must agree.
//
// Findings (abort): a crash, a leak or a sanitizer report; a status other than OK or INVALID;
// an INVALID without a reason; a row the host refuses, as decided by the host's own RowBatch
// compiled in (table or column index out of range, a type the column does not have, NaN or an
// infinity in an f64 column, null or nothing in a NOT NULL column, a row left open, ...); TEXT
// that is not UTF-8, which the ABI requires and PostgreSQL would refuse; a column set twice.
// The real host would dead-letter a message whose rows it refuses, but generated code validates
// before writing, so a refusal is a generator bug.
#include <nomnom/plugin.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/row_batch.hpp"

/* The rows go into the host's own RowBatch, whose checks (host/src/plugins/row_batch.cpp) turn
 * a row the host cannot store into a refusal: a finding here. The harness adds what the host
 * leaves to the database or does not mind: TEXT that is not UTF-8, a column set twice. */
struct nomnom_row_sink {
    explicit nomnom_row_sink(const nomnom_plugin_descriptor& plugin) : batch(plugin) {}
    nomnom::host::RowBatch batch;
    std::vector<bool> set; /* of the open row's columns */
};

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "generated_parser_fuzz: %s\n", what.c_str());
    std::abort();
}

bool is_utf8(std::string_view s) {
    std::size_t k = 0;
    while (k < s.size()) {
        const auto c = static_cast<unsigned char>(s[k]);
        std::size_t extra = 0;
        std::uint32_t code = 0, min = 0;
        if (c < 0x80) {
            ++k;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            extra = 1, code = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, code = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, code = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (extra >= s.size() - k) return false; /* truncated sequence */
        for (std::size_t n = 1; n <= extra; ++n) {
            const auto next = static_cast<unsigned char>(s[k + n]);
            if ((next & 0xC0) != 0x80) return false;
            code = (code << 6) | (next & 0x3F);
        }
        if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
        k += extra + 1;
    }
    return true;
}

/* The host's first refusal since the message began, if any, is the finding. */
void expect_accepted(const nomnom_row_sink* sink, const char* call) {
    if (!sink->batch.message_error().empty()) {
        finding(std::string(call) + ": the host refuses the row: " + sink->batch.message_error());
    }
}

int begin_row(nomnom_row_sink* sink, std::uint32_t table) {
    sink->batch.begin_row(table);
    expect_accepted(sink, "begin_row");
    sink->set.assign(sink->batch.tables()[table].column_count(), false);
    return 0;
}

/* `write` hands the value to the host's batch; once it is accepted, `column` is in range. */
template <typename Write>
int put(nomnom_row_sink* sink, std::uint32_t column, const char* call, Write&& write) {
    write(sink->batch);
    expect_accepted(sink, call);
    if (sink->set[column])
        finding(std::string(call) + ": column " + std::to_string(column) + " set twice");
    sink->set[column] = true;
    return 0;
}

using nomnom::host::RowBatch;

int put_null(nomnom_row_sink* sink, std::uint32_t column) {
    return put(sink, column, "put_null", [&](RowBatch& batch) { batch.put_null(column); });
}
int put_i64(nomnom_row_sink* sink, std::uint32_t column, std::int64_t value) {
    return put(sink, column, "put_i64", [&](RowBatch& batch) { batch.put_i64(column, value); });
}
int put_f64(nomnom_row_sink* sink, std::uint32_t column, double value) {
    return put(sink, column, "put_f64", [&](RowBatch& batch) { batch.put_f64(column, value); });
}
int put_bool(nomnom_row_sink* sink, std::uint32_t column, int value) {
    return put(sink, column, "put_bool",
               [&](RowBatch& batch) { batch.put_bool(column, value != 0); });
}
int put_text(nomnom_row_sink* sink, std::uint32_t column, const char* data, std::size_t len) {
    put(sink, column, "put_text", [&](RowBatch& batch) { batch.put_text(column, data, len); });
    if (!is_utf8({data, len})) finding("put_text: column " + std::to_string(column) + " not UTF-8");
    return 0;
}

int end_row(nomnom_row_sink* sink) {
    sink->batch.end_row();
    expect_accepted(sink, "end_row");
    return 0;
}

void log(nomnom_log_level, const char*, const char*) {}

const nomnom_host_api host_api{
    .struct_size = sizeof(nomnom_host_api),
    .abi_major = NOMNOM_ABI_MAJOR,
    .abi_minor = NOMNOM_ABI_MINOR,
    .begin_row = begin_row,
    .put_null = put_null,
    .put_i64 = put_i64,
    .put_f64 = put_f64,
    .put_bool = put_bool,
    .put_text = put_text,
    .end_row = end_row,
    .log = log,
    .row_count = nullptr,
    .get_value = nullptr,
    .db_dialect = nullptr,
    .db_execute = nullptr,
};

#ifndef NOMNOM_FUZZ_SUBJECTS
#error "define NOMNOM_FUZZ_SUBJECTS: the plugin's subjects, comma-separated"
#endif

/* Fixed by the build rather than read from the descriptor, so that a regression input keeps
 * meaning the same subject when the generator orders them differently. */
std::vector<std::string_view> fuzz_subjects() {
    std::vector<std::string_view> subjects;
    std::string_view rest = NOMNOM_FUZZ_SUBJECTS;
    while (true) {
        const auto comma = rest.find(',');
        subjects.push_back(rest.substr(0, comma));
        if (comma == std::string_view::npos) return subjects;
        rest.remove_prefix(comma + 1);
    }
}

const std::vector<std::string_view> subjects = fuzz_subjects();

struct Outcome {
    nomnom_status status;
    std::string reason;
    std::string rows;
};

/* Every cell the batch holds, table by table in the order the host writes them. */
std::string rows_of(const nomnom::host::RowBatch& batch) {
    std::string rows;
    for (const nomnom::host::TableRows& table : batch.tables()) {
        for (std::size_t row = 0; row < table.row_count(); ++row) {
            rows += '\n';
            rows += table.table().name;
            for (std::size_t c = 0; c < table.column_count(); ++c) {
                const nomnom::host::Cell& cell = table.cell(row, c);
                const std::string_view text = table.text(cell);
                std::array<char, 96> fixed{};
                const int n = std::snprintf(
                    fixed.data(), fixed.size(), " %d %lld %a %zu:", cell.is_null ? 1 : 0,
                    static_cast<long long>(cell.i64), cell.f64, text.size());
                rows.append(fixed.data(), static_cast<std::size_t>(n));
                rows.append(text);
            }
        }
    }
    return rows;
}

Outcome parse(const nomnom_plugin_descriptor& plugin, nomnom_instance* instance,
              std::string_view subject, std::string_view payload) {
    const nomnom_message message{
        .struct_size = sizeof(nomnom_message),
        .payload = {payload.data(), payload.size()},
        .subject = {subject.data(), subject.size()},
        .message_id = {"fuzz:1", 6},
        .entity_type = {"", 0},
        .stream_sequence = 1,
        .delivery_count = 1,
        .headers = nullptr,
        .header_count = 0,
    };
    nomnom_row_sink sink(plugin);
    sink.batch.begin_message(0, message.stream_sequence);
    std::array<char, 2048> reason;
    reason.fill('?'); /* content on entry is undefined: no NUL a lazy plugin could rely on */
    nomnom_error error{reason.data(), reason.size()};
    const nomnom_status status = plugin.parse(instance, &message, &sink, &error);
    if (status == NOMNOM_OK) {
        sink.batch.finish_message();
        expect_accepted(&sink, "parse returned OK");
        return {status, "", rows_of(sink.batch)};
    }
    const std::size_t n = strnlen(reason.data(), reason.size());
    if (n == 0 || n == reason.size()) finding("not OK and no NUL-terminated reason");
    const std::string text(reason.data(), n);
    if (status != NOMNOM_INVALID)
        finding("parse returned status " + std::to_string(status) + ": " + text);
    return {status, text, ""};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view subject = subjects[data[0] % subjects.size()];
    /* A copy of exactly the payload's bytes, so that ASan sees any read past its end. */
    const std::vector<char> payload(data + 1, data + size);
    const std::string_view body(payload.data(), payload.size());

    const nomnom_plugin_descriptor& plugin = *nomnom_plugin_v1();
    std::array<char, 2048> reason{};
    nomnom_error error{reason.data(), reason.size()};
    nomnom_instance* instance = plugin.create(&host_api, "{}", &error);
    if (instance == nullptr) finding(std::string("create failed: ") + reason.data());

    const Outcome first = parse(plugin, instance, subject, body);
    const Outcome second = parse(plugin, instance, subject, body);
    if (first.status != second.status || first.reason != second.reason ||
        first.rows != second.rows) {
        finding("a second parse of the same message by the same instance differs");
    }
    plugin.destroy(instance);
    return 0;
}
