// entity_archive: the far end of a pipeline. Stores every row another nomnom-host published
// ([outputs]) as it came, keyed by its Nats-Msg-Id (<stream>:<seq>:<plugin>:<table>:<n>), so a row
// published again is the same row, never a second one.
#include <nomnom/plugin.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <string_view>

namespace {

enum : std::uint32_t { col_msg_id = 0, col_subject = 1, col_source_seq = 2, col_row = 3 };

constexpr std::array columns{
    nomnom::column("msg_id", NOMNOM_TYPE_TEXT, nomnom::Nullable::no),
    nomnom::column("subject", NOMNOM_TYPE_TEXT, nomnom::Nullable::no),
    nomnom::column("source_seq", NOMNOM_TYPE_I64, nomnom::Nullable::no),
    nomnom::column("row", NOMNOM_TYPE_JSON, nomnom::Nullable::no),
};
constexpr std::array<const char*, 1> keys{"msg_id"};
constexpr std::array<const char*, 1> subjects{"entities.>"};
constexpr std::array tables{nomnom::table("entity_archive", columns, keys)};

std::string_view view(const nomnom_str& text) {
    return {text.data, text.len};
}

struct EntityArchive {
    EntityArchive(const nomnom_host_api&, std::string_view) {}

    nomnom_status parse(const nomnom_message& message, nomnom::RowWriter& out) {
        std::int64_t source_seq = -1;
        for (std::uint32_t h = 0; h < message.header_count; ++h) {
            if (view(message.headers[h].key) != "Nomnom-Source-Seq") continue;
            const std::string_view value = view(message.headers[h].value);
            std::from_chars(value.data(), value.data() + value.size(), source_seq);
        }
        if (source_seq < 0) throw nomnom::Invalid("no Nomnom-Source-Seq header");
        out.begin(0)
            .put(col_msg_id, view(message.message_id))
            .put(col_subject, view(message.subject))
            .put(col_source_seq, source_seq)
            .put(col_row, view(message.payload))
            .end();
        return NOMNOM_OK;
    }

    static constexpr nomnom::PluginInfo info{
        .name = "entity_archive",
        .version = "1.0.0",
        .subjects = subjects,
        .tables = tables,
        .threading = NOMNOM_THREADING_SHARED_INSTANCE,
    };
};

}  // namespace

NOMNOM_PLUGIN(EntityArchive)
