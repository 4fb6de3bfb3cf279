/*
 * log.h - formatting log lines (text or JSON) for a sink.
 *
 * Text:  2026-11-29T05:33:20.123Z INFO  draining node node=worker-1 pods=12
 * JSON:  {"time":"2026-11-29T05:33:20.123Z","level":"info","msg":"draining node","node":"worker-1","pods":12}
 *
 * Values are redacted ("[redacted]") when the caller marks them secret or when
 * the field's name says it holds a credential (token, password, secret,
 * authorization, key-data, in any case).
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include "cnimigrate.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cm_logger {
    int level;      /* lowest level written */
    int json;       /* 1: JSON lines; 0: text */
    cm_log_sink sink;
    void *ud;
} cm_logger;

typedef struct cm_log_field {
    const char *key;
    const char *value; /* text, or JSON when is_json */
    int is_json;       /* value is a JSON number, boolean, null, array or object */
    int secret;        /* never written */
} cm_log_field;

/* Level names: "debug", "info", "warn", "error". Returns -1 for another name. */
int cm_log_level_from_name(const char *name);
const char *cm_log_level_name(int level);

/* Whether a line at this level would be written. */
int cm_log_enabled(const cm_logger *lg, int level);

/* Whether a field of this name is redacted whatever its value. */
int cm_log_key_is_secret(const char *key);

/*
 * Formats one line with the given wall time (ns since the Unix epoch) and
 * passes it to the sink. Returns 0, or -1 when out of memory.
 */
int cm_log_write(const cm_logger *lg, int level, int64_t wall_ns, const char *msg,
                 const cm_log_field *fields, size_t nfields);

/* Formats wall_ns as RFC 3339 UTC with milliseconds into buf (>= 32 bytes). */
void cm_log_format_time(char *buf, size_t size, int64_t wall_ns);

#endif
