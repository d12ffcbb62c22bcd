#include "kv_plugin.hpp"

#ifndef TEST_KV_VERSION
#define TEST_KV_VERSION "1.0.0"
#endif

namespace {

constexpr std::array<const char*, 1> subjects{"test.kv.>"};
constexpr std::array tables{nomnom::table("kv", kv::columns, kv::conflict_keys)};

struct TestKv : kv::Parser {
    TestKv(const nomnom_host_api& host, std::string_view config_json)
        : kv::Parser(host, config_json) {
#ifdef TEST_KV_MARK_VERSION
        default_note(TEST_KV_VERSION);
#endif
    }

    static constexpr nomnom::PluginInfo info{
        .name = "test_kv",
        .version = TEST_KV_VERSION,
        .subjects = subjects,
        .tables = tables,
        .threading = NOMNOM_THREADING_INSTANCE_PER_THREAD,
    };
};

}  // namespace

NOMNOM_PLUGIN(TestKv)
