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
// an INVALID without a reason; a row the host would refuse (table or column index out of range,
// a type the column does not have, null or nothing in a NOT NULL column, a row left open); TEXT
// that is not UTF-8, which the ABI requires. The real host would dead-letter a message whose
// rows it refuses, but generated code validates before writing, so a refusal is a generator bug.
#include <nomnom/plugin.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

struct nomnom_row_sink {
    const nomnom_plugin_descriptor* descriptor = nullptr;
    const nomnom_table* open = nullptr;
    std::vector<bool> set;
    std::string rows; /* everything written, to compare the two parses */
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

const nomnom_column& column(nomnom_row_sink* sink, std::uint32_t index, const char* call) {
    if (sink->open == nullptr) finding(std::string(call) + ": no row begun");
    if (index >= sink->open->column_count) {
        finding(std::string(call) + ": column " + std::to_string(index) + " out of range for '" +
                sink->open->name + "'");
    }
    const nomnom_column& declared = sink->open->columns[index];
    if (sink->set[index]) finding(std::string(call) + ": column '" + declared.name + "' set twice");
    sink->set[index] = true;
    sink->rows += ' ';
    sink->rows += declared.name;
    sink->rows += '=';
    return declared;
}

void expect_type(const nomnom_column& declared, std::uint32_t type, const char* call) {
    const bool json_as_text = type == NOMNOM_TYPE_TEXT && declared.type == NOMNOM_TYPE_JSON;
    if (declared.type != type && !json_as_text) {
        finding(std::string(call) + ": column '" + declared.name + "' has type " +
                std::to_string(declared.type));
    }
}

int begin_row(nomnom_row_sink* sink, std::uint32_t table) {
    if (sink->open != nullptr) finding("begin_row: previous row not ended");
    if (table >= sink->descriptor->table_count) {
        finding("begin_row: table " + std::to_string(table) + " out of range");
    }
    sink->open = &sink->descriptor->tables[table];
    sink->set.assign(sink->open->column_count, false);
    sink->rows += '\n';
    sink->rows += sink->open->name;
    return 0;
}

int put_null(nomnom_row_sink* sink, std::uint32_t index) {
    const nomnom_column& declared = column(sink, index, "put_null");
    if (declared.nullable == 0) finding(std::string("null in NOT NULL column ") + declared.name);
    sink->rows += "null";
    return 0;
}

int put_i64(nomnom_row_sink* sink, std::uint32_t index, std::int64_t value) {
    expect_type(column(sink, index, "put_i64"), NOMNOM_TYPE_I64, "put_i64");
    sink->rows += std::to_string(value);
    return 0;
}

int put_f64(nomnom_row_sink* sink, std::uint32_t index, double value) {
    expect_type(column(sink, index, "put_f64"), NOMNOM_TYPE_F64, "put_f64");
    std::array<char, 32> text{};
    sink->rows += std::string_view(text.data(), static_cast<std::size_t>(std::snprintf(
                                                    text.data(), text.size(), "%a", value)));
    return 0;
}

int put_bool(nomnom_row_sink* sink, std::uint32_t index, int value) {
    expect_type(column(sink, index, "put_bool"), NOMNOM_TYPE_BOOL, "put_bool");
    sink->rows += value != 0 ? "true" : "false";
    return 0;
}

int put_text(nomnom_row_sink* sink, std::uint32_t index, const char* data, std::size_t len) {
    const nomnom_column& declared = column(sink, index, "put_text");
    expect_type(declared, NOMNOM_TYPE_TEXT, "put_text");
    if (data == nullptr && len > 0) finding("put_text: NULL data with non-zero length");
    const std::string_view text(data, len);
    if (!is_utf8(text)) finding(std::string("put_text: column '") + declared.name + "' not UTF-8");
    sink->rows.append(text);
    return 0;
}

int end_row(nomnom_row_sink* sink) {
    if (sink->open == nullptr) finding("end_row: no row begun");
    for (std::uint32_t c = 0; c < sink->open->column_count; ++c) {
        if (!sink->set[c] && sink->open->columns[c].nullable == 0) {
            finding(std::string("end_row: NOT NULL column '") + sink->open->columns[c].name +
                    "' not set");
        }
    }
    sink->open = nullptr;
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
    nomnom_row_sink sink{.descriptor = &plugin};
    std::array<char, 2048> reason;
    reason.fill('?'); /* content on entry is undefined: no NUL a lazy plugin could rely on */
    nomnom_error error{reason.data(), reason.size()};
    const nomnom_status status = plugin.parse(instance, &message, &sink, &error);
    if (status == NOMNOM_OK) {
        if (sink.open != nullptr) finding("parse returned OK with a row left open");
        return {status, "", std::move(sink.rows)};
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
