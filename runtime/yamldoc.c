/* yamldoc.c - YAML streams to cJSON documents and back (see yamldoc.h). */
#include "yamldoc.h"

#include "json.h"
#include "strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 512
#define MAX_ALIAS_NODES 1000000 /* bounds "billion laughs" expansion */

struct anchor {
    char *name;
    const cJSON *node;
};

struct parser {
    yaml_parser_t p;
    yaml_event_t ev;
    int have_ev;
    cm_yaml_error *err;
    const cm_yaml_opts *opts;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    size_t alias_nodes;
    int depth;
    cJSON *kept; /* merge sources, kept until the document ends: anchors may point into them */
};

/* Records an error at a mark; returns NULL so callers can `return fail(...)`. */
static cJSON *fail(struct parser *ps, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->message, sizeof ps->err->message, fmt, ap);
    va_end(ap);
    ps->err->line = m ? (int)m->line + 1 : 0;
    ps->err->column = m ? (int)m->column + 1 : 0;
    return NULL;
}

/* Reads the next event into ps->ev; 0 on a parse error (recorded). */
static int next(struct parser *ps)
{
    if (ps->have_ev)
        yaml_event_delete(&ps->ev);
    ps->have_ev = yaml_parser_parse(&ps->p, &ps->ev);
    if (ps->have_ev)
        return 1;
    const char *problem = ps->p.problem ? ps->p.problem : "invalid YAML";
    if (ps->p.context)
        fail(ps, &ps->p.problem_mark, "%s %s", problem, ps->p.context);
    else
        fail(ps, &ps->p.problem_mark, "%s", problem);
    return 0;
}

/* ---- scalar resolution ---- */

static int is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *const NULLS[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const TRUES[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
                                    "on", "On", "ON", NULL};
static const char *const FALSES[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE",
                                     "off", "Off", "OFF", NULL};

/* Copies s without '_' into buf (size >= strlen(s)+1). */
static void strip_underscores(const char *s, char *buf)
{
    for (; *s; s++)
        if (*s != '_')
            *buf++ = *s;
    *buf = '\0';
}

/* An integer as Go's strconv.ParseInt(s, 0, 64) reads it. */
static int parse_go_int(const char *s, int64_t *out)
{
    int neg = 0;
    const char *p = s;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && p[1])
        base = 8, p += 1;
    if (!*p)
        return 0;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0'
              : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
              : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : 99;
        if (d >= base || v > (limit - (uint64_t)d) / (uint64_t)base)
            return 0;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* go-yaml's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_yaml_float(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.') {
        if (!(p[1] >= '0' && p[1] <= '9'))
            return 0;
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    } else {
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++) {
            }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* The special floats .inf/.nan in go-yaml's spellings; 1 if s is one. */
static int special_float(const char *s, double *out)
{
    static const char *const INF[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const NINF[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const NAN_[] = {".nan", ".NaN", ".NAN", NULL};
    if (is_one_of(s, INF))
        *out = INFINITY;
    else if (is_one_of(s, NINF))
        *out = -INFINITY;
    else if (is_one_of(s, NAN_))
        *out = NAN;
    else
        return 0;
    return 1;
}

enum kind { K_ANY, K_STR, K_NULL, K_BOOL, K_INT, K_FLOAT };

/* Creates the number item for s, or NULL if s is not a number of that kind. */
static cJSON *resolve_number(const char *s, enum kind want)
{
    char buf[strlen(s) + 1];
    strip_underscores(s, buf);
    int64_t i;
    double d;
    if (parse_go_int(buf, &i))
        return want == K_FLOAT ? cm_json_new_double((double)i) : cm_json_new_int64(i);
    if (special_float(s, &d))
        return cJSON_CreateNumber(d);
    if (want != K_INT && is_yaml_float(buf))
        return cm_json_new_double(strtod(buf, NULL));
    return NULL;
}

/* Types a plain scalar (or one with an explicit core tag). */
static cJSON *resolve(struct parser *ps, const char *s, enum kind want)
{
    /* most scalars are names and text: only these first characters can start another type */
    if (want == K_STR || (want == K_ANY && *s && !strchr("~nNtTfFyYoO0123456789+-.", *s)))
        return cJSON_CreateString(s);
    if ((want == K_ANY || want == K_NULL) && is_one_of(s, NULLS))
        return cJSON_CreateNull();
    if ((want == K_ANY || want == K_BOOL) && is_one_of(s, TRUES))
        return cJSON_CreateTrue();
    if ((want == K_ANY || want == K_BOOL) && is_one_of(s, FALSES))
        return cJSON_CreateFalse();
    if (want == K_ANY || want == K_INT || want == K_FLOAT) {
        cJSON *n = *s ? resolve_number(s, want) : NULL;
        if (n || want == K_ANY)
            return n ? n : cJSON_CreateString(s);
    }
    return fail(ps, &ps->ev.start_mark, "cannot read \"%s\" as the type its tag names", s);
}

/* What an explicit tag asks for. */
static enum kind tag_kind(const char *tag)
{
    static const struct { const char *tag; enum kind k; } TAGS[] = {
        {"tag:yaml.org,2002:str", K_STR},     {"tag:yaml.org,2002:binary", K_STR},
        {"tag:yaml.org,2002:null", K_NULL},   {"tag:yaml.org,2002:bool", K_BOOL},
        {"tag:yaml.org,2002:int", K_INT},     {"tag:yaml.org,2002:float", K_FLOAT},
        {"tag:yaml.org,2002:timestamp", K_STR}, {"!", K_STR},
    };
    for (size_t i = 0; tag && i < sizeof TAGS / sizeof TAGS[0]; i++)
        if (strcmp(tag, TAGS[i].tag) == 0)
            return TAGS[i].k;
    return K_ANY;
}

/* ---- anchors ---- */

static int remember(struct parser *ps, const yaml_char_t *name, const cJSON *node)
{
    if (!name)
        return 1;
    if (ps->nanchors == ps->capanchors) {
        size_t cap = ps->capanchors ? 2 * ps->capanchors : 8;
        struct anchor *a = realloc(ps->anchors, cap * sizeof *a);
        if (!a)
            return 0;
        ps->anchors = a;
        ps->capanchors = cap;
    }
    char *copy = strdup((const char *)name);
    if (!copy)
        return 0;
    ps->anchors[ps->nanchors++] = (struct anchor){copy, node};
    return 1;
}

static void forget_anchors(struct parser *ps)
{
    for (size_t i = 0; i < ps->nanchors; i++)
        free(ps->anchors[i].name);
    ps->nanchors = 0;
    cJSON_Delete(ps->kept);
    ps->kept = NULL;
}

static size_t count_nodes(const cJSON *n)
{
    size_t c = 1;
    for (const cJSON *k = n->child; k; k = k->next)
        c += count_nodes(k);
    return c;
}

/* An alias: a copy of the latest node with that anchor. */
static cJSON *alias(struct parser *ps)
{
    const char *name = (const char *)ps->ev.data.alias.anchor;
    for (size_t i = ps->nanchors; i-- > 0;) {
        if (strcmp(ps->anchors[i].name, name) != 0)
            continue;
        ps->alias_nodes += count_nodes(ps->anchors[i].node);
        if (ps->alias_nodes > MAX_ALIAS_NODES)
            return fail(ps, &ps->ev.start_mark, "aliases expand to more than %d nodes",
                        MAX_ALIAS_NODES);
        cJSON *copy = cJSON_Duplicate(ps->anchors[i].node, 1);
        return copy ? copy : fail(ps, NULL, "out of memory");
    }
    return fail(ps, &ps->ev.start_mark, "unknown anchor '%s' referenced", name);
}

/* ---- nodes ---- */

static cJSON *node(struct parser *ps);

static cJSON *scalar(struct parser *ps)
{
    const yaml_event_t *ev = &ps->ev;
    const char *text = (const char *)ev->data.scalar.value;
    enum kind want = tag_kind((const char *)ev->data.scalar.tag);
    if (want == K_ANY && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        want = K_STR; /* quoted or block: a string */
    cJSON *v = resolve(ps, text, want);
    if (v && !remember(ps, ev->data.scalar.anchor, v)) {
        cJSON_Delete(v);
        return fail(ps, NULL, "out of memory");
    }
    return v;
}

static cJSON *sequence(struct parser *ps)
{
    cJSON *seq = cJSON_CreateArray();
    if (!seq || !remember(ps, ps->ev.data.sequence_start.anchor, seq)) {
        cJSON_Delete(seq);
        return fail(ps, NULL, "out of memory");
    }
    for (;;) {
        if (!next(ps))
            break;
        if (ps->ev.type == YAML_SEQUENCE_END_EVENT)
            return seq;
        cJSON *item = node(ps);
        if (!item)
            break;
        cJSON_AddItemToArray(seq, item);
    }
    cJSON_Delete(seq);
    return NULL;
}

/* Adds the keys of a merge source (a mapping) that map lacks. */
static int merge_from(struct parser *ps, cJSON *map, const cJSON *src, const yaml_mark_t *m)
{
    if (!cJSON_IsObject(src)) {
        fail(ps, m, "map merge requires map or sequence of maps as the value");
        return 0;
    }
    for (const cJSON *kv = src->child; kv; kv = kv->next) {
        if (cJSON_GetObjectItemCaseSensitive(map, kv->string))
            continue;
        cJSON *copy = cJSON_Duplicate(kv, 1);
        if (!copy) {
            fail(ps, NULL, "out of memory");
            return 0;
        }
        cJSON_AddItemToObject(map, kv->string, copy);
    }
    return 1;
}

/* Applies a `<<` value once every explicit key is known. */
static int apply_merge(struct parser *ps, cJSON *map, const cJSON *val, const yaml_mark_t *m)
{
    if (!cJSON_IsArray(val))
        return merge_from(ps, map, val, m);
    for (const cJSON *src = val->child; src; src = src->next)
        if (!merge_from(ps, map, src, m))
            return 0;
    return 1;
}

/* Reads one key/value pair into map (or into *merges for `<<`); 0 on error. */
static int map_entry(struct parser *ps, cJSON *map, cJSON *merges, yaml_mark_t *merge_mark)
{
    if (ps->ev.type != YAML_SCALAR_EVENT) {
        fail(ps, &ps->ev.start_mark, "mapping keys must be scalars");
        return 0;
    }
    const char *k = (const char *)ps->ev.data.scalar.value;
    yaml_mark_t km = ps->ev.start_mark;
    int is_merge = ps->ev.data.scalar.plain_implicit && strcmp(k, "<<") == 0;
    char *key = strdup(k);
    if (!key) {
        fail(ps, NULL, "out of memory");
        return 0;
    }
    if (!is_merge && cJSON_GetObjectItemCaseSensitive(map, key)) {
        fail(ps, &km, "mapping key \"%s\" already defined", key);
        free(key);
        return 0;
    }
    cJSON *val = next(ps) ? node(ps) : NULL;
    if (val && is_merge) {
        *merge_mark = km;
        cJSON_AddItemToArray(merges, val);
    } else if (val) {
        cJSON_AddItemToObject(map, key, val);
    }
    free(key);
    return val != NULL;
}

static cJSON *mapping(struct parser *ps)
{
    cJSON *map = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    int line = (int)ps->ev.start_mark.line + 1;
    yaml_mark_t merge_mark = ps->ev.start_mark;
    if (!map || !merges || !remember(ps, ps->ev.data.mapping_start.anchor, map)) {
        fail(ps, NULL, "out of memory");
        goto bad;
    }
    for (;;) {
        if (!next(ps))
            goto bad;
        if (ps->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (!map_entry(ps, map, merges, &merge_mark))
            goto bad;
    }
    for (const cJSON *m = merges->child; m; m = m->next)
        if (!apply_merge(ps, map, m, &merge_mark))
            goto bad;
    if (!ps->kept && !(ps->kept = cJSON_CreateArray())) {
        fail(ps, NULL, "out of memory");
        goto bad;
    }
    cJSON_AddItemToArray(ps->kept, merges);
    if (ps->opts->mapping)
        ps->opts->mapping(ps->opts->ud, map, line);
    return map;
bad:
    cJSON_Delete(map);
    cJSON_Delete(merges);
    return NULL;
}

/* Reads the node whose first event is ps->ev. */
static cJSON *node(struct parser *ps)
{
    if (ps->depth >= MAX_DEPTH)
        return fail(ps, &ps->ev.start_mark, "nesting deeper than %d levels", MAX_DEPTH);
    ps->depth++;
    cJSON *v = NULL;
    int line = (int)ps->ev.start_mark.line + 1;
    switch (ps->ev.type) {
    case YAML_SCALAR_EVENT: v = scalar(ps); break;
    case YAML_SEQUENCE_START_EVENT: v = sequence(ps); break;
    case YAML_MAPPING_START_EVENT: v = mapping(ps); break;
    case YAML_ALIAS_EVENT: v = alias(ps); break;
    default: fail(ps, &ps->ev.start_mark, "unexpected YAML event"); break;
    }
    if (v && ps->opts->node)
        ps->opts->node(ps->opts->ud, v, line);
    ps->depth--;
    return v;
}

/* Reads one document after its DOCUMENT-START; NULL content means empty. */
static int document(struct parser *ps, int *stop)
{
    if (!next(ps))
        return 0;
    int line = (int)ps->ev.start_mark.line + 1;
    int empty = ps->ev.type == YAML_SCALAR_EVENT && ps->ev.data.scalar.plain_implicit &&
                ps->ev.data.scalar.length == 0;
    cJSON *doc = node(ps);
    if (!doc || !next(ps)) {
        cJSON_Delete(doc);
        return 0;
    }
    forget_anchors(ps);
    if (empty) { /* an empty document, as kubectl skips them */
        cJSON_Delete(doc);
        return 1;
    }
    *stop = ps->opts->document(ps->opts->ud, doc, line) != 0;
    return 1;
}

int cm_yaml_parse(const char *text, size_t len, const cm_yaml_opts *opts, cm_yaml_error *err)
{
    struct parser ps = {.err = err, .opts = opts};
    *err = (cm_yaml_error){0};
    if (!yaml_parser_initialize(&ps.p)) {
        fail(&ps, NULL, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
    int rc = -1, stop = 0;
    while (next(&ps)) {
        if (ps.ev.type == YAML_STREAM_END_EVENT) {
            rc = 0;
            break;
        }
        if (ps.ev.type == YAML_DOCUMENT_START_EVENT && !document(&ps, &stop))
            break;
        if (stop) {
            rc = 1;
            break;
        }
    }
    if (ps.have_ev)
        yaml_event_delete(&ps.ev);
    forget_anchors(&ps);
    free(ps.anchors);
    yaml_parser_delete(&ps.p);
    return rc;
}

/* ---- emitter ---- */

/* libyaml's output handler: appends to a cm_buf. */
static int write_out(void *ud, unsigned char *buf, size_t size)
{
    cm_buf *o = ud;
    cm_buf_add(o, (const char *)buf, size);
    return !o->oom;
}

/* The style a string needs so that reading it back gives the same string. */
static yaml_scalar_style_t string_style(const char *s)
{
    if (strchr(s, '\n'))
        return YAML_LITERAL_SCALAR_STYLE;
    struct parser ps = {0};
    cm_yaml_error err;
    ps.err = &err;
    cJSON *v = resolve(&ps, s, K_ANY);
    int plain_ok = v && cJSON_IsString(v);
    cJSON_Delete(v);
    return plain_ok ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

static int emit_scalar(yaml_emitter_t *e, const char *text, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    return yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                        1, 1, style) &&
           yaml_emitter_emit(e, &ev);
}

static int emit_node(yaml_emitter_t *e, const cJSON *n);

static int emit_children(yaml_emitter_t *e, const cJSON *n)
{
    for (const cJSON *k = n->child; k; k = k->next) {
        if (cJSON_IsObject(n) && !emit_scalar(e, k->string, string_style(k->string)))
            return 0;
        if (!emit_node(e, k))
            return 0;
    }
    return 1;
}

static int emit_node(yaml_emitter_t *e, const cJSON *n)
{
    yaml_event_t ev;
    char num[40];
    if (cJSON_IsObject(n) || cJSON_IsArray(n)) {
        int flow = n->child == NULL; /* [] and {} */
        yaml_sequence_style_t ss = flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE;
        yaml_mapping_style_t ms = flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE;
        int ok = cJSON_IsObject(n) ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, ms)
                                   : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, ss);
        if (!ok || !yaml_emitter_emit(e, &ev) || !emit_children(e, n))
            return 0;
        ok = cJSON_IsObject(n) ? yaml_mapping_end_event_initialize(&ev)
                               : yaml_sequence_end_event_initialize(&ev);
        return ok && yaml_emitter_emit(e, &ev);
    }
    if (cJSON_IsString(n))
        return emit_scalar(e, n->valuestring, string_style(n->valuestring));
    const char *text = "null";
    if (cJSON_IsTrue(n))
        text = "true";
    else if (cJSON_IsFalse(n))
        text = "false";
    else if (cJSON_IsRaw(n))
        text = n->valuestring;
    else if (cJSON_IsNumber(n)) {
        double d = n->valuedouble;
        if (isnan(d))
            text = ".nan";
        else if (isinf(d))
            text = d > 0 ? ".inf" : "-.inf";
        else if (d == floor(d) && fabs(d) <= 9007199254740992.0)
            snprintf(num, sizeof num, "%.0f", d), text = num;
        else
            cm_format_double(num, sizeof num, d), text = num;
    }
    return yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                        1, 0, YAML_PLAIN_SCALAR_STYLE) &&
           yaml_emitter_emit(e, &ev);
}

static int emit_stream(yaml_emitter_t *e, const cJSON *const *docs, size_t n)
{
    yaml_event_t ev;
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || !yaml_emitter_emit(e, &ev))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0) ||
            !yaml_emitter_emit(e, &ev) || !emit_node(e, docs[i]) ||
            !yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(e, &ev))
            return 0;
    }
    return yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) &&
           yaml_emitter_flush(e);
}

char *cm_yaml_emit(const cJSON *const *docs, size_t n, size_t *len, cm_yaml_error *err)
{
    yaml_emitter_t e;
    cm_buf out = {0};
    *err = (cm_yaml_error){0};
    if (!yaml_emitter_initialize(&e)) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return NULL;
    }
    yaml_emitter_set_output(&e, write_out, &out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_indent(&e, 2);
    int ok = emit_stream(&e, docs, n);
    if (!ok)
        snprintf(err->message, sizeof err->message, "%s",
                 out.oom ? "out of memory" : e.problem ? e.problem : "cannot emit YAML");
    yaml_emitter_delete(&e);
    if (!ok) {
        cm_buf_free(&out);
        return NULL;
    }
    *len = out.n;
    return out.p ? out.p : strdup("");
}
