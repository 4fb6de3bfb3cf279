/* store.c - objects, resourceVersions, history and subscribers (see store.h). */
#include "store.h"

#include "json.h"
#include "map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The objects of one kind; sorted lazily, since fixtures load in any order. */
struct bucket {
    cm_obj **items;
    size_t n, cap;
    int sorted;
};

/* The pods of one node. */
struct nodeidx {
    cm_obj **items;
    size_t n, cap;
};

/* A recorded event. The object is kept as its compact JSON text, several times smaller
 * than the tree (the history holds thousands of pods), and parsed again when replayed. */
struct hist {
    enum cm_event_type type;
    int64_t rv;
    const cm_kind *kind;
    char *ns;
    char *text;
    size_t len;
};

struct sub {
    int id;
    cm_store_fn fn;
    void *ud;
};

struct cm_store {
    int64_t rv;
    int64_t floor; /* events at or below this version are not in the history */
    cm_map *objects, *buckets, *nodes;
    struct hist *ring;
    size_t ring_cap, ring_start, ring_n;
    struct sub *subs;
    size_t nsubs, capsubs;
    int next_sub;
    int quiet;
};

cm_store *cm_store_new(size_t history)
{
    cm_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->objects = cm_map_new();
    s->buckets = cm_map_new();
    s->nodes = cm_map_new();
    s->ring_cap = history ? history : 1;
    s->ring = calloc(s->ring_cap, sizeof *s->ring);
    if (!s->objects || !s->buckets || !s->nodes || !s->ring) {
        cm_store_free(s);
        return NULL;
    }
    return s;
}

static void free_obj(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    cm_obj *o = value;
    cJSON_Delete(o->json);
    free(o->ns);
    free(o->name);
    free(o->node);
    free(o);
}

static void free_bucket(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    struct bucket *b = value;
    free(b->items);
    free(b);
}

void cm_store_free(cm_store *s)
{
    if (!s)
        return;
    if (s->objects)
        cm_map_each(s->objects, free_obj, NULL);
    if (s->buckets)
        cm_map_each(s->buckets, free_bucket, NULL);
    if (s->nodes)
        cm_map_each(s->nodes, free_bucket, NULL); /* same layout as a bucket's head */
    cm_map_free(s->objects);
    cm_map_free(s->buckets);
    cm_map_free(s->nodes);
    for (size_t i = 0; s->ring && i < s->ring_n; i++) {
        struct hist *h = &s->ring[(s->ring_start + i) % s->ring_cap];
        free(h->ns);
        free(h->text);
    }
    free(s->ring);
    free(s->subs);
    free(s);
}

int64_t cm_store_rv(const cm_store *s)
{
    return s->rv;
}

void cm_store_set_quiet(cm_store *s, int quiet)
{
    s->quiet = quiet;
    if (!quiet)
        s->floor = s->rv > s->floor ? s->rv : s->floor;
}

/* "kind-address/ns/name": the key of an object in the object map. */
static void obj_key(char *buf, size_t size, const cm_kind *k, const char *ns, const char *name)
{
    snprintf(buf, size, "%p/%s/%s", (const void *)k, ns ? ns : "", name);
}

static void kind_key(char *buf, size_t size, const cm_kind *k)
{
    snprintf(buf, size, "%p", (const void *)k);
}

cm_obj *cm_store_get(const cm_store *s, const cm_kind *k, const char *ns, const char *name)
{
    char key[768];
    obj_key(key, sizeof key, k, k->namespaced ? ns : "", name);
    return cm_map_get(s->objects, key);
}

static const char *meta_str(const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* spec.nodeName of a pod, or NULL. */
static const char *pod_node(const cm_obj *o)
{
    if (strcmp(o->kind->kind, "Pod") != 0 || o->kind->group[0])
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o->json, "spec"), "nodeName");
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Grows an array of object pointers (struct bucket and struct nodeidx share the head). */
static int push_ptr(cm_obj ***items, size_t *n, size_t *cap, cm_obj *o)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        cm_obj **p = realloc(*items, c * sizeof *p);
        if (!p)
            return -1;
        *items = p;
        *cap = c;
    }
    (*items)[(*n)++] = o;
    return 0;
}

static int index_node(cm_store *s, cm_obj *o)
{
    const char *node = pod_node(o);
    if (!node)
        return 0;
    struct nodeidx *ix = cm_map_get(s->nodes, node);
    if (!ix) {
        ix = calloc(1, sizeof(struct bucket));
        if (!ix || cm_map_set(s->nodes, node, ix) != 0) {
            free(ix);
            return -1;
        }
    }
    o->node = strdup(node);
    if (!o->node || push_ptr(&ix->items, &ix->n, &ix->cap, o) != 0)
        return -1;
    return 0;
}

static void unindex_node(cm_store *s, cm_obj *o)
{
    if (!o->node)
        return;
    struct nodeidx *ix = cm_map_get(s->nodes, o->node);
    for (size_t i = 0; ix && i < ix->n; i++) {
        if (ix->items[i] == o) {
            ix->items[i] = ix->items[--ix->n];
            break;
        }
    }
    free(o->node);
    o->node = NULL;
}

static struct bucket *bucket_of(cm_store *s, const cm_kind *k, int create)
{
    char key[64];
    kind_key(key, sizeof key, k);
    struct bucket *b = cm_map_get(s->buckets, key);
    if (b || !create)
        return b;
    b = calloc(1, sizeof *b);
    if (!b || cm_map_set(s->buckets, key, b) != 0) {
        free(b);
        return NULL;
    }
    b->sorted = 1;
    return b;
}

static int obj_cmp(const void *pa, const void *pb)
{
    const cm_obj *a = *(cm_obj *const *)pa, *b = *(cm_obj *const *)pb;
    int c = strcmp(a->ns, b->ns);
    return c ? c : strcmp(a->name, b->name);
}

/* Moves the last object of a sorted bucket to its place (one insert among many: a
 * binary search and a move, instead of sorting the whole kind at the next list). */
static void sift_into_place(struct bucket *b)
{
    cm_obj *o = b->items[b->n - 1];
    size_t lo = 0, hi = b->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (obj_cmp(&b->items[mid], &o) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(b->items + lo + 1, b->items + lo, (b->n - 1 - lo) * sizeof *b->items);
    b->items[lo] = o;
}

static void bucket_sort(struct bucket *b)
{
    if (!b->sorted && b->n > 1)
        qsort(b->items, b->n, sizeof *b->items, obj_cmp);
    b->sorted = 1;
}

/* Copies the event into the history ring, dropping the oldest when full; ev->text is then the
 * text kept. */
static void record(cm_store *s, cm_event *ev)
{
    if (s->quiet)
        return;
    char *text = cJSON_PrintUnformatted(ev->obj);
    char *ns = strdup(ev->ns);
    if (!text || !ns) { /* out of memory: forget history rather than lie */
        free(text);
        free(ns);
        s->floor = ev->rv;
        return;
    }
    if (s->ring_n == s->ring_cap) {
        struct hist *old = &s->ring[s->ring_start];
        s->floor = old->rv;
        free(old->ns);
        free(old->text);
        s->ring_start = (s->ring_start + 1) % s->ring_cap;
        s->ring_n--;
    }
    size_t len = strlen(text);
    s->ring[(s->ring_start + s->ring_n) % s->ring_cap] = (struct hist){ev->type, ev->rv, ev->kind, ns, text, len};
    s->ring_n++;
    ev->text = text;
    ev->len = len;
}

/* Records the change and tells every subscriber. */
static void emit(cm_store *s, enum cm_event_type type, const cm_obj *o, const cJSON *prev)
{
    cm_event ev = {type, o->rv, o->kind, o->ns, o->json, prev, NULL, 0};
    record(s, &ev);
    for (size_t i = 0; i < s->nsubs; i++)
        s->subs[i].fn(s->subs[i].ud, &ev);
}

/* Member names, kept once per process (never freed: copies of stored objects may outlive their
 * store). A stored object's members point at them (cJSON_StringIsConst, which cJSON_Duplicate
 * keeps and cJSON_Delete honours), so copying a stored object or freeing the copy allocates or
 * frees no name, and a store of many alike objects holds each name once. */
static cm_map *names;

static void intern_names(cJSON *item)
{
    for (cJSON *c = item->child; c; c = c->next) {
        if (c->string && !(c->type & cJSON_StringIsConst) && (names || (names = cm_map_new()))) {
            char *k = cm_map_get(names, c->string);
            if (!k && (k = strdup(c->string)) && cm_map_set(names, c->string, k) != 0) {
                free(k);
                k = NULL;
            }
            if (k) {
                cJSON_free(c->string);
                c->string = k;
                c->type |= cJSON_StringIsConst;
            }
        }
        if (c->child)
            intern_names(c);
    }
}

/* Takes the next resourceVersion and writes it into the object. */
static void stamp(cm_store *s, cm_obj *o)
{
    o->rv = ++s->rv;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o->json, "metadata");
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)o->rv);
    cJSON *v = cJSON_CreateString(buf);
    if (meta && v && !cJSON_ReplaceItemInObjectCaseSensitive(meta, "resourceVersion", v))
        cJSON_AddItemToObject(meta, "resourceVersion", v);
    else if (!meta)
        cJSON_Delete(v);
}

cm_obj *cm_store_insert(cm_store *s, const cm_kind *k, cJSON *json)
{
    const char *name = meta_str(json, "name");
    const char *ns = k->namespaced ? meta_str(json, "namespace") : "";
    if (!name || !ns || cm_store_get(s, k, ns, name))
        return NULL;
    struct bucket *b = bucket_of(s, k, 1);
    cm_obj *o = calloc(1, sizeof *o);
    char key[768];
    obj_key(key, sizeof key, k, ns, name);
    if (!b || !o || !(o->ns = strdup(ns)) || !(o->name = strdup(name)) ||
        push_ptr(&b->items, &b->n, &b->cap, o) != 0) {
        if (o) {
            free(o->ns);
            free(o->name);
        }
        free(o);
        return NULL;
    }
    o->kind = k;
    o->json = json;
    intern_names(json);
    if (b->n > 1 && b->sorted && obj_cmp(&b->items[b->n - 2], &b->items[b->n - 1]) > 0) {
        if (s->quiet) /* a fixture loads in any order: sorted once, when first listed */
            b->sorted = 0;
        else
            sift_into_place(b);
    }
    cm_map_set(s->objects, key, o);
    index_node(s, o);
    stamp(s, o);
    emit(s, CM_EV_ADDED, o, NULL);
    return o;
}

int cm_store_replace(cm_store *s, cm_obj *o, cJSON *json)
{
    unindex_node(s, o);
    cJSON *old = o->json;
    o->json = json;
    intern_names(json);
    int rc = index_node(s, o);
    stamp(s, o);
    emit(s, CM_EV_MODIFIED, o, old);
    cJSON_Delete(old);
    return rc;
}

void cm_store_delete(cm_store *s, cm_obj *o)
{
    char key[768];
    obj_key(key, sizeof key, o->kind, o->ns, o->name);
    cm_map_del(s->objects, key);
    unindex_node(s, o);
    struct bucket *b = bucket_of(s, o->kind, 0);
    bucket_sort(b);
    cm_obj **hit = bsearch(&o, b->items, b->n, sizeof *b->items, obj_cmp);
    if (hit) {
        memmove(hit, hit + 1, (size_t)(b->items + b->n - hit - 1) * sizeof *hit);
        b->n--;
    }
    stamp(s, o);
    emit(s, CM_EV_DELETED, o, NULL);
    free_obj(NULL, NULL, o);
}

/* First index in the sorted bucket whose namespace is >= ns. */
static size_t lower_ns(const struct bucket *b, const char *ns)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(b->items[mid]->ns, ns) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t cm_store_list(cm_store *s, const cm_kind *k, const char *ns, cm_obj *const **out)
{
    struct bucket *b = bucket_of(s, k, 0);
    if (!b || b->n == 0) {
        *out = NULL;
        return 0;
    }
    bucket_sort(b);
    if (!ns || !k->namespaced) {
        *out = b->items;
        return b->n;
    }
    size_t lo = lower_ns(b, ns), hi = lo;
    while (hi < b->n && strcmp(b->items[hi]->ns, ns) == 0)
        hi++;
    *out = b->items + lo;
    return hi - lo;
}

size_t cm_store_pods_on_node(const cm_store *s, const char *node, cm_obj *const **out)
{
    struct nodeidx *ix = cm_map_get(s->nodes, node);
    *out = ix ? ix->items : NULL;
    return ix ? ix->n : 0;
}

int cm_store_subscribe(cm_store *s, cm_store_fn fn, void *ud)
{
    if (s->nsubs == s->capsubs) {
        size_t cap = s->capsubs ? 2 * s->capsubs : 8;
        struct sub *p = realloc(s->subs, cap * sizeof *p);
        if (!p)
            return -1;
        s->subs = p;
        s->capsubs = cap;
    }
    int id = ++s->next_sub;
    s->subs[s->nsubs++] = (struct sub){id, fn, ud};
    return id;
}

void cm_store_unsubscribe(cm_store *s, int id)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i].id == id) {
            memmove(&s->subs[i], &s->subs[i + 1], (s->nsubs - i - 1) * sizeof *s->subs);
            s->nsubs--;
            return;
        }
    }
}

int cm_store_replay(const cm_store *s, int64_t rv, cm_store_fn fn, void *ud, int64_t *oldest)
{
    if (rv < s->floor) {
        *oldest = s->floor;
        return -1;
    }
    for (size_t i = 0; fn && i < s->ring_n; i++) {
        const struct hist *h = &s->ring[(s->ring_start + i) % s->ring_cap];
        if (h->rv <= rv)
            continue;
        cm_json_error err;
        cJSON *obj = cm_json_parse(h->text, h->len, &err); /* text it printed: it parses */
        if (!obj)
            continue;
        cm_event ev = {h->type, h->rv, h->kind, h->ns, obj, NULL, h->text, h->len};
        fn(ud, &ev);
        cJSON_Delete(obj);
    }
    return 0;
}
