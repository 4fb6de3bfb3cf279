/* log.c - log line formatting (see log.h). */
#include "log.h"

#include "strbuf.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const LEVELS[] = {"debug", "info", "warn", "error"};
static const char REDACTED[] = "[redacted]";

int cm_log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, LEVELS[i]) == 0)
            return i;
    return -1;
}

const char *cm_log_level_name(int level)
{
    return level >= 0 && level < 4 ? LEVELS[level] : "info";
}

int cm_log_enabled(const cm_logger *lg, int level)
{
    return lg->sink && level >= lg->level;
}

int cm_log_key_is_secret(const char *key)
{
    static const char *const WORDS[] = {"token", "password", "secret", "authorization",
                                        "key-data", "keydata", "key_data"};
    size_t n = strlen(key);
    for (size_t w = 0; w < sizeof WORDS / sizeof WORDS[0]; w++) {
        size_t m = strlen(WORDS[w]);
        for (size_t i = 0; i + m <= n; i++)
            if (strncasecmp(key + i, WORDS[w], m) == 0)
                return 1;
    }
    return 0;
}

void cm_log_format_time(char *buf, size_t size, int64_t wall_ns)
{
    time_t secs = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(wall_ns / 1000000 % 1000));
}

/* Whether a text value must be quoted to stay one token. */
static int needs_quotes(const char *v)
{
    if (!*v)
        return 1;
    for (; *v; v++)
        if (isspace((unsigned char)*v) || *v == '"' || *v == '=' || iscntrl((unsigned char)*v))
            return 1;
    return 0;
}

/* Appends v as a JSON string (quoted, escaped). */
static void put_json_string(cm_buf *l, const char *v)
{
    cJSON *s = cJSON_CreateString(v);
    char *text = s ? cJSON_PrintUnformatted(s) : NULL;
    if (text)
        cm_buf_adds(l, text);
    else
        l->oom = 1;
    free(text);
    cJSON_Delete(s);
}

static const char *field_value(const cm_log_field *f)
{
    return f->secret || cm_log_key_is_secret(f->key) ? REDACTED : f->value;
}

static void format_text(cm_buf *l, const char *ts, int level, const char *msg,
                        const cm_log_field *fields, size_t n)
{
    char head[64];
    char lv[8];
    snprintf(lv, sizeof lv, "%s", cm_log_level_name(level));
    for (char *p = lv; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(head, sizeof head, "%s %-5s ", ts, lv);
    cm_buf_adds(l, head);
    cm_buf_adds(l, msg);
    for (size_t i = 0; i < n; i++) {
        const char *v = field_value(&fields[i]);
        cm_buf_add(l, " ", 1);
        cm_buf_adds(l, fields[i].key);
        cm_buf_add(l, "=", 1);
        if (v != REDACTED && !fields[i].is_json && needs_quotes(v))
            put_json_string(l, v);
        else
            cm_buf_adds(l, v);
    }
}

static void format_json(cm_buf *l, const char *ts, int level, const char *msg,
                        const cm_log_field *fields, size_t n)
{
    cm_buf_adds(l, "{\"time\":\"");
    cm_buf_adds(l, ts);
    cm_buf_adds(l, "\",\"level\":\"");
    cm_buf_adds(l, cm_log_level_name(level));
    cm_buf_adds(l, "\",\"msg\":");
    put_json_string(l, msg);
    for (size_t i = 0; i < n; i++) {
        const char *v = field_value(&fields[i]);
        cm_buf_add(l, ",", 1);
        put_json_string(l, fields[i].key);
        cm_buf_add(l, ":", 1);
        if (fields[i].is_json && v != REDACTED)
            cm_buf_adds(l, v);
        else
            put_json_string(l, v);
    }
    cm_buf_add(l, "}", 1);
}

int cm_log_write(const cm_logger *lg, int level, int64_t wall_ns, const char *msg,
                 const cm_log_field *fields, size_t nfields)
{
    if (!cm_log_enabled(lg, level))
        return 0;
    char ts[40];
    cm_log_format_time(ts, sizeof ts, wall_ns);
    cm_buf l = {0};
    if (lg->json)
        format_json(&l, ts, level, msg, fields, nfields);
    else
        format_text(&l, ts, level, msg, fields, nfields);
    if (!l.oom)
        lg->sink(lg->ud, level, l.p);
    cm_buf_free(&l);
    return l.oom ? -1 : 0;
}
