/* sim_x.c - the hooks sim.c calls, handed to the controllers of sim_*.c (see simint.h). */
#include "simint.h"

#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *sim_get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

const char *sim_gets(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(sim_get(o, k));
}

int64_t sim_geti(const cJSON *o, const char *k, int64_t dflt)
{
    int64_t v;
    return cm_json_int64(sim_get(o, k), &v) ? v : dflt;
}

void sim_seti(cJSON *o, const char *k, int64_t v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddItemToObject(o, k, cm_json_new_int64(v));
}

int sim_is(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int sim_deleting(const cJSON *o)
{
    return cm_meta_str(o, "deletionTimestamp") != NULL;
}

int sim_terminal(const cJSON *pod)
{
    const char *p = sim_gets(sim_get(pod, "status"), "phase");
    return sim_is(p, "Succeeded") || sim_is(p, "Failed");
}

int sim_has_finalizer(const cJSON *obj, const char *name)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, sim_get(sim_get(obj, "metadata"), "finalizers"))
        if (sim_is(cJSON_GetStringValue(f), name))
            return 1;
    return 0;
}

int sim_x_new(cm_sim *s, const cJSON *settings, char *err, size_t errsize)
{
    struct sim_x *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    sim_set_ext(s, x);
    x->gc = sim_gc_new();
    x->ipam = sim_ipam_new();
    x->lease = sim_lease_new(s);
    x->job = x->gc && x->ipam && x->lease ? sim_job_new(settings, err, errsize) : NULL;
    return x->gc && x->job && x->ipam && x->lease ? 0 : -1;
}

void sim_x_free(cm_sim *s)
{
    struct sim_x *x = sim_ext(s);
    if (!x)
        return;
    sim_gc_free(x->gc);
    sim_job_free(s, x->job);
    sim_ipam_free(x->ipam);
    sim_lease_free(s, x->lease);
    free(x);
    sim_set_ext(s, NULL);
}

/* A pod of a Deployment's ReplicaSet went: the Deployment looks again (Recreate waits for that). */
static void pod_gone(cm_sim *s, const cm_event *ev)
{
    const cJSON *r, *rsref = NULL;
    cJSON_ArrayForEach(r, sim_get(sim_get(ev->obj, "metadata"), "ownerReferences"))
        if (cJSON_IsTrue(sim_get(r, "controller")) && sim_is(sim_gets(r, "kind"), "ReplicaSet"))
            rsref = r;
    const cm_kind *krs = rsref ? cm_kinds_by_kind(sim_fake(s)->kinds, "apps/v1", "ReplicaSet") : NULL;
    cm_obj *rs = krs ? cm_store_get(sim_store(s), krs, ev->ns, sim_gets(rsref, "name")) : NULL;
    const cJSON *dref = NULL;
    const cJSON *refs = rs ? sim_get(sim_get(rs->json, "metadata"), "ownerReferences") : NULL;
    cJSON_ArrayForEach(r, refs)
        if (cJSON_IsTrue(sim_get(r, "controller")) && sim_is(sim_gets(r, "kind"), "Deployment"))
            dref = r;
    if (dref) {
        char key[520];
        snprintf(key, sizeof key, "%s/%s", ev->ns, sim_gets(dref, "name"));
        sim_enqueue_key(s, SIM_DEPLOY, key);
    }
}

void sim_x_on_change(cm_sim *s, const cm_event *ev)
{
    if (ev->type == CM_EV_DELETED && !ev->kind->group[0] && sim_is(ev->kind->kind, "Pod"))
        pod_gone(s, ev);
    sim_gc_on_change(s, ev);
    sim_job_on_change(s, ev);
    sim_ipam_on_change(s, ev);
}

void sim_x_attach(cm_sim *s)
{
    sim_gc_attach(s);
    sim_job_attach(s);
    sim_lease_attach(s);
}

void sim_x_pod_ready(cm_sim *s, const cm_obj *pod)
{
    sim_job_pod_ready(s, pod);
}
