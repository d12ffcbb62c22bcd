/*
 * nomnom plugin ABI, major version 1.
 *
 * This header is the whole contract between nomnom-host and a plugin. sdk/README.md explains it
 * (installed as <prefix>/share/doc/nomnom/sdk/README.md), but where the two differ this header
 * is right: every rule per callback and per host function is next to its declaration below. It is
 * plain C99 so that a plugin can be written in C, C++ or anything that speaks the C calling
 * convention, and so that a plugin built against one 1.x header keeps loading in every later 1.x
 * host.
 *
 * Versions
 *  - A minor version only adds: fields at the end of a struct that may grow, values to an
 *    enumeration, functions at the end of nomnom_host_api. Removing, reordering or retyping a
 *    field, changing a callback's signature or meaning, or changing a frozen struct bumps the
 *    major, which renames the entry symbol (nomnom_plugin_v1 -> nomnom_plugin_v2).
 *  - Each addition is marked by a trailing comment that holds only "Added in 1.N", N being the
 *    minor that added it, so that searching for "Added in" lists what a plugin must test with
 *    NOMNOM_HOST_HAS. Fields go where the comment "Fields added after 1.0 go here" ends each
 *    struct that may grow; enumeration values go after the last value.
 *  - The structs passed one at a time start with struct_size and may grow:
 *    nomnom_plugin_descriptor, nomnom_message and nomnom_host_api. Their writer sets struct_size
 *    to the sizeof it was compiled with; their reader touches a field only when struct_size
 *    covers it (NOMNOM_HOST_HAS, on the plugin's side). Structs passed in arrays never grow
 *    within the major, since a reader built against an older header would step through the
 *    array with its own sizeof: nomnom_table and nomnom_column (their struct_size must equal
 *    sizeof, which the host checks), nomnom_ddl, nomnom_header and nomnom_value. Nor do the
 *    small value structs nomnom_str and nomnom_error. What a later minor adds to tables or
 *    columns goes into a new array appended to the descriptor.
 *  - A host treats an unknown status as NOMNOM_FATAL, and refuses a descriptor with a column type
 *    or threading model it does not know.
 *  - A host loads a plugin built against a later minor than its own: abi_minor is never a reason
 *    to refuse, because the host cannot tell whether the plugin needs anything that minor added.
 *    The host ignores the descriptor fields past its own layout, so a field appended to the
 *    descriptor must mean "as in 1.0" when 0 or NULL. A plugin that cannot work without
 *    something a later minor added checks for it in create() (NOMNOM_HOST_HAS, or
 *    host->abi_minor) and returns NULL with a reason naming both versions, e.g. "needs plugin
 *    ABI 1.2 (db_query), host implements 1.0"; the host then refuses it with that reason.
 *
 * Threads and lifetimes (each callback and host function below says which thread calls it)
 *  - The host's control thread loads each library and calls its entry point, create and
 *    destroy: at startup, on every reload (SIGHUP, or a change in a watched plugins directory)
 *    and in --check-config. Those calls never overlap one another. Worker threads call parse
 *    and persist; the threading model says which instance each worker uses.
 *  - Each load of a plugin file is a private copy of the library, with its own static data: two
 *    versions that run side by side during a reload share none.
 *  - The plugin owns its descriptor and its instances. Everything else belongs to the host, and
 *    a pointer the host passes into a call is valid during that call only, on that thread,
 *    unless its comment says otherwise. What the plugin passes into a host function is only read
 *    during the call: the host copies what it keeps.
 */
#ifndef NOMNOM_PLUGIN_H
#define NOMNOM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOMNOM_ABI_MAJOR 1
#define NOMNOM_ABI_MINOR 1

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

/* Where the host sends a table's rows. */
typedef enum nomnom_output {
    /* Written to the database, as every table is in 1.0. */
    NOMNOM_OUTPUT_STORE = 1, /* Added in 1.1 */
    /* Published to NATS as one JSON object per row, after the batch commits and before its
     * messages are acknowledged; never stored. The table needs no conflict keys. */
    NOMNOM_OUTPUT_PUBLISH = 2, /* Added in 1.1 */
    /* Both: stored, then published. */
    NOMNOM_OUTPUT_BOTH = 3 /* Added in 1.1 */
} nomnom_output;

typedef enum nomnom_log_level {
    NOMNOM_LOG_DEBUG = 1,
    NOMNOM_LOG_INFO = 2,
    NOMNOM_LOG_WARN = 3,
    NOMNOM_LOG_ERROR = 4
} nomnom_log_level;

/* Two enumerations cross the ABI by value: nomnom_status, returned by parse, persist and
 * db_execute, and nomnom_log_level, passed to log. The ABI needs them int-sized, which they are
 * where the host runs (Linux on x86-64 or AArch64, GCC or Clang: an enum without negative values
 * is an unsigned int there); this stops the build of a plugin whose compiler makes enums smaller
 * (-fshort-enums), which the host would misread. Struct fields hold enum values as uint32_t
 * instead, so that no layout depends on it. */
typedef char nomnom_enums_are_int_sized
    [sizeof(nomnom_status) == sizeof(int) && sizeof(nomnom_log_level) == sizeof(int) ? 1 : -1];

/* ---- Descriptor: what the plugin is, consumes and writes ------------------------------------ */

/* Array element: frozen for the whole of ABI major 1 (see the top of this file). */
typedef struct nomnom_column {
    uint32_t struct_size; /* sizeof(nomnom_column), exactly */
    const char* name;
    uint32_t type;     /* nomnom_type */
    uint32_t nullable; /* 0 or 1 */
} nomnom_column;

/* Array element: frozen for the whole of ABI major 1 (see the top of this file). */
typedef struct nomnom_table {
    uint32_t struct_size; /* sizeof(nomnom_table), exactly */
    const char* name;
    const nomnom_column* columns;
    uint32_t column_count;
    /* Column names of the unicity key: the host upserts on them, which makes redelivery
     * harmless. Required when the host writes the table (no persist callback). */
    const char* const* conflict_keys;
    uint32_t conflict_key_count;
} nomnom_table;

/* The DDL for one dialect, an entry of the descriptor's `ddl`. Array element: frozen for the
 * whole of ABI major 1 (see the top of this file). */
typedef struct nomnom_ddl {
    /* What db_dialect returns on the database the script is for. */
    const char* dialect;
    /* The script run there when auto_migrate is on: several statements allowed. */
    const char* sql;
} nomnom_ddl; /* Added in 1.1 */

/* A string that is not NUL-terminated and may be empty. It lives as long as what holds it: the
 * message, or the rows that get_value read it from. */
typedef struct nomnom_str {
    const char* data;
    size_t len;
} nomnom_str;

typedef struct nomnom_header {
    nomnom_str key;
    nomnom_str value;
} nomnom_header;

/* One message, as handed to parse. It and everything it points to belong to the host and are
 * valid during that parse call only, on its thread: copy what must outlive it. */
typedef struct nomnom_message {
    uint32_t struct_size; /* sizeof(nomnom_message) as the host knows it: see NOMNOM_HOST_HAS */
    nomnom_str payload;   /* the body (for the nomnom envelope format: the decoded "body") */
    nomnom_str subject;
    nomnom_str message_id;  /* envelope message_id, else Nats-Msg-Id, else "<stream>:<seq>" */
    nomnom_str entity_type; /* envelope entity_type, or empty */
    uint64_t stream_sequence;
    uint64_t delivery_count;      /* 1 on the first delivery */
    const nomnom_header* headers; /* one per key: the first value of a repeated key */
    uint32_t header_count;
    /* Fields added after 1.0 go here. */
} nomnom_message;

/* Where a callback (or db_execute) writes a human-readable reason when it returns anything but
 * NOMNOM_OK, or create returns NULL. The buffer belongs to the host and is valid during the call
 * it was passed to; its capacity is always > 0 and its content on entry is undefined: write at
 * most `capacity` bytes including the terminating NUL. */
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

/* Opaque handles. The host owns the sink, rows and db, valid only during the parse or persist
 * call they were passed to, on its thread; the plugin owns its instances. */
typedef struct nomnom_row_sink nomnom_row_sink;
typedef struct nomnom_rows nomnom_rows;
typedef struct nomnom_db nomnom_db;
typedef struct nomnom_instance nomnom_instance;

/* ---- Host API: the function table the host hands to create() -------------------------------- */

/* One return convention for the whole table, which functions appended later follow too:
 *  - A function the host may refuse returns int: 0 when it did what was asked, non-zero when it
 *    refused (wrong index or type, NULL in a NOT NULL column, row not begun...). The row
 *    functions need no check: the host remembers the first refusal of a message and turns the
 *    message INVALID with that reason, so a plugin that ignores them never stores a bad row.
 *  - A function whose failure the plugin must act on returns a nomnom_status, which tells it
 *    what to return itself, with the reason in the nomnom_error it passed. NOMNOM_OK is 0, so
 *    0 means success for every function that can fail.
 *  - The others cannot fail: they return what they read (row_count, db_dialect) or nothing.
 * No host function throws, longjmps or exits into the plugin.
 * create() receives the table, which stays valid until destroy() of that instance returns. */
typedef struct nomnom_host_api {
    uint32_t struct_size; /* test fields added after 1.0 with NOMNOM_HOST_HAS */
    uint32_t abi_major;
    uint32_t abi_minor;

    /* Row writing: only inside parse, on its thread, with the sink parse was given. `table` and
     * `column` are indexes into the descriptor's arrays. A row is begin_row, put_* calls in any
     * order, then end_row; a nullable column left unset is NULL. */
    int (*begin_row)(nomnom_row_sink* sink, uint32_t table);
    int (*put_null)(nomnom_row_sink* sink, uint32_t column);
    int (*put_i64)(nomnom_row_sink* sink, uint32_t column, int64_t value);
    int (*put_f64)(nomnom_row_sink* sink, uint32_t column, double value);
    int (*put_bool)(nomnom_row_sink* sink, uint32_t column, int value);
    /* TEXT or JSON. The bytes are copied during the call; `data` may be NULL when `len` is 0. */
    int (*put_text)(nomnom_row_sink* sink, uint32_t column, const char* data, size_t len);
    int (*end_row)(nomnom_row_sink* sink);

    /* Logging through the host's logger, from any thread (threads of the plugin's own
     * included), as long as this table is valid: create, destroy and everything in between.
     * `plugin` (may be NULL) and `message` are NUL-terminated and copied during the call. */
    void (*log)(nomnom_log_level level, const char* plugin, const char* message);

    /* Reading the batch's rows back: only inside persist, on its thread, with the rows persist
     * was given. row_count is 0 for a table index out of range. get_value fills `out`; the text
     * it points to is host memory, valid until persist returns. */
    uint64_t (*row_count)(const nomnom_rows* rows, uint32_t table);
    int (*get_value)(const nomnom_rows* rows, uint32_t table, uint64_t row, uint32_t column,
                     nomnom_value* out);

    /* SQL inside the host's open transaction: only inside persist, on its thread, with the db
     * persist was given. db_dialect returns a string that is never freed. db_execute runs one
     * statement; parameters are written $1..$n in both dialects, and `sql` and `params` (their
     * texts included) are only read during the call. It returns NOMNOM_OK, or else RETRY for a
     * transient database error, INVALID for a data error, FATAL for a NULL `sql` (or NULL
     * `params` with param_count > 0), with the reason (the database's message) in `error`.
     * The 1.0 header declared db_execute as returning int. The ABI is the same: nomnom_status
     * is int-sized (checked above) and returned like an int (eax on x86-64, w0 on AArch64) with
     * the same values, as parse and persist already return it. A plugin that keeps the result
     * in an int compiles and runs unchanged, in C and C++ (an unscoped enum converts to int). */
    const char* (*db_dialect)(const nomnom_db* db); /* "postgresql", "sqlite" or "mysql" */
    nomnom_status (*db_execute)(nomnom_db* db, const char* sql, const nomnom_value* params,
                                uint32_t param_count, nomnom_error* error);

    /* Fields added after 1.0 go here. Every function inside the host's struct_size is set. */
} nomnom_host_api;

/* True when the struct that `ptr` points to, as the host filled it, holds `field`:
 * offsetof(type, field) + sizeof(field) <= ptr->struct_size, `type` being the struct `ptr`
 * points to. Works on every struct with struct_size that the host hands to the plugin
 * (nomnom_host_api, nomnom_message), and the other way round on the descriptor, which the host
 * reads with it. A host of an older minor hands over a shorter struct, and what lies past its
 * struct_size is not part of it: test a field added after 1.0 before reading or calling it.
 * Written with addresses instead of offsetof so that it needs no type name; `field` is not
 * read, but `ptr` is evaluated several times: pass a plain variable. */
#define NOMNOM_HOST_HAS(ptr, field)                                                      \
    ((size_t)((const char*)&(ptr)->field - (const char*)(ptr)) + sizeof((ptr)->field) <= \
     (size_t)(ptr)->struct_size)

/* ---- Callbacks ------------------------------------------------------------------------------ */

/* The return convention of the callbacks: parse and persist return a nomnom_status (any other
 * value counts as NOMNOM_FATAL), create returns NULL to fail, and each failure's reason goes
 * into the nomnom_error the host passed. A callback must not let an exception or longjmp
 * escape into the host. */

/* Creates an instance. Control thread, before any worker that uses the instance starts; once
 * per instance, plus once more, destroyed at once, to try a new version or new settings on a
 * reload before the running instances stop, and once in --check-config. So it may run while
 * other instances of the plugin are in parse or persist. `host` stays valid until destroy() of
 * this instance returns: keep it for parse and persist. `config_json` is the plugin's
 * [plugins.<name>.config] table of worker.toml as a JSON object ("{}" when absent), valid
 * during the call. Returns the instance, any non-NULL pointer (the host never dereferences
 * it), or NULL with a reason in `error`: the host then refuses the plugin with that reason. */
typedef nomnom_instance* (*nomnom_create_fn)(const nomnom_host_api* host, const char* config_json,
                                             nomnom_error* error);

/* Frees an instance. Control thread, once for each instance create returned, after every worker
 * that used it has stopped: at shutdown, when a reload replaces, restarts or removes the plugin,
 * or when its start fails. An instance of a plugin that went FATAL waits for one of these. */
typedef void (*nomnom_destroy_fn)(nomnom_instance* instance);

/* Turns one message into rows written through the sink. Worker thread: an instance of
 * NOMNOM_THREADING_INSTANCE_PER_THREAD is only ever called from its own worker, one call at a
 * time; a NOMNOM_THREADING_SHARED_INSTANCE one from every worker at once, parse and persist
 * alike. The host may call it again for the same message (when it splits a batch to find the
 * message the database refused, and on every redelivery), so it must give the same rows and
 * status each time and have no side effects. `message` and `sink` are valid during the call,
 * on its thread. On a status other than NOMNOM_OK the host discards the message's rows. */
typedef nomnom_status (*nomnom_parse_fn)(nomnom_instance* instance, const nomnom_message* message,
                                         nomnom_row_sink* sink, nomnom_error* error);

/* Optional: writes the batch's rows with the plugin's own SQL, inside the host's transaction,
 * which the host commits after persist returns NOMNOM_OK and rolls back otherwise. Worker
 * thread, the one that parsed the batch, with the same concurrency as parse. `db` and `rows`
 * are valid during the call, on its thread. */
typedef nomnom_status (*nomnom_persist_fn)(nomnom_instance* instance, nomnom_db* db,
                                           const nomnom_rows* rows, nomnom_error* error);

typedef struct nomnom_plugin_descriptor {
    uint32_t struct_size; /* sizeof(nomnom_plugin_descriptor) */
    uint32_t abi_major;   /* NOMNOM_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;   /* NOMNOM_ABI_MINOR the plugin was built with; may exceed the host's */
    const char* name;     /* [a-z0-9_-]+, unique within a host */
    const char* version;

    const char* const* subjects; /* NATS subjects (wildcards allowed) the plugin consumes */
    uint32_t subject_count;

    const nomnom_table* tables;
    uint32_t table_count;

    /* CREATE TABLE statements per dialect, run when auto_migrate is on. NULL: the host derives
     * the DDL from the table descriptors. An entry of `ddl` (1.1) for the dialect wins. */
    const char* ddl_postgresql;
    const char* ddl_sqlite;

    uint32_t threading; /* nomnom_threading */

    nomnom_create_fn create;
    nomnom_destroy_fn destroy;
    nomnom_parse_fn parse;
    nomnom_persist_fn persist; /* NULL: the host writes the rows (COPY / upsert) */
    /* Per table, in the order of `tables`: a nomnom_output, where the host sends the table's
     * rows by default (worker.toml can override it per table). NULL, or 0 in an entry: stored,
     * as in 1.0. A host older than 1.1 stores every table. */
    const uint32_t* table_outputs; /* Added in 1.1 */
    /* The DDL for any number of dialects, `ddl_count` entries: each dialect is a string that
     * db_dialect returns ("postgresql", "sqlite", "mysql"), [a-z0-9_]+, listed once (the host
     * refuses the plugin otherwise). An entry for the host's dialect wins over ddl_postgresql
     * and ddl_sqlite; a dialect with neither gets DDL derived from the table descriptors. A host
     * older than 1.1 reads only those two fields: fill them too, for it. */
    const nomnom_ddl* ddl; /* Added in 1.1 */
    uint32_t ddl_count;    /* Added in 1.1 */

    /* Fields added after 1.0 go here, each meaning "as in 1.0" when 0 or NULL. */
} nomnom_plugin_descriptor;

/* The one symbol a plugin exports. Control thread, once per load, right after dlopen and
 * before any other call. Returns the descriptor, which must stay valid and unchanged until the
 * library is unloaded, after the last destroy (static storage): the host reads it from every
 * thread. NULL refuses the plugin. */
#define NOMNOM_ENTRY_SYMBOL "nomnom_plugin_v1"
typedef const nomnom_plugin_descriptor* (*nomnom_entry_fn)(void);
NOMNOM_EXPORT const nomnom_plugin_descriptor* nomnom_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* NOMNOM_PLUGIN_H */
