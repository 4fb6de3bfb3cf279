/* fixture.c - loading a fake cluster from YAML, as `kubectl get -A -o yaml` prints it. */
#include "fakeint.h"

#include "json.h"
#include "status.h"
#include "yamldoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One object of the fixture and the line it starts on. */
struct item {
    cJSON *obj; /* in its document until loaded, then owned by the store */
    int line;
    cJSON *parent; /* the List's items array, or NULL for a document */
    size_t doc;    /* for a document: its index in docs */
};

struct loader {
    cm_fake *f;
    const char *name;
    char *err;
    size_t errsize;
    cJSON **docs;
    size_t ndocs, capdocs;
    struct item *seen;  /* every mapping that looks like an object, in the parser's order */
    size_t nseen, capseen;
    struct item *items; /* the objects to load */
    size_t nitems, capitems;
    struct cm_node_line *lines; /* the current document's nodes and their lines (a few) */
    size_t nlines, caplines;
    int failed;
};

/* A FakeCluster document is small: the lines of bigger documents are not kept. */
#define MAX_DOC_LINES 4096

static int failf(struct loader *ld, int line, const char *fmt, ...)
{
    int n = snprintf(ld->err, ld->errsize, "%s:%d: ", ld->name, line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < ld->errsize)
        vsnprintf(ld->err + n, ld->errsize - (size_t)n, fmt, ap);
    va_end(ap);
    ld->failed = 1;
    return -1;
}

static int push(struct item **arr, size_t *n, size_t *cap, cJSON *obj, int line, cJSON *parent,
                size_t doc)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        struct item *p = realloc(*arr, c * sizeof *p);
        if (!p)
            return -1;
        *arr = p;
        *cap = c;
    }
    (*arr)[(*n)++] = (struct item){obj, line, parent, doc};
    return 0;
}

/* Remembers the line of each mapping that has a kind: List items are found by it. */
static void on_mapping(void *ud, const cJSON *map, int line)
{
    struct loader *ld = ud;
    if (cJSON_GetObjectItemCaseSensitive(map, "kind") && !ld->failed &&
        push(&ld->seen, &ld->nseen, &ld->capseen, (cJSON *)map, line, NULL, 0) != 0)
        ld->failed = 1;
}

/* Remembers where each node of the current document starts (for FakeCluster errors). */
static void on_node(void *ud, const cJSON *node, int line)
{
    struct loader *ld = ud;
    if (ld->nlines == ld->caplines) {
        size_t c = ld->caplines ? 2 * ld->caplines : 64;
        struct cm_node_line *p = c <= MAX_DOC_LINES ? realloc(ld->lines, c * sizeof *p) : NULL;
        if (!p)
            return;
        ld->lines = p;
        ld->caplines = c;
    }
    ld->lines[ld->nlines++] = (struct cm_node_line){node, line};
}

static int is_settings(const cJSON *obj);

static int on_document(void *ud, cJSON *doc, int line)
{
    struct loader *ld = ud;
    if (is_settings(doc) && !ld->f->settings_lines) { /* keep its lines; the document is kept as is */
        ld->f->settings_lines = ld->lines;
        ld->f->nsettings_lines = ld->nlines;
        ld->lines = NULL;
        ld->caplines = 0;
    }
    ld->nlines = 0;
    if (ld->ndocs == ld->capdocs) {
        size_t c = ld->capdocs ? 2 * ld->capdocs : 16;
        cJSON **p = realloc(ld->docs, c * sizeof *p);
        if (!p) {
            cJSON_Delete(doc);
            return 1;
        }
        ld->docs = p;
        ld->capdocs = c;
    }
    ld->docs[ld->ndocs++] = doc;
    (void)line;
    return 0;
}

/* The line of map, searching the recorded mappings from *cursor on (they are in order). */
static int line_of(struct loader *ld, const cJSON *map, size_t *cursor)
{
    for (size_t i = *cursor; i < ld->nseen; i++) {
        if (ld->seen[i].obj == map) {
            *cursor = i + 1;
            return ld->seen[i].line;
        }
    }
    return 0;
}

static int is_list(const cJSON *obj)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"));
    size_t n = kind ? strlen(kind) : 0;
    return n >= 4 && strcmp(kind + n - 4, "List") == 0 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(obj, "items"));
}

/* Collects the objects of document i (a List's items, or itself). */
static int collect(struct loader *ld, size_t i, size_t *cursor)
{
    cJSON *doc = ld->docs[i];
    if (!cJSON_IsObject(doc))
        return failf(ld, line_of(ld, doc, cursor), "a fixture document must be an object or a List");
    if (is_list(doc)) {
        cJSON *it, *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
        cJSON_ArrayForEach(it, items) {
            int line = line_of(ld, it, cursor);
            if (push(&ld->items, &ld->nitems, &ld->capitems, it, line, items, 0) != 0)
                return failf(ld, line, "out of memory");
        }
        return 0;
    }
    size_t before = *cursor;
    int line = line_of(ld, doc, cursor);
    if (!line) { /* a document without kind: find its line for the message */
        *cursor = before;
        return failf(ld, 1, "an object needs apiVersion and kind");
    }
    return push(&ld->items, &ld->nitems, &ld->capitems, doc, line, NULL, i) ? failf(ld, line, "out of memory") : 0;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int is_kind(const cJSON *obj, const char *av, const char *kind)
{
    return strcmp(or_empty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"))), av) == 0 &&
           strcmp(or_empty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"))), kind) == 0;
}

static int is_settings(const cJSON *obj)
{
    return is_kind(obj, "cni-migrate.dev/v1alpha1", "FakeCluster");
}

int cm_fake_settings_line(const cm_fake *f, const cJSON *node)
{
    for (size_t i = 0; node && i < f->nsettings_lines; i++)
        if (f->settings_lines[i].node == node)
            return f->settings_lines[i].line;
    return f->settings_line;
}

/* Adds namespace ns when the fixture did not define it. */
static int ensure_namespace(struct loader *ld, const char *ns, int line)
{
    const cm_kind *nk = cm_kinds_by_kind(ld->f->kinds, "v1", "Namespace");
    if (cm_store_get(ld->f->store, nk, "", ns))
        return 0;
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "apiVersion", "v1");
    cJSON_AddStringToObject(obj, "kind", "Namespace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "metadata"), "name", ns);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "status"), "phase", "Active");
    char uid[64], now[40];
    cm_fake_uid(ld->f, uid, sizeof uid);
    cm_fake_now(ld->f, now, sizeof now);
    cm_set_str(cm_meta(obj), "uid", uid);
    cm_set_str(cm_meta(obj), "creationTimestamp", now);
    if (!cm_store_insert(ld->f->store, nk, obj)) {
        cJSON_Delete(obj);
        return failf(ld, line, "out of memory");
    }
    return 0;
}

/* Fills what a stored object always has (uid, creationTimestamp, generation). */
static void complete(cm_fake *f, const cm_kind *k, cJSON *obj)
{
    cJSON *meta = cm_meta(obj);
    char buf[64];
    if (!cm_meta_str(obj, "uid")) {
        cm_fake_uid(f, buf, sizeof buf);
        cm_set_str(meta, "uid", buf);
    }
    if (!cm_meta_str(obj, "creationTimestamp")) {
        cm_fake_now(f, buf, sizeof buf);
        cm_set_str(meta, "creationTimestamp", buf);
    }
    if (cm_kind_has_generation(k) && !cJSON_GetObjectItemCaseSensitive(meta, "generation"))
        cJSON_AddItemToObject(meta, "generation", cm_json_new_int64(1));
}

/* The text of a 422 Status's message, for a fixture error. */
static const char *status_message(const cJSON *st)
{
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "message"));
    return m ? m : "invalid";
}

/* Takes an object out of its document (a List's item, or the document itself). */
static cJSON *take(struct loader *ld, const struct item *it)
{
    if (it->parent)
        return cJSON_DetachItemViaPointer(it->parent, it->obj);
    ld->docs[it->doc] = NULL;
    return it->obj;
}

/* Loads one object into the store (taking it from its document). */
static int load_one(struct loader *ld, const struct item *it)
{
    const cJSON *obj = it->obj;
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"));
    if (!av || !kind)
        return failf(ld, it->line, "an object needs apiVersion and kind");
    if (is_settings(obj)) {
        if (ld->f->settings)
            return failf(ld, it->line, "a second FakeCluster document (there can be one)");
        static const char *const KEYS[] = {"simulation", "faults", "hosts", "startTime", "randomState"};
        const cJSON *key; /* a misspelt setting would be ignored: it is named instead */
        cJSON_ArrayForEach(key, cJSON_GetObjectItemCaseSensitive(obj, "spec")) {
            size_t i = 0;
            while (i < sizeof KEYS / sizeof *KEYS && strcmp(KEYS[i], key->string) != 0)
                i++;
            if (i == sizeof KEYS / sizeof *KEYS)
                return failf(ld, it->line, "FakeCluster spec.%.100s: unknown field (simulation, faults, hosts, "
                             "startTime, randomState)", key->string);
        }
        ld->f->settings = take(ld, it); /* the same nodes, so settings_lines finds them */
        ld->f->settings_line = it->line;
        return ld->f->settings ? 0 : failf(ld, it->line, "out of memory");
    }
    const cm_kind *k = cm_kinds_by_kind(ld->f->kinds, av, kind);
    if (!k)
        return failf(ld, it->line, "unknown kind %s %s (not a built-in kind, nor one a CustomResourceDefinition of the fixture serves)", av, kind);
    const char *name = cm_meta_str(obj, "name");
    if (!name || !*name)
        return failf(ld, it->line, "%s has no metadata.name", kind);
    const char *fns = cm_meta_str(obj, "namespace");
    if (strlen(name) > CM_FAKE_NAME_MAX) /* the API server's limit; the simulation's buffers rely on it */
        return failf(ld, it->line, "%s metadata.name is %zu characters long: must be no more than %d", kind,
                     strlen(name), CM_FAKE_NAME_MAX);
    if (fns && strlen(fns) > CM_FAKE_NAMESPACE_MAX)
        return failf(ld, it->line, "%s metadata.namespace is %zu characters long: must be no more than %d",
                     kind, strlen(fns), CM_FAKE_NAMESPACE_MAX);
    cJSON *copy = take(ld, it);
    if (!copy)
        return failf(ld, it->line, "out of memory");
    const char *ns = cm_meta_str(copy, "namespace");
    if (k->namespaced && !ns)
        cm_set_str(cm_meta(copy), "namespace", ns = "default");
    if (!k->namespaced && ns)
        cJSON_DeleteItemFromObjectCaseSensitive(cm_meta(copy), "namespace");
    ns = k->namespaced ? cm_meta_str(copy, "namespace") : "";
    if (cm_store_get(ld->f->store, k, ns, name)) {
        failf(ld, it->line, "%s %s%s%s is defined twice", k->plural, ns, *ns ? "/" : "", name);
        cJSON_Delete(copy); /* name and ns point into it */
        return -1;
    }
    cJSON *invalid = cm_fake_validate_write(k, copy); /* what a create checks */
    if (invalid) {
        failf(ld, it->line, "%s", status_message(invalid));
        cJSON_Delete(invalid);
        cJSON_Delete(copy);
        return -1;
    }
    if (k->namespaced && ensure_namespace(ld, ns, it->line) != 0) {
        cJSON_Delete(copy);
        return -1;
    }
    complete(ld->f, k, copy);
    cm_fake_apps_defaults(k, copy); /* stored objects were defaulted when they were written */
    if (!cm_store_insert(ld->f->store, k, copy)) {
        cJSON_Delete(copy);
        return failf(ld, it->line, "out of memory");
    }
    if (is_kind(copy, "apiextensions.k8s.io/v1", "CustomResourceDefinition")) {
        char err[256];
        if (cm_fake_crd_serve(ld->f, copy, err, sizeof err) != 0)
            return failf(ld, it->line, "CustomResourceDefinition %s: %s", name, err);
    }
    return 0;
}

/* Loads CRDs and namespaces first, so the rest can be placed and checked. */
static int load_items(struct loader *ld)
{
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < ld->nitems; i++) {
            const cJSON *o = ld->items[i].obj;
            int crd = is_kind(o, "apiextensions.k8s.io/v1", "CustomResourceDefinition");
            int ns = is_kind(o, "v1", "Namespace");
            if ((pass == 0 && crd) || (pass == 1 && ns) || (pass == 2 && !crd && !ns))
                if (load_one(ld, &ld->items[i]) != 0)
                    return -1;
        }
    }
    return 0;
}

int cm_fake_load(cm_fake *f, const char *name, const char *text, size_t len, char *err, size_t errsize)
{
    struct loader ld = {.f = f, .name = name, .err = err, .errsize = errsize};
    cm_yaml_opts opts = {on_document, on_mapping, &ld, on_node};
    cm_yaml_error yerr;
    int rc = cm_yaml_parse(text, len, &opts, &yerr);
    if (rc < 0)
        failf(&ld, yerr.line, "%s", yerr.message);
    else if (rc > 0 || ld.failed)
        failf(&ld, 0, "out of memory");
    size_t cursor = 0;
    for (size_t i = 0; !ld.failed && i < ld.ndocs; i++)
        collect(&ld, i, &cursor);
    cm_store_set_quiet(f->store, 1);
    if (!ld.failed)
        load_items(&ld);
    static const char *const SYSTEM_NS[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    for (size_t i = 0; !ld.failed && i < sizeof SYSTEM_NS / sizeof SYSTEM_NS[0]; i++)
        ensure_namespace(&ld, SYSTEM_NS[i], 0); /* every cluster has them */
    cm_store_set_quiet(f->store, 0);
    char why[200];
    int line = 0;
    if (!ld.failed && cm_fake_ttl_start(f, why, sizeof why, &line) != 0)
        failf(&ld, line, "%s", why);
    for (size_t i = 0; i < ld.ndocs; i++)
        cJSON_Delete(ld.docs[i]);
    free(ld.docs);
    free(ld.seen);
    free(ld.items);
    free(ld.lines);
    return ld.failed ? -1 : 0;
}
