/* json.c - cJSON parsing and building with exact integers (see json.h). */
#include "json.h"

#include "strbuf.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cm_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return 0;
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

void cm_format_double(char *buf, size_t size, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEni")) /* integral: keep it a float when read back */
        strncat(buf, ".0", size - strlen(buf) - 1);
}

/* The literal of the next number in text at or after *pos, skipping strings. */
static const char *next_number(const char *text, size_t len, size_t *pos, size_t *toklen)
{
    size_t i = *pos;
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < len && strchr("+-0123456789.eE", text[i]))
                i++;
            *pos = i;
            *toklen = i - start;
            return text + start;
        } else {
            i++;
        }
    }
    return NULL;
}

/* Whether lit follows JSON's number grammar. */
static int literal_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    return i == n;
}

/* Whether a double reproduces this literal: integers up to 2^53, floats not written 1.0. */
static int literal_fits_double(const char *lit, size_t n, double d)
{
    int64_t v;
    if (cm_parse_int64(lit, n, &v))
        return v >= -(INT64_C(1) << 53) && v <= (INT64_C(1) << 53);
    if (memchr(lit, '.', n) == NULL && memchr(lit, 'e', n) == NULL && memchr(lit, 'E', n) == NULL)
        return 0; /* an integer past int64 */
    return d != floor(d) || !isfinite(d);
}

/* Replaces a Number item by a Raw item holding its literal. */
static int make_raw(cJSON *item, const char *lit, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, lit, n);
    s[n] = '\0';
    item->type = cJSON_Raw;
    item->valuestring = s;
    return 1;
}

/*
 * Walks the tree in document order, pairing each number with its literal
 * (the text was validated first). Returns 1, or 0 when out of memory.
 */
static int fix_numbers(cJSON *item, const char *text, size_t len, size_t *pos)
{
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            size_t n = 0;
            const char *lit = next_number(text, len, pos, &n);
            if (lit && !literal_fits_double(lit, n, item->valuedouble) && !make_raw(item, lit, n))
                return 0;
        } else if (item->child && !fix_numbers(item->child, text, len, pos)) {
            return 0;
        }
    }
    return 1;
}

/* ---- validation: cJSON is lenient ("01", control characters in strings) and its
 * error position is approximate, so text is checked first by this small scanner,
 * which names the exact byte ---- */

struct scan {
    const char *s;
    size_t len, pos;
    const char *why;
    int depth;
};

static int scan_fail(struct scan *sc, const char *why)
{
    sc->why = why;
    return 0;
}

static void scan_ws(struct scan *sc)
{
    while (sc->pos < sc->len && strchr(" \t\r\n", sc->s[sc->pos]) && sc->s[sc->pos])
        sc->pos++;
}

static int scan_value(struct scan *sc);

static int scan_string(struct scan *sc)
{
    for (sc->pos++; sc->pos < sc->len; sc->pos++) {
        unsigned char c = (unsigned char)sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return 1;
        }
        if (c < 0x20)
            return scan_fail(sc, "control character in string");
        if (c != '\\')
            continue;
        if (++sc->pos >= sc->len)
            break;
        c = (unsigned char)sc->s[sc->pos];
        if (c == 'u') {
            for (int i = 0; i < 4; i++)
                if (++sc->pos >= sc->len || !strchr("0123456789abcdefABCDEF", sc->s[sc->pos]) ||
                    !sc->s[sc->pos])
                    return sc->pos >= sc->len ? scan_fail(sc, "unexpected end of input")
                                              : scan_fail(sc, "invalid \\u escape");
        } else if (!strchr("\"\\/bfnrt", c) || !c) {
            return scan_fail(sc, "invalid escape in string");
        }
    }
    return scan_fail(sc, "unexpected end of input");
}

static int scan_number(struct scan *sc)
{
    size_t start = sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] && strchr("+-0123456789.eE", sc->s[sc->pos]))
        sc->pos++;
    if (literal_valid(sc->s + start, sc->pos - start))
        return 1;
    sc->pos = start;
    return scan_fail(sc, "invalid number");
}

static int scan_word(struct scan *sc, const char *word)
{
    size_t n = strlen(word);
    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return scan_fail(sc, "unexpected character");
    sc->pos += n;
    return 1;
}

/* Members of an object or elements of an array, after the opening bracket. */
static int scan_members(struct scan *sc, char close)
{
    int is_obj = close == '}';
    sc->pos++;
    scan_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == close) {
        sc->pos++;
        return 1;
    }
    for (;;) {
        scan_ws(sc);
        if (is_obj) {
            if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
                return scan_fail(sc, sc->pos >= sc->len ? "unexpected end of input"
                                                        : "expected a string key");
            if (!scan_string(sc))
                return 0;
            scan_ws(sc);
            if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
                return scan_fail(sc, sc->pos >= sc->len ? "unexpected end of input" : "expected ':'");
            sc->pos++;
        }
        if (!scan_value(sc))
            return 0;
        scan_ws(sc);
        if (sc->pos >= sc->len)
            return scan_fail(sc, "unexpected end of input");
        if (sc->s[sc->pos] == close) {
            sc->pos++;
            return 1;
        }
        if (sc->s[sc->pos] != ',')
            return scan_fail(sc, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        sc->pos++;
    }
}

static int scan_value(struct scan *sc)
{
    scan_ws(sc);
    if (sc->pos >= sc->len)
        return scan_fail(sc, "unexpected end of input");
    char c = sc->s[sc->pos];
    if (c == '{' || c == '[') {
        if (++sc->depth > CJSON_NESTING_LIMIT)
            return scan_fail(sc, "nested too deeply");
        int ok = scan_members(sc, c == '{' ? '}' : ']');
        sc->depth--;
        return ok;
    }
    if (c == '"')
        return scan_string(sc);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(sc);
    return scan_word(sc, c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : "\x01");
}

/* Checks that text is exactly one JSON value; on failure says where and why. */
static int validate(const char *text, size_t len, cm_json_error *err)
{
    struct scan sc = {.s = text, .len = len};
    if (scan_value(&sc)) {
        scan_ws(&sc);
        if (sc.pos == len)
            return 1;
        scan_fail(&sc, "unexpected data after the value");
    }
    *err = (cm_json_error){sc.pos, sc.why};
    return 0;
}

cJSON *cm_json_parse(const char *text, size_t len, cm_json_error *err)
{
    if (!validate(text, len, err))
        return NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, NULL, 0);
    size_t pos = 0;
    if (root && fix_numbers(root, text, len, &pos))
        return root;
    cJSON_Delete(root); /* valid JSON that cJSON cannot hold: out of memory */
    *err = (cm_json_error){0, "out of memory"};
    return NULL;
}

int cm_json_raw_is_integer(const cJSON *item)
{
    int64_t v;
    return cJSON_IsRaw(item) && cm_parse_int64(item->valuestring, strlen(item->valuestring), &v);
}

/* The first member named name, as cJSON's lookup finds it (it stops at an unnamed member). */
static const cJSON *first_named(const cJSON *obj, const char *name)
{
    if (!name)
        return NULL;
    const cJSON *c = obj->child;
    while (c && c->string && strcmp(name, c->string) != 0)
        c = c->next;
    return c && c->string ? c : NULL;
}

/* cJSON_Compare's number test: equal within the larger magnitude times DBL_EPSILON. */
static int same_double(double a, double b)
{
    double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= max * DBL_EPSILON;
}

/*
 * cJSON_Compare compares objects both ways: every member of a against b's first
 * member of that name, then every member of b against a's. Equality is
 * symmetric, so the second pass only needs to compare a member of b that is not
 * the first of its name in b (the first was compared in the first pass), and to
 * check that a has the name at all.
 */
int cm_json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b || (a->type & 0xFF) != (b->type & 0xFF))
        return 0;
    switch (a->type & 0xFF) {
    case cJSON_False:
    case cJSON_True:
    case cJSON_NULL:
        return 1;
    case cJSON_Number:
        return a == b || same_double(a->valuedouble, b->valuedouble);
    case cJSON_String:
    case cJSON_Raw:
        return a == b || (a->valuestring && b->valuestring && strcmp(a->valuestring, b->valuestring) == 0);
    case cJSON_Array: {
        if (a == b)
            return 1;
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!cm_json_equal(x, y))
                return 0;
        return x == y;
    }
    case cJSON_Object: {
        if (a == b)
            return 1;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = first_named(b, x->string);
            if (!y || !cm_json_equal(x, y))
                return 0;
        }
        for (const cJSON *y = b->child; y; y = y->next) {
            const cJSON *x = first_named(a, y->string);
            if (!x || (first_named(b, y->string) != y && !cm_json_equal(y, x)))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

int cm_json_is_number(const cJSON *item)
{
    if (cJSON_IsNumber(item))
        return 1;
    if (!cJSON_IsRaw(item) || !item->valuestring)
        return 0;
    char *end;
    errno = 0;
    strtod(item->valuestring, &end);
    return *item->valuestring && *end == '\0';
}

int cm_json_int64(const cJSON *item, int64_t *out)
{
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return 0;
        *out = (int64_t)d;
        return 1;
    }
    if (!cJSON_IsRaw(item) || !item->valuestring)
        return 0;
    return cm_parse_int64(item->valuestring, strlen(item->valuestring), out);
}

int cm_json_double(const cJSON *item, double *out)
{
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return 1;
    }
    if (!cm_json_is_number(item))
        return 0;
    *out = strtod(item->valuestring, NULL);
    return 1;
}

cJSON *cm_json_new_int64(int64_t v)
{
    if (v >= -(INT64_C(1) << 53) && v <= (INT64_C(1) << 53))
        return cJSON_CreateNumber((double)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return cJSON_CreateRaw(buf);
}

cJSON *cm_json_new_double(double v)
{
    if (!isfinite(v))
        return NULL;
    if (v != floor(v))
        return cJSON_CreateNumber(v);
    char buf[40];
    cm_format_double(buf, sizeof buf, v);
    return cJSON_CreateRaw(buf);
}

/* Appends the compact text of a leaf (cJSON prints one item without its siblings). */
static void text_leaf(cm_buf *t, const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    if (!s) {
        t->oom = 1;
        return;
    }
    cm_buf_add(t, s, strlen(s));
    free(s);
}

static void text_indent(cm_buf *t, int depth)
{
    cm_buf_add(t, "\n", 1);
    for (int i = 0; i < depth; i++)
        cm_buf_add(t, "  ", 2);
}

static void pretty(cm_buf *t, const cJSON *item, int depth)
{
    int is_obj = cJSON_IsObject(item);
    if ((!is_obj && !cJSON_IsArray(item)) || !item->child) {
        text_leaf(t, item);
        return;
    }
    cm_buf_add(t, is_obj ? "{" : "[", 1);
    for (const cJSON *c = item->child; c; c = c->next) {
        text_indent(t, depth + 1);
        if (is_obj) {
            cJSON key = {.type = cJSON_String, .valuestring = c->string};
            text_leaf(t, &key);
            cm_buf_add(t, ": ", 2);
        }
        pretty(t, c, depth + 1);
        if (c->next)
            cm_buf_add(t, ",", 1);
    }
    text_indent(t, depth);
    cm_buf_add(t, is_obj ? "}" : "]", 1);
}

char *cm_json_print_pretty(const cJSON *item)
{
    cm_buf t = {0};
    pretty(&t, item, 0);
    if (t.oom) {
        cm_buf_free(&t);
        return NULL;
    }
    return t.p;
}
