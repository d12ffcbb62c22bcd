/*
 * The parse shared by test_kv and test_kv_persist: one JSON object per message, with an "action"
 * field that makes the plugin fail in each way the host must handle.
 */
#ifndef NOMNOM_TESTS_KV_PLUGIN_HPP
#define NOMNOM_TESTS_KV_PLUGIN_HPP

#include <nomnom/plugin.hpp>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

namespace kv {

enum : std::uint32_t { col_k = 0, col_v = 1, col_note = 2 };

inline constexpr std::array columns{
    nomnom::column("k", NOMNOM_TYPE_TEXT, nomnom::Nullable::no),
    nomnom::column("v", NOMNOM_TYPE_I64, nomnom::Nullable::no),
    nomnom::column("note", NOMNOM_TYPE_TEXT, nomnom::Nullable::yes),
};
inline constexpr std::array<const char*, 1> conflict_keys{"k"};
// Parsed as any message, with this note: a persist callback dies on the row (test_kv_persist).
inline constexpr std::string_view kCrashInPersist = "crash_in_persist";

inline std::string_view string_of(const rapidjson::Value& value) {
    return {value.GetString(), value.GetStringLength()};
}

inline const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
    const auto it = object.FindMember(name);
    return it == object.MemberEnd() ? nullptr : &it->value;
}

inline std::optional<std::string_view> optional_string(const rapidjson::Value& object,
                                                       const char* name) {
    const rapidjson::Value* value = member(object, name);
    if (value == nullptr) return std::nullopt;
    if (!value->IsString())
        throw nomnom::Invalid(std::string("field '") + name + "' is not a string");
    return string_of(*value);
}

inline std::int64_t required_int(const rapidjson::Value& object, const char* name) {
    const rapidjson::Value* value = member(object, name);
    if (value == nullptr || !value->IsInt64()) {
        throw nomnom::Invalid(std::string("field '") + name + "' is missing or not an integer");
    }
    return value->GetInt64();
}

inline rapidjson::Document parse_object(std::string_view json, std::string_view what) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        throw nomnom::Invalid(std::string(what) + " is not valid JSON at offset " +
                              std::to_string(doc.GetErrorOffset()) + ": " +
                              rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (!doc.IsObject()) throw nomnom::Invalid(std::string(what) + " is not a JSON object");
    return doc;
}

class Parser {
  public:
    Parser(const nomnom_host_api&, std::string_view config_json) {
        const rapidjson::Document config = parse_object(config_json, "config");
        if (const rapidjson::Value* fail = member(config, "fail_create"); fail && fail->IsTrue()) {
            throw std::runtime_error("fail_create requested by config");
        }
        // A slow create keeps a reload busy, for the tests of what stays responsive meanwhile.
        if (const rapidjson::Value* delay = member(config, "create_delay_ms");
            delay && delay->IsInt64()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay->GetInt64()));
        }
        if (const auto prefix = optional_string(config, "note_prefix")) {
            note_prefix_ = std::string(*prefix);
        }
        // The "fixed" plugin of the replay tests: action=invalid is stored like any message.
        const rapidjson::Value* accept = member(config, "accept_invalid");
        accept_invalid_ = accept != nullptr && accept->IsTrue();
    }

    static void allocate_without_bound() {
        constexpr size_t kChunk = size_t{64} << 20;
        // Kept reachable, or the compiler drops the allocations nobody reads.
        static std::vector<std::unique_ptr<char[]>> leaked;
        for (int i = 0; i < 128; ++i) {
            leaked.emplace_back(new char[kChunk]);
            std::memset(leaked.back().get(), i + 1, kChunk);  // resident, not only reserved
        }
        std::this_thread::sleep_for(std::chrono::minutes(10));
    }

    nomnom_status parse(const nomnom_message& message, nomnom::RowWriter& out) {
        const rapidjson::Document doc = parse_object(nomnom::view(message.payload), "payload");

        // invalid and fatal act before the row fields are read, so a test can trigger them with
        // a payload that holds nothing else.
        const std::string_view action = optional_string(doc, "action").value_or("ok");
        if (action == "invalid" && !accept_invalid_) {
            throw nomnom::Invalid("action=invalid requested");
        }
        if (action == "fatal") throw nomnom::Fatal("action=fatal requested");
        // The plugins a host must survive: they take the whole process down.
        if (action == "segfault") std::raise(SIGSEGV);
        if (action == "abort") std::abort();
        // Never returns in any test's time: what the OOM killer or an operator's kill -9 ends.
        if (action == "hang") std::this_thread::sleep_for(std::chrono::minutes(10));
        // A leak without bound: touches 64 MB after 64 MB, up to 8 GB, then hangs.
        if (action == "allocate") allocate_without_bound();
        // A plugin writing where it has no business: `text` to descriptor `fd`, then on as usual.
        if (action == "write_fd") {
            const std::string_view text = optional_string(doc, "text").value_or("");
            if (::write(static_cast<int>(required_int(doc, "fd")), text.data(), text.size()) < 0) {
                throw nomnom::Fatal("action=write_fd: the write failed");
            }
        }
        // A parse slower than ack_wait, still well inside parse_timeout_ms.
        if (action == "slow") {
            std::this_thread::sleep_for(std::chrono::milliseconds(required_int(doc, "ms")));
        }
        if (action == "retry_until") {
            const std::int64_t until = required_int(doc, "until");
            if (std::cmp_less(message.delivery_count, until)) {
                throw nomnom::Retry("retry requested (delivery " +
                                    std::to_string(message.delivery_count) + " of " +
                                    std::to_string(until) + ")");
            }
        } else if (action != "ok" && action != "bad_type" && action != "invalid" &&
                   action != "slow" && action != kCrashInPersist) {
            throw nomnom::Invalid("unknown action '" + std::string(action) + "'");
        }

        const std::optional<std::string_view> k = optional_string(doc, "k");
        if (!k) throw nomnom::Invalid("field 'k' is missing");
        const std::int64_t v = required_int(doc, "v");
        std::optional<std::string_view> note = optional_string(doc, "note");
        if (action == kCrashInPersist) note = kCrashInPersist;
        if (!note && note_prefix_) note = *note_prefix_;

        out.begin(0).put(col_k, *k);
        if (action == "bad_type") {
            // The wrong type on purpose: the host must refuse it even though parse says OK.
            out.put(col_v, std::string_view("not an integer"));
        } else {
            out.put(col_v, v);
        }
        out.put(col_note, note).end();
        return NOMNOM_OK;
    }

  protected:
    // Rows without a note get `note` instead: the version marker of the reload tests.
    void default_note(std::string note) { note_prefix_ = std::move(note); }

  private:
    std::optional<std::string> note_prefix_;
    bool accept_invalid_ = false;
};

}  // namespace kv

#endif
