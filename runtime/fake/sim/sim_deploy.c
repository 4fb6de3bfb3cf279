/*
 * sim_deploy.c - the Deployment controller, as pkg/controller/deployment runs it.
 *
 * The new ReplicaSet is the one whose pod template equals the Deployment's (ignoring the
 * pod-template-hash label); a template change makes one, named <deployment>-<hash>, with
 * the pod-template-hash label on it, its selector and its template, and the annotations
 * deployment.kubernetes.io/revision (one more than the highest), desired-replicas and
 * max-replicas. RollingUpdate scales it up within maxSurge (rounded up) and the old ones
 * down within maxUnavailable (rounded down; both 0 means 1), unhealthy old pods first;
 * Recreate scales the old ones to 0, waits for their pods to go, then scales the new one
 * up. Old ReplicaSets at 0 beyond revisionHistoryLimit (default 10) are deleted, oldest
 * first. Status: replicas, updatedReplicas, readyReplicas, availableReplicas,
 * unavailableReplicas, observedGeneration, and the Available and Progressing conditions
 * with the controller's reasons and messages (progressDeadlineSeconds included). A paused
 * Deployment only scales. Proportional scaling in the middle of a rollout is not simulated.
 */
#include "simint.h"

#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define REV "deployment.kubernetes.io/revision"
#define HASH "pod-template-hash"

struct rsref {
    char name[256];
    int64_t created;   /* position in creation order: its creationTimestamp, then name */
    int64_t spec, replicas, ready, available, revision;
    const char *ts;
};

static const cm_kind *kind(cm_sim *s, const char *av, const char *k)
{
    return cm_kinds_by_kind(sim_fake(s)->kinds, av, k);
}

/* A template without the pod-template-hash label, for EqualIgnoreHash. */
static cJSON *without_hash(const cJSON *tmpl)
{
    cJSON *t = cJSON_Duplicate(tmpl, 1);
    if (!t)
        t = cJSON_CreateObject();
    cJSON *labels = sim_get(sim_get(t, "metadata"), "labels");
    cJSON_DeleteItemFromObjectCaseSensitive(labels, HASH);
    if (labels && !labels->child)
        cJSON_DeleteItemFromObjectCaseSensitive(sim_get(t, "metadata"), "labels");
    cJSON *meta = sim_get(t, "metadata");
    if (meta && !meta->child)
        cJSON_DeleteItemFromObjectCaseSensitive(t, "metadata");
    return t;
}

/* The pod-template-hash of a template: FNV-32a of its JSON and the collision count, written
 * with the API machinery's safe alphabet (rand.SafeEncodeString of the decimal value). */
static void template_hash(const cJSON *tmpl, int64_t collisions, char *buf, size_t size)
{
    static const char ALPHA[] = "bcdfghjklmnpqrstvwxz2456789";
    cJSON *t = without_hash(tmpl);
    char *text = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    uint32_t h = 2166136261u;
    for (const char *p = text; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    free(text);
    if (collisions)
        for (int i = 0; i < 8; i++)
            h = (h ^ (unsigned char)(collisions >> (8 * i))) * 16777619u;
    char dec[16];
    snprintf(dec, sizeof dec, "%u", h);
    size_t i = 0;
    for (; dec[i] && i + 1 < size; i++)
        buf[i] = ALPHA[(unsigned char)dec[i] % (sizeof ALPHA - 1)];
    buf[i] = '\0';
}

/* An intOrString against total: "25%" rounded up or down, as GetScaledValueFromIntOrPercent. */
static int64_t scaled(const cJSON *v, int64_t total, int up, int64_t dflt_pct)
{
    if (!v)
        return up ? (dflt_pct * total + 99) / 100 : dflt_pct * total / 100;
    if (cJSON_IsString(v)) {
        int64_t pct = strtoll(v->valuestring, NULL, 10);
        return up ? (pct * total + 99) / 100 : pct * total / 100;
    }
    return cJSON_IsNumber(v) ? (int64_t)cJSON_GetNumberValue(v) : 0;
}

static int rolling(const cJSON *spec)
{
    return !sim_is(sim_gets(sim_get(spec, "strategy"), "type"), "Recreate");
}

/* ResolveFenceposts: maxSurge (up) and maxUnavailable (down); both 0 makes unavailable 1. */
static void fenceposts(const cJSON *spec, int64_t replicas, int64_t *surge, int64_t *unavail)
{
    const cJSON *ru = sim_get(sim_get(spec, "strategy"), "rollingUpdate");
    *surge = scaled(sim_get(ru, "maxSurge"), replicas, 1, 25);
    *unavail = scaled(sim_get(ru, "maxUnavailable"), replicas, 0, 25);
    if (*surge == 0 && *unavail == 0)
        *unavail = 1;
}

/* MaxUnavailable for the Available condition: 0 for Recreate, else at most the replicas. */
static int64_t max_unavailable(const cJSON *spec, int64_t replicas)
{
    int64_t surge, unavail;
    if (!rolling(spec) || replicas == 0)
        return 0;
    fenceposts(spec, replicas, &surge, &unavail);
    return unavail > replicas ? replicas : unavail;
}

static int cmp_rs(const void *a, const void *b)
{
    const struct rsref *x = a, *y = b;
    int c = strcmp(x->ts ? x->ts : "", y->ts ? y->ts : "");
    return c ? c : strcmp(x->name, y->name);
}

/* The Deployment's ReplicaSets, oldest first; *newi is the new one's index or -1. */
static size_t replicasets(cm_sim *s, const cm_obj *d, struct rsref **out, ssize_t *newi)
{
    const cm_kind *krs = kind(s, "apps/v1", "ReplicaSet");
    cm_obj *const *items;
    size_t n = cm_store_list(sim_store(s), krs, d->ns, &items), k = 0;
    struct rsref *r = calloc(n ? n : 1, sizeof *r);
    *out = r;
    *newi = -1;
    if (!r)
        return 0;
    cJSON *want = without_hash(sim_get(sim_get(d->json, "spec"), "template"));
    const char *uid = cm_meta_str(d->json, "uid");
    for (size_t i = 0; i < n; i++) {
        const cJSON *o = items[i]->json, *ref = NULL, *x;
        cJSON_ArrayForEach(x, sim_get(sim_get(o, "metadata"), "ownerReferences"))
            if (cJSON_IsTrue(sim_get(x, "controller")))
                ref = x;
        if (!ref || !sim_is(sim_gets(ref, "uid"), uid) || cm_meta_str(o, "deletionTimestamp"))
            continue;
        struct rsref *e = &r[k++];
        snprintf(e->name, sizeof e->name, "%s", items[i]->name);
        e->ts = cm_meta_str(o, "creationTimestamp");
        e->spec = sim_geti(sim_get(o, "spec"), "replicas", 1);
        e->replicas = sim_geti(sim_get(o, "status"), "replicas", 0);
        e->ready = sim_geti(sim_get(o, "status"), "readyReplicas", 0);
        e->available = sim_geti(sim_get(o, "status"), "availableReplicas", 0);
        const char *rev = sim_gets(sim_get(sim_get(o, "metadata"), "annotations"), REV);
        e->revision = rev ? strtoll(rev, NULL, 10) : 0;
    }
    qsort(r, k, sizeof *r, cmp_rs);
    for (size_t i = 0; i < k && *newi < 0; i++) {
        cm_obj *o = cm_store_get(sim_store(s), krs, d->ns, r[i].name);
        cJSON *have = o ? without_hash(sim_get(sim_get(o->json, "spec"), "template")) : NULL;
        if (have && cJSON_Compare(have, want, 1))
            *newi = (ssize_t)i;
        cJSON_Delete(have);
    }
    cJSON_Delete(want);
    return k;
}

static void set_annotation(cJSON *meta, const char *key, const char *value)
{
    cJSON *ann = sim_get(meta, "annotations");
    if (!cJSON_IsObject(ann)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
        ann = cJSON_AddObjectToObject(meta, "annotations");
    }
    cm_set_str(ann, key, value);
}

static void set_annotation_int(cJSON *meta, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    set_annotation(meta, key, buf);
}

/* Creates the new ReplicaSet (replicas as given); returns its name in name. */
static int create_rs(cm_sim *s, const cm_obj *d, int64_t revision, int64_t replicas, int64_t surge, char *name,
                     size_t size)
{
    const cJSON *spec = sim_get(d->json, "spec");
    char hash[16];
    template_hash(sim_get(spec, "template"), sim_geti(sim_get(d->json, "status"), "collisionCount", 0), hash,
                  sizeof hash);
    snprintf(name, size, "%.240s-%s", d->name, hash);
    cJSON *rs = cJSON_CreateObject();
    cJSON_AddStringToObject(rs, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(rs, "kind", "ReplicaSet");
    cJSON *meta = cJSON_AddObjectToObject(rs, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", d->ns);
    set_annotation_int(meta, "deployment.kubernetes.io/desired-replicas", sim_geti(spec, "replicas", 1));
    set_annotation_int(meta, "deployment.kubernetes.io/max-replicas", sim_geti(spec, "replicas", 1) + surge);
    set_annotation_int(meta, REV, revision);
    cJSON *labels = cJSON_Duplicate(sim_get(sim_get(sim_get(spec, "template"), "metadata"), "labels"), 1);
    cJSON_AddItemToObject(meta, "labels", labels ? labels : cJSON_CreateObject());
    cm_set_str(sim_get(meta, "labels"), HASH, hash);
    sim_owner_ref(meta, d);
    cJSON *rspec = cJSON_AddObjectToObject(rs, "spec");
    if (sim_get(spec, "minReadySeconds"))
        sim_seti(rspec, "minReadySeconds", sim_geti(spec, "minReadySeconds", 0));
    sim_seti(rspec, "replicas", replicas);
    cJSON *sel = cJSON_Duplicate(sim_get(spec, "selector"), 1);
    cJSON_AddItemToObject(rspec, "selector", sel ? sel : cJSON_CreateObject());
    cJSON *ml = sim_get(sim_get(rspec, "selector"), "matchLabels");
    if (!cJSON_IsObject(ml))
        ml = cJSON_AddObjectToObject(sim_get(rspec, "selector"), "matchLabels");
    cm_set_str(ml, HASH, hash);
    cJSON *tmpl = cJSON_Duplicate(sim_get(spec, "template"), 1);
    cJSON_AddItemToObject(rspec, "template", tmpl ? tmpl : cJSON_CreateObject());
    cJSON *tmeta = sim_get(sim_get(rspec, "template"), "metadata");
    if (!tmeta)
        tmeta = cJSON_AddObjectToObject(sim_get(rspec, "template"), "metadata");
    cJSON *tl = sim_get(tmeta, "labels");
    if (!tl)
        tl = cJSON_AddObjectToObject(tmeta, "labels");
    cm_set_str(tl, HASH, hash);
    return sim_call(s, "POST", kind(s, "apps/v1", "ReplicaSet"), d->ns, NULL, NULL, NULL, rs);
}

/* Sets a ReplicaSet's replicas (and the desired/max annotations the controller keeps on it). */
static void scale_rs(cm_sim *s, const char *ns, const char *name, int64_t replicas, int64_t desired, int64_t maxr,
                     int64_t revision)
{
    cm_obj *o = cm_store_get(sim_store(s), kind(s, "apps/v1", "ReplicaSet"), ns, name);
    if (!o)
        return;
    cJSON *next = cJSON_Duplicate(o->json, 1);
    sim_seti(sim_get(next, "spec"), "replicas", replicas);
    cJSON *meta = cm_meta(next);
    set_annotation_int(meta, "deployment.kubernetes.io/desired-replicas", desired);
    set_annotation_int(meta, "deployment.kubernetes.io/max-replicas", maxr);
    if (revision > 0)
        set_annotation_int(meta, REV, revision);
    if (cJSON_Compare(next, o->json, 1)) {
        cJSON_Delete(next);
        return;
    }
    sim_put(s, o->kind, next, NULL);
}

/* Whether any pod of an old ReplicaSet still runs (Recreate waits for none). */
static int old_pods_running(cm_sim *s, const char *ns, const struct rsref *r, size_t n, ssize_t newi)
{
    const cm_kind *krs = kind(s, "apps/v1", "ReplicaSet");
    for (size_t i = 0; i < n; i++) {
        if ((ssize_t)i == newi)
            continue;
        cm_obj *o = cm_store_get(sim_store(s), krs, ns, r[i].name);
        cm_obj **pods;
        size_t np = o ? sim_owned_pods(s, o, &pods) : 0;
        int running = 0;
        for (size_t k = 0; k < np; k++) {
            const char *ph = sim_gets(sim_get(pods[k]->json, "status"), "phase");
            running |= !sim_is(ph, "Succeeded") && !sim_is(ph, "Failed");
        }
        if (o)
            free(pods);
        if (running)
            return 1;
    }
    return 0;
}

/* One rolling step: the new ReplicaSet up within maxSurge, else the old ones down within
 * maxUnavailable (rolloutRolling: a sync that scaled the new set does nothing else). */
static void roll(cm_sim *s, const cm_obj *d, struct rsref *r, size_t n, ssize_t newi, int64_t surge, int64_t unavail)
{
    int64_t want = sim_geti(sim_get(d->json, "spec"), "replicas", 1), total = 0, old = 0, avail = 0;
    for (size_t i = 0; i < n; i++) {
        total += r[i].spec;
        avail += r[i].available;
        old += (ssize_t)i != newi ? r[i].spec : 0;
    }
    struct rsref *nr = &r[newi];
    int64_t maxr = want + surge;
    if (nr->spec > want) {
        scale_rs(s, d->ns, nr->name, want, want, maxr, 0);
        nr->spec = want;
        return;
    } else if (nr->spec < want && total < maxr) {
        int64_t up = maxr - total < want - nr->spec ? maxr - total : want - nr->spec;
        scale_rs(s, d->ns, nr->name, nr->spec + up, want, maxr, 0);
        nr->spec += up;
        return;
    }
    if (old == 0)
        return;
    int64_t min_avail = want - unavail;
    int64_t new_unavail = nr->spec - nr->available;
    int64_t budget = total - min_avail - (new_unavail > 0 ? new_unavail : 0);
    if (budget <= 0)
        return;
    /* cleanupUnhealthyReplicas: old pods that are not available go first, oldest set first */
    for (size_t i = 0; i < n && budget > 0; i++) {
        int64_t unhealthy = r[i].spec - r[i].available;
        if ((ssize_t)i == newi || r[i].spec == 0 || unhealthy <= 0)
            continue;
        int64_t down = unhealthy < budget ? unhealthy : budget;
        scale_rs(s, d->ns, r[i].name, r[i].spec - down, want, maxr, 0);
        r[i].spec -= down;
        r[i].available = r[i].available < r[i].spec ? r[i].available : r[i].spec;
        budget -= down;
    }
    avail = 0;
    for (size_t i = 0; i < n; i++)
        avail += r[i].available < r[i].spec ? r[i].available : r[i].spec;
    /* scaleDownOldReplicaSetsForRollingUpdate: then available ones, above minAvailable */
    int64_t spare = avail - min_avail;
    for (size_t i = 0; i < n && spare > 0; i++) {
        if ((ssize_t)i == newi || r[i].spec == 0)
            continue;
        int64_t down = r[i].spec < spare ? r[i].spec : spare;
        scale_rs(s, d->ns, r[i].name, r[i].spec - down, want, maxr, 0);
        r[i].spec -= down;
        spare -= down;
    }
}

/* Recreate: old sets to 0; once their pods are gone, the new one to the replicas. */
static void recreate(cm_sim *s, const cm_obj *d, struct rsref *r, size_t n, ssize_t newi)
{
    int64_t want = sim_geti(sim_get(d->json, "spec"), "replicas", 1);
    int scaled_down = 0;
    for (size_t i = 0; i < n; i++)
        if ((ssize_t)i != newi && r[i].spec > 0) {
            scale_rs(s, d->ns, r[i].name, 0, want, want, 0);
            r[i].spec = 0;
            scaled_down = 1;
        }
    if (scaled_down || old_pods_running(s, d->ns, r, n, newi))
        return;
    if (newi >= 0 && r[newi].spec != want)
        scale_rs(s, d->ns, r[newi].name, want, want, want, 0);
}

/* Deletes old ReplicaSets at 0 beyond revisionHistoryLimit, oldest first (once the rollout is done). */
static void cleanup(cm_sim *s, const cm_obj *d, const struct rsref *r, size_t n, ssize_t newi)
{
    int64_t limit = sim_geti(sim_get(d->json, "spec"), "revisionHistoryLimit", 10), idle = 0;
    for (size_t i = 0; i < n; i++)
        idle += (ssize_t)i != newi && r[i].spec == 0 && r[i].replicas == 0;
    const cm_kind *krs = kind(s, "apps/v1", "ReplicaSet");
    for (size_t i = 0; i < n && idle > limit; i++) {
        if ((ssize_t)i == newi || r[i].spec != 0 || r[i].replicas != 0)
            continue;
        cm_obj *o = cm_store_get(sim_store(s), krs, d->ns, r[i].name);
        if (!o)
            continue;
        cJSON *opts = cJSON_CreateObject();
        cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
        cJSON_AddStringToObject(opts, "apiVersion", "v1");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(opts, "preconditions"), "uid", cm_meta_str(o->json, "uid"));
        sim_call(s, "DELETE", krs, d->ns, r[i].name, NULL, NULL, opts);
        idle--;
    }
}

/* SetDeploymentCondition: unchanged when status and reason are; the transition time kept
 * when the status is; a changed condition moves to the end. */
static void set_cond(cJSON *conds, const char *type, const char *status, const char *reason, const char *msg,
                     const char *now, int touch)
{
    int i = 0;
    const char *since = NULL;
    cJSON *c;
    cJSON_ArrayForEach(c, conds) {
        if (sim_is(sim_gets(c, "type"), type))
            break;
        i++;
    }
    if (c && sim_is(sim_gets(c, "status"), status) && sim_is(sim_gets(c, "reason"), reason) && !touch)
        return;
    char keep[40] = "";
    if (c && sim_is(sim_gets(c, "status"), status) && sim_gets(c, "lastTransitionTime"))
        snprintf(keep, sizeof keep, "%s", sim_gets(c, "lastTransitionTime"));
    since = keep[0] ? keep : now;
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "lastTransitionTime", since);
    cJSON_AddStringToObject(n, "lastUpdateTime", now);
    cJSON_AddStringToObject(n, "message", msg);
    cJSON_AddStringToObject(n, "reason", reason);
    cJSON_AddStringToObject(n, "status", status);
    cJSON_AddStringToObject(n, "type", type);
    if (c)
        cJSON_DeleteItemFromArray(conds, i);
    cJSON_AddItemToArray(conds, n);
}

static const cJSON *find_cond(const cJSON *conds, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
        if (sim_is(sim_gets(c, "type"), type))
            return c;
    return NULL;
}

/* The Deployment's revision annotation follows its new ReplicaSet's (a write of the object). */
static void set_revision(cm_sim *s, const cm_obj *d, int64_t rev)
{
    const char *have = sim_gets(sim_get(sim_get(d->json, "metadata"), "annotations"), REV);
    if (rev <= 0 || (have && strtoll(have, NULL, 10) == rev))
        return;
    cJSON *next = cJSON_Duplicate(d->json, 1);
    set_annotation_int(cm_meta(next), REV, rev);
    sim_put(s, d->kind, next, NULL);
}

/* DeploymentTimedOut: no progress for progressDeadlineSeconds since the Progressing condition's
 * lastUpdateTime makes it False, ProgressDeadlineExceeded; until then the Deployment is looked
 * at again when the deadline passes. */
static void deadline(cm_sim *s, const cJSON *spec, cJSON *conds, const char *ns, const char *name, const char *rsname,
                     const char *now)
{
    const cJSON *p = find_cond(conds, "Progressing");
    if (!p || sim_is(sim_gets(p, "reason"), "NewReplicaSetAvailable") ||
        sim_is(sim_gets(p, "reason"), "ProgressDeadlineExceeded") || !sim_is(sim_gets(p, "status"), "True"))
        return;
    int64_t left = cm_parse_time(sim_gets(p, "lastUpdateTime")) + sim_geti(spec, "progressDeadlineSeconds", 600) -
                   cm_loop_wall(sim_loop(s)) / CM_NS_PER_S;
    if (left > 0) {
        char key[520];
        snprintf(key, sizeof key, "%s/%s", ns, name);
        sim_later(s, SIM_DEPLOY, key, left * CM_NS_PER_S);
        return;
    }
    char msg[400];
    if (rsname)
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has timed out progressing.", rsname);
    else
        snprintf(msg, sizeof msg, "Deployment \"%s\" has timed out progressing.", name);
    set_cond(conds, "Progressing", "False", "ProgressDeadlineExceeded", msg, now, 0);
}

static void sync_status(cm_sim *s, const char *ns, const char *name, const char *created, const char *found)
{
    const cm_kind *kd = kind(s, "apps/v1", "Deployment");
    cm_obj *d = cm_store_get(sim_store(s), kd, ns, name);
    if (!d)
        return;
    struct rsref *r;
    ssize_t newi;
    size_t n = replicasets(s, d, &r, &newi);
    const cJSON *spec = sim_get(d->json, "spec"), *old = sim_get(d->json, "status");
    int64_t want = sim_geti(spec, "replicas", 1), replicas = 0, ready = 0, avail = 0;
    int64_t updated = newi >= 0 ? r[newi].replicas : 0;
    for (size_t i = 0; i < n; i++) {
        replicas += r[i].replicas;
        ready += r[i].ready;
        avail += r[i].available;
    }
    char now[40];
    sim_now(s, now, sizeof now);
    cJSON *st = cJSON_CreateObject();
    if (avail)
        sim_seti(st, "availableReplicas", avail);
    if (sim_get(old, "collisionCount"))
        sim_seti(st, "collisionCount", sim_geti(old, "collisionCount", 0));
    cJSON *conds = cJSON_Duplicate(sim_get(old, "conditions"), 1);
    if (!conds)
        conds = cJSON_CreateArray();
    char msg[400];
    const char *rsname = newi >= 0 ? r[newi].name : NULL;
    int has_deadline = !sim_get(spec, "progressDeadlineSeconds") || sim_geti(spec, "progressDeadlineSeconds", 600) != INT32_MAX;
    int paused = cJSON_IsTrue(sim_get(spec, "paused"));
    const cJSON *pc = find_cond(conds, "Progressing");
    if (paused && !sim_is(sim_gets(pc, "reason"), "DeploymentPaused")) {
        set_cond(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now, 0);
    } else if (!paused && sim_is(sim_gets(pc, "reason"), "DeploymentPaused")) {
        set_cond(conds, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now, 0);
    }
    if (paused) {
        has_deadline = 0; /* a paused Deployment makes no progress and cannot time out */
    } else if (created) {
        snprintf(msg, sizeof msg, "Created new replica set \"%s\"", created);
        set_cond(conds, "Progressing", "True", "NewReplicaSetCreated", msg, now, 0);
    } else if (found && has_deadline && !find_cond(conds, "Progressing")) {
        snprintf(msg, sizeof msg, "Found new replica set \"%s\"", found);
        set_cond(conds, "Progressing", "True", "FoundNewReplicaSet", msg, now, 0);
    }
    if (avail >= want - max_unavailable(spec, want))
        set_cond(conds, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now, 0);
    else
        set_cond(conds, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now, 0);
    int64_t gen = sim_geti(sim_get(d->json, "metadata"), "generation", 1);
    int complete = updated == want && replicas == want && avail == want;
    int progress = updated > sim_geti(old, "updatedReplicas", 0) ||
                   replicas - updated < sim_geti(old, "replicas", 0) - sim_geti(old, "updatedReplicas", 0) ||
                   ready > sim_geti(old, "readyReplicas", 0) || avail > sim_geti(old, "availableReplicas", 0);
    if (has_deadline && complete) {
        if (rsname)
            snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.", rsname);
        else
            snprintf(msg, sizeof msg, "Deployment \"%s\" has successfully progressed.", name);
        set_cond(conds, "Progressing", "True", "NewReplicaSetAvailable", msg, now, 0);
    } else if (has_deadline && progress) {
        if (rsname)
            snprintf(msg, sizeof msg, "ReplicaSet \"%s\" is progressing.", rsname);
        else
            snprintf(msg, sizeof msg, "Deployment \"%s\" is progressing.", name);
        set_cond(conds, "Progressing", "True", "ReplicaSetUpdated", msg, now, 1);
    } else if (has_deadline) {
        deadline(s, spec, conds, ns, name, rsname, now);
    }
    if (cJSON_GetArraySize(conds))
        cJSON_AddItemToObject(st, "conditions", conds);
    else
        cJSON_Delete(conds);
    sim_seti(st, "observedGeneration", gen);
    if (ready)
        sim_seti(st, "readyReplicas", ready);
    sim_seti(st, "replicas", replicas);
    if (want - avail > 0)
        sim_seti(st, "unavailableReplicas", want - avail);
    sim_seti(st, "updatedReplicas", updated);
    free(r);
    sim_put_status(s, d, st);
}

void sim_deploy_reconcile(cm_sim *s, const char *ns, const char *name)
{
    const cm_kind *kd = kind(s, "apps/v1", "Deployment");
    cm_obj *d = cm_store_get(sim_store(s), kd, ns, name);
    if (!d || cm_meta_str(d->json, "deletionTimestamp"))
        return;
    /* what the spec says is read now: the writes below replace d's JSON */
    const cJSON *spec = sim_get(d->json, "spec");
    int64_t want = sim_geti(spec, "replicas", 1), surge = 0, unavail = 0;
    const int rolls = rolling(spec), paused = cJSON_IsTrue(sim_get(spec, "paused"));
    if (rolls)
        fenceposts(spec, want, &surge, &unavail);
    spec = NULL;
    struct rsref *r;
    ssize_t newi;
    size_t n = replicasets(s, d, &r, &newi);
    int64_t maxrev = 0, old_total = 0;
    for (size_t i = 0; i < n; i++) {
        maxrev = r[i].revision > maxrev ? r[i].revision : maxrev;
        old_total += (ssize_t)i != newi ? r[i].spec : 0;
    }
    char created[300] = "", found[300] = "";
    if (paused) { /* sync(): scaling only, no new ReplicaSet, no rollout */
        int only = newi >= 0;
        for (size_t i = 0; i < n && only; i++)
            only = (ssize_t)i == newi || r[i].spec == 0;
        if (only && r[newi].spec != want)
            scale_rs(s, ns, r[newi].name, want, want, want + surge, 0);
        if (newi >= 0)
            snprintf(found, sizeof found, "%s", r[newi].name);
        free(r);
        sync_status(s, ns, name, NULL, found[0] ? found : NULL);
        return;
    }
    if (newi < 0) {
        int64_t initial = want; /* NewRSNewReplicas: Recreate starts it at the replicas */
        if (rolls) {    /* RollingUpdate: within maxSurge of all the pods there are */
            int64_t total = 0;
            for (size_t i = 0; i < n; i++)
                total += r[i].spec;
            initial = want + surge - total;
            initial = initial < 0 ? 0 : initial > want ? want : initial;
        }
        int rc = 0;
        if (!rolls && (old_total > 0 || old_pods_running(s, ns, r, n, -1))) {
            recreate(s, d, r, n, -1); /* old ones first; the new set waits for their pods */
        } else if ((rc = create_rs(s, d, maxrev + 1, initial, surge, created, sizeof created)) == 201) {
            free(r);
            set_revision(s, d, maxrev + 1);
            sync_status(s, ns, name, created, NULL);
            return; /* its creation event brings the rollout back */
        } else if (rc == 409) { /* another template has that name: collisionCount changes the hash */
            cJSON *st = cJSON_Duplicate(sim_get(d->json, "status"), 1);
            if (!st)
                st = cJSON_CreateObject();
            sim_seti(st, "collisionCount", sim_geti(st, "collisionCount", 0) + 1);
            free(r);
            sim_put_status(s, d, st);
            return;
        }
        free(r);
        sync_status(s, ns, name, NULL, NULL);
        return;
    }
    {
        snprintf(found, sizeof found, "%s", r[newi].name);
        if (r[newi].revision <= maxrev && n > 1 && r[newi].revision < maxrev) {
            /* an old template again (a rollback): its set becomes the newest revision */
            scale_rs(s, ns, r[newi].name, r[newi].spec, want, want + surge, maxrev + 1);
            r[newi].revision = maxrev + 1;
        }
        set_revision(s, d, r[newi].revision);
        d = cm_store_get(sim_store(s), kd, ns, name);
        if (!d) {
            free(r);
            return;
        }
        if (rolls)
            roll(s, d, r, n, newi, surge, unavail);
        else
            recreate(s, d, r, n, newi);
        int done = r[newi].spec == want && r[newi].available == want;
        for (size_t i = 0; i < n && done; i++)
            done = (ssize_t)i == newi || r[i].spec == 0;
        if (done)
            cleanup(s, d, r, n, newi);
    }
    free(r);
    sync_status(s, ns, name, NULL, found[0] ? found : NULL);
}
