#include "plugins/row_json.hpp"

#include <charconv>

#include "nomnom/common/json_escape.hpp"

namespace nomnom::host {

std::string shortest_double(double value) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, value).ptr;
    return std::string(text, end);
}

void append_row_json(std::string& out, const TableRows& rows, size_t row) {
    const nomnom_table& table = rows.table();
    out += '{';
    for (uint32_t c = 0; c < table.column_count; ++c) {
        if (c > 0) out += ',';
        out += '"';
        out += json_escape(table.columns[c].name);
        out += "\":";
        const Cell& cell = rows.cell(row, c);
        if (cell.is_null) {
            out += "null";
            continue;
        }
        switch (table.columns[c].type) {
            case NOMNOM_TYPE_I64:
                out += std::to_string(cell.i64);
                break;
            case NOMNOM_TYPE_F64:
                // The row checks refuse NaN and infinities, which JSON cannot hold.
                out += shortest_double(cell.f64);
                break;
            case NOMNOM_TYPE_BOOL:
                out += cell.i64 != 0 ? "true" : "false";
                break;
            case NOMNOM_TYPE_JSON:
                // Checked to be JSON when the plugin wrote it.
                out += rows.text(cell);
                break;
            default:
                out += '"';
                out += json_escape(rows.text(cell));
                out += '"';
                break;
        }
    }
    out += '}';
}

}  // namespace nomnom::host
