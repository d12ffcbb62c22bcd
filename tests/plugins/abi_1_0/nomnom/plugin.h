/*
 * nomnom plugin ABI, major version 1.
 *
 * This header is the whole contract between nomnom-host and a plugin. It is plain C99 so that a
 * plugin can be written in C, C++ or anything that speaks the C calling convention, and so that
 * a plugin built against one 1.x host keeps loading in every later 1.x host.
 *
 * Compatibility rules (see sdk/README.md for the full text):
 *  - Every struct that may grow starts with `struct_size`. Minor versions may only append fields
 *    at the end; readers check struct_size before touching a field that came later. The small
 *    value structs without it (nomnom_str, nomnom_header, nomnom_error, nomnom_value) are frozen
 *    for the whole major version.
 *  - Enumerations only gain values in a minor version; a host treats an unknown status as FATAL.
 *  - Removing or reordering a field, or changing a callback's signature, bumps the major, which
 *    changes the entry symbol's name (nomnom_plugin_v1 -> nomnom_plugin_v2).
 */
#ifndef NOMNOM_PLUGIN_H
#define NOMNOM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOMNOM_ABI_MAJOR 1
#define NOMNOM_ABI_MINOR 0

#if defined(_WIN32)
#define NOMNOM_EXPORT __declspec(dllexport)
#else
#define NOMNOM_EXPORT __attribute__((visibility("default")))
#endif

/* What a callback tells the host to do with the message (or batch) it was given. */
typedef enum nomnom_status {
    NOMNOM_OK = 0,
    /* Permanent: this message will never succeed. The host dead-letters it with the reason. */
    NOMNOM_INVALID = 1,
    /* Transient: redeliver later with back-off. */
    NOMNOM_RETRY = 2,
    /* The plugin instance is unusable: the host stops this plugin's consumer, others keep going. */
    NOMNOM_FATAL = 3
} nomnom_status;

/* Column types the host knows how to store. TEXT is UTF-8; JSON is JSON text (jsonb on
 * PostgreSQL, TEXT on SQLite). */
typedef enum nomnom_type {
    NOMNOM_TYPE_I64 = 1,
    NOMNOM_TYPE_F64 = 2,
    NOMNOM_TYPE_BOOL = 3,
    NOMNOM_TYPE_TEXT = 4,
    NOMNOM_TYPE_JSON = 5
} nomnom_type;

typedef enum nomnom_threading {
    /* The host creates one instance per worker thread; an instance is never shared. */
    NOMNOM_THREADING_INSTANCE_PER_THREAD = 1,
    /* One instance serves every worker thread concurrently. */
    NOMNOM_THREADING_SHARED_INSTANCE = 2
} nomnom_threading;

typedef enum nomnom_log_level {
    NOMNOM_LOG_DEBUG = 1,
    NOMNOM_LOG_INFO = 2,
    NOMNOM_LOG_WARN = 3,
    NOMNOM_LOG_ERROR = 4
} nomnom_log_level;

/* ---- Descriptor: what the plugin is, consumes and writes ------------------------------------ */

typedef struct nomnom_column {
    uint32_t struct_size; /* sizeof(nomnom_column) */
    const char* name;
    uint32_t type;     /* nomnom_type */
    uint32_t nullable; /* 0 or 1 */
} nomnom_column;

typedef struct nomnom_table {
    uint32_t struct_size; /* sizeof(nomnom_table) */
    const char* name;
    const nomnom_column* columns;
    uint32_t column_count;
    /* Column names of the unicity key: the host upserts on them, which makes redelivery
     * harmless. Required when the host writes the table (no persist callback). */
    const char* const* conflict_keys;
    uint32_t conflict_key_count;
} nomnom_table;

/* A string that is not NUL-terminated; valid for the duration of the call it was passed to. */
typedef struct nomnom_str {
    const char* data;
    size_t len;
} nomnom_str;

typedef struct nomnom_header {
    nomnom_str key;
    nomnom_str value;
} nomnom_header;

/* One message, as handed to parse. Every pointer is owned by the host and valid only during the
 * parse call. */
typedef struct nomnom_message {
    uint32_t struct_size; /* sizeof(nomnom_message) as the host knows it */
    nomnom_str payload;   /* the body (for the nomnom envelope format: the decoded "body") */
    nomnom_str subject;
    nomnom_str message_id;  /* envelope message_id, else Nats-Msg-Id, else "<stream>:<seq>" */
    nomnom_str entity_type; /* envelope entity_type, or empty */
    uint64_t stream_sequence;
    uint64_t delivery_count; /* 1 on the first delivery */
    const nomnom_header* headers;
    uint32_t header_count;
} nomnom_message;

/* Where a callback writes a human-readable reason when it returns anything but NOMNOM_OK. The
 * buffer belongs to the host, its capacity is always > 0 and its content on entry is undefined;
 * write at most `capacity` bytes including the terminating NUL. */
typedef struct nomnom_error {
    char* message;
    size_t capacity;
} nomnom_error;

/* A typed value, used to read rows back in persist and to bind SQL parameters. Passed in arrays,
 * so its layout is frozen for the whole of ABI major 1. */
typedef struct nomnom_value {
    uint32_t type;    /* nomnom_type */
    uint32_t is_null; /* 0 or 1 */
    int64_t i64;      /* I64, and BOOL as 0/1 */
    double f64;
    nomnom_str text; /* TEXT and JSON */
} nomnom_value;

/* Opaque handles, owned by the host. */
typedef struct nomnom_row_sink nomnom_row_sink;
typedef struct nomnom_rows nomnom_rows;
typedef struct nomnom_db nomnom_db;
typedef struct nomnom_instance nomnom_instance;

/* ---- Host API: the function table the host hands to create() -------------------------------- */

/* Functions that return int return 0 on success and non-zero when the call was refused (wrong
 * column index or type, NULL in a NOT NULL column, row not begun...). The host remembers the
 * first refusal of a message and turns the message INVALID with that reason, so a plugin may
 * ignore the return values and still never store a bad row. */
typedef struct nomnom_host_api {
    uint32_t struct_size; /* check before using fields added after 1.0 */
    uint32_t abi_major;
    uint32_t abi_minor;

    /* Row writing, used from parse. `table` and `column` are indexes into the descriptor. */
    int (*begin_row)(nomnom_row_sink* sink, uint32_t table);
    int (*put_null)(nomnom_row_sink* sink, uint32_t column);
    int (*put_i64)(nomnom_row_sink* sink, uint32_t column, int64_t value);
    int (*put_f64)(nomnom_row_sink* sink, uint32_t column, double value);
    int (*put_bool)(nomnom_row_sink* sink, uint32_t column, int value);
    /* TEXT or JSON; the bytes are copied. */
    int (*put_text)(nomnom_row_sink* sink, uint32_t column, const char* data, size_t len);
    int (*end_row)(nomnom_row_sink* sink);

    /* Logging through the host's logger; `message` is copied. */
    void (*log)(nomnom_log_level level, const char* plugin, const char* message);

    /* Reading the batch's rows back, used from persist. */
    uint64_t (*row_count)(const nomnom_rows* rows, uint32_t table);
    int (*get_value)(const nomnom_rows* rows, uint32_t table, uint64_t row, uint32_t column,
                     nomnom_value* out);

    /* SQL inside the host's open transaction, used from persist. Parameters are written $1..$n in
     * both dialects. Returns a nomnom_status: RETRY for transient database errors, INVALID for
     * data errors, with the database's message in `error`. */
    const char* (*db_dialect)(const nomnom_db* db); /* "postgresql" or "sqlite" */
    int (*db_execute)(nomnom_db* db, const char* sql, const nomnom_value* params,
                      uint32_t param_count, nomnom_error* error);
} nomnom_host_api;

/* ---- Callbacks ------------------------------------------------------------------------------ */

/* Creates an instance. `host` stays valid until destroy() returns: keep it for parse/persist.
 * `config_json` is the plugin's [plugins.<name>.config] table of worker.toml as a JSON object
 * ("{}" when absent), valid during the call. Returns NULL on failure with a reason in `error`. */
typedef nomnom_instance* (*nomnom_create_fn)(const nomnom_host_api* host, const char* config_json,
                                             nomnom_error* error);
typedef void (*nomnom_destroy_fn)(nomnom_instance* instance);

/* Turns one message into rows written through the sink. On a status other than NOMNOM_OK the
 * host discards every row written for this message. */
typedef nomnom_status (*nomnom_parse_fn)(nomnom_instance* instance, const nomnom_message* message,
                                         nomnom_row_sink* sink, nomnom_error* error);

/* Optional: writes the batch's rows with the plugin's own SQL, inside the host's transaction,
 * which the host commits after persist returns NOMNOM_OK. */
typedef nomnom_status (*nomnom_persist_fn)(nomnom_instance* instance, nomnom_db* db,
                                           const nomnom_rows* rows, nomnom_error* error);

typedef struct nomnom_plugin_descriptor {
    uint32_t struct_size; /* sizeof(nomnom_plugin_descriptor) */
    uint32_t abi_major;   /* NOMNOM_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;   /* NOMNOM_ABI_MINOR the plugin was built with */
    const char* name;     /* [a-z0-9_-]+, unique within a host */
    const char* version;

    const char* const* subjects; /* NATS subjects (wildcards allowed) the plugin consumes */
    uint32_t subject_count;

    const nomnom_table* tables;
    uint32_t table_count;

    /* CREATE TABLE statements per dialect, run when auto_migrate is on. NULL: the host derives
     * the DDL from the table descriptors. */
    const char* ddl_postgresql;
    const char* ddl_sqlite;

    uint32_t threading; /* nomnom_threading */

    nomnom_create_fn create;
    nomnom_destroy_fn destroy;
    nomnom_parse_fn parse;
    nomnom_persist_fn persist; /* NULL: the host writes the rows (COPY / upsert) */
} nomnom_plugin_descriptor;

/* The one symbol a plugin exports. The descriptor must stay valid until the library is
 * unloaded. */
#define NOMNOM_ENTRY_SYMBOL "nomnom_plugin_v1"
typedef const nomnom_plugin_descriptor* (*nomnom_entry_fn)(void);
NOMNOM_EXPORT const nomnom_plugin_descriptor* nomnom_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* NOMNOM_PLUGIN_H */
