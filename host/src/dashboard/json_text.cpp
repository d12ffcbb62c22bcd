#include "dashboard/json_text.hpp"

#include <string>

#include "nomnom/common/utf8.hpp"

namespace nomnom::host {

void put_text(JsonWriter& out, std::string_view text) {
    std::string valid;
    for (size_t bad = invalid_utf8_offset(text); bad != std::string_view::npos;
         bad = invalid_utf8_offset(text)) {
        valid.append(text.substr(0, bad)).append("\xEF\xBF\xBD");
        text.remove_prefix(bad + 1);
    }
    valid.append(text);
    out.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

}  // namespace nomnom::host
