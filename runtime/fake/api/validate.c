/*
 * validate.c - the API server's checks of an object's metadata: its name (a
 * DNS-1123 subdomain, or label for namespaces, DNS-1035 label for services),
 * label keys and values, annotation keys and their total size, each failure a
 * cause of a 422 with the server's words (apimachinery's validation package).
 */
#include "validate.h"

#include "status.h"
#include "strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    QUALIFIED_NAME_MAX = 63, LABEL_VALUE_MAX = 63, DNS1123_SUBDOMAIN_MAX = 253, DNS_LABEL_MAX = 63,
    ANNOTATIONS_MAX = 256 * 1024
};

static const char QNAME_MSG[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
static const char LABEL_VALUE_MSG[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
static const char SUBDOMAIN_MSG[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
static const char DNS1123_LABEL_MSG[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
static const char DNS1035_LABEL_MSG[] =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/* ---- the patterns ---- */

static int lower_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? over n bytes: a qualified name's name part. */
static int qualified_token(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over n bytes (first: also a letter for DNS-1035). */
static int dns_label(const char *s, size_t n, int letter_first)
{
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return 0;
    if (letter_first && !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* DNS-1123 labels joined by '.', over n bytes. */
static int dns_subdomain(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (!dns_label(s + start, i - start, 0))
            return 0;
        start = i + 1;
    }
    return 1;
}

/* ---- the causes ---- */

/* Appends `Invalid value: "VALUE": MSG` at field (Go's %q of the value: quotes and backslashes escaped). */
static void invalid(cJSON *st, const char *field, const char *value, const char *prefix, const char *msg)
{
    cm_buf b = {0};
    cm_buf_adds(&b, "Invalid value: \"");
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            cm_buf_add(&b, "\\", 1);
        cm_buf_add(&b, p, 1);
    }
    cm_buf_adds(&b, "\": ");
    cm_buf_adds(&b, prefix);
    cm_buf_adds(&b, msg);
    cm_status_invalid_cause(st, "FieldValueInvalid", field, b.oom ? "out of memory" : b.p);
    cm_buf_free(&b);
}

static void too_long_chars(char *buf, size_t size, int max)
{
    snprintf(buf, size, "must be no more than %d characters", max);
}

/* IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
static void qualified_name(cJSON *st, const char *field, const char *shown, const char *key)
{
    char len_msg[64];
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash && strchr(slash + 1, '/')) {
        char msg[600];
        snprintf(msg, sizeof msg, "a qualified name %s with an optional DNS subdomain prefix and '/' (e.g. "
                 "'example.com/MyName')", QNAME_MSG);
        invalid(st, field, shown, "", msg);
        return;
    }
    if (slash) {
        size_t plen = (size_t)(slash - key);
        name = slash + 1;
        if (plen == 0) {
            invalid(st, field, shown, "prefix part ", "must be non-empty");
        } else {
            too_long_chars(len_msg, sizeof len_msg, DNS1123_SUBDOMAIN_MAX);
            if (plen > DNS1123_SUBDOMAIN_MAX)
                invalid(st, field, shown, "prefix part ", len_msg);
            if (!dns_subdomain(key, plen))
                invalid(st, field, shown, "prefix part ", SUBDOMAIN_MSG);
        }
    }
    size_t n = strlen(name);
    too_long_chars(len_msg, sizeof len_msg, QUALIFIED_NAME_MAX);
    if (n == 0)
        invalid(st, field, shown, "name part ", "must be non-empty");
    else if (n > QUALIFIED_NAME_MAX)
        invalid(st, field, shown, "name part ", len_msg);
    if (!qualified_token(name, n))
        invalid(st, field, shown, "name part ", QNAME_MSG);
}

/* ValidateLabels: each key a qualified name, each value empty or a short qualified token. */
static void labels(cJSON *st, const cJSON *labels)
{
    const cJSON *l;
    char len_msg[64];
    too_long_chars(len_msg, sizeof len_msg, LABEL_VALUE_MAX);
    cJSON_ArrayForEach(l, labels) {
        qualified_name(st, "metadata.labels", l->string, l->string);
        const char *v = cJSON_IsString(l) ? l->valuestring : "";
        size_t n = strlen(v);
        if (n > LABEL_VALUE_MAX)
            invalid(st, "metadata.labels", v, "", len_msg);
        if (n && !qualified_token(v, n))
            invalid(st, "metadata.labels", v, "", LABEL_VALUE_MSG);
    }
}

/* ValidateAnnotations: keys qualified names (case does not matter), 256 KiB of keys and values in all. */
static void annotations(cJSON *st, const cJSON *annotations)
{
    const cJSON *a;
    size_t total = 0;
    cJSON_ArrayForEach(a, annotations) {
        char *lower = strdup(a->string);
        for (char *p = lower; p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (lower)
            qualified_name(st, "metadata.annotations", a->string, lower);
        free(lower);
        total += strlen(a->string) + (cJSON_IsString(a) ? strlen(a->valuestring) : 0);
    }
    if (total > ANNOTATIONS_MAX) {
        char msg[80];
        snprintf(msg, sizeof msg, "Too long: may not be more than %d bytes", ANNOTATIONS_MAX);
        cm_status_invalid_cause(st, "FieldValueTooLong", "metadata.annotations", msg);
    }
}

/* The name's rule: namespaces are DNS-1123 labels, services DNS-1035 labels, RBAC names path
 * segments (anything but "." and ".." and '/' or '%'), everything else a DNS-1123 subdomain. */
static void name(cJSON *st, const cm_kind *k, const char *n)
{
    size_t len = strlen(n);
    char len_msg[64];
    int core = !k->group[0];
    if (!strcmp(k->group, "rbac.authorization.k8s.io"))
        return;
    if (core && (!strcmp(k->kind, "Namespace") || !strcmp(k->kind, "Service"))) {
        int svc = !strcmp(k->kind, "Service");
        too_long_chars(len_msg, sizeof len_msg, DNS_LABEL_MAX);
        if (len > DNS_LABEL_MAX)
            invalid(st, "metadata.name", n, "", len_msg);
        if (!svc && !dns_label(n, len, 0) && dns_subdomain(n, len))
            invalid(st, "metadata.name", n, "", "must not contain dots");
        else if (!dns_label(n, len, svc))
            invalid(st, "metadata.name", n, "", svc ? DNS1035_LABEL_MSG : DNS1123_LABEL_MSG);
        return;
    }
    too_long_chars(len_msg, sizeof len_msg, DNS1123_SUBDOMAIN_MAX);
    if (len > DNS1123_SUBDOMAIN_MAX)
        invalid(st, "metadata.name", n, "", len_msg);
    if (!dns_subdomain(n, len))
        invalid(st, "metadata.name", n, "", SUBDOMAIN_MSG);
}

void cm_validate_meta(cJSON *st, const cm_kind *k, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
    if (!n || !*n)
        cm_status_invalid_cause(st, "FieldValueRequired", "metadata.name",
                                "Required value: name or generateName is required");
    else
        name(st, k, n);
    labels(st, cJSON_GetObjectItemCaseSensitive(meta, "labels"));
    annotations(st, cJSON_GetObjectItemCaseSensitive(meta, "annotations"));
}
