/* ssa.c - managedFields and server-side apply (see ssa.h). */
#include "ssa.h"

#include "json.h"
#include "patch.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

/* A path in a field set: tokens such as "f:spec", "k:{\"name\":\"c\"}". */
struct path {
    const char *tok[MAX_DEPTH];
    int n;
};

static int skipped_meta(const char *key)
{
    static const char *const SERVER[] = {"name", "namespace", "uid", "resourceVersion", "generation",
                                         "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                                         "managedFields", "selfLink"};
    for (size_t i = 0; i < sizeof SERVER / sizeof SERVER[0]; i++)
        if (strcmp(SERVER[i], key) == 0)
            return 1;
    return 0;
}

static cJSON *child(cJSON *set, const char *tok)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(set, tok);
    return c ? c : cJSON_AddObjectToObject(set, tok);
}

/* Whether cJSON prints s between quotes as it is (nothing to escape). */
static int plain(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return 0;
    return 1;
}

/* The token of a list item: its merge key's value, {"key":value} as cJSON prints it. */
static void item_token(const char *key, const cJSON *el, char *buf, size_t size)
{
    const cJSON *v0 = cJSON_GetObjectItemCaseSensitive(el, key);
    char *vt = v0 && plain(key) ? cJSON_PrintUnformatted(v0) : NULL;
    if (vt || (!v0 && plain(key))) { /* the value printed alone, no object built around it */
        snprintf(buf, size, "k:{\"%s\":%s}", key, vt ? vt : "null");
        free(vt);
        return;
    }
    cJSON *k = cJSON_CreateObject();
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(el, key);
    cJSON_AddItemToObject(k, key, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    char *text = cJSON_PrintUnformatted(k);
    snprintf(buf, size, "k:%s", text ? text : "{}");
    free(text);
    cJSON_Delete(k);
}

static void build(const cm_kind *k, cJSON *set, const cJSON *v, const char *kpath, int depth);

/* The field set of one member value. */
static void build_member(const cm_kind *k, cJSON *set, const cJSON *m, const char *kpath, int depth)
{
    char tok[600], sub[512];
    snprintf(tok, sizeof tok, "f:%s", m->string);
    if (snprintf(sub, sizeof sub, "%s%s%s", kpath, *kpath ? "." : "", m->string) >= (int)sizeof sub)
        sub[0] = '\0';
    cJSON *node = child(set, tok);
    if (cJSON_IsObject(m) && m->child) {
        build(k, node, m, sub, depth + 1);
        if (!node->child) /* every member was the server's (metadata.name): nothing to own */
            cJSON_DeleteItemFromObjectCaseSensitive(set, tok);
        return;
    }
    const char *key = cJSON_IsArray(m) ? cm_patch_merge_key(k, sub) : NULL;
    const cJSON *el, *list = key ? m : NULL; /* a list without a merge key is one leaf */
    char itemsub[520];
    snprintf(itemsub, sizeof itemsub, "%s[]", sub);
    cJSON_ArrayForEach(el, list) {
        char *text = *key ? NULL : cJSON_PrintUnformatted(el);
        if (*key)
            item_token(key, el, tok, sizeof tok);
        else
            snprintf(tok, sizeof tok, "v:%s", text ? text : "null");
        free(text);
        cJSON *item = child(node, tok);
        if (*key) {
            child(item, ".");
            build(k, item, el, itemsub, depth + 1);
        }
    }
}

/* The field set of an object: every leaf it sets. */
static void build(const cm_kind *k, cJSON *set, const cJSON *v, const char *kpath, int depth)
{
    const cJSON *m;
    if (depth > MAX_DEPTH - 2)
        return;
    cJSON_ArrayForEach(m, v) {
        if (depth == 0 && (!strcmp(m->string, "apiVersion") || !strcmp(m->string, "kind") ||
                           !strcmp(m->string, "status")))
            continue;
        if (depth == 1 && !strcmp(kpath, "metadata") && skipped_meta(m->string))
            continue;
        build_member(k, set, m, kpath, depth);
    }
}

static cJSON *field_set(const cm_kind *k, const cJSON *obj)
{
    cJSON *set = cJSON_CreateObject();
    build(k, set, obj, "", 0);
    return set;
}

/* ---- walking sets and objects by path ---- */

typedef void (*leaf_fn)(void *ud, const struct path *p);

/* Calls fn for every leaf of set ("." included). */
static void leaves(const cJSON *set, struct path *p, leaf_fn fn, void *ud)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, set) {
        if (p->n >= MAX_DEPTH)
            return;
        p->tok[p->n++] = c->string;
        if (c->child)
            leaves(c, p, fn, ud);
        else
            fn(ud, p);
        p->n--;
    }
}

static const cJSON *set_find(const cJSON *set, const struct path *p)
{
    for (int i = 0; set && i < p->n; i++)
        set = cJSON_GetObjectItemCaseSensitive(set, p->tok[i]);
    return set;
}

/* Removes a leaf and the branches it leaves empty. */
static void set_remove(cJSON *set, const struct path *p, int i)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(set, p->tok[i]);
    if (!c)
        return;
    if (i + 1 < p->n)
        set_remove(c, p, i + 1);
    if (i + 1 == p->n || !c->child)
        cJSON_DeleteItemFromObjectCaseSensitive(set, p->tok[i]);
}

static void set_add(cJSON *set, const struct path *p)
{
    for (int i = 0; i < p->n; i++)
        set = child(set, p->tok[i]);
}

/* The list item of list matching a "k:{...}" token. */
static cJSON *find_item(const cJSON *list, const char *tok)
{
    cJSON *want = cJSON_Parse(tok + 2), *el;
    cJSON_ArrayForEach(el, list) {
        int ok = want != NULL;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, want)
            ok &= cm_json_equal(cJSON_GetObjectItemCaseSensitive(el, kv->string), kv);
        if (ok)
            break;
    }
    cJSON_Delete(want);
    return el;
}

/* The value at a field path of obj (NULL when absent); *parent gets its container. */
static cJSON *value_at(const cJSON *obj, const struct path *p, cJSON **parent)
{
    cJSON *cur = (cJSON *)obj;
    *parent = NULL;
    for (int i = 0; cur && i < p->n; i++) {
        const char *t = p->tok[i];
        *parent = cur;
        if (t[0] == 'f' && t[1] == ':')
            cur = cJSON_GetObjectItemCaseSensitive(cur, t + 2);
        else if (t[0] == 'k' && t[1] == ':')
            cur = find_item(cur, t);
        else if (t[0] == 'v' && t[1] == ':')
            return cur; /* a set value: the list holds it */
        else /* "." */
            return cur;
    }
    return cur;
}

/* ".spec.containers[name=\"c\"].image", as the server names a field in conflicts. */
static void render(const struct path *p, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->n && n < size; i++) {
        const char *t = p->tok[i];
        if (t[0] == 'f')
            n += (size_t)snprintf(buf + n, size - n, ".%s", t + 2);
        else if (t[0] == 'k') {
            cJSON *k = cJSON_Parse(t + 2);
            const cJSON *kv = k ? k->child : NULL;
            char *v = kv ? cJSON_PrintUnformatted(kv) : NULL;
            n += (size_t)snprintf(buf + n, size - n, "[%s=%s]", kv ? kv->string : "", v ? v : "");
            free(v);
            cJSON_Delete(k);
        } else if (t[0] == 'v')
            n += (size_t)snprintf(buf + n, size - n, "[%s]", t + 2);
    }
}

/* ---- managedFields entries ---- */

static cJSON *entries_of(const cJSON *obj)
{
    const cJSON *mf = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "managedFields");
    return cJSON_IsArray(mf) ? cJSON_Duplicate(mf, 1) : cJSON_CreateArray();
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int is_entry(const cJSON *e, const char *manager, const char *op)
{
    const char *m = str(e, "manager"), *o = str(e, "operation");
    return m && o && !strcmp(m, manager) && !strcmp(o, op);
}

static cJSON *fields_of(cJSON *e)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fieldsV1");
    return f ? f : cJSON_AddObjectToObject(e, "fieldsV1");
}

/* The entry of (manager, op), created at the end when missing; its set replaced when set is given. */
static cJSON *entry(cJSON *entries, const cm_kind *k, const char *manager, const char *op, const char *now)
{
    cJSON *e;
    cJSON_ArrayForEach(e, entries)
        if (is_entry(e, manager, op))
            break;
    if (!e) {
        e = cJSON_CreateObject();
        cJSON_AddItemToArray(entries, e);
        cJSON_AddStringToObject(e, "manager", manager);
        cJSON_AddStringToObject(e, "operation", op);
        char av[160];
        cm_kind_api_version(k, av, sizeof av);
        cJSON_AddStringToObject(e, "apiVersion", av);
        cJSON_AddStringToObject(e, "time", now);
        cJSON_AddStringToObject(e, "fieldsType", "FieldsV1");
        cJSON_AddObjectToObject(e, "fieldsV1");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(e, "time");
    cJSON *fields = cJSON_DetachItemFromObjectCaseSensitive(e, "fieldsType");
    cJSON *v1 = cJSON_DetachItemFromObjectCaseSensitive(e, "fieldsV1");
    cJSON_AddStringToObject(e, "time", now);
    cJSON_AddItemToObject(e, "fieldsType", fields ? fields : cJSON_CreateString("FieldsV1"));
    cJSON_AddItemToObject(e, "fieldsV1", v1 ? v1 : cJSON_CreateObject());
    return e;
}

/* Drops entries that own nothing, and stores the list in obj. */
static void store_entries(cJSON *obj, cJSON *entries)
{
    for (cJSON *e = entries->child, *next; e; e = next) {
        next = e->next;
        if (!fields_of(e)->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(entries, e));
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    if (meta && entries->child)
        cJSON_AddItemToObject(meta, "managedFields", entries);
    else
        cJSON_Delete(entries);
}

/* ---- update ---- */

struct upd {
    const cJSON *old, *next;
    cJSON *entries, *mine;
};

/* A leaf of next's set, valued a in old (NULL: absent, or no old) and b in next: when
 * it changed, it becomes the updater's alone. */
static void changed_leaf(struct upd *u, const struct path *p, const cJSON *a, const cJSON *b)
{
    if (u->old && a && b && cm_json_equal(a, b) && strcmp(p->tok[p->n - 1], ".") != 0)
        return;
    if (u->old && a && strcmp(p->tok[p->n - 1], ".") == 0)
        return; /* the item was there: its existence is not news */
    cJSON *e;
    cJSON_ArrayForEach(e, u->entries)
        if (e != u->mine)
            set_remove(fields_of(e), p, 0);
    set_add(fields_of(u->mine), p);
}

/* A value_at() walked one token at a time: where it is, and whether a "v:" or "."
 * token stopped it there (the value of every longer path is then that). */
struct cursor {
    const cJSON *at;
    int stopped;
};

/* The list item whose members equal those of want (a parsed "k:" token), or NULL. */
static const cJSON *find_parsed(const cJSON *list, const cJSON *want)
{
    const cJSON *el;
    cJSON_ArrayForEach(el, list) {
        int ok = want != NULL;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, want)
            ok &= cm_json_equal(cJSON_GetObjectItemCaseSensitive(el, kv->string), kv);
        if (ok)
            break;
    }
    return el;
}

/* The cursor one token further (want: the token parsed, for "k:"). */
static struct cursor step(struct cursor c, const char *t, const cJSON *want)
{
    if (!c.at || c.stopped)
        return c;
    if (t[0] == 'f' && t[1] == ':')
        c.at = cJSON_GetObjectItemCaseSensitive(c.at, t + 2);
    else if (t[0] == 'k' && t[1] == ':')
        c.at = find_parsed(c.at, want);
    else
        c.stopped = 1;
    return c;
}

/*
 * take_changed() for every leaf of set, walking old and next along with the set
 * instead of finding each leaf's value from the top (value_at), so each "k:" token is
 * parsed once and each step taken once: the same values, found in one pass.
 */
static void walk_changed(struct upd *u, const cJSON *set, struct path *p, struct cursor a, struct cursor b)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, set) {
        if (p->n >= MAX_DEPTH)
            return;
        p->tok[p->n++] = c->string;
        const char *t = c->string;
        cJSON *want = t[0] == 'k' && t[1] == ':' && ((a.at && !a.stopped) || (b.at && !b.stopped))
                          ? cJSON_Parse(t + 2) : NULL;
        struct cursor a2 = step(a, t, want), b2 = step(b, t, want);
        cJSON_Delete(want);
        if (c->child)
            walk_changed(u, c, p, a2, b2);
        else
            changed_leaf(u, p, u->old ? a2.at : NULL, b2.at);
        p->n--;
    }
}

/*
 * Whether the walk finds every value of member m (at path sub) where m's field set says it is:
 * each name once in its object and short enough for its "f:" token, each item of a keyed list
 * found again by its "k:" token (as build_member names and step finds them). Any doubt says no.
 */
static int refound(const cm_kind *k, const cJSON *m, const char *sub, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    if (cJSON_IsObject(m)) {
        for (const cJSON *c = m->child; c; c = c->next) {
            if (!c->string || strlen(c->string) > 590)
                return 0;
            for (const cJSON *d = m->child; d != c; d = d->next)
                if (d->string == c->string || strcmp(d->string, c->string) == 0)
                    return 0;
            char csub[512];
            if (snprintf(csub, sizeof csub, "%s%s%s", sub, *sub ? "." : "", c->string) >= (int)sizeof csub)
                csub[0] = '\0';
            if (!refound(k, c, csub, depth + 1))
                return 0;
        }
        return 1;
    }
    const char *key = cJSON_IsArray(m) ? cm_patch_merge_key(k, sub) : NULL;
    if (!key || !*key) /* one leaf, or a set ("v:" stops the walk at the list) */
        return 1;
    char itemsub[520], tok[600];
    snprintf(itemsub, sizeof itemsub, "%s[]", sub);
    for (const cJSON *el = m->child; el; el = el->next) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(el, key);
        if (cJSON_IsString(v) && plain(key) && strlen(key) + 6 * strlen(v->valuestring) + 16 < sizeof tok) {
            /* a string key whose token is not cut (each byte escaped at most as \u00XX): it
             * parses back to the same string, so the walk finds the first item with that value */
            for (const cJSON *e = m->child; e != el; e = e->next)
                if (cm_json_equal(cJSON_GetObjectItemCaseSensitive(e, key), v))
                    return 0;
            if (!refound(k, el, itemsub, depth + 1))
                return 0;
            continue;
        }
        item_token(key, el, tok, sizeof tok);
        cJSON *want = cJSON_Parse(tok + 2);
        const cJSON *found = want ? find_parsed(m, want) : NULL;
        cJSON_Delete(want);
        if (found != el || !refound(k, el, itemsub, depth + 1))
            return 0;
    }
    return 1;
}

/*
 * Whether top-level member m of next can be left out of the update's walk: old's member of
 * its name equals it and the walk would find every value of it (refound), so each of its
 * leaves is found equal in old and next and changes no owner.
 */
static int unchanged(const cm_kind *k, const cJSON *old, const cJSON *next, const cJSON *m)
{
    if (!old || !m->string || strlen(m->string) > 590)
        return 0;
    for (const cJSON *c = next->child; c; c = c->next)
        if (c != m && c->string && strcmp(c->string, m->string) == 0)
            return 0;
    const cJSON *om = cJSON_GetObjectItemCaseSensitive(old, m->string);
    return om && cm_json_equal(om, m) && refound(k, m, m->string, 1);
}

void cm_ssa_update(const cm_kind *k, const cJSON *old, cJSON *next, const char *manager, const char *now)
{
    cJSON *entries = entries_of(old ? old : next);
    struct upd u = {old, next, entries, entry(entries, k, manager, "Update", now)};
    /* next's field set (field_set) without the members an update leaves as they were: most
     * writes change a member or two (a renewTime, a pod's status, which no set holds) */
    cJSON *set = cJSON_CreateObject();
    const cJSON *m;
    cJSON_ArrayForEach(m, next) {
        if (!strcmp(m->string, "apiVersion") || !strcmp(m->string, "kind") || !strcmp(m->string, "status") ||
            unchanged(k, old, next, m))
            continue;
        build_member(k, set, m, "", 0);
    }
    struct path p = {.n = 0};
    walk_changed(&u, set, &p, (struct cursor){old, 0}, (struct cursor){next, 0});
    cJSON_Delete(set);
    store_entries(next, entries);
}

/* ---- apply ---- */

struct app {
    const cJSON *live, *applied;
    cJSON *entries, *mine, *conflicts;
    int count, force;
    const cm_kind *k;
};

/* A leaf of the applied set: a conflict when another manager owns it with another value. */
static void check_leaf(void *ud, const struct path *p)
{
    struct app *a = ud;
    if (!strcmp(p->tok[p->n - 1], "."))
        return;
    cJSON *pa, *pb;
    const cJSON *have = value_at(a->live, p, &pa), *want = value_at(a->applied, p, &pb);
    int same = have && want && cm_json_equal(have, want);
    cJSON *e;
    cJSON_ArrayForEach(e, a->entries) {
        if (e == a->mine || !set_find(fields_of(e), p))
            continue;
        if (a->force || same) {
            if (a->force)
                set_remove(fields_of(e), p, 0);
            continue;
        }
        char field[512], msg[700];
        render(p, field, sizeof field);
        snprintf(msg, sizeof msg, "conflict with \"%s\"%s%s", str(e, "manager"),
                 str(e, "apiVersion") ? " using " : "", str(e, "apiVersion") ? str(e, "apiVersion") : "");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "reason", "FieldManagerConflict");
        cJSON_AddStringToObject(c, "message", msg);
        cJSON_AddStringToObject(c, "field", field);
        cJSON_AddItemToArray(a->conflicts, c);
        a->count++;
    }
}

/* A leaf the manager applied before but not now: removed, unless someone else owns it. */
static void drop_leaf(void *ud, const struct path *p)
{
    struct app *a = ud;
    cJSON *e;
    cJSON_ArrayForEach(e, a->entries)
        if (e != a->mine && set_find(fields_of(e), p))
            return;
    if (set_find(fields_of(a->mine), p))
        return;
    cJSON *parent;
    cJSON *v = value_at(a->live, p, &parent);
    const char *t = p->tok[p->n - 1];
    if (!v || !parent)
        return;
    if (t[0] == 'f')
        cJSON_DeleteItemFromObjectCaseSensitive(parent, t + 2);
    else if (!strcmp(t, ".")) { /* a list item: take it out of its list */
        struct path up = *p;
        up.n--;
        cJSON *list_parent, *item = value_at(a->live, &up, &list_parent);
        if (item && list_parent)
            cJSON_Delete(cJSON_DetachItemViaPointer(list_parent, item));
    }
}

/* The conflict Status: "Apply failed with N conflicts: ...". */
static cJSON *conflict_status(struct app *a)
{
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "Apply failed with %d conflict%s: ", a->count, a->count == 1 ? "" : "s");
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, a->conflicts)
        if (n < (int)sizeof msg)
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%s: %s", i++ ? "\n" : "", str(c, "message"), str(c, "field"));
    cJSON *st = cm_status_new(409, "Conflict", msg);
    cJSON_ArrayForEach(c, a->conflicts)
        cm_status_cause(st, "FieldManagerConflict", str(c, "message"), str(c, "field"));
    return st;
}

/* The live object with the applied configuration merged in. */
static cJSON *merge(const cm_kind *k, const cJSON *live, const cJSON *applied)
{
    char err[256];
    if (k->flags & CM_KIND_BUILTIN) {
        cJSON *m = cm_strategic_patch(k, live, applied, err, sizeof err);
        if (m)
            return m;
    }
    return cm_merge_patch(live, applied);
}

cJSON *cm_ssa_apply(const cm_kind *k, const cJSON *live, const cJSON *applied, const char *manager,
                    int force, const char *now, cJSON **conflict)
{
    *conflict = NULL;
    cJSON *empty = cJSON_CreateObject();
    struct app a = {live ? live : empty, applied, entries_of(live), NULL, cJSON_CreateArray(), 0, force, k};
    cJSON *before = NULL;
    cJSON *e;
    cJSON_ArrayForEach(e, a.entries)
        if (is_entry(e, manager, "Apply"))
            before = cJSON_Duplicate(fields_of(e), 1);
    a.mine = entry(a.entries, k, manager, "Apply", now);
    cJSON *set = field_set(k, applied);
    struct path p = {.n = 0};
    leaves(set, &p, check_leaf, &a);
    cJSON *out = NULL;
    if (a.count) {
        *conflict = conflict_status(&a);
        cJSON_Delete(set);
    } else {
        cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(a.mine, "fieldsV1"));
        cJSON_AddItemToObject(a.mine, "fieldsV1", set);
        out = merge(k, a.live, applied);
        a.live = out;
        p.n = 0;
        if (before)
            leaves(before, &p, drop_leaf, &a);
        store_entries(out, a.entries);
        a.entries = NULL;
    }
    cJSON_Delete(before);
    cJSON_Delete(a.entries);
    cJSON_Delete(a.conflicts);
    cJSON_Delete(empty);
    return out;
}
