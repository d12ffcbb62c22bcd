/*
 * A plugin compiled against the frozen copy of the ABI 1.0 header (abi_1_0/nomnom/plugin.h),
 * never against the current one: that it loads and writes its rows in the current host is the
 * proof that plugins built in the 1.0 days keep working. It calls every 1.0 host function.
 * Built twice:
 *   test_abi_1_0          the host writes the rows (upsert) into abi10
 *   test_abi_1_0_persist  TEST_ABI_1_0_PERSIST: persist writes them into abi10p with db_execute,
 *                         and its note column says which dialect db_dialect named
 * Each row: k = the payload, seq = the stream sequence, half = seq / 2, odd = seq is odd,
 * doc = {"subject_length":<length of the subject>}, note = NULL (or the dialect).
 */
#include <nomnom/plugin.h>

#ifdef NOMNOM_HOST_HAS
#error "built against the current nomnom/plugin.h instead of the frozen 1.0 copy"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TEST_ABI_1_0_PERSIST
#define PLUGIN_NAME "test_abi_1_0_persist"
#define SUBJECT "test.abi10p.>"
#define TABLE "abi10p"
#else
#define PLUGIN_NAME "test_abi_1_0"
#define SUBJECT "test.abi10.>"
#define TABLE "abi10"
#endif

enum { COL_K = 0, COL_SEQ = 1, COL_HALF = 2, COL_ODD = 3, COL_DOC = 4, COL_NOTE = 5 };

static const char* const subjects[] = {SUBJECT};
static const nomnom_column columns[] = {
    {sizeof(nomnom_column), "k", NOMNOM_TYPE_TEXT, 0},
    {sizeof(nomnom_column), "seq", NOMNOM_TYPE_I64, 0},
    {sizeof(nomnom_column), "half", NOMNOM_TYPE_F64, 0},
    {sizeof(nomnom_column), "odd", NOMNOM_TYPE_BOOL, 0},
    {sizeof(nomnom_column), "doc", NOMNOM_TYPE_JSON, 0},
    {sizeof(nomnom_column), "note", NOMNOM_TYPE_TEXT, 1},
};
static const char* const keys[] = {"k"};
static const nomnom_table tables[] = {
    {sizeof(nomnom_table), TABLE, columns, sizeof columns / sizeof columns[0], keys, 1},
};

typedef struct instance {
    const nomnom_host_api* host;
} instance;

static nomnom_instance* abi10_create(const nomnom_host_api* host, const char* config_json,
                                     nomnom_error* error) {
    instance* self;
    (void)config_json;
    /* What a careful 1.0 plugin checks: a later host's table is never shorter than 1.0's. */
    if (host->abi_major != NOMNOM_ABI_MAJOR || host->struct_size < sizeof(nomnom_host_api)) {
        snprintf(error->message, error->capacity, "host ABI %u.%u, table of %u bytes",
                 (unsigned)host->abi_major, (unsigned)host->abi_minor, (unsigned)host->struct_size);
        return NULL;
    }
    self = malloc(sizeof *self);
    if (self == NULL) {
        snprintf(error->message, error->capacity, "out of memory");
        return NULL;
    }
    self->host = host;
    host->log(NOMNOM_LOG_INFO, PLUGIN_NAME, "built against the frozen ABI 1.0 header");
    return (nomnom_instance*)self;
}

static void abi10_destroy(nomnom_instance* self) {
    free(self);
}

static nomnom_status abi10_parse(nomnom_instance* handle, const nomnom_message* message,
                                 nomnom_row_sink* sink, nomnom_error* error) {
    const nomnom_host_api* host = ((const instance*)handle)->host;
    char doc[64];
    const int doc_len =
        snprintf(doc, sizeof doc, "{\"subject_length\":%lu}", (unsigned long)message->subject.len);
    (void)error;
    host->begin_row(sink, 0);
    host->put_text(sink, COL_K, message->payload.data, message->payload.len);
    host->put_i64(sink, COL_SEQ, (int64_t)message->stream_sequence);
    host->put_f64(sink, COL_HALF, (double)message->stream_sequence / 2.0);
    host->put_bool(sink, COL_ODD, (int)(message->stream_sequence % 2));
    host->put_text(sink, COL_DOC, doc, (size_t)doc_len);
    host->put_null(sink, COL_NOTE);
    host->end_row(sink);
    return NOMNOM_OK;
}

#ifdef TEST_ABI_1_0_PERSIST
static nomnom_status abi10_persist(nomnom_instance* handle, nomnom_db* db, const nomnom_rows* rows,
                                   nomnom_error* error) {
    const nomnom_host_api* host = ((const instance*)handle)->host;
    const char* sql =
        "INSERT INTO abi10p (k, seq, half, odd, doc, note) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (k) DO UPDATE SET seq = excluded.seq, half = excluded.half, "
        "odd = excluded.odd, doc = excluded.doc, note = excluded.note";
    const char* dialect = host->db_dialect(db);
    uint64_t row;
    for (row = 0; row < host->row_count(rows, 0); ++row) {
        nomnom_value params[6];
        uint32_t c;
        int status; /* db_execute returns int in the 1.0 header */
        for (c = 0; c < COL_NOTE; ++c) host->get_value(rows, 0, row, c, &params[c]);
        params[COL_NOTE] =
            (nomnom_value){.type = NOMNOM_TYPE_TEXT, .text = {dialect, strlen(dialect)}};
        status = host->db_execute(db, sql, params, 6, error);
        if (status != NOMNOM_OK) return (nomnom_status)status;
    }
    return NOMNOM_OK;
}
#define PERSIST abi10_persist
#else
#define PERSIST NULL
#endif

/* Positional, as the 1.0 plugins were written. */
static const nomnom_plugin_descriptor descriptor = {
    sizeof(nomnom_plugin_descriptor),
    NOMNOM_ABI_MAJOR,
    NOMNOM_ABI_MINOR,
    PLUGIN_NAME,
    "1.0.0",
    subjects,
    1,
    tables,
    1,
    NULL,
    NULL,
    NOMNOM_THREADING_INSTANCE_PER_THREAD,
    abi10_create,
    abi10_destroy,
    abi10_parse,
    PERSIST,
};

NOMNOM_EXPORT const nomnom_plugin_descriptor* nomnom_plugin_v1(void) {
    return &descriptor;
}
