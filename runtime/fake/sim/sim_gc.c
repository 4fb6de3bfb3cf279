/*
 * sim_gc.c - the garbage collector: dependents follow their owners by metadata.ownerReferences.
 *
 * The API server (write.c) puts the finalizers on a deletion: none for the background
 * policy (the owner goes at once; its dependents, left with no owner, are deleted next),
 * "foregroundDeletion" (the owner stays, with its deletionTimestamp, until its dependents
 * with blockOwnerDeletion are gone; they are deleted in the foreground too), "orphan" (the
 * dependents lose their ownerReference to it, then the finalizer goes).
 *
 * An index maps each owner uid to its dependents, kept from store events. Items are
 * "apiVersion|Kind|namespace|name"; an item's reconcile reads the store and acts as
 * attemptToDeleteItem, processDeletingDependentsItem and attemptToOrphan do upstream.
 */
#include "simint.h"

#include "map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_gc {
    cm_map *deps; /* owner uid -> cm_map of dependent items ("av|Kind|ns|name" -> non-NULL) */
};

#define FG "foregroundDeletion"

struct sim_gc *sim_gc_new(void)
{
    struct sim_gc *g = calloc(1, sizeof *g);
    if (g && !(g->deps = cm_map_new())) {
        free(g);
        g = NULL;
    }
    return g;
}

static void free_deps(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    cm_map_free(value);
}

void sim_gc_free(struct sim_gc *g)
{
    if (!g)
        return;
    cm_map_each(g->deps, free_deps, NULL);
    cm_map_free(g->deps);
    free(g);
}

static struct sim_gc *gc(cm_sim *s)
{
    return sim_ext(s)->gc;
}

static const cJSON *refs_of(const cJSON *obj)
{
    return sim_get(sim_get(obj, "metadata"), "ownerReferences");
}

/* The item key of an object. */
static void item_of(const cm_kind *k, const char *ns, const char *name, char *buf, size_t size)
{
    char av[128];
    cm_kind_api_version(k, av, sizeof av);
    snprintf(buf, size, "%s|%s|%s|%s", av, k->kind, ns ? ns : "", name ? name : "");
}

/* Splits an item key; returns its kind (NULL when the kind is not served). */
static const cm_kind *item_parse(cm_sim *s, const char *key, char *ns, size_t nsz, char *name, size_t namesz)
{
    char av[128], kind[128];
    if (sscanf(key, "%127[^|]|%127[^|]|", av, kind) != 2)
        return NULL;
    const char *p = strchr(key, '|');
    p = p ? strchr(p + 1, '|') : NULL;
    const char *q = p ? strchr(p + 1, '|') : NULL;
    if (!q)
        return NULL;
    snprintf(ns, nsz, "%.*s", (int)(q - p - 1), p + 1);
    snprintf(name, namesz, "%s", q + 1);
    return cm_kinds_by_kind(sim_fake(s)->kinds, av, kind);
}

/* The owner a reference names, as stored now (NULL: absent, or another object of that name). */
static cm_obj *owner_of(cm_sim *s, const cJSON *ref, const char *ns, const cm_kind **kind)
{
    const cm_kind *k = cm_kinds_by_kind(sim_fake(s)->kinds, sim_gets(ref, "apiVersion"), sim_gets(ref, "kind"));
    if (kind)
        *kind = k;
    if (!k || !sim_gets(ref, "name"))
        return NULL;
    cm_obj *o = cm_store_get(sim_store(s), k, k->namespaced ? ns : "", sim_gets(ref, "name"));
    return o && sim_is(cm_meta_str(o->json, "uid"), sim_gets(ref, "uid")) ? o : NULL;
}

static void index_add(struct sim_gc *g, const char *owner_uid, const char *item)
{
    cm_map *m = cm_map_get(g->deps, owner_uid);
    if (!m) {
        if (!(m = cm_map_new()) || cm_map_set(g->deps, owner_uid, m) != 0) {
            cm_map_free(m);
            return;
        }
    }
    cm_map_set(m, item, g);
}

static void index_del(struct sim_gc *g, const char *owner_uid, const char *item)
{
    cm_map *m = cm_map_get(g->deps, owner_uid);
    if (!m)
        return;
    cm_map_del(m, item);
    if (cm_map_count(m) == 0) {
        cm_map_del(g->deps, owner_uid);
        cm_map_free(m);
    }
}

static int refs_have(const cJSON *refs, const char *uid)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, refs)
        if (sim_is(sim_gets(r, "uid"), uid))
            return 1;
    return 0;
}

/* Whether the item needs the collector now: an owner is gone, or waits for its dependents. */
static int needs_check(cm_sim *s, const cJSON *obj, const char *ns)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, refs_of(obj)) {
        const cm_kind *k;
        cm_obj *o = owner_of(s, r, ns, &k);
        if (k && (!o || (sim_deleting(o->json) && sim_has_finalizer(o->json, FG))))
            return 1;
    }
    return 0;
}

/* Queues the owners of obj that wait for their dependents to go (foreground). */
static void wake_owners(cm_sim *s, const cJSON *obj, const char *ns)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, refs_of(obj)) {
        const cm_kind *k;
        cm_obj *o = owner_of(s, r, ns, &k);
        if (o && sim_deleting(o->json) && sim_has_finalizer(o->json, FG)) {
            char item[1024];
            item_of(k, o->ns, o->name, item, sizeof item);
            sim_enqueue_key(s, SIM_GC, item);
        }
    }
}

struct collect {
    char **keys;
    size_t n, cap;
};

static void collect_key(void *ud, const char *key, void *value)
{
    (void)value;
    struct collect *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **k = realloc(c->keys, cap * sizeof *k);
        if (!k)
            return;
        c->keys = k;
        c->cap = cap;
    }
    char *dup = strdup(key);
    if (dup)
        c->keys[c->n++] = dup;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The dependents of owner_uid, sorted (so nothing depends on hash order); free with free_keys. */
static struct collect dependents(cm_sim *s, const char *owner_uid)
{
    struct collect c = {0};
    cm_map *m = owner_uid ? cm_map_get(gc(s)->deps, owner_uid) : NULL;
    if (m)
        cm_map_each(m, collect_key, &c);
    if (c.n)
        qsort(c.keys, c.n, sizeof *c.keys, cmp_str);
    return c;
}

static void free_keys(struct collect *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->keys[i]);
    free(c->keys);
}

void sim_gc_on_change(cm_sim *s, const cm_event *ev)
{
    const char *name = cm_meta_str(ev->obj, "name"), *uid = cm_meta_str(ev->obj, "uid");
    const char *ns = ev->ns ? ev->ns : "";
    const cJSON *refs = refs_of(ev->obj), *old = ev->prev ? refs_of(ev->prev) : NULL;
    if (!refs && !old && ev->type != CM_EV_DELETED && !sim_deleting(ev->obj))
        return; /* the common case: nothing owns it, and it is not going */
    char item[1024];
    item_of(ev->kind, ns, name, item, sizeof item);
    const cJSON *r;
    int changed = ev->type == CM_EV_ADDED || !ev->prev || !cJSON_Compare(refs, old, 1);
    if (changed || ev->type == CM_EV_DELETED) {
        cJSON_ArrayForEach(r, old)
            if (ev->type == CM_EV_DELETED || !refs_have(refs, sim_gets(r, "uid")))
                index_del(gc(s), sim_gets(r, "uid"), item);
        cJSON_ArrayForEach(r, refs) {
            if (ev->type == CM_EV_DELETED)
                index_del(gc(s), sim_gets(r, "uid"), item);
            else if (sim_gets(r, "uid"))
                index_add(gc(s), sim_gets(r, "uid"), item);
        }
    }
    if (ev->type == CM_EV_DELETED) {
        struct collect c = dependents(s, uid); /* left without this owner */
        for (size_t i = 0; i < c.n; i++)
            sim_enqueue_key(s, SIM_GC, c.keys[i]);
        free_keys(&c);
        wake_owners(s, ev->obj, ns);
        return;
    }
    if (sim_deleting(ev->obj) && (sim_has_finalizer(ev->obj, "orphan") || sim_has_finalizer(ev->obj, FG)))
        sim_enqueue_key(s, SIM_GC, item);
    if (sim_deleting(ev->obj) || (changed && old))
        wake_owners(s, ev->prev ? ev->prev : ev->obj, ns);
    if (changed && needs_check(s, ev->obj, ns))
        sim_enqueue_key(s, SIM_GC, item);
}

/* Indexes what the fixture holds and queues the items whose owners are missing or going. */
void sim_gc_attach(cm_sim *s)
{
    cm_kinds *kinds = sim_fake(s)->kinds;
    for (size_t i = 0; i < cm_kinds_count(kinds); i++) {
        const cm_kind *k = cm_kinds_at(kinds, i);
        cm_obj *const *items;
        size_t n = cm_store_list(sim_store(s), k, NULL, &items);
        for (size_t j = 0; j < n; j++) {
            const cJSON *o = items[j]->json;
            cm_event ev = {.type = CM_EV_ADDED, .rv = items[j]->rv, .kind = k, .ns = items[j]->ns, .obj = o};
            sim_gc_on_change(s, &ev);
        }
    }
}

/* DELETE with a propagation policy and the uid as precondition. */
static void delete_item(cm_sim *s, const cm_obj *o, const char *policy)
{
    cJSON *opts = cJSON_CreateObject();
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    cJSON_AddStringToObject(opts, "propagationPolicy", policy);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(opts, "preconditions"), "uid", cm_meta_str(o->json, "uid"));
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", o->ns);
    snprintf(name, sizeof name, "%s", o->name);
    sim_call(s, "DELETE", o->kind, ns, name, NULL, NULL, opts);
}

/* PUTs o without the ownerReferences whose uid is in uids (n of them). */
static void drop_refs(cm_sim *s, const cm_obj *o, const char *const *uids, size_t n)
{
    cJSON *next = cJSON_Duplicate(o->json, 1);
    cJSON *meta = cm_meta(next), *refs = sim_get(meta, "ownerReferences");
    for (int i = cJSON_GetArraySize(refs) - 1; i >= 0; i--) {
        const char *uid = sim_gets(cJSON_GetArrayItem(refs, i), "uid");
        for (size_t j = 0; j < n; j++)
            if (sim_is(uid, uids[j])) {
                cJSON_DeleteItemFromArray(refs, i);
                break;
            }
    }
    if (cJSON_GetArraySize(refs) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
    sim_put(s, o->kind, next, NULL);
}

/* PUTs o without one finalizer (the object goes when it was the last). */
static void drop_finalizer(cm_sim *s, const cm_obj *o, const char *fin)
{
    cJSON *next = cJSON_Duplicate(o->json, 1);
    cJSON *meta = cm_meta(next), *fins = sim_get(meta, "finalizers");
    for (int i = cJSON_GetArraySize(fins) - 1; i >= 0; i--)
        if (sim_is(cJSON_GetStringValue(cJSON_GetArrayItem(fins, i)), fin))
            cJSON_DeleteItemFromArray(fins, i);
    if (cJSON_GetArraySize(fins) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
    sim_put(s, o->kind, next, NULL);
}

/* The reference of dep to owner_uid, or NULL. */
static const cJSON *ref_to(const cJSON *dep, const char *owner_uid)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, refs_of(dep))
        if (sim_is(sim_gets(r, "uid"), owner_uid))
            return r;
    return NULL;
}

/* attemptToOrphan: every dependent loses its reference, then the orphan finalizer goes. */
static void orphan(cm_sim *s, cm_obj *o, const char *item)
{
    char uid[64], ns[256], name[256];
    snprintf(uid, sizeof uid, "%s", cm_meta_str(o->json, "uid"));
    const cm_kind *k = o->kind;
    struct collect c = dependents(s, uid);
    for (size_t i = 0; i < c.n; i++) {
        char dns[256], dname[256];
        const cm_kind *dk = item_parse(s, c.keys[i], dns, sizeof dns, dname, sizeof dname);
        cm_obj *d = dk ? cm_store_get(sim_store(s), dk, dns, dname) : NULL;
        const char *one = uid;
        if (d && ref_to(d->json, uid))
            drop_refs(s, d, &one, 1);
    }
    free_keys(&c);
    item_parse(s, item, ns, sizeof ns, name, sizeof name);
    o = cm_store_get(sim_store(s), k, ns, name);
    if (o && sim_is(cm_meta_str(o->json, "uid"), uid))
        drop_finalizer(s, o, "orphan");
}

/* processDeletingDependentsItem: dependents go (in the foreground); once none that block is
 * left, the foregroundDeletion finalizer goes. */
static void foreground(cm_sim *s, cm_obj *o, const char *item)
{
    char uid[64], ns[256], name[256];
    snprintf(uid, sizeof uid, "%s", cm_meta_str(o->json, "uid"));
    const cm_kind *k = o->kind;
    struct collect c = dependents(s, uid);
    int blocking = 0;
    for (size_t i = 0; i < c.n; i++) {
        char dns[256], dname[256];
        const cm_kind *dk = item_parse(s, c.keys[i], dns, sizeof dns, dname, sizeof dname);
        cm_obj *d = dk ? cm_store_get(sim_store(s), dk, dns, dname) : NULL;
        const cJSON *r = d ? ref_to(d->json, uid) : NULL;
        if (!r)
            continue;
        blocking += cJSON_IsTrue(sim_get(r, "blockOwnerDeletion"));
        if (!sim_deleting(d->json))
            delete_item(s, d, "Foreground");
    }
    free_keys(&c);
    if (blocking)
        return; /* their deletion events bring this item back */
    item_parse(s, item, ns, sizeof ns, name, sizeof name);
    o = cm_store_get(sim_store(s), k, ns, name);
    if (o && sim_is(cm_meta_str(o->json, "uid"), uid))
        drop_finalizer(s, o, FG);
}

/* attemptToDeleteItem for an object that is not going: its owners decide. */
static void check_owners(cm_sim *s, cm_obj *o)
{
    const char *gone[32];
    size_t ngone = 0;
    int solid = 0, waiting = 0, dangling = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, refs_of(o->json)) {
        const cm_kind *k;
        cm_obj *owner = owner_of(s, r, o->ns, &k);
        if (!k) {
            solid++; /* a kind this server does not serve: nothing can be decided */
        } else if (!owner) {
            dangling++;
            if (ngone < 32)
                gone[ngone++] = sim_gets(r, "uid");
        } else if (sim_deleting(owner->json) && sim_has_finalizer(owner->json, FG)) {
            waiting++;
            if (ngone < 32)
                gone[ngone++] = sim_gets(r, "uid");
        } else {
            solid++;
        }
    }
    if (!dangling && !waiting)
        return;
    if (solid) {
        drop_refs(s, o, gone, ngone);
    } else if (waiting) {
        delete_item(s, o, "Foreground");
    } else {
        delete_item(s, o, sim_has_finalizer(o->json, "orphan") ? "Orphan"
                        : sim_has_finalizer(o->json, FG)      ? "Foreground"
                                                              : "Background");
    }
}

void sim_gc_reconcile(cm_sim *s, const char *key)
{
    char ns[256], name[256];
    const cm_kind *k = item_parse(s, key, ns, sizeof ns, name, sizeof name);
    cm_obj *o = k ? cm_store_get(sim_store(s), k, ns, name) : NULL;
    if (!o)
        return;
    if (sim_deleting(o->json)) {
        if (sim_has_finalizer(o->json, "orphan"))
            orphan(s, o, key);
        else if (sim_has_finalizer(o->json, FG))
            foreground(s, o, key);
        return;
    }
    check_owners(s, o);
}
