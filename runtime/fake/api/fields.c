/* fields.c - unknown and duplicate fields, as strict decoding finds them (see fields.h). */
#include "fields.h"

#include "fakeint.h"
#include "proto.h"
#include "status.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PATH = 1024, MAX_ERRORS = 100 }; /* the decoder keeps at most 100 */

/* A check in progress: the errors so far, and the path of the value being walked. */
struct walk {
    cJSON *errs;
    char path[MAX_PATH];
};

/* Appends `TYPE field "PATH.NAME"` once (the decoder drops repeats). */
static void report(struct walk *w, const char *type, const char *name)
{
    char msg[MAX_PATH + 160];
    snprintf(msg, sizeof msg, "%s field \"%s%s%s\"", type, w->path, *w->path ? "." : "", name);
    const cJSON *e;
    cJSON_ArrayForEach(e, w->errs)
        if (strcmp(e->valuestring, msg) == 0)
            return;
    if (cJSON_GetArraySize(w->errs) < MAX_ERRORS)
        cJSON_AddItemToArray(w->errs, cJSON_CreateString(msg));
}

/* Extends the path by ".name" or "[i]"; returns the old length, for pop(). */
static size_t push(struct walk *w, const char *name, int index)
{
    size_t n = strlen(w->path);
    if (name)
        snprintf(w->path + n, sizeof w->path - n, "%s%s", n ? "." : "", name);
    else
        snprintf(w->path + n, sizeof w->path - n, "[%d]", index);
    return n;
}

static void pop(struct walk *w, size_t n)
{
    w->path[n] = '\0';
}

/* Whether a member named like m comes after m in its object. */
static int repeated_later(const cJSON *m)
{
    for (const cJSON *x = m->next; x; x = x->next)
        if (strcmp(x->string, m->string) == 0)
            return 1;
    return 0;
}

/* Whether an earlier sibling of m has its name. */
static int seen_before(const cJSON *obj, const cJSON *m)
{
    for (const cJSON *x = obj->child; x && x != m; x = x->next)
        if (strcmp(x->string, m->string) == 0)
            return 1;
    return 0;
}

/* Removes the marked members of obj (unknown fields, all but the last of a duplicated one). */
static void drop(cJSON *obj, cJSON **marked, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(cJSON_DetachItemViaPointer(obj, marked[i]));
}

/* ---- built-in kinds: the protobuf table ---- */

static void walk_message(struct walk *w, const cm_proto_msg *m, cJSON *obj, int root);

/* The field of m (or of a message embedded in it) whose JSON name is name, into f. */
static int find_json(const cm_proto_msg *m, const char *name, cm_proto_field *f)
{
    const char *s = m->fields;
    while (cm_proto_next_field(&s, f) > 0) {
        if (f->flag == '^') {
            const cm_proto_msg *sub = cm_proto_message(f->type, f->tlen);
            if (sub && find_json(sub, name, f))
                return 1;
        } else if (f->nlen == strlen(name) && strncmp(f->name, name, f->nlen) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One value of a field's element type (a message: walked; anything else: a leaf). */
static void walk_value(struct walk *w, const cm_proto_field *f, cJSON *v)
{
    const cm_proto_msg *m = f->tlen > 1 ? cm_proto_message(f->type, f->tlen) : NULL;
    if (m && cJSON_IsObject(v))
        walk_message(w, m, v, 0);
}

/* A map: duplicate keys, then each value. */
static void walk_map(struct walk *w, const cm_proto_field *f, cJSON *map)
{
    cJSON *marked[256];
    size_t nmarked = 0;
    for (cJSON *m = map->child; m; m = m->next) {
        if (seen_before(map, m))
            report(w, "duplicate", m->string);
        size_t n = push(w, m->string, 0);
        walk_value(w, f, m);
        pop(w, n);
        if (repeated_later(m) && nmarked < sizeof marked / sizeof marked[0])
            marked[nmarked++] = m;
    }
    drop(map, marked, nmarked);
}

/* One member of a message's object: by its field's shape. */
static void walk_field(struct walk *w, const cm_proto_field *f, cJSON *v)
{
    if (f->shape == '{' && cJSON_IsObject(v)) {
        walk_map(w, f, v);
    } else if (f->shape == '[' && cJSON_IsArray(v)) {
        int i = 0;
        for (cJSON *x = v->child; x; x = x->next) {
            size_t n = push(w, NULL, i++);
            walk_value(w, f, x);
            pop(w, n);
        }
    } else if (!f->shape) {
        walk_value(w, f, v);
    }
}

static void walk_message(struct walk *w, const cm_proto_msg *m, cJSON *obj, int root)
{
    cJSON *marked[512];
    size_t nmarked = 0;
    for (cJSON *x = obj->child; x; x = x->next) {
        cm_proto_field f;
        int known = find_json(m, x->string, &f);
        int type_meta = root && (!strcmp(x->string, "apiVersion") || !strcmp(x->string, "kind"));
        if (!known && !type_meta) {
            report(w, "unknown", x->string);
        } else {
            if (seen_before(obj, x))
                report(w, "duplicate", x->string);
            size_t n = push(w, x->string, 0);
            if (known)
                walk_field(w, &f, x);
            pop(w, n);
        }
        if ((!known && !type_meta) || repeated_later(x))
            if (nmarked < sizeof marked / sizeof marked[0])
                marked[nmarked++] = x;
    }
    drop(obj, marked, nmarked);
}

/* ---- custom kinds: the CRD's structural schema ---- */

static int is_true(const cJSON *schema, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, key));
}

static void walk_schema(struct walk *w, const cJSON *schema, cJSON *v);

/* An object value: properties, additionalProperties, preserved unknown fields. */
static void walk_schema_object(struct walk *w, const cJSON *schema, cJSON *obj)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    int preserve = is_true(schema, "x-kubernetes-preserve-unknown-fields") || cJSON_IsTrue(extra);
    int embedded = is_true(schema, "x-kubernetes-embedded-resource");
    cJSON *marked[512];
    size_t nmarked = 0;
    for (cJSON *x = obj->child; x; x = x->next) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(props, x->string);
        if (!sub && cJSON_IsObject(extra))
            sub = extra;
        int known = sub || preserve ||
                    (embedded && (!strcmp(x->string, "apiVersion") || !strcmp(x->string, "kind") ||
                                  !strcmp(x->string, "metadata")));
        if (!known) {
            report(w, "unknown", x->string);
        } else {
            if (seen_before(obj, x))
                report(w, "duplicate", x->string);
            size_t n = push(w, x->string, 0);
            if (sub)
                walk_schema(w, sub, x);
            pop(w, n);
        }
        if ((!known || repeated_later(x)) && nmarked < sizeof marked / sizeof marked[0])
            marked[nmarked++] = x;
    }
    drop(obj, marked, nmarked);
}

static void walk_schema(struct walk *w, const cJSON *schema, cJSON *v)
{
    if (cJSON_IsObject(v)) {
        walk_schema_object(w, schema, v);
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        int i = 0;
        for (cJSON *x = v->child; x && cJSON_IsObject(items); x = x->next) {
            size_t n = push(w, NULL, i++);
            walk_schema(w, items, x);
            pop(w, n);
        }
    }
}

/* A custom object's root: apiVersion, kind, metadata (an ObjectMeta), the schema's properties;
 * metadata's errors come last, as the server coerces it after pruning the rest. */
static void walk_custom(struct walk *w, const cm_kind *k, cJSON *obj)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(k->schema, "properties");
    const cm_proto_msg *meta = cm_proto_message("ObjectMeta", 10);
    int preserve = is_true(k->schema, "x-kubernetes-preserve-unknown-fields");
    cJSON *marked[512];
    size_t nmarked = 0;
    for (cJSON *x = obj->child; x; x = x->next) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(props, x->string);
        int type_meta = !strcmp(x->string, "apiVersion") || !strcmp(x->string, "kind");
        int is_meta = !strcmp(x->string, "metadata");
        int known = sub || type_meta || is_meta || preserve;
        if (!known) {
            report(w, "unknown", x->string);
        } else {
            if (seen_before(obj, x))
                report(w, "duplicate", x->string);
            size_t n = push(w, x->string, 0);
            if (sub && !type_meta && !is_meta)
                walk_schema(w, sub, x);
            pop(w, n);
        }
        if ((!known || repeated_later(x)) && nmarked < sizeof marked / sizeof marked[0])
            marked[nmarked++] = x;
    }
    for (cJSON *x = obj->child; x && meta; x = x->next) {
        if (strcmp(x->string, "metadata") == 0 && cJSON_IsObject(x)) {
            size_t n = push(w, x->string, 0);
            walk_message(w, meta, x, 0);
            pop(w, n);
        }
    }
    drop(obj, marked, nmarked);
}

int cm_fields_known(const cm_kind *k)
{
    if (k->flags & CM_KIND_CUSTOM)
        return k->schema != NULL;
    return cm_proto_message(k->kind, strlen(k->kind)) != NULL;
}

cJSON *cm_fields_check(const cm_kind *k, cJSON *obj)
{
    struct walk w = {cJSON_CreateArray(), ""};
    if (!w.errs || !cJSON_IsObject(obj) || !cm_fields_known(k))
        return w.errs;
    if (k->flags & CM_KIND_CUSTOM)
        walk_custom(&w, k, obj);
    else
        walk_message(&w, cm_proto_message(k->kind, strlen(k->kind)), obj, 1);
    return w.errs;
}

/* ---- the request: ?fieldValidation, the Status, the warnings ---- */

static enum cm_field_validation field_validation(const struct call *c)
{
    const char *v = cm_call_query(c, "fieldValidation");
    if (v && strcmp(v, "Strict") == 0)
        return CM_FV_STRICT;
    if (v && strcmp(v, "Ignore") == 0)
        return CM_FV_IGNORE;
    return CM_FV_WARN; /* the default since v1.27 */
}

/* Adds one Warning header text to the reply. */
static void warn(struct call *c, const char *text)
{
    char **w = &c->resp->warnings;
    size_t have = *w ? strlen(*w) : 0, n = strlen(text);
    char *p = realloc(*w, have + n + 2);
    if (!p)
        return;
    if (have)
        p[have++] = '\n';
    memcpy(p + have, text, n + 1);
    *w = p;
}

/* "strict decoding error: E1, E2" into b. */
static void strict_error(cm_buf *b, const cJSON *errs)
{
    const cJSON *e;
    cm_buf_adds(b, "strict decoding error: ");
    cJSON_ArrayForEach(e, errs) {
        cm_buf_adds(b, e->valuestring);
        if (e->next)
            cm_buf_adds(b, ", ");
    }
}

/* s as Go's %q writes it, for the ASCII and UTF-8 text at hand: quotes and backslashes escaped. */
static void go_quote(cm_buf *b, const char *s)
{
    cm_buf_adds(b, "\"");
    for (; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\')
            snprintf(esc, sizeof esc, "\\%c", *s);
        else if (*s == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if ((unsigned char)*s < 0x20)
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*s);
        else
            snprintf(esc, sizeof esc, "%c", *s);
        cm_buf_adds(b, esc);
    }
    cm_buf_adds(b, "\"");
}

/* v as Go's %+v prints a map[string]interface{} decoded from JSON: map[a:1 b:[x y]], keys sorted. */
static void go_value(cm_buf *b, const cJSON *v)
{
    if (cJSON_IsObject(v)) {
        const cJSON *m, *done = NULL;
        cm_buf_adds(b, "map[");
        for (int first = 1;; first = 0) { /* the next key after done, in byte order */
            const cJSON *next = NULL;
            cJSON_ArrayForEach(m, v)
                if ((!done || strcmp(m->string, done->string) > 0) &&
                    (!next || strcmp(m->string, next->string) < 0))
                    next = m;
            if (!next)
                break;
            cm_buf_adds(b, first ? "" : " ");
            cm_buf_adds(b, next->string);
            cm_buf_adds(b, ":");
            go_value(b, next);
            done = next;
        }
        cm_buf_adds(b, "]");
    } else if (cJSON_IsArray(v)) {
        const cJSON *x;
        cm_buf_adds(b, "[");
        cJSON_ArrayForEach(x, v) {
            go_value(b, x);
            if (x->next)
                cm_buf_adds(b, " ");
        }
        cm_buf_adds(b, "]");
    } else if (cJSON_IsString(v)) {
        cm_buf_adds(b, v->valuestring);
    } else if (cJSON_IsNull(v)) {
        cm_buf_adds(b, "<nil>");
    } else {
        char *p = cJSON_PrintUnformatted(v);
        cm_buf_adds(b, p ? p : "");
        free(p);
    }
}

/* A copy of v with every object's members in byte order (Go's encoding of a map). */
static cJSON *sorted(const cJSON *v)
{
    cJSON *out = cJSON_Duplicate(v, 0);
    if (cJSON_IsArray(v)) {
        for (const cJSON *x = v->child; x; x = x->next)
            cJSON_AddItemToArray(out, sorted(x));
    } else if (cJSON_IsObject(v)) {
        const cJSON *done = NULL;
        for (;;) {
            const cJSON *next = NULL, *m;
            cJSON_ArrayForEach(m, v)
                if ((!done || strcmp(m->string, done->string) > 0) &&
                    (!next || strcmp(m->string, next->string) < 0))
                    next = m;
            if (!next)
                break;
            cJSON_AddItemToObject(out, next->string, sorted(next));
            done = next;
        }
    }
    return out;
}

/* The 422 a strict patch gets: `patch: Invalid value: "<what>": strict decoding error: ...`,
 * what being the patched object as JSON (json and merge patches) or the patch as a Go map (strategic). */
static cJSON *patch_invalid(const cJSON *what, int go_map, const cJSON *errs)
{
    cm_buf shown = {0}, detail = {0}, msg = {0};
    if (go_map) {
        go_value(&shown, what);
    } else {
        cJSON *s = sorted(what);
        char *p = cJSON_PrintUnformatted(s);
        cm_buf_adds(&shown, p ? p : "");
        free(p);
        cJSON_Delete(s);
    }
    cm_buf_adds(&detail, "Invalid value: ");
    go_quote(&detail, shown.p ? shown.p : "");
    cm_buf_adds(&detail, ": ");
    strict_error(&detail, errs);
    cm_buf_adds(&msg, " \"\" is invalid: patch: ");
    cm_buf_adds(&msg, detail.p);
    cJSON *st = cm_status_new(422, "Invalid", msg.oom ? "out of memory" : msg.p);
    cm_status_details(st, NULL, NULL, NULL);
    cm_status_cause(st, "FieldValueInvalid", detail.oom ? "out of memory" : detail.p, "patch");
    cm_buf_free(&shown);
    cm_buf_free(&detail);
    cm_buf_free(&msg);
    return st;
}

/* The 400 a strict create or update gets, as the server's transformDecodeError words it. */
static cJSON *decode_invalid(const struct call *c, const cJSON *obj, const cJSON *errs)
{
    cm_buf msg = {0};
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"));
    const char *slash = av ? strchr(av, '/') : NULL;
    char head[512];
    snprintf(head, sizeof head, "%s in version \"%s\" cannot be handled as a %s: ", c->kind->kind,
             slash ? slash + 1 : av ? av : c->kind->version, c->kind->kind);
    cm_buf_adds(&msg, head);
    strict_error(&msg, errs);
    cJSON *st = cm_status_bad_request(msg.oom ? "out of memory" : msg.p);
    cm_buf_free(&msg);
    return st;
}

int cm_call_fields(struct call *c, cJSON *obj, const cJSON *patch, int strategic)
{
    enum cm_field_validation fv = field_validation(c);
    cJSON *shown = patch && !strategic ? cJSON_Duplicate(obj, 1) : NULL; /* before the pruning */
    char *text = patch ? cJSON_PrintUnformatted(patch) : NULL;
    if (shown && !(text && strstr(text, "managedFields"))) /* the server patches without them */
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(shown, "metadata"), "managedFields");
    free(text);
    cJSON *errs = cm_fields_check(c->kind, obj);
    int ok = 1;
    if (cJSON_GetArraySize(errs) > 0 && fv == CM_FV_STRICT) {
        cm_reply_status(c, !patch ? decode_invalid(c, obj, errs)
                                  : patch_invalid(strategic ? patch : shown, strategic, errs));
        ok = 0;
    } else if (fv == CM_FV_WARN) {
        const cJSON *e;
        cJSON_ArrayForEach(e, errs)
            warn(c, e->valuestring);
    }
    cJSON_Delete(shown);
    cJSON_Delete(errs);
    return ok;
}

int cm_call_apply_fields(struct call *c, const cJSON *patch)
{
    cJSON *copy = cJSON_Duplicate(patch, 1);
    cJSON *errs = cm_fields_check(c->kind, copy);
    cm_buf msg = {0};
    const cJSON *e;
    int unknown = 0;
    cJSON_ArrayForEach(e, errs) {
        const char *q = strchr(e->valuestring, '"');
        if (strncmp(e->valuestring, "unknown", 7) != 0 || !q)
            continue;
        cm_buf_adds(&msg, unknown++ ? "\n  ." : ".");
        cm_buf_add(&msg, q + 1, strlen(q + 1) - 1);
        cm_buf_adds(&msg, ": field not declared in schema");
    }
    if (unknown) { /* the field manager's typed conversion fails: a plain error, so a 500 without reason */
        char av[160], head[800];
        cm_kind_api_version(c->kind, av, sizeof av);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(patch, "metadata"), "name"));
        snprintf(head, sizeof head, "failed to create typed patch object (%s/%s; %s%s, Kind=%s): %s",
                 c->ns ? c->ns : "", name ? name : "", c->kind->group[0] ? "" : "/", av, c->kind->kind,
                 unknown > 1 ? "errors:\n  " : "");
        cm_buf full = {0};
        cm_buf_adds(&full, head);
        cm_buf_adds(&full, msg.p);
        cm_reply_status(c, cm_status_new(500, NULL, full.oom ? "out of memory" : full.p)); /* reason Unknown: "" */
        cm_buf_free(&full);
    }
    cm_buf_free(&msg);
    cJSON_Delete(errs);
    cJSON_Delete(copy);
    return !unknown;
}
