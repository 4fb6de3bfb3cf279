/*
 * sim_lease.c - each node's kubelet heartbeat: the Lease kube-node-lease/NODE (coordination.k8s.io/v1),
 * as the kubelet's node lease controller keeps it: holderIdentity the node, leaseDurationSeconds 40,
 * renewTime renewed every 10 s (a quarter of the duration), owned by the Node so that it goes with
 * it. `kubectl describe node` shows it (Lease: HolderIdentity, AcquireTime, RenewTime).
 *
 * One background timer (loop.h) renews every node's Lease, in the store's node order; a node that
 * joins gets its Lease at the next renewal, a node whose kubelet an injected fault stopped gets none.
 * Background, so that a rehearsal waiting on nothing still stops instead of renewing for ever; on
 * the virtual clock it skips the renewals nothing could see (next_renewal).
 */
#include "simint.h"

#include "fault.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_NS "kube-node-lease"
#define LEASE_SECONDS 40
#define RENEW_NS (LEASE_SECONDS / 4 * CM_NS_PER_S)

struct sim_lease {
    cm_sim *s;
    cm_timer *timer;
    const cm_kind *k_lease, *k_node;
};

/* Creates or renews node's Lease. */
static void renew(struct sim_lease *l, const cm_obj *node)
{
    char now[40], name[256];
    sim_micro_now(l->s, now, sizeof now);
    snprintf(name, sizeof name, "%s", node->name);
    cm_obj *old = cm_store_get(sim_store(l->s), l->k_lease, LEASE_NS, name);
    cJSON *lease = old ? cJSON_Duplicate(old->json, 1) : cJSON_CreateObject();
    if (!old) {
        cJSON_AddStringToObject(lease, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(lease, "kind", "Lease");
        cJSON *meta = cJSON_AddObjectToObject(lease, "metadata");
        cJSON_AddStringToObject(meta, "name", name);
        cJSON_AddStringToObject(meta, "namespace", LEASE_NS);
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "apiVersion", "v1");
        cJSON_AddStringToObject(ref, "kind", "Node");
        cJSON_AddStringToObject(ref, "name", name);
        cJSON_AddStringToObject(ref, "uid", cm_meta_str(node->json, "uid") ? cm_meta_str(node->json, "uid") : "");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), ref);
    }
    cJSON *spec = sim_get(lease, "spec");
    if (!cJSON_IsObject(spec)) {
        cJSON_DeleteItemFromObjectCaseSensitive(lease, "spec");
        spec = cJSON_AddObjectToObject(lease, "spec");
    }
    cm_set_str(spec, "holderIdentity", name);
    sim_seti(spec, "leaseDurationSeconds", LEASE_SECONDS);
    cm_set_str(spec, "renewTime", now);
    if (old)
        sim_put(l->s, l->k_lease, lease, NULL);
    else
        sim_create_aside(l->s, l->k_lease, LEASE_NS, lease);
}

/* 10 s from now; on the virtual clock, the last 10 s step before the next thing that happens
 * (nothing can read a Lease in between, so the renewals skipped are not seen: a rehearsal waiting
 * a day for a maintenance window does not renew every Lease 8,640 times). */
static int64_t next_renewal(cm_loop *loop)
{
    int64_t now = cm_loop_now(loop), next = cm_loop_next_foreground(loop);
    if (cm_loop_clock(loop) != CM_CLOCK_VIRTUAL || next == CM_TIME_NEVER || next - now <= RENEW_NS)
        return now + RENEW_NS;
    return now + (next - now) / RENEW_NS * RENEW_NS;
}

/* Every 10 s: each live node's kubelet renews its Lease. */
static void tick(cm_loop *loop, void *ud)
{
    struct sim_lease *l = ud;
    l->timer = NULL;
    cm_obj *const *nodes;
    size_t n = cm_store_list(sim_store(l->s), l->k_node, NULL, &nodes);
    char **names = calloc(n ? n : 1, sizeof *names); /* the writes may move the store's list */
    for (size_t i = 0; names && i < n; i++)
        names[i] = strdup(nodes[i]->name);
    for (size_t i = 0; names && i < n; i++) {
        cm_obj *node = names[i] ? cm_store_get(sim_store(l->s), l->k_node, "", names[i]) : NULL;
        if (node && !sim_deleting(node->json) && !cm_fault_node_down(sim_fake(l->s), names[i]))
            renew(l, node);
        free(names[i]);
    }
    free(names);
    l->timer = cm_loop_timer_background(loop, next_renewal(loop), tick, l);
}

struct sim_lease *sim_lease_new(cm_sim *s)
{
    struct sim_lease *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->s = s;
    l->k_lease = cm_kinds_by_kind(sim_fake(s)->kinds, "coordination.k8s.io/v1", "Lease");
    l->k_node = cm_kinds_by_kind(sim_fake(s)->kinds, "v1", "Node");
    return l;
}

void sim_lease_attach(cm_sim *s)
{
    struct sim_lease *l = sim_ext(s)->lease;
    if (l && l->k_lease && l->k_node && !l->timer) /* the first renewal as the loop starts */
        l->timer = cm_loop_timer_background(sim_loop(s), cm_loop_now(sim_loop(s)), tick, l);
}

void sim_lease_free(cm_sim *s, struct sim_lease *l)
{
    if (l && l->timer)
        cm_loop_timer_cancel(sim_loop(s), l->timer);
    free(l);
}
