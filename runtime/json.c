/* json.c - cJSON parsing and building with exact integers (see json.h). */
#include "json.h"

#include <errno.h>
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

/* Whether lit follows JSON's number grammar, which cJSON does not enforce ("01", "1."). */
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
 * Walks the tree in document order, pairing each number with its literal.
 * Returns 1, 0 when out of memory, or -1 with *pos at a malformed literal.
 */
static int fix_numbers(cJSON *item, const char *text, size_t len, size_t *pos)
{
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            size_t n = 0;
            const char *lit = next_number(text, len, pos, &n);
            if (!lit)
                return 1; /* cannot happen: cJSON read a number here */
            if (!literal_valid(lit, n)) {
                *pos = (size_t)(lit - text);
                return -1;
            }
            if (!literal_fits_double(lit, n, item->valuedouble) && !make_raw(item, lit, n))
                return 0;
        } else if (item->child) {
            int rc = fix_numbers(item->child, text, len, pos);
            if (rc != 1)
                return rc;
        }
    }
    return 1;
}

cJSON *cm_json_parse(const char *text, size_t len, size_t *errpos)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        *errpos = end && end >= text ? (size_t)(end - text) : 0;
        if (*errpos > len)
            *errpos = len;
        return NULL;
    }
    for (; (size_t)(end - text) < len; end++) {
        if (!strchr(" \t\r\n", *end)) { /* trailing garbage */
            *errpos = (size_t)(end - text);
            cJSON_Delete(root);
            return NULL;
        }
    }
    size_t pos = 0;
    int rc = fix_numbers(root, text, len, &pos);
    if (rc != 1) {
        cJSON_Delete(root);
        *errpos = rc < 0 ? pos : 0;
        return NULL;
    }
    return root;
}

int cm_json_raw_is_integer(const cJSON *item)
{
    int64_t v;
    return cJSON_IsRaw(item) && cm_parse_int64(item->valuestring, strlen(item->valuestring), &v);
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
