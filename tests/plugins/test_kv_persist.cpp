#include "kv_plugin.hpp"

namespace {

constexpr std::array<const char*, 1> subjects{"test.kvp.>"};
constexpr std::array tables{nomnom::table("kvp", kv::columns, kv::conflict_keys)};

// On a conflict the +1000 shows that this SQL ran, not the host's own upsert. The dialects
// differ in the upsert clause only: $n are parameters on every one.
constexpr const char* upsert_sql =
    "INSERT INTO kvp (k, v, note) VALUES ($1, $2, $3) "
    "ON CONFLICT (k) DO UPDATE SET v = excluded.v + 1000, note = excluded.note";
constexpr const char* mysql_upsert_sql =
    "INSERT INTO kvp (k, v, note) VALUES ($1, $2, $3) "
    "ON DUPLICATE KEY UPDATE v = VALUES(v) + 1000, note = VALUES(note)";

struct TestKvPersist : kv::Parser {
    TestKvPersist(const nomnom_host_api& host, std::string_view config_json)
        : kv::Parser(host, config_json) {
        const rapidjson::Document config = kv::parse_object(config_json, "config");
        const rapidjson::Value* swallow = kv::member(config, "swallow_db_errors");
        swallow_db_errors = swallow != nullptr && swallow->IsTrue();
    }

    static constexpr nomnom::PluginInfo info{
        .name = "test_kv_persist",
        .version = "1.0.0",
        .subjects = subjects,
        .tables = tables,
        .threading = NOMNOM_THREADING_INSTANCE_PER_THREAD,
    };

    nomnom_status persist(nomnom::Database& db, const nomnom::Rows& rows) {
        for (std::uint64_t row = 0; row < rows.count(0); ++row) {
            const std::array params{rows.get(0, row, kv::col_k), rows.get(0, row, kv::col_v),
                                    rows.get(0, row, kv::col_note)};
            const nomnom_value& note = params[2];
            if (!note.is_null && nomnom::view(note.text) == kv::kCrashInPersist)
                std::raise(SIGSEGV);
            try {
                db.execute(db.dialect() == "mysql" ? mysql_upsert_sql : upsert_sql, params);
            } catch (const nomnom::StatusError&) {
                // A careless plugin: the host must still notice that the statement failed.
                if (!swallow_db_errors) throw;
            }
        }
        return NOMNOM_OK;
    }

    bool swallow_db_errors = false;
};

}  // namespace

NOMNOM_PLUGIN(TestKvPersist)
