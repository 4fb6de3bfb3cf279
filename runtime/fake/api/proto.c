/* proto.c - Kubernetes protobuf request bodies, decoded with the table of proto_schema.c (see proto.h). */
#include "proto.h"

#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_DEPTH = 40, MAX_NAME = CM_PROTO_MAX_NAME };

/* Protobuf bytes still to read. */
struct rd {
    const uint8_t *p, *end;
};

/* A decoding in progress: where its error goes, and how deep it is. */
struct dec {
    char *err;
    size_t errsize;
    int unsupported;
    int depth;
};

int cm_proto_media(const char *ct)
{
    static const char T[] = "application/vnd.kubernetes.protobuf";
    return ct && strncmp(ct, T, sizeof T - 1) == 0 && (!ct[sizeof T - 1] || ct[sizeof T - 1] == ';');
}

/* ---- the table ---- */

int cm_proto_next_field(const char **s, cm_proto_field *f)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    f->flag = (*p == '!' || *p == '^') ? *p++ : 0;
    f->name = p;
    p += strcspn(p, "= ");
    f->nlen = (size_t)(p - f->name);
    if (*p != '=' || f->nlen == 0 || f->nlen >= MAX_NAME)
        return -1;
    char *end;
    f->number = strtoul(p + 1, &end, 10);
    if (end == p + 1 || *end != ':' || f->number == 0)
        return -1;
    p = end + 1;
    f->shape = (*p == '[' || *p == '{') ? *p++ : 0;
    f->type = p;
    p += strcspn(p, " ");
    f->tlen = (size_t)(p - f->type);
    *s = p;
    return f->tlen ? 1 : -1;
}

const cm_proto_msg *cm_proto_message(const char *name, size_t len)
{
    size_t lo = 0, hi = cm_proto_nmsgs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *m = cm_proto_msgs[mid].name;
        int c = strncmp(m, name, len);
        if (c == 0)
            c = m[len] ? 1 : 0;
        if (c == 0)
            return &cm_proto_msgs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The field numbered n of spec into f: 1, or 0 when the message has none. */
static int find_field(const char *spec, unsigned long n, cm_proto_field *f)
{
    while (cm_proto_next_field(&spec, f) > 0)
        if (f->number == n)
            return 1;
    return 0;
}

int cm_proto_check(char *err, size_t errsize)
{
    for (size_t i = 0; i < cm_proto_nmsgs; i++) {
        const char *s = cm_proto_msgs[i].fields;
        cm_proto_field f;
        int r;
        if (i > 0 && strcmp(cm_proto_msgs[i - 1].name, cm_proto_msgs[i].name) >= 0) {
            snprintf(err, errsize, "%s: out of order", cm_proto_msgs[i].name);
            return -1;
        }
        while ((r = cm_proto_next_field(&s, &f)) > 0) {
            if (f.tlen > 1 && !cm_proto_message(f.type, f.tlen)) {
                snprintf(err, errsize, "%s.%.*s: no message %.*s", cm_proto_msgs[i].name, (int)f.nlen,
                         f.name, (int)f.tlen, f.type);
                return -1;
            }
            if (f.tlen == 1 && !strchr("sbitTUQIF", f.type[0])) {
                snprintf(err, errsize, "%s.%.*s: no type %c", cm_proto_msgs[i].name, (int)f.nlen, f.name, f.type[0]);
                return -1;
            }
        }
        if (r < 0) {
            snprintf(err, errsize, "%s: malformed at \"%.20s\"", cm_proto_msgs[i].name, s);
            return -1;
        }
    }
    return 0;
}

/* ---- the wire ---- */

static int rd_varint(struct rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

/* A length-delimited value into out. */
static int rd_bytes(struct rd *r, struct rd *out)
{
    uint64_t n;
    if (!rd_varint(r, &n) || n > (uint64_t)(r->end - r->p))
        return 0;
    out->p = r->p;
    out->end = r->p + n;
    r->p += n;
    return 1;
}

/* Skips a value of wire type w (groups, long deprecated, are not read). */
static int rd_skip(struct rd *r, unsigned w)
{
    uint64_t v;
    struct rd sub;
    size_t n = w == 1 ? 8 : 4;
    switch (w) {
    case 0:
        return rd_varint(r, &v);
    case 2:
        return rd_bytes(r, &sub);
    case 1:
    case 5:
        if ((size_t)(r->end - r->p) < n)
            return 0;
        r->p += n;
        return 1;
    default:
        return 0;
    }
}

static int fail(struct dec *d, const char *what)
{
    if (!d->err[0])
        snprintf(d->err, d->errsize, "%s", what);
    return 0;
}

/* ---- values ---- */

static cJSON *string_of(const struct rd *r)
{
    size_t n = (size_t)(r->end - r->p);
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, r->p, n);
    s[n] = '\0';
    cJSON *item = cJSON_CreateString(s);
    free(s);
    return item;
}

static cJSON *base64_of(const struct rd *r)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (size_t)(r->end - r->p), o = 0;
    char *s = malloc((n + 2) / 3 * 4 + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)r->p[i] << 16 | (i + 1 < n ? (uint32_t)r->p[i + 1] << 8 : 0) |
                     (i + 2 < n ? r->p[i + 2] : 0);
        s[o++] = A[v >> 18 & 63];
        s[o++] = A[v >> 12 & 63];
        s[o++] = i + 1 < n ? A[v >> 6 & 63] : '=';
        s[o++] = i + 2 < n ? A[v & 63] : '=';
    }
    s[o] = '\0';
    cJSON *item = cJSON_CreateString(s);
    free(s);
    return item;
}

/* Reads the fields of a small message of varints and strings: out[n-1] for field n (n <= 4). */
static int small_message(struct rd r, uint64_t num[4], struct rd str[4])
{
    while (r.p < r.end) {
        uint64_t key;
        if (!rd_varint(&r, &key))
            return 0;
        unsigned n = (unsigned)(key >> 3), w = (unsigned)(key & 7);
        if (n >= 1 && n <= 4 && w == 0) {
            if (!rd_varint(&r, &num[n - 1]))
                return 0;
        } else if (n >= 1 && n <= 4 && w == 2) {
            if (!rd_bytes(&r, &str[n - 1]))
                return 0;
        } else if (!rd_skip(&r, w)) {
            return 0;
        }
    }
    return 1;
}

/* metav1.Time and MicroTime {seconds, nanos} as RFC 3339 (the empty message: a zero time, left out). */
static cJSON *time_of(struct rd r, int micro)
{
    uint64_t num[4] = {0};
    struct rd str[4] = {{0}};
    if (r.p == r.end || !small_message(r, num, str))
        return NULL;
    time_t t = (time_t)(int64_t)num[0];
    struct tm tm;
    char buf[64];
    if (!gmtime_r(&t, &tm))
        return NULL;
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (micro)
        snprintf(buf + n, sizeof buf - n, ".%06dZ", (int)((int32_t)num[1] / 1000));
    else
        snprintf(buf + n, sizeof buf - n, "Z");
    return cJSON_CreateString(buf);
}

/* The special messages of proto.h whose JSON is not an object. */
static cJSON *special_of(struct dec *d, char code, struct rd r)
{
    uint64_t num[4] = {0};
    struct rd str[4] = {{0}};
    if (code == 'T' || code == 'U')
        return time_of(r, code == 'U');
    if (!small_message(r, num, str)) {
        fail(d, "proto: illegal wire type or truncated message");
        return NULL;
    }
    if (code == 'Q') /* resource.Quantity {string} */
        return string_of(&str[0]);
    if (code == 'I') /* intstr.IntOrString {type, intVal, strVal} */
        return num[0] == 1 ? string_of(&str[2]) : cm_json_new_int64((int32_t)num[1]);
    cm_json_error jerr; /* metav1.FieldsV1 {Raw}: JSON */
    cJSON *v = cm_json_parse((const char *)str[0].p, (size_t)(str[0].end - str[0].p), &jerr);
    if (!v)
        fail(d, "proto: FieldsV1 does not hold JSON");
    return v;
}

static cJSON *decode_message(struct dec *d, const cm_proto_msg *m, struct rd r);

/*
 * One value of type f->type from the wire (type w) into *out: NULL in *out
 * with 1 returned for a zero value that the field leaves out (zero_ok: kept
 * anyway, as inside lists and maps). 0 after an error.
 */
static int value(struct dec *d, const cm_proto_field *f, unsigned w, struct rd *r, int zero_ok, cJSON **out)
{
    uint64_t v = 0;
    struct rd sub = {0};
    *out = NULL;
    int scalar_varint = f->tlen == 1 && (f->type[0] == 'i' || f->type[0] == 't');
    if (scalar_varint ? (w != 0 || !rd_varint(r, &v)) : (w != 2 || !rd_bytes(r, &sub)))
        return fail(d, "proto: illegal wire type or truncated message");
    int keep = zero_ok || f->flag == '!';
    if (f->tlen > 1) {
        const cm_proto_msg *m = cm_proto_message(f->type, f->tlen);
        *out = m ? decode_message(d, m, sub) : NULL;
        return *out ? 1 : fail(d, "proto: a message the table lacks");
    }
    switch (f->type[0]) {
    case 'i':
        *out = v || keep ? cm_json_new_int64((int64_t)v) : NULL;
        return 1;
    case 't':
        *out = v || keep ? cJSON_CreateBool(v != 0) : NULL;
        return 1;
    case 's':
        *out = sub.p < sub.end || keep ? string_of(&sub) : NULL;
        return 1;
    case 'b':
        *out = sub.p < sub.end || keep ? base64_of(&sub) : NULL;
        return 1;
    default:
        *out = special_of(d, f->type[0], sub);
        return !d->err[0];
    }
}

/* The zero value of a map entry without one: its type decoded from an empty varint or length. */
static cJSON *zero_value(struct dec *d, const cm_proto_field *f)
{
    static const uint8_t ZERO[1] = {0};
    struct rd r = {ZERO, ZERO + 1};
    int varint = f->tlen == 1 && (f->type[0] == 'i' || f->type[0] == 't');
    cJSON *out = NULL;
    value(d, f, varint ? 0 : 2, &r, 1, &out);
    return out;
}

/* A map entry {key = 1, value = 2} added to the object obj. */
static int map_entry(struct dec *d, const cm_proto_field *f, struct rd r, cJSON *obj)
{
    char *key = NULL;
    cJSON *val = NULL;
    while (r.p < r.end && !d->err[0]) {
        uint64_t k;
        struct rd s;
        if (!rd_varint(&r, &k))
            return fail(d, "proto: truncated map entry");
        if (k >> 3 == 1 && (k & 7) == 2 && rd_bytes(&r, &s)) {
            free(key);
            key = strndup((const char *)s.p, (size_t)(s.end - s.p));
        } else if (k >> 3 == 2) {
            cJSON_Delete(val);
            value(d, f, (unsigned)(k & 7), &r, 1, &val);
        } else if (!rd_skip(&r, (unsigned)(k & 7))) {
            fail(d, "proto: truncated map entry");
        }
    }
    if (!d->err[0] && !val)
        val = zero_value(d, f);
    if (!d->err[0] && key && val) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        cJSON_AddItemToObject(obj, key, val);
        val = NULL;
    }
    free(key);
    cJSON_Delete(val);
    return !d->err[0];
}

/* The member of temp that collects field f (an array or object, made on first use). */
static cJSON *collection(cJSON *temp, const char *name, int map)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(temp, name);
    if (!c) {
        c = map ? cJSON_CreateObject() : cJSON_CreateArray();
        cJSON_AddItemToObject(temp, name, c);
    }
    return c;
}

/* A packed repeated varint field (int32, bool). */
static int packed(struct dec *d, const cm_proto_field *f, struct rd *r, cJSON *list)
{
    struct rd sub;
    if (!rd_bytes(r, &sub))
        return fail(d, "proto: truncated packed field");
    while (sub.p < sub.end) {
        uint64_t v;
        if (!rd_varint(&sub, &v))
            return fail(d, "proto: truncated packed field");
        cJSON_AddItemToArray(list, f->type[0] == 't' ? cJSON_CreateBool(v != 0) : cm_json_new_int64((int64_t)v));
    }
    return 1;
}

static int decode_fields(struct dec *d, const cm_proto_msg *m, struct rd r, cJSON *temp);

/* One field of message m from the wire into temp (by JSON name, in wire order). */
static int one_field(struct dec *d, const cm_proto_field *f, unsigned w, struct rd *r, cJSON *temp)
{
    char name[MAX_NAME];
    snprintf(name, sizeof name, "%.*s", (int)f->nlen, f->name);
    if (f->flag == '^') { /* an embedded struct: its fields are the parent's */
        struct rd sub;
        const cm_proto_msg *m = cm_proto_message(f->type, f->tlen);
        if (w != 2 || !rd_bytes(r, &sub) || !m)
            return fail(d, "proto: illegal wire type or truncated message");
        return decode_fields(d, m, sub, temp);
    }
    if (f->shape == '{') {
        struct rd sub;
        if (w != 2 || !rd_bytes(r, &sub))
            return fail(d, "proto: illegal wire type or truncated message");
        return map_entry(d, f, sub, collection(temp, name, 1));
    }
    if (f->shape == '[' && w == 2 && f->tlen == 1 && (f->type[0] == 'i' || f->type[0] == 't'))
        return packed(d, f, r, collection(temp, name, 0));
    cJSON *v;
    if (!value(d, f, w, r, f->shape == '[', &v))
        return 0;
    if (v && f->shape == '[')
        cJSON_AddItemToArray(collection(temp, name, 0), v);
    else if (v) {
        cJSON_DeleteItemFromObjectCaseSensitive(temp, name); /* the last of a repeated one wins */
        cJSON_AddItemToObject(temp, name, v);
    }
    return 1;
}

/* The fields of message m from r into temp, unordered; unknown field numbers are skipped. */
static int decode_fields(struct dec *d, const cm_proto_msg *m, struct rd r, cJSON *temp)
{
    if (++d->depth > MAX_DEPTH) {
        d->depth--;
        return fail(d, "proto: message nested too deeply");
    }
    while (r.p < r.end && !d->err[0]) {
        uint64_t key;
        cm_proto_field f;
        if (!rd_varint(&r, &key))
            fail(d, "proto: truncated field key");
        else if (!find_field(m->fields, (unsigned long)(key >> 3), &f)) {
            if (!rd_skip(&r, (unsigned)(key & 7)))
                fail(d, "proto: truncated unknown field");
        } else
            one_field(d, &f, (unsigned)(key & 7), &r, temp);
    }
    d->depth--;
    return !d->err[0];
}

/* Moves temp's members into out in the order of m's fields (embedded ones in place). */
static void ordered(const cm_proto_msg *m, cJSON *temp, cJSON *out)
{
    const char *s = m->fields;
    cm_proto_field f;
    while (cm_proto_next_field(&s, &f) > 0) {
        char name[MAX_NAME];
        const cm_proto_msg *sub = f.flag == '^' ? cm_proto_message(f.type, f.tlen) : NULL;
        if (sub) {
            ordered(sub, temp, out);
            continue;
        }
        snprintf(name, sizeof name, "%.*s", (int)f.nlen, f.name);
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(temp, name);
        if (!v && f.flag == '!' && (f.shape || f.type[0] == 'T' || f.type[0] == 'U'))
            v = cJSON_CreateNull(); /* a nil list or map, a zero time: Go's JSON prints null */
        if (v)
            cJSON_AddItemToObject(out, name, v);
    }
}

static cJSON *decode_message(struct dec *d, const cm_proto_msg *m, struct rd r)
{
    cJSON *temp = cJSON_CreateObject(), *out = NULL;
    if (decode_fields(d, m, r, temp)) {
        out = cJSON_CreateObject();
        ordered(m, temp, out);
    }
    cJSON_Delete(temp);
    return out;
}

/* ---- the envelope ---- */

/* runtime.Unknown: typeMeta {apiVersion = 1, kind = 2} = 1, raw = 2, contentEncoding = 3. */
static int envelope(struct rd r, struct rd *av, struct rd *kind, struct rd *raw, struct rd *encoding)
{
    uint64_t num[4] = {0}, tnum[4] = {0};
    struct rd str[4] = {{0}}, tstr[4] = {{0}};
    if (!small_message(r, num, str) || !small_message(str[0], tnum, tstr))
        return 0;
    *av = tstr[0];
    *kind = tstr[1];
    *raw = str[1];
    *encoding = str[2];
    return 1;
}

cJSON *cm_proto_decode(const void *body, size_t len, int *unsupported, char *err, size_t errsize)
{
    struct dec d = {err, errsize, 0, 0};
    struct rd r = {body, (const uint8_t *)body + len}, av, kind, raw, enc;
    err[0] = '\0';
    *unsupported = 0;
    if (len < 4 || memcmp(body, "k8s\0", 4) != 0) {
        snprintf(err, errsize, "provided data does not appear to be a protobuf message, expected prefix "
                 "[107 56 115 0]");
        return NULL;
    }
    r.p += 4;
    if (!envelope(r, &av, &kind, &raw, &enc)) {
        snprintf(err, errsize, "proto: illegal wire type or truncated runtime.Unknown");
        return NULL;
    }
    const cm_proto_msg *m = cm_proto_message((const char *)kind.p, (size_t)(kind.end - kind.p));
    if (!m || enc.p != enc.end) {
        *unsupported = 1;
        snprintf(err, errsize, "the fake API server cannot decode %.*s from protobuf; send it as "
                 "application/json", (int)(kind.end - kind.p), (const char *)kind.p);
        return NULL;
    }
    cJSON *obj = decode_message(&d, m, raw);
    if (!obj)
        return NULL;
    cJSON *t = string_of(&kind), *a = string_of(&av);
    cJSON_InsertItemInArray(obj, 0, t);
    cJSON_InsertItemInArray(obj, 0, a);
    t->string = strdup("kind");
    a->string = strdup("apiVersion");
    return obj;
}
