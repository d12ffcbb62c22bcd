/*
 * sensor_csv: CSV sensor readings into table `readings`.
 *
 * Written in plain C99 against nomnom/plugin.h alone, with no host library to link: it is the
 * proof that the plugin ABI really is C.
 */
#include <nomnom/plugin.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TABLE_READINGS = 0 };
enum { COL_DEVICE_ID = 0, COL_TS = 1, COL_TEMPERATURE = 2, COL_HUMIDITY = 3 };

static const char* const subjects[] = {"sensors.readings.>"};

/* Indexed by the COL_ values, so that the indexes given to put_* cannot drift from the array. */
static const nomnom_column reading_columns[] = {
    [COL_DEVICE_ID] = {.struct_size = sizeof(nomnom_column),
                       .name = "device_id",
                       .type = NOMNOM_TYPE_TEXT,
                       .nullable = 0},
    [COL_TS] = {.struct_size = sizeof(nomnom_column),
                .name = "ts",
                .type = NOMNOM_TYPE_I64,
                .nullable = 0},
    [COL_TEMPERATURE] = {.struct_size = sizeof(nomnom_column),
                         .name = "temperature",
                         .type = NOMNOM_TYPE_F64,
                         .nullable = 0},
    [COL_HUMIDITY] = {.struct_size = sizeof(nomnom_column),
                      .name = "humidity",
                      .type = NOMNOM_TYPE_F64,
                      .nullable = 1},
};

static const char* const reading_keys[] = {"device_id", "ts"};

static const nomnom_table tables[] = {
    [TABLE_READINGS] = {.struct_size = sizeof(nomnom_table),
                        .name = "readings",
                        .columns = reading_columns,
                        .column_count = sizeof reading_columns / sizeof reading_columns[0],
                        .conflict_keys = reading_keys,
                        .conflict_key_count = sizeof reading_keys / sizeof reading_keys[0]},
};

static const char header_line[] = "device_id,timestamp,temperature,humidity";

/* Longest numeric field accepted; fields are copied out because the payload is not
 * NUL-terminated and strtoll/strtod need a terminator. */
#define NUMBER_MAX 63
/* Longest piece of a bad field quoted back in a reason. */
#define QUOTE_MAX 40

typedef struct instance {
    const nomnom_host_api* host;
} instance;

typedef struct field {
    const char* data;
    size_t len;
} field;

static void set_error(nomnom_error* error, const char* format, ...) {
    va_list args;
    if (error == NULL || error->message == NULL || error->capacity == 0) return;
    va_start(args, format);
    vsnprintf(error->message, error->capacity, format, args);
    va_end(args);
}

static int quote_len(field f) {
    return (int)(f.len < QUOTE_MAX ? f.len : QUOTE_MAX);
}

/* Copies a field into `out` for strto*; fails on an empty field, one that is too long, or one
 * with leading white space (which strto* would skip but trailing white space would reject). */
static int copy_number(field f, char out[NUMBER_MAX + 1]) {
    if (f.len == 0 || f.len > NUMBER_MAX || isspace((unsigned char)f.data[0])) return 0;
    memcpy(out, f.data, f.len);
    out[f.len] = '\0';
    return 1;
}

/* Each parse_* returns NULL, or what is wrong with the field to finish the reason with. */
static const char* parse_i64(field f, int64_t* out) {
    char text[NUMBER_MAX + 1];
    char* end;
    long long value;
    if (!copy_number(f, text)) return "is not an integer";
    errno = 0;
    value = strtoll(text, &end, 10);
    if (*end != '\0') return "is not an integer";
    if (errno == ERANGE) return "does not fit in 64 bits";
    *out = (int64_t)value;
    return NULL;
}

static const char* parse_f64(field f, double* out) {
    char text[NUMBER_MAX + 1];
    char* end;
    if (!copy_number(f, text)) return "is not a number";
    *out = strtod(text, &end);
    if (*end != '\0') return "is not a number";
    if (!isfinite(*out)) return "is not a finite number";
    return NULL;
}

static int is_blank(field line) {
    size_t i;
    for (i = 0; i < line.len; ++i) {
        if (line.data[i] != ' ' && line.data[i] != '\t') return 0;
    }
    return 1;
}

static int equals(field f, const char* text) {
    return f.len == strlen(text) && memcmp(f.data, text, f.len) == 0;
}

/* Validates one data line and writes its row; returns 0 with a reason on a malformed line. */
static int write_line(const instance* self, nomnom_row_sink* sink, field line,
                      unsigned long line_no, nomnom_error* error) {
    field fields[4];
    size_t count = 0;
    size_t start = 0;
    size_t i;
    const char* problem;
    int64_t ts;
    double temperature;
    double humidity = 0.0;

    for (i = 0; i <= line.len; ++i) {
        if (i == line.len || line.data[i] == ',') {
            if (count < 4) {
                fields[count].data = line.data + start;
                fields[count].len = i - start;
            }
            ++count;
            start = i + 1;
        }
    }
    if (count != 4) {
        set_error(error, "line %lu: expected 4 fields (%s), found %lu", line_no, header_line,
                  (unsigned long)count);
        return 0;
    }
    if (fields[0].len == 0) {
        set_error(error, "line %lu: device_id is empty", line_no);
        return 0;
    }
    if ((problem = parse_i64(fields[1], &ts)) != NULL) {
        set_error(error, "line %lu: timestamp '%.*s' %s", line_no, quote_len(fields[1]),
                  fields[1].data, problem);
        return 0;
    }
    if ((problem = parse_f64(fields[2], &temperature)) != NULL) {
        set_error(error, "line %lu: temperature '%.*s' %s", line_no, quote_len(fields[2]),
                  fields[2].data, problem);
        return 0;
    }
    if (fields[3].len > 0) {
        problem = parse_f64(fields[3], &humidity);
        if (problem == NULL && (humidity < 0.0 || humidity > 100.0)) {
            problem = "is not between 0 and 100";
        }
        if (problem != NULL) {
            set_error(error, "line %lu: humidity '%.*s' %s", line_no, quote_len(fields[3]),
                      fields[3].data, problem);
            return 0;
        }
    }

    /* The host remembers a refused call and fails the message itself, so the returns are not
     * checked here. */
    self->host->begin_row(sink, TABLE_READINGS);
    self->host->put_text(sink, COL_DEVICE_ID, fields[0].data, fields[0].len);
    self->host->put_i64(sink, COL_TS, ts);
    self->host->put_f64(sink, COL_TEMPERATURE, temperature);
    if (fields[3].len > 0) {
        self->host->put_f64(sink, COL_HUMIDITY, humidity);
    } else {
        self->host->put_null(sink, COL_HUMIDITY);
    }
    self->host->end_row(sink);
    return 1;
}

static nomnom_instance* sensor_create(const nomnom_host_api* host, const char* config_json,
                                      nomnom_error* error) {
    instance* self = malloc(sizeof *self);
    (void)config_json;
    if (self == NULL) {
        set_error(error, "out of memory");
        return NULL;
    }
    self->host = host;
    return (nomnom_instance*)self;
}

static void sensor_destroy(nomnom_instance* self) {
    free(self);
}

static nomnom_status sensor_parse(nomnom_instance* handle, const nomnom_message* message,
                                  nomnom_row_sink* sink, nomnom_error* error) {
    const instance* self = (const instance*)handle;
    const char* p = message->payload.data;
    const char* stop = p + message->payload.len;
    unsigned long line_no = 0;
    unsigned long rows = 0;
    int first = 1;

    while (p < stop) {
        const char* newline = memchr(p, '\n', (size_t)(stop - p));
        field line;
        line.data = p;
        line.len = (size_t)((newline != NULL ? newline : stop) - p);
        p = newline != NULL ? newline + 1 : stop;
        ++line_no;

        if (line.len > 0 && line.data[line.len - 1] == '\r') --line.len;
        if (is_blank(line)) continue;
        /* Only the first non-blank line may be the header: one further down is more likely two
         * payloads glued together, which deserves a reason rather than silence. */
        if (first && equals(line, header_line)) {
            first = 0;
            continue;
        }
        first = 0;
        if (!write_line(self, sink, line, line_no, error)) return NOMNOM_INVALID;
        ++rows;
    }

    if (rows == 0) {
        set_error(error, "payload has no data lines (expected %s)", header_line);
        return NOMNOM_INVALID;
    }
    return NOMNOM_OK;
}

static const nomnom_plugin_descriptor descriptor = {
    .struct_size = sizeof(nomnom_plugin_descriptor),
    .abi_major = NOMNOM_ABI_MAJOR,
    .abi_minor = NOMNOM_ABI_MINOR,
    .name = "sensor_csv",
    .version = "1.0.0",
    .subjects = subjects,
    .subject_count = sizeof subjects / sizeof subjects[0],
    .tables = tables,
    .table_count = sizeof tables / sizeof tables[0],
    .ddl_postgresql = NULL, /* the host derives the DDL from `tables` */
    .ddl_sqlite = NULL,
    .threading = NOMNOM_THREADING_SHARED_INSTANCE,
    .create = sensor_create,
    .destroy = sensor_destroy,
    .parse = sensor_parse,
    .persist = NULL, /* the host writes the rows (COPY / upsert) */
};

NOMNOM_EXPORT const nomnom_plugin_descriptor* nomnom_plugin_v1(void) {
    return &descriptor;
}
