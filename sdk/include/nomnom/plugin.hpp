/*
 * Header-only C++20 helper over the C ABI in plugin.h.
 *
 * A plugin is a class with
 *   - static constexpr nomnom::PluginInfo info{...};              name, subjects, tables, threading
 *   - Plugin(const nomnom_host_api& host, std::string_view config_json);   throw to refuse create
 *   - nomnom_status parse(const nomnom_message& message, nomnom::RowWriter& out);
 *   - optionally nomnom_status persist(nomnom::Database& db, const nomnom::Rows& rows);
 * and one NOMNOM_PLUGIN(Class) line in a .cpp file, which exports nomnom_plugin_v1.
 *
 * The generated C callbacks never let an exception cross the ABI: Invalid, Retry and Fatal become
 * their status with what() as the reason; any other exception becomes NOMNOM_FATAL (or a NULL
 * instance from create), because an unexpected exception means the plugin itself is broken and
 * dead-lettering the message would lose data that a fixed plugin could still store.
 */
#ifndef NOMNOM_PLUGIN_HPP
#define NOMNOM_PLUGIN_HPP

#if __cplusplus < 202002L
#error "nomnom/plugin.hpp needs C++20"
#endif

#include <nomnom/plugin.h>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace nomnom {

inline std::string_view view(nomnom_str s) noexcept {
    return {s.data, s.len};
}

/* Copies `reason` into the host's buffer, cut to fit and never inside a UTF-8 sequence, so the
 * host always gets valid NUL-terminated text. */
inline void set_error(nomnom_error* error, std::string_view reason) noexcept {
    if (error == nullptr || error->message == nullptr || error->capacity == 0) return;
    std::size_t n = std::min(reason.size(), error->capacity - 1);
    if (n < reason.size()) {
        while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
    }
    std::memcpy(error->message, reason.data(), n);
    error->message[n] = '\0';
}

/* Base of the exceptions that carry a status across the boundary; throw one of its subclasses. */
class StatusError : public std::runtime_error {
  public:
    nomnom_status status() const noexcept { return status_; }

  protected:
    StatusError(nomnom_status status, const std::string& reason)
        : std::runtime_error(reason), status_(status) {}

  private:
    nomnom_status status_;
};

/* The message will never be stored: the host dead-letters it with this reason. */
class Invalid : public StatusError {
  public:
    explicit Invalid(const std::string& reason) : StatusError(NOMNOM_INVALID, reason) {}
};

/* A transient failure: the host redelivers the message later. */
class Retry : public StatusError {
  public:
    explicit Retry(const std::string& reason) : StatusError(NOMNOM_RETRY, reason) {}
};

/* The instance is unusable: the host stops this plugin's consumer. */
class Fatal : public StatusError {
  public:
    explicit Fatal(const std::string& reason) : StatusError(NOMNOM_FATAL, reason) {}
};

/* Writes rows for the message being parsed. The host records the first refused call (bad index,
 * wrong type, NULL in a NOT NULL column) and turns the message INVALID with that reason, so
 * ignoring the return codes here cannot store a bad row. */
class RowWriter {
  public:
    RowWriter(const nomnom_host_api& host, nomnom_row_sink* sink) noexcept
        : host_(&host), sink_(sink) {}

    RowWriter& begin(std::uint32_t table) {
        host_->begin_row(sink_, table);
        return *this;
    }
    RowWriter& end() {
        host_->end_row(sink_);
        return *this;
    }

    RowWriter& put(std::uint32_t column, std::nullopt_t) {
        host_->put_null(sink_, column);
        return *this;
    }
    template <std::integral T>
    requires(!std::same_as<T, bool>) RowWriter& put(std::uint32_t column, T value) {
        if (!std::in_range<std::int64_t>(value)) {
            throw Invalid("column " + std::to_string(column) + ": " + std::to_string(value) +
                          " does not fit in a 64-bit signed integer");
        }
        host_->put_i64(sink_, column, static_cast<std::int64_t>(value));
        return *this;
    }
    RowWriter& put(std::uint32_t column, double value) {
        host_->put_f64(sink_, column, value);
        return *this;
    }
    /* A template so that a pointer or a string literal never silently becomes a bool. */
    template <std::same_as<bool> B>
    RowWriter& put(std::uint32_t column, B value) {
        host_->put_bool(sink_, column, value ? 1 : 0);
        return *this;
    }
    /* TEXT and JSON columns. */
    RowWriter& put(std::uint32_t column, std::string_view value) {
        host_->put_text(sink_, column, value.data(), value.size());
        return *this;
    }
    template <class T>
    RowWriter& put(std::uint32_t column, const std::optional<T>& value) {
        return value ? put(column, *value) : put(column, std::nullopt);
    }

  private:
    const nomnom_host_api* host_;
    nomnom_row_sink* sink_;
};

/* The batch's rows, read back in persist. */
class Rows {
  public:
    Rows(const nomnom_host_api& host, const nomnom_rows* rows) noexcept
        : host_(&host), rows_(rows) {}

    std::uint64_t count(std::uint32_t table) const { return host_->row_count(rows_, table); }

    nomnom_value get(std::uint32_t table, std::uint64_t row, std::uint32_t column) const {
        nomnom_value value{};
        if (host_->get_value(rows_, table, row, column, &value) != 0) {
            throw Fatal("get_value(table " + std::to_string(table) + ", row " +
                        std::to_string(row) + ", column " + std::to_string(column) +
                        ") was refused");
        }
        return value;
    }

  private:
    const nomnom_host_api* host_;
    const nomnom_rows* rows_;
};

/* The host's open transaction, used in persist. */
class Database {
  public:
    Database(const nomnom_host_api& host, nomnom_db* db) noexcept : host_(&host), db_(db) {}

    std::string_view dialect() const { return host_->db_dialect(db_); }

    /* Parameters are $1..$n in both dialects. Throws the status the host returned, with the
     * database's message, so persist can simply let it propagate. */
    void execute(const char* sql, std::span<const nomnom_value> params = {}) {
        std::array<char, 1024> message{};
        nomnom_error error{message.data(), message.size()};
        const int status = host_->db_execute(db_, sql, params.data(),
                                             static_cast<std::uint32_t>(params.size()), &error);
        switch (status) {
            case NOMNOM_OK:
                return;
            case NOMNOM_INVALID:
                throw Invalid(message.data());
            case NOMNOM_RETRY:
                throw Retry(message.data());
            default:
                throw Fatal(message.data());
        }
    }

  private:
    const nomnom_host_api* host_;
    nomnom_db* db_;
};

/* ---- Describing a plugin ------------------------------------------------------------------ */

enum class Nullable : bool { no = false, yes = true };

constexpr nomnom_column column(const char* name, nomnom_type type, Nullable nullable) noexcept {
    return {sizeof(nomnom_column), name, static_cast<std::uint32_t>(type),
            nullable == Nullable::yes ? 1u : 0u};
}

constexpr nomnom_table table(const char* name, std::span<const nomnom_column> columns,
                             std::span<const char* const> conflict_keys) noexcept {
    return {sizeof(nomnom_table), name,
            columns.data(),       static_cast<std::uint32_t>(columns.size()),
            conflict_keys.data(), static_cast<std::uint32_t>(conflict_keys.size())};
}

/* Everything in the descriptor except the callbacks, which NOMNOM_PLUGIN generates. The spans
 * must refer to static storage: the descriptor outlives every call. */
struct PluginInfo {
    const char* name;
    const char* version;
    std::span<const char* const> subjects;
    std::span<const nomnom_table> tables;
    nomnom_threading threading;
    const char* ddl_postgresql = nullptr; /* nullptr: the host derives the DDL */
    const char* ddl_sqlite = nullptr;
    /* Per table, in the order of `tables`, a nomnom_output; empty: every table stored. */
    std::span<const std::uint32_t> table_outputs = {};
    /* The DDL per dialect ({"mysql", sql}, ...), which wins over ddl_postgresql and ddl_sqlite;
     * hosts before ABI 1.1 read only those two, so give them as well. */
    std::span<const nomnom_ddl> ddl = {};
};

template <class P>
concept Plugin = std::constructible_from<P, const nomnom_host_api&, std::string_view> &&
    requires(P& plugin, const nomnom_message& message, RowWriter& out) {
    { P::info } -> std::convertible_to<PluginInfo>;
    { plugin.parse(message, out) } -> std::same_as<nomnom_status>;
};

template <class P>
concept PersistingPlugin = Plugin<P> && requires(P& plugin, Database& db, const Rows& rows) {
    { plugin.persist(db, rows) } -> std::same_as<nomnom_status>;
};

namespace detail {

template <class F>
nomnom_status guarded(nomnom_error* error, F&& call) noexcept {
    try {
        const nomnom_status status = call();
        if (status != NOMNOM_OK) set_error(error, "plugin failed without giving a reason");
        return status;
    } catch (const StatusError& e) {
        set_error(error, e.what());
        return e.status();
    } catch (const std::exception& e) {
        set_error(error, e.what());
    } catch (...) {
        set_error(error, "unknown exception");
    }
    return NOMNOM_FATAL;
}

/* parse and persist receive no host table, so the instance keeps the one create was given. */
template <Plugin P>
struct Instance {
    Instance(const nomnom_host_api* h, std::string_view config_json)
        : host(h), plugin(*h, config_json) {}

    const nomnom_host_api* host;
    P plugin;
};

template <Plugin P>
struct Callbacks {
    static Instance<P>* self(nomnom_instance* instance) noexcept {
        return reinterpret_cast<Instance<P>*>(instance);
    }

    static nomnom_instance* create(const nomnom_host_api* host, const char* config_json,
                                   nomnom_error* error) noexcept {
        try {
            return reinterpret_cast<nomnom_instance*>(
                new Instance<P>(host, config_json != nullptr ? config_json : "{}"));
        } catch (const std::exception& e) {
            set_error(error, e.what());
        } catch (...) {
            set_error(error, "unknown exception");
        }
        return nullptr;
    }

    static void destroy(nomnom_instance* instance) noexcept { delete self(instance); }

    static nomnom_status parse(nomnom_instance* instance, const nomnom_message* message,
                               nomnom_row_sink* sink, nomnom_error* error) noexcept {
        return guarded(error, [&] {
            RowWriter out(*self(instance)->host, sink);
            return self(instance)->plugin.parse(*message, out);
        });
    }

    static nomnom_status persist(nomnom_instance* instance, nomnom_db* db, const nomnom_rows* rows,
                                 nomnom_error* error) noexcept {
        return guarded(error, [&] {
            Database database(*self(instance)->host, db);
            return self(instance)->plugin.persist(database, Rows(*self(instance)->host, rows));
        });
    }
};

template <Plugin P>
constexpr nomnom_persist_fn persist_callback() noexcept {
    if constexpr (PersistingPlugin<P>) {
        return &Callbacks<P>::persist;
    } else {
        return nullptr;
    }
}

template <Plugin P>
constexpr const std::uint32_t* table_outputs() noexcept {
    static_assert(
        P::info.table_outputs.empty() || P::info.table_outputs.size() == P::info.tables.size(),
        "PluginInfo::table_outputs needs one entry per table");
    return P::info.table_outputs.empty() ? nullptr : P::info.table_outputs.data();
}

}  // namespace detail

template <Plugin P>
inline constexpr nomnom_plugin_descriptor descriptor{
    .struct_size = sizeof(nomnom_plugin_descriptor),
    .abi_major = NOMNOM_ABI_MAJOR,
    .abi_minor = NOMNOM_ABI_MINOR,
    .name = P::info.name,
    .version = P::info.version,
    .subjects = P::info.subjects.data(),
    .subject_count = static_cast<std::uint32_t>(P::info.subjects.size()),
    .tables = P::info.tables.data(),
    .table_count = static_cast<std::uint32_t>(P::info.tables.size()),
    .ddl_postgresql = P::info.ddl_postgresql,
    .ddl_sqlite = P::info.ddl_sqlite,
    .threading = static_cast<std::uint32_t>(P::info.threading),
    .create = &detail::Callbacks<P>::create,
    .destroy = &detail::Callbacks<P>::destroy,
    .parse = &detail::Callbacks<P>::parse,
    .persist = detail::persist_callback<P>(),
    .table_outputs = detail::table_outputs<P>(),
    .ddl = P::info.ddl.data(),
    .ddl_count = static_cast<std::uint32_t>(P::info.ddl.size()),
};

}  // namespace nomnom

/* Defines the exported entry symbol for PluginClass; use once per plugin library. */
#define NOMNOM_PLUGIN(PluginClass)                                                    \
    extern "C" NOMNOM_EXPORT const nomnom_plugin_descriptor* nomnom_plugin_v1(void) { \
        return &::nomnom::descriptor<PluginClass>;                                    \
    }

#endif /* NOMNOM_PLUGIN_HPP */
