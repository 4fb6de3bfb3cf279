/* select.c - label and field selectors (see select.h). */
#include "select.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_EXISTS, OP_NOT_EXISTS, OP_IN, OP_NOT_IN, OP_GT, OP_LT, OP_EQ, OP_NE };

struct term {
    char *key;
    enum op op;
    char **values;
    size_t nvalues;
};

struct cm_selector {
    struct term *terms;
    size_t n, cap;
};

void cm_selector_free(cm_selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->terms[i].key);
        for (size_t j = 0; j < s->terms[i].nvalues; j++)
            free(s->terms[i].values[j]);
        free(s->terms[i].values);
    }
    free(s->terms);
    free(s);
}

int cm_selector_empty(const cm_selector *s)
{
    return s->n == 0;
}

static void errf(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* Appends a term with no values; returns it or NULL. */
static struct term *add_term(cm_selector *s, const char *key, size_t keylen, enum op op)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        struct term *t = realloc(s->terms, cap * sizeof *t);
        if (!t)
            return NULL;
        s->terms = t;
        s->cap = cap;
    }
    struct term *t = &s->terms[s->n];
    *t = (struct term){.key = strndup(key, keylen), .op = op};
    if (!t->key)
        return NULL;
    s->n++;
    return t;
}

static int add_value(struct term *t, const char *v, size_t len)
{
    for (size_t i = 0; i < t->nvalues; i++) /* a set: duplicates collapse */
        if (strlen(t->values[i]) == len && strncmp(t->values[i], v, len) == 0)
            return 0;
    char **vs = realloc(t->values, (t->nvalues + 1) * sizeof *vs);
    if (!vs)
        return -1;
    t->values = vs;
    if (!(vs[t->nvalues] = strndup(v, len)))
        return -1;
    t->nvalues++;
    return 0;
}

/* ---- label selector lexer, after labels.Lexer ---- */

enum tok { T_ERROR, T_END, T_CLOSE, T_COMMA, T_NOT, T_EQEQ, T_EQ, T_GT, T_ID, T_IN, T_LT, T_NE,
           T_NOTIN, T_OPEN };

struct item {
    enum tok tok;
    char lit[256];
};

static int is_special(char c)
{
    return c && strchr("=!(),><", c) != NULL;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static enum tok word_token(const char *s)
{
    static const struct { const char *s; enum tok t; } W[] = {
        {")", T_CLOSE}, {",", T_COMMA}, {"!", T_NOT}, {"==", T_EQEQ}, {"=", T_EQ}, {">", T_GT},
        {"in", T_IN}, {"<", T_LT}, {"!=", T_NE}, {"notin", T_NOTIN}, {"(", T_OPEN}};
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++)
        if (strcmp(W[i].s, s) == 0)
            return W[i].t;
    return T_ID;
}

/* Scans the longest operator at *p (labels.Lexer.scanSpecialSymbol). */
static void lex_special(const char **p, struct item *it)
{
    char buf[256];
    size_t n = 0;
    enum tok last = T_ERROR;
    size_t lastn = 0;
    while (is_special(**p) && n + 1 < sizeof buf) {
        buf[n++] = *(*p)++;
        buf[n] = '\0';
        enum tok t = word_token(buf);
        if (t != T_ID) {
            last = t;
            lastn = n;
        } else if (last != T_ERROR) {
            (*p)--;
            n--;
            break;
        }
    }
    buf[n] = '\0';
    if (last == T_ERROR) {
        it->tok = T_ERROR;
        snprintf(it->lit, sizeof it->lit, "error expected: keyword found '%.200s'", buf);
        return;
    }
    it->tok = last;
    snprintf(it->lit, sizeof it->lit, "%.*s", (int)lastn, buf);
}

static void lex(const char **p, struct item *it)
{
    while (is_ws(**p))
        (*p)++;
    if (!**p) {
        it->tok = T_END;
        it->lit[0] = '\0';
    } else if (is_special(**p)) {
        lex_special(p, it);
    } else {
        size_t n = 0;
        while (**p && !is_special(**p) && !is_ws(**p)) {
            if (n + 1 < sizeof it->lit)
                it->lit[n++] = **p;
            (*p)++;
        }
        it->lit[n] = '\0';
        it->tok = word_token(it->lit);
    }
}

struct parser {
    struct item *items;
    size_t n, pos;
    char *err;
    size_t errsize;
};

/* The token at the cursor; in a value context "in"/"notin" are identifiers. */
static enum tok look(const struct parser *p, int values, const char **lit)
{
    const struct item *it = &p->items[p->pos];
    *lit = it->lit;
    if (values && (it->tok == T_IN || it->tok == T_NOTIN))
        return T_ID;
    return it->tok;
}

static enum tok take(struct parser *p, int values, const char **lit)
{
    enum tok t = look(p, values, lit);
    if (p->pos + 1 < p->n)
        p->pos++;
    return t;
}

/* Whether c may appear inside a label name part. */
static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* IsQualifiedName, for the name part only (the common mistakes). */
static int valid_key(const char *k, char *err, size_t size)
{
    const char *name = strrchr(k, '/');
    name = name ? name + 1 : k;
    size_t n = strlen(name);
    int ok = n > 0 && n <= 63 && isalnum((unsigned char)name[0]) &&
             isalnum((unsigned char)name[n - 1]);
    for (size_t i = 0; ok && i < n; i++)
        ok = name_char(name[i]);
    if (ok)
        return 1;
    if (n == 0)
        errf(err, size, "<nil>: Invalid value: \"%s\": name part must be non-empty", k);
    else if (n > 63)
        errf(err, size, "<nil>: Invalid value: \"%s\": name part must be no more than 63 characters", k);
    else
        errf(err, size,
             "<nil>: Invalid value: \"%s\": name part must consist of alphanumeric characters, "
             "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
             "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')", k);
    return 0;
}

/* "(a,b,)" after in/notin (labels.Parser.parseValues). */
static int parse_values(struct parser *p, struct term *t)
{
    const char *lit;
    if (take(p, 1, &lit) != T_OPEN)
        return errf(p->err, p->errsize, "found '%s' expected: '('", lit), -1;
    enum tok tk = look(p, 1, &lit);
    if (tk == T_CLOSE) {
        take(p, 1, &lit);
        return add_value(t, "", 0);
    }
    if (tk != T_ID && tk != T_COMMA)
        return errf(p->err, p->errsize, "found '%s', expected: ',', ')' or identifier", lit), -1;
    const char *first = lit;
    for (;;) {
        tk = take(p, 1, &lit);
        if (tk == T_ID) {
            add_value(t, lit, strlen(lit));
            const char *l2;
            enum tok t2 = look(p, 1, &l2);
            if (t2 == T_CLOSE)
                break;
            if (t2 != T_COMMA)
                return errf(p->err, p->errsize, "found '%s', expected: ',' or ')'", l2), -1;
        } else if (tk == T_COMMA) {
            const char *l2;
            enum tok t2 = look(p, 1, &l2);
            if (t->nvalues == 0 || t2 == T_CLOSE || t2 == T_COMMA)
                add_value(t, "", 0);
            if (t2 == T_CLOSE)
                break;
        } else {
            return errf(p->err, p->errsize, "found '%s', expected: ',', or identifier", lit), -1;
        }
    }
    if (take(p, 1, &lit) != T_CLOSE)
        return errf(p->err, p->errsize, "found '%s', expected: ')'", first), -1;
    return 0;
}

/* One requirement (labels.Parser.parseRequirement). */
static int parse_requirement(cm_selector *s, struct parser *p)
{
    const char *lit;
    enum tok tk = take(p, 1, &lit);
    int not = tk == T_NOT;
    if (not)
        tk = take(p, 1, &lit);
    if (tk != T_ID)
        return errf(p->err, p->errsize, "found '%s', expected: identifier", lit), -1;
    if (!valid_key(lit, p->err, p->errsize))
        return -1;
    const char *key = lit, *l2;
    enum tok next = look(p, 1, &l2);
    if (not || next == T_END || next == T_COMMA)
        return add_term(s, key, strlen(key), not ? OP_NOT_EXISTS : OP_EXISTS) ? 0 : -1;
    tk = take(p, 0, &lit);
    enum op op;
    switch (tk) {
    case T_IN: op = OP_IN; break;
    case T_NOTIN: op = OP_NOT_IN; break;
    case T_EQ: case T_EQEQ: op = OP_IN; break;
    case T_NE: op = OP_NOT_IN; break;
    case T_GT: op = OP_GT; break;
    case T_LT: op = OP_LT; break;
    default:
        return errf(p->err, p->errsize, "found '%s', expected: in, notin, =, ==, !=, gt, lt", lit), -1;
    }
    struct term *t = add_term(s, key, strlen(key), op);
    if (!t)
        return -1;
    if (tk == T_IN || tk == T_NOTIN)
        return parse_values(p, t);
    next = look(p, 1, &lit);
    if (next == T_END || next == T_COMMA)
        return add_value(t, "", 0);
    if (take(p, 1, &lit) != T_ID)
        return errf(p->err, p->errsize, "found '%s', expected: identifier", lit), -1;
    if (op == OP_GT || op == OP_LT) {
        char *end;
        strtoll(lit, &end, 10);
        if (!*lit || *end)
            return errf(p->err, p->errsize, "<nil>: Invalid value: \"%s\": for 'Gt', 'Lt' operators, "
                        "the value must be an integer", lit), -1;
    }
    return add_value(t, lit, strlen(lit));
}

/* The requirement list (labels.Parser.parse). */
static int parse_labels(cm_selector *s, struct parser *p)
{
    for (;;) {
        const char *lit;
        enum tok tk = look(p, 1, &lit);
        if (tk == T_END)
            return 0;
        if (tk != T_ID && tk != T_NOT)
            return errf(p->err, p->errsize,
                        "found '%s', expected: !, identifier, or 'end of string'", lit), -1;
        char inner[512];
        char *outer = p->err;
        size_t outersize = p->errsize;
        p->err = inner;
        p->errsize = sizeof inner;
        int rc = parse_requirement(s, p);
        p->err = outer;
        p->errsize = outersize;
        if (rc != 0)
            return errf(p->err, p->errsize, "unable to parse requirement: %s", inner), -1;
        tk = take(p, 1, &lit);
        if (tk == T_END)
            return 0;
        if (tk != T_COMMA)
            return errf(p->err, p->errsize, "found '%s', expected: ',' or 'end of string'", lit), -1;
        tk = look(p, 1, &lit);
        if (tk != T_ID && tk != T_NOT)
            return errf(p->err, p->errsize, "found '%s', expected: identifier after ','", lit), -1;
    }
}

cm_selector *cm_label_selector_parse(const char *text, char *err, size_t errsize)
{
    cm_selector *s = calloc(1, sizeof *s);
    struct parser p = {.err = err, .errsize = errsize};
    const char *cur = text ? text : "";
    size_t cap = 0;
    int rc = s ? 0 : -1;
    while (rc == 0) { /* scan every token first, as labels.Parser.scan does */
        if (p.n == cap) {
            cap = cap ? 2 * cap : 16;
            struct item *items = realloc(p.items, cap * sizeof *items);
            if (!items) {
                rc = -1;
                break;
            }
            p.items = items;
        }
        lex(&cur, &p.items[p.n]);
        if (p.items[p.n++].tok == T_END)
            break;
    }
    if (rc == 0 && p.n > 0) {
        /* an error token reads as its message, like the Go lexer's literal */
        rc = parse_labels(s, &p);
    } else if (rc != 0) {
        errf(err, errsize, "out of memory");
    }
    free(p.items);
    if (rc != 0) {
        cm_selector_free(s);
        return NULL;
    }
    return s;
}

/* One matchExpressions entry. */
static int add_expression(cm_selector *s, const cJSON *e, char *err, size_t errsize)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(e, "operator");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
    if (!cJSON_IsString(key) || !cJSON_IsString(op))
        return errf(err, errsize, "matchExpressions: key and operator are required"), -1;
    static const struct { const char *name; enum op op; } OPS[] = {
        {"In", OP_IN}, {"NotIn", OP_NOT_IN}, {"Exists", OP_EXISTS}, {"DoesNotExist", OP_NOT_EXISTS}};
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (strcmp(op->valuestring, OPS[i].name) != 0)
            continue;
        struct term *t = add_term(s, key->valuestring, strlen(key->valuestring), OPS[i].op);
        if (!t)
            return -1;
        const cJSON *v;
        cJSON_ArrayForEach(v, values)
            if (cJSON_IsString(v) && add_value(t, v->valuestring, strlen(v->valuestring)) != 0)
                return -1;
        return 0;
    }
    return errf(err, errsize, "%s is not a valid label selector operator", op->valuestring), -1;
}

cm_selector *cm_label_selector_from_json(const cJSON *json, char *err, size_t errsize)
{
    if (!cJSON_IsObject(json))
        return NULL;
    cm_selector *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(json, "matchLabels")) {
        struct term *t = add_term(s, item->string, strlen(item->string), OP_IN);
        if (!t || !cJSON_IsString(item) ||
            add_value(t, item->valuestring, strlen(item->valuestring)) != 0)
            goto fail;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(json, "matchExpressions"))
        if (add_expression(s, item, err, errsize) != 0)
            goto fail;
    return s;
fail:
    cm_selector_free(s);
    return NULL;
}

static int has_value(const struct term *t, const char *v)
{
    for (size_t i = 0; i < t->nvalues; i++)
        if (strcmp(t->values[i], v) == 0)
            return 1;
    return 0;
}

/* Whether one label requirement holds (labels.Requirement.Matches). */
static int term_matches(const struct term *t, const cJSON *labels)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, t->key);
    const char *val = cJSON_IsString(v) ? v->valuestring : NULL;
    switch (t->op) {
    case OP_EXISTS: return val != NULL;
    case OP_NOT_EXISTS: return val == NULL;
    case OP_IN: case OP_EQ: return val && has_value(t, val);
    case OP_NOT_IN: case OP_NE: return !val || !has_value(t, val);
    case OP_GT: case OP_LT: {
        char *end;
        long long have = val ? strtoll(val, &end, 10) : 0;
        if (!val || !*val || *end)
            return 0;
        long long want = strtoll(t->values[0], NULL, 10);
        return t->op == OP_GT ? have > want : have < want;
    }
    }
    return 0;
}

int cm_selector_match_labels(const cm_selector *s, const cJSON *labels)
{
    for (size_t i = 0; i < s->n; i++)
        if (!term_matches(&s->terms[i], labels))
            return 0;
    return 1;
}

/* ---- field selectors ---- */

static const char *const POD_FIELDS[] = {
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
    "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
    "status.podIP", "status.podIPs", "status.nominatedNodeName", NULL};
static const char *const NODE_FIELDS[] = {"metadata.name", "spec.unschedulable", NULL};
static const char *const META_FIELDS[] = {"metadata.name", "metadata.namespace", NULL};
static const char *const EVENT_FIELDS[] = {
    "metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
    "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
    "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent",
    "source", "type", NULL};

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* Whether the kind supports field; else writes the server's message. */
static int field_supported(const cm_kind *k, const char *field, char *err, size_t errsize)
{
    int core = k->group[0] == '\0';
    if (core && strcmp(k->kind, "Pod") == 0) {
        if (in_list(POD_FIELDS, field))
            return 1;
        return errf(err, errsize, "field label not supported: %s", field), 0;
    }
    if (core && strcmp(k->kind, "Node") == 0) {
        if (in_list(NODE_FIELDS, field))
            return 1;
        return errf(err, errsize, "field label not supported: %s", field), 0;
    }
    if (core && strcmp(k->kind, "Event") == 0) {
        if (in_list(EVENT_FIELDS, field))
            return 1;
        return errf(err, errsize, "field label not supported: %s", field), 0;
    }
    if (in_list(META_FIELDS, field))
        return 1;
    return errf(err, errsize,
                "\"%s\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                field), 0;
}

/* Splits at unescaped commas into terms; unescapes "\," "\=" "\\" in values. */
static int unescape(const char *v, size_t n, char *out, char *err, size_t errsize)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\') {
            if (i + 1 >= n || !strchr("\\,=", v[i + 1]))
                return errf(err, errsize, "invalid field selector: invalid escape sequence: %.*s",
                            (int)(i + 2 <= n ? 2 : 1), v + i), -1;
            out[o++] = v[++i];
        } else if (v[i] == ',' || v[i] == '=') {
            return errf(err, errsize, "invalid field selector: unescaped %c in value", v[i]), -1;
        } else {
            out[o++] = v[i];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Parses one "lhs op rhs" term (fields.splitTerm: the first operator wins). */
static int field_term(cm_selector *s, const char *text, const char *part, size_t n,
                      const cm_kind *k, char *err, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        size_t oplen = strncmp(part + i, "!=", 2) == 0 || strncmp(part + i, "==", 2) == 0 ? 2
                       : part[i] == '=' ? 1 : 0;
        if (!oplen || i + oplen > n)
            continue;
        enum op op = part[i] == '!' ? OP_NE : OP_EQ;
        char field[256], value[1024];
        snprintf(field, sizeof field, "%.*s", (int)i, part);
        size_t vlen = n - i - oplen;
        if (vlen >= sizeof value)
            return errf(err, errsize, "field selector value too long"), -1;
        if (unescape(part + i + oplen, vlen, value, err, errsize) != 0)
            return -1;
        if (!field_supported(k, field, err, errsize))
            return -1;
        struct term *t = add_term(s, field, strlen(field), op);
        return t && add_value(t, value, strlen(value)) == 0 ? 0 : -1;
    }
    return errf(err, errsize, "invalid selector: '%s'; can't understand '%.*s'", text, (int)n, part), -1;
}

cm_selector *cm_field_selector_parse(const char *text, const cm_kind *k, char *err, size_t errsize)
{
    cm_selector *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    const char *p = text ? text : "";
    while (*p) {
        const char *start = p;
        while (*p && *p != ',') {
            if (*p == '\\' && p[1])
                p++;
            p++;
        }
        if (p > start && field_term(s, text, start, (size_t)(p - start), k, err, errsize) != 0) {
            cm_selector_free(s);
            return NULL;
        }
        if (*p == ',')
            p++;
    }
    return s;
}

void cm_field_value(const cJSON *obj, const char *field, char *buf, size_t size)
{
    const cJSON *cur = obj;
    char path[256];
    snprintf(path, sizeof path, "%s", field);
    for (char *save = NULL, *seg = strtok_r(path, ".", &save); seg && cur;
         seg = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
    if (strcmp(field, "source") == 0) /* events: the reporting component */
        cur = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "source"), "component");
    if (strcmp(field, "status.podIPs") == 0) { /* the list as "ip,ip" */
        buf[0] = '\0';
        const cJSON *ip;
        cJSON_ArrayForEach(ip, cur) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ip, "ip");
            if (cJSON_IsString(v))
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "",
                         v->valuestring);
        }
    } else if (cJSON_IsString(cur)) {
        snprintf(buf, size, "%s", cur->valuestring);
    } else if (cJSON_IsBool(cur) || (!cur && (strcmp(field, "spec.hostNetwork") == 0 ||
                                              strcmp(field, "spec.unschedulable") == 0))) {
        snprintf(buf, size, "%s", cJSON_IsTrue(cur) ? "true" : "false");
    } else {
        buf[0] = '\0';
    }
}

int cm_selector_match_fields(const cm_selector *s, const cJSON *obj)
{
    char have[1024];
    for (size_t i = 0; i < s->n; i++) {
        const struct term *t = &s->terms[i];
        cm_field_value(obj, t->key, have, sizeof have);
        int eq = strcmp(have, t->values[0]) == 0;
        if (t->op == OP_EQ ? !eq : eq)
            return 0;
    }
    return 1;
}

const char *cm_selector_exact(const cm_selector *s, const char *field)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->terms[i].op == OP_EQ && strcmp(s->terms[i].key, field) == 0)
            return s->terms[i].values[0];
    return NULL;
}
