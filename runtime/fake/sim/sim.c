/*
 * sim.c - the simulated scheduler, controllers and kubelets (see sim.h).
 *
 * Shape: a store subscriber turns each change into work items (controller,
 * namespace/name) on one FIFO queue, deduplicated while queued; a loop timer
 * drains it a reaction delay later, each item run by its controller's row of
 * CONTROLLERS (the controllers of sim_*.c too). Each reconcile reads the store and writes
 * through cm_fake_handle(), and writes only what differs, so the cluster
 * settles. Kubelets keep a small state per pod (what it waits for, its timer).
 */
#include "sim.h"

#include "cni.h"
#include "duration.h"
#include "fakeint.h"
#include "fault.h"
#include "ip4.h"
#include "json.h"
#include "map.h"
#include "select.h"
#include "simint.h"
#include "store.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct item {
    enum sim_ctl ctl;
    char *key; /* "ns/name", or "name" for cluster-scoped objects */
};

/* A pod-delay rule of the settings: by image prefix or label selector. */
struct rule {
    char *image_prefix;
    cm_selector *sel;
    int64_t start, ready;
};

enum stage { S_NONE, S_STARTING, S_RETRY, S_READYING, S_RUNNING, S_STOPPING };

/* What a kubelet knows of one of its pods. */
struct podstate {
    cm_sim *sim;
    char key[512];
    char uid[64];
    enum stage stage;
    cm_timer *timer;
    int agent_started;   /* the agent was told it started */
    int agent;           /* which network agent (AG_*) the pod now under its key runs: kept by on_change */
    char event[300];     /* the FailedCreatePodSandBox Event's name, once made */
    int64_t event_count;
};

/* A simulated node: its host and its host-local allocator. */
struct simnode {
    cm_host *host;
    uint32_t last_ip; /* the last pod address handed out (host-local's round robin) */
};

struct cm_sim {
    cm_fake *f;
    cm_loop *loop;
    cm_store *st;
    uint64_t rng;
    int sub;
    int64_t react, start, ready, stop, retry;
    double jitter;
    struct rule *rules;
    size_t nrules;
    struct item *q;       /* the work queue, a ring */
    size_t qhead, qlen, qcap;
    cm_map *queued;       /* "ctl|key" of the items queued */
    char **parked;        /* pods the scheduler could not place, in the order it tried them */
    size_t nparked, cparked;
    cm_map *parked_set;
    cm_map *dsrevs;       /* DaemonSet uid -> struct dsrev */
    cm_map *owned;        /* controller uid -> struct ownidx: its pods, in creation order */
    cm_map *pdbs;         /* PDB "ns/name" -> struct pdbidx: the pods its selector matches */
    cm_timer *drain;
    cm_timer *resync;     /* the agents' resync, once the network data changed (network_changed) */
    int resync_mask;      /* which agents it tells (AG_*) */
    cm_map *pods;         /* "ns/name" -> struct podstate */
    cm_map *nodes;        /* name -> struct simnode */
    cm_sim_agent_fn agent;
    void *agent_ud;
    uint64_t requests, reconciles;
    uint64_t lost; /* work items out of memory kept from the queue (cm_sim_lost) */
    uint64_t node_epoch;  /* bumped when a node comes or goes (positions in the node list move) */
    int64_t event_ns;     /* the time in the name of the last Event made (names_event) */
    char scheduler[300];  /* the scheduler's reportingInstance, once found (scheduler_instance) */
    struct sim_x *x;      /* the controllers of sim_*.c (simint.h) */
    const cm_kind *k_pod, *k_node, *k_ds, *k_rs, *k_deploy, *k_sts, *k_pdb, *k_event;
};

/* ---- small helpers ---- */

/* (the readers sim_get, sim_gets, sim_geti, sim_seti and sim_is are simint.h's, shared with sim_*.c) */

/* Gets or adds an object member. */
static cJSON *objmember(cJSON *o, const char *k)
{
    cJSON *m = sim_get(o, k);
    if (!cJSON_IsObject(m)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, k);
        m = cJSON_AddObjectToObject(o, k);
    }
    return m;
}

/* A delay stretched by up to the jitter fraction, drawn from the seed. */
static int64_t jittered(cm_sim *s, int64_t d)
{
    double u = (double)(cm_splitmix64(&s->rng) >> 11) / 9007199254740992.0;
    return d + (int64_t)((double)d * s->jitter * u);
}

static void now_str(cm_sim *s, char *buf, size_t size)
{
    cm_fake_now(s->f, buf, size);
}

/* Names and keys fit the fixed buffers here: fixtures and the API server refuse longer names. */
_Static_assert(256 > CM_FAKE_NAME_MAX && 256 > CM_FAKE_NAMESPACE_MAX, "name[256] holds any name");
_Static_assert(512 > CM_FAKE_NAMESPACE_MAX + 1 + CM_FAKE_NAME_MAX, "key[512] holds any namespace/name");

static void objkey(const char *ns, const char *name, char *buf, size_t size)
{
    if (ns && *ns)
        snprintf(buf, size, "%s/%s", ns, name);
    else
        snprintf(buf, size, "%s", name);
}

/* Splits "ns/name" (or "name") into its parts. */
static void splitkey(const char *key, char *ns, size_t nsz, char *name, size_t namesz)
{
    const char *slash = strchr(key, '/');
    if (slash) {
        snprintf(ns, nsz, "%.*s", (int)(slash - key), key);
        snprintf(name, namesz, "%s", slash + 1);
    } else {
        ns[0] = '\0';
        snprintf(name, namesz, "%s", key);
    }
}

static const char *uid_of(const cJSON *o)
{
    return cm_meta_str(o, "uid");
}

static const char *phase_of(const cJSON *pod)
{
    return sim_gets(sim_get(pod, "status"), "phase");
}

static int cond_true(const cJSON *obj, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(obj, "status"), "conditions"))
        if (sim_is(sim_gets(c, "type"), type))
            return sim_is(sim_gets(c, "status"), "True");
    return 0;
}

static int pod_ready(const cJSON *pod)
{
    return sim_is(phase_of(pod), "Running") && cond_true(pod, "Ready") && !sim_deleting(pod);
}

/* The controller ownerReference of obj, or NULL. */
static const cJSON *controller_ref(const cJSON *obj)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, sim_get(sim_get(obj, "metadata"), "ownerReferences"))
        if (cJSON_IsTrue(sim_get(r, "controller")))
            return r;
    return NULL;
}

/* An FNV-1a hash of the object's text, as a short lowercase name part (template hashes). */
static void hash_name(const cJSON *o, char *buf, size_t size)
{
    static const char ALPHA[] = "bcdfghjklmnpqrstvwxz2456789";
    char *text = cJSON_PrintUnformatted(o);
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const char *p = text; p && *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
    free(text);
    size_t i = 0;
    for (; i + 1 < size && i < 10; i++, h /= (sizeof ALPHA - 1))
        buf[i] = ALPHA[h % (sizeof ALPHA - 1)];
    buf[i] = '\0';
}

/* ---- writes through the REST core ---- */

static void path_of(const cm_kind *k, const char *ns, const char *name, const char *sub, char *buf,
                    size_t size)
{
    int n = k->group[0] ? snprintf(buf, size, "/apis/%s/%s", k->group, k->version)
                        : snprintf(buf, size, "/api/%s", k->version);
    if (ns && *ns && k->namespaced)
        n += snprintf(buf + n, size - (size_t)n, "/namespaces/%s", ns);
    n += snprintf(buf + n, size - (size_t)n, "/%s", k->plural);
    if (name)
        n += snprintf(buf + n, size - (size_t)n, "/%s", name);
    if (sub)
        snprintf(buf + n, size - (size_t)n, "/%s", sub);
}

/* Sends one request with body (consumed, may be NULL); returns the HTTP status. aside: see
 * cm_fake_req (the writes that nothing in the run waits for). */
static int call_as(cm_sim *s, const char *method, const cm_kind *k, const char *ns, const char *name,
                   const char *sub, cJSON *body, int aside)
{
    char path[1024];
    path_of(k, ns, name, sub, path, sizeof path);
    /* the tree itself, as the text it prints would parse (numbers from cm_json_new_int64,
     * the rest copied from stored objects); only the status comes back */
    cm_fake_req req = {.method = method, .path = path, .internal = 1, .content_type = "application/json",
                       .json = body, .status_only = 1, .aside = aside};
    cm_fake_resp resp = {0};
    cm_fake_handle(s->f, &req, &resp);
    s->requests++;
    int status = resp.status;
    cm_fake_resp_clear(&resp);
    return status;
}

static int call(cm_sim *s, const char *method, const cm_kind *k, const char *ns, const char *name,
                const char *sub, cJSON *body)
{
    return call_as(s, method, k, ns, name, sub, body, 0);
}

/* PUTs obj (consumed) to its resource or its status subresource. */
static int put(cm_sim *s, const cm_kind *k, cJSON *obj, const char *sub)
{
    const char *ns = cm_meta_str(obj, "namespace");
    char name[256];
    snprintf(name, sizeof name, "%s", cm_meta_str(obj, "name"));
    char nsb[256];
    snprintf(nsb, sizeof nsb, "%s", ns ? ns : "");
    return call(s, "PUT", k, nsb, name, sub, obj);
}

/* Replaces o's status by status (consumed) unless it is already that. */
static void put_status(cm_sim *s, const cm_obj *o, cJSON *status)
{
    if (cm_json_equal(sim_get(o->json, "status"), status)) {
        cJSON_Delete(status);
        return;
    }
    cJSON *next = cJSON_Duplicate(o->json, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(next, "status", status);
    if (!sim_get(next, "status"))
        cJSON_AddItemToObject(next, "status", status);
    put(s, o->kind, next, "status");
}

/* Deletes a pod (grace -1: its own) with its uid as precondition. */
static void delete_pod(cm_sim *s, const cm_obj *pod, int64_t grace)
{
    cJSON *opts = cJSON_CreateObject();
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    if (grace >= 0)
        sim_seti(opts, "gracePeriodSeconds", grace);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(opts, "preconditions"), "uid", uid_of(pod->json));
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", pod->ns);
    snprintf(name, sizeof name, "%s", pod->name);
    call(s, "DELETE", s->k_pod, ns, name, NULL, opts);
}

/* ---- which pods each controller owns (so a reconcile need not scan its namespace) ---- */

/*
 * One pod of a controller, with what a DaemonSet reconcile reads of it, cached for one
 * version of the pod (rv) and of the node list (epoch): a reconcile of a DaemonSet of
 * a thousand pods then looks at none of their JSON unless they changed.
 */
struct ownent {
    cm_obj *pod;
    int64_t rv;          /* the pod version the facts are for; -1: not read yet */
    uint64_t epoch;      /* the node list pos is for */
    const char *node;    /* ds_pod_node(), "" for none; points into pod->json */
    const char *rev;     /* its controller-revision-hash label, or NULL */
    size_t pos;          /* the first node (store order) whose name is >= node */
    unsigned char at;    /* ... and that node is node itself */
    unsigned char deleting, failed, ready; /* sim_deleting(), phase Failed, pod_ready() */
    unsigned char terminal, running, bound; /* sim_terminal(), phase Running, spec.nodeName set */
};

/* A controller's pods, in creation order. The store's events keep it exact: a pod is
 * listed under the uid of its current controller reference, once. */
struct ownidx {
    struct ownent *e;
    size_t n, cap;
};

/* Lists pod under owner_uid; check: unless it is listed already (not needed at attach,
 * where each pod comes once). */
static void own_add(cm_sim *s, const char *owner_uid, cm_obj *pod, int check)
{
    struct ownidx *ix = cm_map_get(s->owned, owner_uid);
    if (!ix) {
        if (!(ix = calloc(1, sizeof *ix)) || cm_map_set(s->owned, owner_uid, ix) != 0) {
            free(ix);
            return;
        }
    }
    for (size_t i = 0; check && i < ix->n; i++)
        if (ix->e[i].pod == pod)
            return;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 8;
        struct ownent *e = realloc(ix->e, cap * sizeof *e);
        if (!e)
            return;
        ix->e = e;
        ix->cap = cap;
    }
    ix->e[ix->n++] = (struct ownent){.pod = pod, .rv = -1};
}

/* Drops the pod whose tree is json (the pod object is still alive while its event is told). */
static void own_del(cm_sim *s, const char *owner_uid, const cJSON *json)
{
    struct ownidx *ix = cm_map_get(s->owned, owner_uid);
    for (size_t i = 0; ix && i < ix->n; i++) {
        if (ix->e[i].pod->json == json) {
            memmove(ix->e + i, ix->e + i + 1, (ix->n - i - 1) * sizeof *ix->e);
            ix->n--;
            return;
        }
    }
}

/* Keeps the index in step with a pod change (its controller reference may come or go). */
static void own_track(cm_sim *s, const cm_event *ev)
{
    const char *before = ev->prev ? sim_gets(controller_ref(ev->prev), "uid") : NULL;
    const char *after = sim_gets(controller_ref(ev->obj), "uid");
    if (ev->type == CM_EV_DELETED) {
        if (after)
            own_del(s, after, ev->obj);
        return;
    }
    if (ev->prev && sim_is(before, after))
        return; /* listed already, in its place */
    if (before)
        own_del(s, before, ev->obj);
    cm_obj *pod = after ? cm_store_get(s->st, s->k_pod, ev->ns, cm_meta_str(ev->obj, "name")) : NULL;
    if (pod)
        own_add(s, after, pod, 1);
}

/* ---- which pods each PodDisruptionBudget selects (so its reconcile need not scan the namespace) ---- */

/* The pods of a PDB's namespace whose labels its selector matches, sorted by name (the
 * order of the namespace's list), kept in step by the store's events. */
struct pdbidx {
    char uid[64];       /* the PDB it was built for */
    cJSON *selector;    /* a copy of the spec.selector it was built for */
    cm_selector *sel;   /* NULL, or empty: it selects nothing */
    struct pdbent {
        cm_obj *pod;
        int64_t rv;       /* the pod version the facts are for; -1: not read yet */
        unsigned char terminal, ready; /* sim_terminal(), pod_ready() */
        const char *ckind, *cname;     /* its controller reference's kind and name (NULL: none) */
    } *pods;
    size_t n, cap;
};

static void pdbidx_free(struct pdbidx *ix)
{
    if (!ix)
        return;
    cJSON_Delete(ix->selector);
    cm_selector_free(ix->sel);
    free(ix->pods);
    free(ix);
}

/* Where a pod named name is, or goes, in the index. */
static size_t pdb_slot(const struct pdbidx *ix, const char *name, int *found)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->pods[mid].pod->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

/* Puts pod in or out of the index as the selector says (pod NULL: name was deleted). */
static void pdb_place(struct pdbidx *ix, const char *name, cm_obj *pod)
{
    int found;
    size_t at = pdb_slot(ix, name, &found);
    int want = pod && ix->sel && !cm_selector_empty(ix->sel) &&
               cm_selector_match_labels(ix->sel, sim_get(sim_get(pod->json, "metadata"), "labels"));
    if (found && !want) {
        memmove(ix->pods + at, ix->pods + at + 1, (ix->n - at - 1) * sizeof *ix->pods);
        ix->n--;
    } else if (found) {
        if (ix->pods[at].pod != pod)
            ix->pods[at] = (struct pdbent){.pod = pod, .rv = -1};
    } else if (want) {
        if (ix->n == ix->cap) {
            size_t cap = ix->cap ? ix->cap * 2 : 16;
            struct pdbent *p = realloc(ix->pods, cap * sizeof *p);
            if (!p)
                return;
            ix->pods = p;
            ix->cap = cap;
        }
        memmove(ix->pods + at + 1, ix->pods + at, (ix->n - at) * sizeof *ix->pods);
        ix->pods[at] = (struct pdbent){.pod = pod, .rv = -1};
        ix->n++;
    }
}

/* The index of pdb, built from its namespace's pods when missing or when the PDB is
 * another one or its selector changed. NULL when out of memory. */
static struct pdbidx *pdb_index(cm_sim *s, const cm_obj *pdb)
{
    char key[512];
    objkey(pdb->ns, pdb->name, key, sizeof key);
    struct pdbidx *ix = cm_map_get(s->pdbs, key);
    const char *uid = uid_of(pdb->json);
    const cJSON *selector = sim_get(sim_get(pdb->json, "spec"), "selector");
    if (ix && sim_is(ix->uid, uid ? uid : "") &&
        (selector ? ix->selector && cm_json_equal(ix->selector, selector) : !ix->selector))
        return ix;
    pdbidx_free(cm_map_del(s->pdbs, key));
    if (!(ix = calloc(1, sizeof *ix)) || cm_map_set(s->pdbs, key, ix) != 0) {
        free(ix);
        return NULL;
    }
    snprintf(ix->uid, sizeof ix->uid, "%s", uid ? uid : "");
    ix->selector = selector ? cJSON_Duplicate(selector, 1) : NULL;
    char err[256];
    ix->sel = cm_label_selector_from_json(selector, err, sizeof err);
    cm_obj *const *items;
    size_t n = cm_store_list(s->st, s->k_pod, pdb->ns, &items);
    for (size_t i = 0; ix->sel && !cm_selector_empty(ix->sel) && i < n; i++)
        pdb_place(ix, items[i]->name, items[i]); /* in name order: each goes at the end */
    return ix;
}

/* A pod changed in namespace ns: the indexes of its PDBs follow (those not built yet
 * will be built from the store when first needed). */
static void pdb_track(cm_sim *s, const cm_event *ev, const char *ns)
{
    cm_obj *const *pdbs;
    size_t n = cm_store_list(s->st, s->k_pdb, ns, &pdbs);
    const char *name = cm_meta_str(ev->obj, "name");
    cm_obj *pod = NULL;
    for (size_t i = 0; name && i < n; i++) {
        char key[512];
        objkey(pdbs[i]->ns, pdbs[i]->name, key, sizeof key);
        struct pdbidx *ix = cm_map_get(s->pdbs, key);
        if (!ix)
            continue;
        if (!pod && ev->type != CM_EV_DELETED)
            pod = cm_store_get(s->st, s->k_pod, ns, name);
        pdb_place(ix, name, pod);
    }
}

/* ---- the work queue ---- */

static void drain(cm_loop *loop, void *ud);

static void enqueue(cm_sim *s, enum sim_ctl ctl, const char *ns, const char *name)
{
    char key[512], dedup[520];
    objkey(ns, name, key, sizeof key);
    snprintf(dedup, sizeof dedup, "%d|%s", (int)ctl, key);
    if (cm_map_get(s->queued, dedup))
        return;
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 64;
        struct item *q = malloc(cap * sizeof *q);
        if (!q) {
            s->lost++;
            return;
        }
        for (size_t i = 0; i < s->qlen; i++)
            q[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = q;
        s->qhead = 0;
        s->qcap = cap;
    }
    char *k = strdup(key);
    if (!k || cm_map_set(s->queued, dedup, s) != 0) {
        free(k);
        s->lost++;
        return;
    }
    s->q[(s->qhead + s->qlen++) % s->qcap] = (struct item){ctl, k};
    if (!s->drain)
        s->drain = cm_loop_timer(s->loop, cm_loop_now(s->loop) + s->react, drain, s);
}

static void enqueue_obj(cm_sim *s, enum sim_ctl ctl, const cJSON *obj)
{
    const char *ns = cm_meta_str(obj, "namespace");
    enqueue(s, ctl, ns ? ns : "", cm_meta_str(obj, "name"));
}

/* Queues every object of kind k (all namespaces, or ns) for ctl. */
static void enqueue_all(cm_sim *s, enum sim_ctl ctl, const cm_kind *k, const char *ns)
{
    cm_obj *const *items;
    size_t n = cm_store_list(s->st, k, ns, &items);
    for (size_t i = 0; i < n; i++)
        enqueue(s, ctl, items[i]->ns, items[i]->name);
}

/* The owner's controller of a pod's controller reference. */
static void enqueue_owner(cm_sim *s, const cJSON *obj, const char *ns)
{
    const cJSON *r = controller_ref(obj);
    const char *kind = sim_gets(r, "kind"), *name = sim_gets(r, "name");
    if (!name)
        return;
    if (sim_is(kind, "DaemonSet"))
        enqueue(s, SIM_DS, ns, name);
    else if (sim_is(kind, "ReplicaSet"))
        enqueue(s, SIM_RS, ns, name);
    else if (sim_is(kind, "StatefulSet"))
        enqueue(s, SIM_STS, ns, name);
    else if (sim_is(kind, "Deployment"))
        enqueue(s, SIM_DEPLOY, ns, name);
}


/* Whether two members of two objects differ (absent on both sides: equal). */
static int member_differs(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a != b;
    return !cJSON_Compare(a, b, 1);
}

/* The network agents, by what they read (agent_pod): a resync tells only those whose data changed. */
enum { AG_FLANNEL = 1, AG_CALICO = 2 };

/* Which agents read an annotation: Calico's under projectcalico.org/, none cni-migrate.dev/ (the
 * migration's own bookkeeping), flanneld any other (its prefix is --kube-annotation-prefix). */
static int annotation_readers(const char *key)
{
    if (strncmp(key, "projectcalico.org/", 18) == 0)
        return AG_CALICO;
    if (strncmp(key, "cni-migrate.dev/", 16) == 0)
        return 0;
    return AG_FLANNEL;
}

/* The readers of the annotations that differ between a and b (either may be NULL). */
static int annotations_changed(const cJSON *a, const cJSON *b)
{
    int mask = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
        if (e->string && member_differs(e, cJSON_GetObjectItemCaseSensitive(b, e->string)))
            mask |= annotation_readers(e->string);
    cJSON_ArrayForEach(e, b)
        if (e->string && !cJSON_GetObjectItemCaseSensitive(a, e->string))
            mask |= annotation_readers(e->string);
    return mask;
}

/*
 * Which network agents must look again after a change (AG_*, 0 for none): flanneld reads the
 * Nodes (its annotations, podCIDRs and addresses); Felix reads those with Calico's annotations,
 * and Calico's IPAMBlocks, IPPools and FelixConfiguration. A Node's labels, taints, status
 * conditions and the migration's own annotations, and an IPAMBlock's allocations, are read by none.
 */
static int network_changed(cm_sim *s, const cm_event *ev)
{
    if (ev->kind == s->k_node) {
        if (ev->type != CM_EV_MODIFIED || !ev->prev)
            return AG_FLANNEL | AG_CALICO;
        if (member_differs(sim_get(sim_get(ev->prev, "spec"), "podCIDR"), sim_get(sim_get(ev->obj, "spec"), "podCIDR")) ||
            member_differs(sim_get(sim_get(ev->prev, "status"), "addresses"),
                           sim_get(sim_get(ev->obj, "status"), "addresses")))
            return AG_FLANNEL | AG_CALICO;
        return annotations_changed(sim_get(sim_get(ev->prev, "metadata"), "annotations"),
                                   sim_get(sim_get(ev->obj, "metadata"), "annotations"));
    }
    if (!sim_is(ev->kind->group, "crd.projectcalico.org"))
        return 0;
    const char *k = ev->kind->kind;
    if (sim_is(k, "FelixConfiguration") || sim_is(k, "IPPool"))
        return AG_CALICO;
    if (!sim_is(k, "IPAMBlock"))
        return 0;
    if (ev->type != CM_EV_MODIFIED || !ev->prev)
        return AG_CALICO;
    const cJSON *s0 = sim_get(ev->prev, "spec"), *s1 = sim_get(ev->obj, "spec");
    return member_differs(sim_get(s0, "affinity"), sim_get(s1, "affinity")) ||
                   member_differs(sim_get(s0, "deleted"), sim_get(s1, "deleted"))
               ? AG_CALICO
               : 0;
}

/* Which network agent a pod runs (AG_*; Canal's runs both; 0: none): the pods a resync tells. */
static int agent_pod(const cJSON *pod)
{
    const cJSON *labels = sim_get(sim_get(pod, "metadata"), "labels");
    const char *app = sim_gets(labels, "app"), *k8s_app = sim_gets(labels, "k8s-app");
    if (sim_is(k8s_app, "canal"))
        return AG_FLANNEL | AG_CALICO;
    return sim_is(app, "flannel") ? AG_FLANNEL : sim_is(k8s_app, "calico-node") ? AG_CALICO : 0;
}

int cm_sim_network_agent(const cJSON *pod)
{
    return agent_pod(pod) != 0;
}

struct keys { char **v; size_t n, cap; };

static void collect_agent_pod(void *ud, const char *key, void *value)
{
    struct keys *k = ud;
    struct podstate *ps = value;
    if (!ps->agent_started || !ps->agent || ps->stage == S_STOPPING)
        return; /* (not a network agent's pod: resync_timer would pass over it) */
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        char **v = realloc(k->v, cap * sizeof *v);
        if (!v)
            return;
        k->v = v;
        k->cap = cap;
    }
    if ((k->v[k->n] = strdup(key)))
        k->n++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The resync: every running network agent whose data changed looks at the cluster again, in pod
 * key order. */
static void resync_timer(cm_loop *loop, void *ud)
{
    cm_sim *s = ud;
    s->resync = NULL;
    int mask = s->resync_mask;
    s->resync_mask = 0;
    struct keys k = {0};
    cm_map_each(s->pods, collect_agent_pod, &k);
    qsort(k.v, k.n, sizeof *k.v, cmp_str);
    for (size_t i = 0; i < k.n; i++) {
        char ns[512], name[512];
        splitkey(k.v[i], ns, sizeof ns, name, sizeof name);
        cm_obj *pod = cm_store_get(s->st, s->k_pod, ns, name);
        const char *node = pod ? sim_gets(sim_get(pod->json, "spec"), "nodeName") : NULL;
        if (pod && (agent_pod(pod->json) & mask) && s->agent && node && cm_store_get(s->st, s->k_node, "", node) &&
            !cm_loop_cancelled(loop)) /* a signal stops it between agents */
            sim_tell_agent(s, pod, CM_SIM_POD_RESYNC); /* not on a deleted node: its host is gone */
        free(k.v[i]);
    }
    free(k.v);
}

/* Store subscriber: which reconciles a change asks for. It only queues. */
static void on_change(void *ud, const cm_event *ev)
{
    cm_sim *s = ud;
    const cm_kind *k = ev->kind;
    const cJSON *o = ev->obj;
    const char *ns = ev->ns ? ev->ns : "";
    sim_x_on_change(s, ev);
    int readers = s->agent ? network_changed(s, ev) : 0;
    s->resync_mask |= readers;
    if (readers && !s->resync)
        s->resync = cm_loop_timer(s->loop, cm_loop_now(s->loop) + s->react, resync_timer, s);
    if (k == s->k_pod) {
        char key[512];
        objkey(ns, cm_meta_str(o, "name") ? cm_meta_str(o, "name") : "", key, sizeof key);
        struct podstate *ps = cm_map_get(s->pods, key);
        if (ps)
            ps->agent = ev->type == CM_EV_DELETED ? 0 : agent_pod(o);
        own_track(s, ev);
        pdb_track(s, ev, ns);
        const char *node = sim_gets(sim_get(o, "spec"), "nodeName");
        if (node && *node)
            enqueue_obj(s, SIM_KUBELET, o);
        else if (ev->type != CM_EV_DELETED)
            enqueue_obj(s, SIM_SCHED, o);
        enqueue_owner(s, o, ns);
        if (ev->prev)
            enqueue_owner(s, ev->prev, ns);
        enqueue_all(s, SIM_PDB, s->k_pdb, ns);
        if (ev->type == CM_EV_DELETED || (node && *node && !ev->prev))
            enqueue(s, SIM_SCHED, "", "*"); /* room freed or taken: pending pods may now fit */
    } else if (k == s->k_node) {
        if (ev->type != CM_EV_MODIFIED)
            s->node_epoch++;
        enqueue_obj(s, SIM_NODE, o);
        enqueue_all(s, SIM_DS, s->k_ds, NULL);
        enqueue(s, SIM_SCHED, "", "*");
    } else if (k == s->k_ds) {
        enqueue_obj(s, SIM_DS, o);
    } else if (k == s->k_rs) {
        enqueue_obj(s, SIM_RS, o);
        enqueue_owner(s, o, ns);
        enqueue_all(s, SIM_PDB, s->k_pdb, ns);
    } else if (k == s->k_deploy) {
        enqueue_obj(s, SIM_DEPLOY, o);
    } else if (k == s->k_sts) {
        enqueue_obj(s, SIM_STS, o);
        enqueue_all(s, SIM_PDB, s->k_pdb, ns);
    } else if (k == s->k_pdb && ev->type != CM_EV_DELETED) {
        enqueue_obj(s, SIM_PDB, o);
    }
}

/* ---- nodes and their hosts ---- */

static struct simnode *simnode(cm_sim *s, const char *name)
{
    struct simnode *n = cm_map_get(s->nodes, name);
    if (n)
        return n;
    cm_obj *o = cm_store_get(s->st, s->k_node, "", name);
    if (!o || !(n = calloc(1, sizeof *n)))
        return NULL;
    n->host = cm_host_new_node(o->json);
    if (!n->host || cm_map_set(s->nodes, name, n) != 0) {
        cm_host_free(n->host);
        free(n);
        return NULL;
    }
    return n;
}

cm_host *cm_sim_host(cm_sim *s, const char *node)
{
    struct simnode *n = simnode(s, node);
    return n ? n->host : NULL;
}

/* The node controller's part here: the cordon taint follows spec.unschedulable. */
/* The pod garbage collector's gcOrphaned: the pods bound to a Node that is gone are deleted at
 * once (grace 0); nothing else would end them, and a drain of that node would wait on them. */
static void gc_orphaned_pods(cm_sim *s, const char *node)
{
    cm_obj *const *items;
    size_t n = cm_store_list(s->st, s->k_pod, NULL, &items);
    struct keys k = {0};
    for (size_t i = 0; i < n; i++) {
        if (!sim_is(sim_gets(sim_get(items[i]->json, "spec"), "nodeName"), node))
            continue;
        char key[600];
        snprintf(key, sizeof key, "%s/%s", items[i]->ns, items[i]->name);
        char **v = k.n == k.cap ? realloc(k.v, (k.cap = k.cap ? 2 * k.cap : 16) * sizeof *v) : k.v;
        if (!v)
            break;
        k.v = v;
        if ((k.v[k.n] = strdup(key)))
            k.n++;
    }
    for (size_t i = 0; i < k.n; i++) { /* each delete changes the store: keys first, then each read again */
        char ns[512], name[512];
        splitkey(k.v[i], ns, sizeof ns, name, sizeof name);
        cm_obj *pod = cm_store_get(s->st, s->k_pod, ns, name);
        if (pod)
            delete_pod(s, pod, 0);
        free(k.v[i]);
    }
    free(k.v);
}

static void reconcile_node(cm_sim *s, const char *ns, const char *name)
{
    (void)ns;
    cm_obj *o = cm_store_get(s->st, s->k_node, "", name);
    if (!o) {
        struct simnode *n = cm_map_del(s->nodes, name);
        if (n)
            cm_host_free(n->host);
        free(n);
        gc_orphaned_pods(s, name);
        return;
    }
    simnode(s, name);
    const cJSON *spec = sim_get(o->json, "spec");
    int want = cJSON_IsTrue(sim_get(spec, "unschedulable"));
    int have = -1, i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, sim_get(spec, "taints")) {
        if (sim_is(sim_gets(t, "key"), "node.kubernetes.io/unschedulable") && sim_is(sim_gets(t, "effect"), "NoSchedule"))
            have = i;
        i++;
    }
    if (want == (have >= 0))
        return;
    cJSON *next = cJSON_Duplicate(o->json, 1);
    cJSON *nspec = objmember(next, "spec");
    if (want) {
        cJSON *taints = sim_get(nspec, "taints");
        if (!cJSON_IsArray(taints))
            taints = cJSON_AddArrayToObject(nspec, "taints");
        cJSON *taint = cJSON_CreateObject();
        char now[40];
        now_str(s, now, sizeof now);
        cJSON_AddStringToObject(taint, "effect", "NoSchedule");
        cJSON_AddStringToObject(taint, "key", "node.kubernetes.io/unschedulable");
        cJSON_AddStringToObject(taint, "timeAdded", now);
        cJSON_AddItemToArray(taints, taint);
    } else {
        cJSON *taints = sim_get(nspec, "taints");
        cJSON_DeleteItemFromArray(taints, have);
        if (cJSON_GetArraySize(taints) == 0)
            cJSON_DeleteItemFromObjectCaseSensitive(nspec, "taints");
    }
    put(s, s->k_node, next, NULL);
}

/* ---- placement rules: taints and tolerations, node selectors and affinity ---- */

static int tolerates(const cJSON *tolerations, const cJSON *taint)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tolerations) {
        const char *eff = sim_gets(t, "effect"), *key = sim_gets(t, "key"), *op = sim_gets(t, "operator");
        if (eff && *eff && !sim_is(eff, sim_gets(taint, "effect")))
            continue;
        if (key && *key && !sim_is(key, sim_gets(taint, "key")))
            continue;
        if (sim_is(op, "Exists"))
            return 1;
        const char *v = sim_gets(t, "value"), *tv = sim_gets(taint, "value");
        if (key && *key && sim_is(v ? v : "", tv ? tv : ""))
            return 1;
    }
    return 0;
}

/* The first taint with effect NoExecute (or, with no_schedule, NoSchedule too) that the
 * tolerations do not tolerate. */
static const cJSON *untolerated_of(const cJSON *node, const cJSON *tolerations, int no_schedule)
{
    const cJSON *taint;
    cJSON_ArrayForEach(taint, sim_get(sim_get(node, "spec"), "taints")) {
        const char *eff = sim_gets(taint, "effect");
        if (((no_schedule && sim_is(eff, "NoSchedule")) || sim_is(eff, "NoExecute")) && !tolerates(tolerations, taint))
            return taint;
    }
    return NULL;
}

/* The first taint with effect NoSchedule or NoExecute that the tolerations do not tolerate. */
static const cJSON *untolerated(const cJSON *node, const cJSON *tolerations)
{
    return untolerated_of(node, tolerations, 1);
}

/* One node selector requirement (matchExpressions against labels, matchFields against metadata.name). */
static int requirement(const cJSON *req, const cJSON *labels, const char *node_name, int field)
{
    const char *key = sim_gets(req, "key"), *op = sim_gets(req, "operator");
    const char *val = field ? (sim_is(key, "metadata.name") ? node_name : NULL) : sim_gets(labels, key);
    const cJSON *v;
    int in = 0;
    cJSON_ArrayForEach(v, sim_get(req, "values"))
        in |= sim_is(val, cJSON_GetStringValue(v));
    if (sim_is(op, "In"))
        return in;
    if (sim_is(op, "NotIn"))
        return !in;
    if (sim_is(op, "Exists"))
        return val != NULL;
    if (sim_is(op, "DoesNotExist"))
        return val == NULL;
    if ((sim_is(op, "Gt") || sim_is(op, "Lt")) && val && cJSON_GetArraySize(sim_get(req, "values")) == 1) {
        long long a = strtoll(val, NULL, 10), b = strtoll(cJSON_GetStringValue(cJSON_GetArrayItem(sim_get(req, "values"), 0)), NULL, 10);
        return sim_is(op, "Gt") ? a > b : a < b;
    }
    return 0;
}

static int term_matches(const cJSON *term, const cJSON *labels, const char *name)
{
    const cJSON *r;
    int any = 0;
    cJSON_ArrayForEach(r, sim_get(term, "matchExpressions")) {
        any = 1;
        if (!requirement(r, labels, name, 0))
            return 0;
    }
    cJSON_ArrayForEach(r, sim_get(term, "matchFields")) {
        any = 1;
        if (!requirement(r, labels, name, 1))
            return 0;
    }
    return any; /* an empty term matches nothing */
}

/* Whether a pod spec's nodeSelector and required node affinity accept the node. */
static int node_matches(const cJSON *podspec, const cJSON *node)
{
    const cJSON *labels = sim_get(sim_get(node, "metadata"), "labels");
    const cJSON *sel;
    cJSON_ArrayForEach(sel, sim_get(podspec, "nodeSelector"))
        if (!sim_is(sim_gets(labels, sel->string), cJSON_GetStringValue(sel)))
            return 0;
    const cJSON *terms = sim_get(sim_get(sim_get(sim_get(podspec, "affinity"), "nodeAffinity"),
                                 "requiredDuringSchedulingIgnoredDuringExecution"), "nodeSelectorTerms");
    if (!terms)
        return 1;
    const cJSON *t;
    cJSON_ArrayForEach(t, terms)
        if (term_matches(t, labels, cm_meta_str(node, "name")))
            return 1;
    return 0;
}

/* ---- the scheduler ---- */

struct reason {
    char text[300];
    int count;
};

static void count_reason(struct reason *r, size_t *n, size_t max, const char *text)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(r[i].text, text) == 0) {
            r[i].count++;
            return;
        }
    if (*n < max) {
        snprintf(r[*n].text, sizeof r[*n].text, "%s", text);
        r[(*n)++].count = 1;
    }
}

static int cmp_reason(const void *a, const void *b)
{
    return strcmp(((const char *const *)a)[0], ((const char *const *)b)[0]);
}

/* The filter of one node, in the default plugins' order; NULL when it fits, else why not. */
static const char *filter(const cJSON *spec, const cJSON *node, char *buf, size_t size)
{
    const cJSON *tol = sim_get(spec, "tolerations");
    if (cJSON_IsTrue(sim_get(sim_get(node, "spec"), "unschedulable"))) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "key", "node.kubernetes.io/unschedulable");
        cJSON_AddStringToObject(t, "effect", "NoSchedule");
        int ok = tolerates(tol, t);
        cJSON_Delete(t);
        if (!ok)
            return "node(s) were unschedulable";
    }
    const cJSON *taint = untolerated(node, tol);
    if (taint) {
        const char *v = sim_gets(taint, "value");
        snprintf(buf, size, "node(s) had untolerated taint {%s: %s}", sim_gets(taint, "key"), v ? v : "");
        return buf;
    }
    if (!node_matches(spec, node))
        return "node(s) didn't match Pod's node affinity/selector";
    return NULL;
}

/* Remembers a pod the scheduler could not place, to try again when the cluster changes. */
static void park(cm_sim *s, const cm_obj *pod)
{
    char key[512];
    objkey(pod->ns, pod->name, key, sizeof key);
    if (cm_map_get(s->parked_set, key))
        return;
    if (s->nparked == s->cparked) {
        size_t cap = s->cparked ? s->cparked * 2 : 16;
        char **p = realloc(s->parked, cap * sizeof *p);
        if (!p)
            return;
        s->parked = p;
        s->cparked = cap;
    }
    char *k = strdup(key);
    if (!k || cm_map_set(s->parked_set, key, s) != 0) {
        free(k);
        return;
    }
    s->parked[s->nparked++] = k;
}

/* Sets PodScheduled=False/Unschedulable with the scheduler's message. */
static void unschedulable(cm_sim *s, cm_obj *pod, struct reason *r, size_t nr, size_t nodes)
{
    park(s, pod);
    char msg[2048];
    if (nodes == 0) {
        snprintf(msg, sizeof msg, "no nodes available to schedule pods");
    } else {
        char lines[16][320];
        const char *sorted[16];
        for (size_t i = 0; i < nr; i++) {
            snprintf(lines[i], sizeof lines[i], "%d %.290s", r[i].count, r[i].text);
            sorted[i] = lines[i];
        }
        qsort(sorted, nr, sizeof *sorted, cmp_reason);
        int n = snprintf(msg, sizeof msg, "0/%zu nodes are available: ", nodes);
        for (size_t i = 0; i < nr && n < (int)sizeof msg; i++)
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%s", i ? ", " : "", sorted[i]);
        if (n < (int)sizeof msg)
            snprintf(msg + n, sizeof msg - (size_t)n,
                     ". preemption: 0/%zu nodes are available: %zu Preemption is not helpful for scheduling.",
                     nodes, nodes);
    }
    cJSON *status = cJSON_Duplicate(sim_get(pod->json, "status"), 1);
    if (!status)
        status = cJSON_CreateObject();
    cJSON *conds = sim_get(status, "conditions");
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
        if (sim_is(sim_gets(c, "type"), "PodScheduled") && sim_is(sim_gets(c, "message"), msg)) {
            cJSON_Delete(status);
            return;
        }
    cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
    conds = cJSON_AddArrayToObject(status, "conditions");
    cJSON *cond = cJSON_CreateObject();
    char now[40];
    now_str(s, now, sizeof now);
    cJSON_AddNullToObject(cond, "lastProbeTime");
    cJSON_AddStringToObject(cond, "lastTransitionTime", now);
    cJSON_AddStringToObject(cond, "message", msg);
    cJSON_AddStringToObject(cond, "reason", "Unschedulable");
    cJSON_AddStringToObject(cond, "status", "False");
    cJSON_AddStringToObject(cond, "type", "PodScheduled");
    cJSON_AddItemToArray(conds, cond);
    put_status(s, pod, status);
}

/* ---- Events of the scheduler and the kubelets ---- */

/* An Event's name as the event recorders make it: the object's name, a dot, the time in ns in hex
 * (a later ns than the last one's, so that Events of one virtual instant differ; no draw from the
 * seed, so the run's timeline is that of a simulation without them). */
static void event_name(cm_sim *s, const char *about, char *buf, size_t size)
{
    int64_t ns = cm_loop_wall(s->loop);
    s->event_ns = ns > s->event_ns ? ns : s->event_ns + 1;
    snprintf(buf, size, "%.200s.%llx", about, (unsigned long long)s->event_ns);
}

/* The scheduler's instance, "default-scheduler-" and the host it runs on (the first
 * control-plane node), as its Events name it. */
static const char *scheduler_instance(cm_sim *s)
{
    if (s->scheduler[0])
        return s->scheduler;
    cm_obj *const *nodes;
    size_t n = cm_store_list(s->st, s->k_node, NULL, &nodes);
    const char *host = NULL;
    for (size_t i = 0; i < n && !host; i++)
        if (sim_get(sim_get(sim_get(nodes[i]->json, "metadata"), "labels"), "node-role.kubernetes.io/control-plane"))
            host = nodes[i]->name;
    snprintf(s->scheduler, sizeof s->scheduler, "default-scheduler%s%.200s", host ? "-" : "", host ? host : "");
    return s->scheduler;
}

/* The scheduler's Scheduled Event: written through events.k8s.io/v1 upstream, so its core/v1 form
 * has eventTime, action and the reporting fields, and no source, count or timestamps. */
static void scheduled_event(cm_sim *s, const cm_obj *pod, const char *node)
{
    char name[300], msg[800], now[40];
    event_name(s, pod->name, name, sizeof name);
    snprintf(msg, sizeof msg, "Successfully assigned %s/%s to %s", pod->ns, pod->name, node);
    sim_micro_now(s, now, sizeof now);
    const struct cm_evspec e = {"Pod", "Normal", "Scheduled", msg, "default-scheduler", NULL, NULL};
    cJSON *ev = cm_fake_event_new(pod->ns, name, pod->json, &e, now);
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "count");
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "firstTimestamp", cJSON_CreateNull());
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "lastTimestamp", cJSON_CreateNull());
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "source", cJSON_CreateObject());
    cm_set_str(ev, "reportingInstance", scheduler_instance(s));
    cJSON_AddStringToObject(ev, "action", "Binding");
    cJSON_AddStringToObject(ev, "eventTime", now);
    char nsb[256];
    snprintf(nsb, sizeof nsb, "%s", pod->ns);
    call_as(s, "POST", s->k_event, nsb, NULL, NULL, ev, 1);
}

/* A kubelet's Normal Event about each container of the pod (init containers first), in the
 * kubelet's words: Pulled, Created, Started when they start, Killing when they are stopped. */
static void container_events(cm_sim *s, const cm_obj *pod, const char *node, int starting)
{
    static const char *const LISTS[] = {"initContainers", "containers"};
    char ns[256], nodename[256];
    snprintf(ns, sizeof ns, "%s", pod->ns);
    snprintf(nodename, sizeof nodename, "%s", node);
    cJSON *about = cJSON_Duplicate(pod->json, 1); /* the writes may replace the stored pod */
    for (int l = starting ? 0 : 1; about && l < 2; l++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, sim_get(sim_get(about, "spec"), LISTS[l])) {
            const char *cname = sim_gets(c, "name") ? sim_gets(c, "name") : "";
            const char *image = sim_gets(c, "image") ? sim_gets(c, "image") : "";
            char field[300], msg[3][800];
            snprintf(field, sizeof field, "spec.%s{%.250s}", LISTS[l], cname);
            const char *reasons[3] = {"Pulled", "Created", "Started"};
            int n = starting ? 3 : 1;
            if (starting) {
                snprintf(msg[0], sizeof msg[0], "Container image \"%.600s\" already present on machine", image);
                snprintf(msg[1], sizeof msg[1], "Created container: %.250s", cname);
                snprintf(msg[2], sizeof msg[2], "Started container %.250s", cname);
            } else {
                reasons[0] = "Killing";
                snprintf(msg[0], sizeof msg[0], "Stopping container %.250s", cname);
            }
            for (int i = 0; i < n; i++) {
                char now[40], name[300];
                now_str(s, now, sizeof now);
                event_name(s, cm_meta_str(about, "name"), name, sizeof name);
                const struct cm_evspec e = {"Pod", "Normal", reasons[i], msg[i], "kubelet", nodename, field};
                call_as(s, "POST", s->k_event, ns, NULL, NULL, cm_fake_event_new(ns, name, about, &e, now), 1);
            }
        }
    }
    cJSON_Delete(about);
}

/* Binds the pod to node: spec.nodeName, then PodScheduled=True (a binding's two effects). */
static void bind(cm_sim *s, cm_obj *pod, const char *node)
{
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", pod->ns);
    snprintf(name, sizeof name, "%s", pod->name);
    cJSON *next = cJSON_Duplicate(pod->json, 1);
    cm_set_str(objmember(next, "spec"), "nodeName", node);
    if (put(s, s->k_pod, next, NULL) != 200)
        return;
    pod = cm_store_get(s->st, s->k_pod, ns, name);
    if (!pod)
        return;
    cJSON *status = cJSON_Duplicate(sim_get(pod->json, "status"), 1);
    if (!status)
        status = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
    cJSON *cond = cJSON_CreateObject();
    char now[40];
    now_str(s, now, sizeof now);
    cJSON_AddNullToObject(cond, "lastProbeTime");
    cJSON_AddStringToObject(cond, "lastTransitionTime", now);
    cJSON_AddStringToObject(cond, "status", "True");
    cJSON_AddStringToObject(cond, "type", "PodScheduled");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(status, "conditions"), cond);
    put_status(s, pod, status);
    if ((pod = cm_store_get(s->st, s->k_pod, ns, name)))
        scheduled_event(s, pod, node);
}

static const char *ds_pod_node(const cJSON *pod);

static void schedule_pod(cm_sim *s, cm_obj *pod)
{
    const cJSON *spec = sim_get(pod->json, "spec");
    const char *sched = sim_gets(spec, "schedulerName");
    if (sim_gets(spec, "nodeName") || sim_deleting(pod->json) || sim_terminal(pod->json) ||
        (sched && !sim_is(sched, "default-scheduler")))
        return;
    /* A pod pinned to one node by matchFields metadata.name (a DaemonSet's) is tried there
     * first, as the NodeAffinity PreFilter narrows the nodes; the full pass explains a failure. */
    const char *pinned = ds_pod_node(pod->json);
    cm_obj *only = pinned ? cm_store_get(s->st, s->k_node, "", pinned) : NULL;
    char buf0[300];
    if (only && !filter(spec, only->json, buf0, sizeof buf0)) {
        char node[256];
        snprintf(node, sizeof node, "%s", pinned);
        bind(s, pod, node);
        return;
    }
    cm_obj *const *nodes;
    size_t n = cm_store_list(s->st, s->k_node, NULL, &nodes);
    struct reason reasons[16];
    size_t nr = 0, best_count = (size_t)-1, ties = 0;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        char buf[300];
        const char *why = filter(spec, nodes[i]->json, buf, sizeof buf);
        if (why) {
            count_reason(reasons, &nr, 16, why);
            continue;
        }
        cm_obj *const *on;
        size_t count = cm_store_pods_on_node(s->st, nodes[i]->name, &on);
        if (count < best_count) {
            best_count = count;
            best = nodes[i]->name;
            ties = 1;
        } else if (count == best_count && cm_splitmix64(&s->rng) % ++ties == 0) {
            best = nodes[i]->name; /* reservoir sampling among equals, as selectHost does */
        }
    }
    if (best) {
        char node[256];
        snprintf(node, sizeof node, "%s", best);
        bind(s, pod, node);
    } else {
        unschedulable(s, pod, reasons, nr, n);
    }
}

/* "*": the pods the scheduler could not place try again (the cluster changed), in order. */
static void reconcile_sched(cm_sim *s, const char *ns, const char *name)
{
    if (!sim_is(name, "*")) {
        cm_obj *pod = cm_store_get(s->st, s->k_pod, ns, name);
        if (pod)
            schedule_pod(s, pod);
        return;
    }
    char **parked = s->parked;
    size_t n = s->nparked;
    s->parked = NULL;
    s->nparked = s->cparked = 0;
    for (size_t i = 0; i < n; i++) {
        cm_map_del(s->parked_set, parked[i]);
        enqueue(s, SIM_SCHED, "", parked[i]); /* "ns/name" splits back */
        free(parked[i]);
    }
    free(parked);
}

/* ---- the kubelet ---- */

static void pod_timer(cm_loop *loop, void *ud);

static void arm(struct podstate *ps, enum stage stage, int64_t delay)
{
    cm_sim *s = ps->sim;
    if (ps->timer)
        cm_loop_timer_cancel(s->loop, ps->timer);
    ps->stage = stage;
    ps->timer = cm_loop_timer(s->loop, cm_loop_now(s->loop) + delay, pod_timer, ps);
}

static void forget(cm_sim *s, const char *key)
{
    struct podstate *ps = cm_map_del(s->pods, key);
    if (ps && ps->timer)
        cm_loop_timer_cancel(s->loop, ps->timer);
    free(ps);
}

void sim_tell_agent(cm_sim *s, const cm_obj *pod, enum cm_sim_pod_event ev)
{
    const char *node = sim_gets(sim_get(pod->json, "spec"), "nodeName");
    if (!s->agent || !node)
        return;
    char nb[256];
    snprintf(nb, sizeof nb, "%s", node);
    cJSON *copy = cJSON_Duplicate(pod->json, 1); /* the agent may write to the store */
    s->agent(s->agent_ud, s, nb, copy, ev);
    cJSON_Delete(copy);
}

/* The start and ready delays of a pod: the first matching rule, else the defaults. */
static void pod_delays(cm_sim *s, const cJSON *pod, int64_t *start, int64_t *ready)
{
    *start = s->start;
    *ready = s->ready;
    const cJSON *labels = sim_get(sim_get(pod, "metadata"), "labels");
    const char *image = sim_gets(cJSON_GetArrayItem(sim_get(sim_get(pod, "spec"), "containers"), 0), "image");
    for (size_t i = 0; i < s->nrules; i++) {
        const struct rule *r = &s->rules[i];
        int hit = r->image_prefix ? image && strncmp(image, r->image_prefix, strlen(r->image_prefix)) == 0
                                  : cm_selector_match_labels(r->sel, labels);
        if (hit) {
            if (r->start >= 0)
                *start = r->start;
            if (r->ready >= 0)
                *ready = r->ready;
            return;
        }
    }
}

static void kubelet_reconcile(cm_sim *s, const char *key)
{
    char ns[256], name[256];
    splitkey(key, ns, sizeof ns, name, sizeof name);
    cm_obj *pod = cm_store_get(s->st, s->k_pod, ns, name);
    const char *node = pod ? sim_gets(sim_get(pod->json, "spec"), "nodeName") : NULL;
    if (!pod || !node || !*node) {
        forget(s, key);
        return;
    }
    if (cm_fault_node_down(s->f, node))
        return; /* an injected fault: this node's kubelet has stopped */
    struct podstate *ps = cm_map_get(s->pods, key);
    if (ps && !sim_is(ps->uid, uid_of(pod->json))) {
        forget(s, key);
        ps = NULL;
    }
    if (!ps) {
        if (!(ps = calloc(1, sizeof *ps)))
            return;
        ps->sim = s;
        snprintf(ps->key, sizeof ps->key, "%s", key);
        snprintf(ps->uid, sizeof ps->uid, "%s", uid_of(pod->json) ? uid_of(pod->json) : "");
        ps->agent = agent_pod(pod->json);
        if (cm_map_set(s->pods, key, ps) != 0) {
            free(ps);
            return;
        }
    }
    if (sim_deleting(pod->json)) {
        if (ps->stage != S_STOPPING) {
            int64_t grace = sim_geti(sim_get(pod->json, "metadata"), "deletionGracePeriodSeconds", 30) * CM_NS_PER_S;
            arm(ps, S_STOPPING, grace < s->stop ? grace : s->stop);
            if (sim_is(phase_of(pod->json), "Running")) {
                container_events(s, pod, node, 0);
                if (!(pod = cm_store_get(s->st, s->k_pod, ns, name)))
                    return;
            }
            if (ps->agent_started)
                sim_tell_agent(s, pod, CM_SIM_POD_STOPPING);
            if (cm_fault_pod_stuck(s->f, pod->json)) { /* an injected fault: it never finishes */
                cm_loop_timer_cancel(s->loop, ps->timer);
                ps->timer = NULL;
            }
        }
        return;
    }
    const char *phase = phase_of(pod->json);
    int64_t start, ready;
    pod_delays(s, pod->json, &start, &ready);
    if (sim_is(phase, "Pending") && ps->stage == S_NONE) {
        arm(ps, S_STARTING, jittered(s, start) + cm_fault_pod_start_delay(s->f, pod->json));
    } else if (sim_is(phase, "Running") && ps->stage == S_NONE) {
        if (!cond_true(pod->json, "Ready"))
            arm(ps, S_READYING, jittered(s, ready));
        else
            ps->stage = S_RUNNING;
        if (ps->stage == S_RUNNING)
            sim_x_pod_ready(s, pod);
        if (!ps->agent_started) {
            ps->agent_started = 1;
            sim_tell_agent(s, pod, CM_SIM_POD_STARTED); /* found running: its agent is there */
        }
    }
}

/* Adds a condition (type, status) with reason when given. */
static void add_cond(cJSON *conds, const char *type, const char *status, const char *reason, const char *now)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNullToObject(c, "lastProbeTime");
    cJSON_AddStringToObject(c, "lastTransitionTime", now);
    if (reason)
        cJSON_AddStringToObject(c, "reason", reason);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddItemToArray(conds, c);
}

/* The lastTransitionTime of a condition of the pod, when its status is unchanged. */
static const char *kept_time(const cJSON *pod, const char *type, const char *status, const char *now)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(pod, "status"), "conditions"))
        if (sim_is(sim_gets(c, "type"), type) && sim_is(sim_gets(c, "status"), status) && sim_gets(c, "lastTransitionTime"))
            return sim_gets(c, "lastTransitionTime");
    return now;
}

/* A pod's address: the host's for hostNetwork, else the next free one of the node's podCIDR. */
static int pod_ip(cm_sim *s, const cm_obj *pod, const cJSON *node, char *buf, size_t size)
{
    if (cJSON_IsTrue(sim_get(sim_get(pod->json, "spec"), "hostNetwork"))) {
        const char *ip = cm_host_node_ip(node);
        snprintf(buf, size, "%s", ip ? ip : "");
        return ip != NULL;
    }
    const char *cidr = sim_gets(sim_get(node, "spec"), "podCIDR");
    int bits;
    uint32_t net;
    if (!cm_ip4_parse_cidr(cidr, &net, &bits) || bits > 30 || bits < 8)
        return 0;
    uint32_t size_n = UINT32_C(1) << (32 - bits);
    net &= cm_ip4_mask(bits);
    struct simnode *sn = simnode(s, node ? cm_meta_str(node, "name") : "");
    if (!sn)
        return 0;
    cm_obj *const *on;
    size_t n = cm_store_pods_on_node(s->st, cm_meta_str(node, "name"), &on);
    for (uint32_t tries = 0; tries < size_n; tries++) {
        uint32_t off = (sn->last_ip - net + 1 + tries) % size_n;
        if (off < 2 || off == size_n - 1) /* .0, the gateway .1, the broadcast */
            continue;
        char cand[20];
        cm_ip4_format(net + off, cand, sizeof cand);
        int used = 0;
        for (size_t i = 0; i < n && !used; i++)
            used = !cJSON_IsTrue(sim_get(sim_get(on[i]->json, "spec"), "hostNetwork")) &&
                   sim_is(sim_gets(sim_get(on[i]->json, "status"), "podIP"), cand);
        if (!used) {
            sn->last_ip = net + off;
            snprintf(buf, size, "%s", cand);
            return 1;
        }
    }
    return 0;
}

/* containerStatuses as a kubelet reports them: running (ready or not), or waiting to be created. */
static cJSON *container_statuses(const cJSON *pod, int running, int ready, const char *now)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(pod, "spec"), "containers")) {
        cJSON *cs = cJSON_CreateObject();
        const char *image = sim_gets(c, "image");
        if (running) {
            char id[80];
            snprintf(id, sizeof id, "containerd://%.64s", uid_of(pod) ? uid_of(pod) : "");
            cJSON_AddStringToObject(cs, "containerID", id);
        }
        cJSON_AddStringToObject(cs, "image", image ? image : "");
        cJSON_AddStringToObject(cs, "imageID", running && image ? image : "");
        /* what the kubelet keeps of a container across syncs: its last termination and restarts */
        const cJSON *was = NULL, *o;
        cJSON_ArrayForEach(o, sim_get(sim_get(pod, "status"), "containerStatuses"))
            if (sim_is(sim_gets(o, "name"), sim_gets(c, "name")))
                was = o;
        const cJSON *last = sim_get(was, "lastState");
        cJSON_AddItemToObject(cs, "lastState", cJSON_IsObject(last) ? cJSON_Duplicate(last, 1) : cJSON_CreateObject());
        cJSON_AddStringToObject(cs, "name", sim_gets(c, "name") ? sim_gets(c, "name") : "");
        cJSON_AddBoolToObject(cs, "ready", ready);
        cJSON_AddNumberToObject(cs, "restartCount", (double)sim_geti(was, "restartCount", 0));
        cJSON_AddBoolToObject(cs, "started", running);
        cJSON *state = cJSON_AddObjectToObject(cs, "state");
        if (running) {
            cJSON_AddStringToObject(cJSON_AddObjectToObject(state, "running"), "startedAt", now);
        } else {
            cJSON_AddStringToObject(cJSON_AddObjectToObject(state, "waiting"), "reason", "ContainerCreating");
        }
        cJSON_AddItemToArray(arr, cs);
    }
    return arr;
}

/* The status a kubelet writes: stage 0 sandbox failing, 1 running not ready, 2 ready. */
static cJSON *kubelet_status(cm_sim *s, const cm_obj *pod, const cJSON *node, int stage, const char *ip)
{
    char now[40];
    now_str(s, now, sizeof now);
    const cJSON *old = sim_get(pod->json, "status");
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const char *up = stage ? "True" : "False", *rd = stage == 2 ? "True" : "False";
    add_cond(conds, "PodReadyToStartContainers", up, NULL, kept_time(pod->json, "PodReadyToStartContainers", up, now));
    add_cond(conds, "Initialized", "True", NULL, kept_time(pod->json, "Initialized", "True", now));
    add_cond(conds, "Ready", rd, stage == 2 ? NULL : "ContainersNotReady", kept_time(pod->json, "Ready", rd, now));
    add_cond(conds, "ContainersReady", rd, stage == 2 ? NULL : "ContainersNotReady",
             kept_time(pod->json, "ContainersReady", rd, now));
    add_cond(conds, "PodScheduled", "True", NULL, kept_time(pod->json, "PodScheduled", "True", now));
    cJSON_AddItemToObject(st, "containerStatuses", container_statuses(pod->json, stage > 0, stage == 2, now));
    const char *host_ip = cm_host_node_ip(node);
    if (host_ip) {
        cJSON_AddStringToObject(st, "hostIP", host_ip);
        cJSON *one = cJSON_CreateObject();
        cJSON_AddStringToObject(one, "ip", host_ip);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "hostIPs"), one);
    }
    cJSON_AddStringToObject(st, "phase", stage ? "Running" : "Pending");
    if (ip && *ip) {
        cJSON_AddStringToObject(st, "podIP", ip);
        cJSON *ips = cJSON_AddArrayToObject(st, "podIPs");
        cJSON *one = cJSON_CreateObject();
        cJSON_AddStringToObject(one, "ip", ip);
        cJSON_AddItemToArray(ips, one);
    }
    cJSON_AddStringToObject(st, "qosClass", sim_gets(old, "qosClass") ? sim_gets(old, "qosClass") : "BestEffort");
    cJSON_AddStringToObject(st, "startTime", sim_gets(old, "startTime") ? sim_gets(old, "startTime") : now);
    return st;
}

/* Records (or counts again) the kubelet's FailedCreatePodSandBox Event for the pod. */
static void sandbox_event(cm_sim *s, struct podstate *ps, const cm_obj *pod, const char *node, const char *msg)
{
    char now[40];
    now_str(s, now, sizeof now);
    char ns[256];
    snprintf(ns, sizeof ns, "%s", pod->ns);
    cm_obj *old = ps->event[0] ? cm_store_get(s->st, s->k_event, ns, ps->event) : NULL;
    if (old) {
        cJSON *next = cJSON_Duplicate(old->json, 1);
        sim_seti(next, "count", ++ps->event_count);
        cm_set_str(next, "lastTimestamp", now);
        cm_set_str(next, "message", msg);
        put(s, s->k_event, next, NULL);
        return;
    }
    snprintf(ps->event, sizeof ps->event, "%.200s.%016llx", pod->name,
             (unsigned long long)cm_splitmix64(&s->rng));
    ps->event_count = 1;
    const struct cm_evspec e = {"Pod", "Warning", "FailedCreatePodSandBox", msg, "kubelet", node, NULL};
    cJSON *ev = cm_fake_event_new(ns, ps->event, pod->json, &e, now);
    call(s, "POST", s->k_event, ns, NULL, NULL, ev);
}

/* The sandbox attempt: Running with an address, or Pending with the kubelet's Event and a retry. */
static void kubelet_start(cm_sim *s, struct podstate *ps, cm_obj *pod)
{
    const char *node = sim_gets(sim_get(pod->json, "spec"), "nodeName");
    cm_obj *n = cm_store_get(s->st, s->k_node, "", node);
    struct simnode *sn = node ? simnode(s, node) : NULL;
    if (!n || !sn) {
        arm(ps, S_RETRY, s->retry);
        return;
    }
    char msg[2048] = "";
    int host_net = cJSON_IsTrue(sim_get(sim_get(pod->json, "spec"), "hostNetwork"));
    char sandbox[65] = "";
    if (!host_net) {
        char *id = sandbox;
        for (int i = 0; i < 4; i++)
            snprintf(id + i * 16, sizeof sandbox - (size_t)i * 16, "%016llx", (unsigned long long)cm_splitmix64(&s->rng));
        int ready = 1;
        if (!cm_cni_sandbox_ok(sn->host, id, &ready, msg, sizeof msg) && !msg[0])
            snprintf(msg, sizeof msg, "network is not ready");
    }
    char ip[40] = "";
    int ipam = host_net || msg[0] ? -1 : sim_ipam_assign(s, pod, n->json, sn->host, sandbox, ip, sizeof ip, msg, sizeof msg);
    if (!msg[0] && ipam < 0 && !pod_ip(s, pod, n->json, ip, sizeof ip))
        snprintf(msg, sizeof msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox: no IP addresses available in range set");
    char nodename[256];
    snprintf(nodename, sizeof nodename, "%s", node);
    if (msg[0]) {
        put_status(s, pod, kubelet_status(s, pod, n->json, 0, NULL));
        pod = cm_store_get(s->st, s->k_pod, pod->ns, pod->name);
        if (pod)
            sandbox_event(s, ps, pod, nodename, msg);
        arm(ps, S_RETRY, jittered(s, s->retry));
        return;
    }
    int64_t start, ready;
    pod_delays(s, pod->json, &start, &ready);
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", pod->ns);
    snprintf(name, sizeof name, "%s", pod->name);
    if (cm_fault_pod_start(s->f, pod->json, n->json, ip)) {
        ps->stage = S_RUNNING; /* an injected fault: its containers fail, fault.c plays them */
        return;
    }
    put_status(s, pod, kubelet_status(s, pod, n->json, 1, ip));
    arm(ps, S_READYING, jittered(s, ready));
    pod = cm_store_get(s->st, s->k_pod, ns, name);
    if (pod) {
        container_events(s, pod, nodename, 1);
        pod = cm_store_get(s->st, s->k_pod, ns, name);
    }
    if (pod && !ps->agent_started) {
        ps->agent_started = 1;
        sim_tell_agent(s, pod, CM_SIM_POD_STARTED);
    }
}

static void pod_timer(cm_loop *loop, void *ud)
{
    (void)loop;
    struct podstate *ps = ud;
    cm_sim *s = ps->sim;
    ps->timer = NULL;
    char ns[512], name[512]; /* as long as the key they come from */
    splitkey(ps->key, ns, sizeof ns, name, sizeof name);
    cm_obj *pod = cm_store_get(s->st, s->k_pod, ns, name);
    if (!pod || !sim_is(uid_of(pod->json), ps->uid)) {
        char key[512];
        snprintf(key, sizeof key, "%s", ps->key);
        forget(s, key);
        return;
    }
    cm_obj *node = cm_store_get(s->st, s->k_node, "", sim_gets(sim_get(pod->json, "spec"), "nodeName"));
    if (node && cm_fault_node_down(s->f, node->name))
        return; /* an injected fault: this node's kubelet has stopped */
    switch (ps->stage) {
    case S_STARTING:
    case S_RETRY:
        if (sim_is(phase_of(pod->json), "Pending"))
            kubelet_start(s, ps, pod);
        break;
    case S_READYING:
        ps->stage = S_RUNNING;
        if (node && sim_is(phase_of(pod->json), "Running")) {
            put_status(s, pod, kubelet_status(s, pod, node->json, 2, sim_gets(sim_get(pod->json, "status"), "podIP")));
            pod = cm_store_get(s->st, s->k_pod, ns, name);
            if (pod)
                sim_x_pod_ready(s, pod);
        }
        break;
    case S_STOPPING:
        if (ps->agent_started)
            sim_tell_agent(s, pod, CM_SIM_POD_STOPPED);
        pod = cm_store_get(s->st, s->k_pod, ns, name);
        if (pod)
            delete_pod(s, pod, 0); /* the kubelet's final delete; the store event forgets the state */
        break;
    default:
        break;
    }
}

/* ---- workload controllers ---- */

/* The pods whose controller is owner (from the index, in creation order). */
static size_t owned_pods(cm_sim *s, const cm_obj *owner, cm_obj ***out)
{
    const char *uid = uid_of(owner->json);
    struct ownidx *ix = uid ? cm_map_get(s->owned, uid) : NULL;
    size_t n = ix ? ix->n : 0;
    cm_obj **res = malloc((n ? n : 1) * sizeof *res);
    if (!res) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        res[i] = ix->e[i].pod;
    *out = res;
    return n;
}

static void owner_ref(cJSON *meta, const cm_obj *owner)
{
    cJSON *refs = cJSON_AddArrayToObject(meta, "ownerReferences");
    cJSON *r = cJSON_CreateObject();
    char av[64];
    cm_kind_api_version(owner->kind, av, sizeof av);
    cJSON_AddStringToObject(r, "apiVersion", av);
    cJSON_AddTrueToObject(r, "blockOwnerDeletion");
    cJSON_AddTrueToObject(r, "controller");
    cJSON_AddStringToObject(r, "kind", owner->kind->kind);
    cJSON_AddStringToObject(r, "name", owner->name);
    cJSON_AddStringToObject(r, "uid", uid_of(owner->json));
    cJSON_AddItemToArray(refs, r);
}

/* A new pod from owner's spec.template: name or generateName, labels, owner reference. */
static cJSON *pod_from_template(const cm_obj *owner, const char *name, const char *generate)
{
    const cJSON *tmpl = sim_get(sim_get(owner->json, "spec"), "template");
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    cJSON *meta = cJSON_Duplicate(sim_get(tmpl, "metadata"), 1);
    if (!meta)
        meta = cJSON_CreateObject();
    cJSON_AddItemToObject(pod, "metadata", meta);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "name"); /* a template's own name is not the pod's */
    if (name)
        cm_set_str(meta, "name", name);
    else
        cm_set_str(meta, "generateName", generate);
    cm_set_str(meta, "namespace", owner->ns);
    objmember(meta, "labels");
    owner_ref(meta, owner);
    cJSON *spec = cJSON_Duplicate(sim_get(tmpl, "spec"), 1);
    cJSON_AddItemToObject(pod, "spec", spec ? spec : cJSON_CreateObject());
    return pod;
}

static void add_toleration(cJSON *spec, const char *key, const char *effect)
{
    cJSON *tols = sim_get(spec, "tolerations");
    if (!cJSON_IsArray(tols))
        tols = cJSON_AddArrayToObject(spec, "tolerations");
    const cJSON *t;
    cJSON_ArrayForEach(t, tols)
        if (sim_is(sim_gets(t, "key"), key) && sim_is(sim_gets(t, "operator"), "Exists") && sim_is(sim_gets(t, "effect"), effect))
            return;
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "effect", effect);
    cJSON_AddStringToObject(n, "key", key);
    cJSON_AddStringToObject(n, "operator", "Exists");
    cJSON_AddItemToArray(tols, n);
}

/* The tolerations the DaemonSet controller adds to its pods (AddOrUpdateDaemonPodTolerations). */
static void daemon_tolerations(cJSON *spec)
{
    add_toleration(spec, "node.kubernetes.io/not-ready", "NoExecute");
    add_toleration(spec, "node.kubernetes.io/unreachable", "NoExecute");
    add_toleration(spec, "node.kubernetes.io/disk-pressure", "NoSchedule");
    add_toleration(spec, "node.kubernetes.io/memory-pressure", "NoSchedule");
    add_toleration(spec, "node.kubernetes.io/pid-pressure", "NoSchedule");
    add_toleration(spec, "node.kubernetes.io/unschedulable", "NoSchedule");
    if (cJSON_IsTrue(sim_get(spec, "hostNetwork")))
        add_toleration(spec, "node.kubernetes.io/network-unavailable", "NoSchedule");
}

/* The node a DaemonSet pod is for: its nodeName, or its matchFields metadata.name term. */
static const char *ds_pod_node(const cJSON *pod)
{
    const cJSON *spec = sim_get(pod, "spec");
    if (sim_gets(spec, "nodeName"))
        return sim_gets(spec, "nodeName");
    const cJSON *term = cJSON_GetArrayItem(sim_get(sim_get(sim_get(sim_get(spec, "affinity"), "nodeAffinity"),
                                                   "requiredDuringSchedulingIgnoredDuringExecution"), "nodeSelectorTerms"), 0);
    const cJSON *f;
    cJSON_ArrayForEach(f, sim_get(term, "matchFields"))
        if (sim_is(sim_gets(f, "key"), "metadata.name"))
            return cJSON_GetStringValue(cJSON_GetArrayItem(sim_get(f, "values"), 0));
    return NULL;
}

static cJSON *ds_pod(const cm_obj *ds, const char *node, const char *hash)
{
    char gen[300];
    snprintf(gen, sizeof gen, "%.250s-", ds->name);
    cJSON *pod = pod_from_template(ds, NULL, gen);
    cJSON *labels = sim_get(sim_get(pod, "metadata"), "labels");
    cm_set_str(labels, "controller-revision-hash", hash);
    char g[32];
    snprintf(g, sizeof g, "%lld", (long long)sim_geti(sim_get(ds->json, "metadata"), "generation", 1));
    cm_set_str(labels, "pod-template-generation", g);
    cJSON *spec = sim_get(pod, "spec");
    cJSON *na = objmember(objmember(spec, "affinity"), "nodeAffinity");
    cJSON *req = cJSON_CreateObject(), *terms = cJSON_AddArrayToObject(req, "nodeSelectorTerms");
    cJSON *term = cJSON_CreateObject(), *fields = cJSON_AddArrayToObject(term, "matchFields");
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "key", "metadata.name");
    cJSON_AddStringToObject(f, "operator", "In");
    cJSON_AddItemToObject(f, "values", cJSON_CreateStringArray(&node, 1));
    cJSON_AddItemToArray(fields, f);
    cJSON_AddItemToArray(terms, term);
    cJSON_DeleteItemFromObjectCaseSensitive(na, "requiredDuringSchedulingIgnoredDuringExecution");
    cJSON_AddItemToObject(na, "requiredDuringSchedulingIgnoredDuringExecution", req);
    daemon_tolerations(spec);
    return pod;
}

/* Names copied out of the store for the writes a reconcile makes after deciding. */
struct names {
    char **v;
    size_t n, cap;
};

static void names_add(struct names *l, const char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(name)))
        l->n++;
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* What a DaemonSet reconcile decided: pods to create (by node) and to delete (by name). */
struct dsplan {
    struct names create, remove;
    int64_t desired, current, mis, ready, updated;
    const char *rev;        /* the revision new pods get (controller-revision-hash) */
    int rolling;            /* updateStrategy RollingUpdate (not OnDelete) */
    const cJSON *max_unavailable;
    const struct ownent **old; /* ready pods of an old revision, in node order */
    size_t nold;
};

/* Reads again what the controllers' reconciles read of a pod, when it changed since its facts
 * were read (1: read again). */
static int own_facts(struct ownent *e)
{
    const cJSON *pod = e->pod->json;
    if (e->rv == e->pod->rv)
        return 0;
    const char *node = ds_pod_node(pod), *phase = phase_of(pod);
    e->node = node ? node : "";
    e->rev = sim_gets(sim_get(sim_get(pod, "metadata"), "labels"), "controller-revision-hash");
    e->deleting = (unsigned char)sim_deleting(pod);
    e->failed = (unsigned char)sim_is(phase, "Failed");
    e->ready = (unsigned char)pod_ready(pod);
    e->terminal = (unsigned char)sim_terminal(pod);
    e->running = (unsigned char)sim_is(phase, "Running");
    e->bound = sim_gets(sim_get(pod, "spec"), "nodeName") != NULL;
    e->rv = e->pod->rv;
    return 1;
}

/* Reads again what the DaemonSet reconcile needs of a pod, when the pod or the node list
 * changed since (the answers of sim_deleting(), phase_of(), pod_ready(), ds_pod_node(), the
 * revision label, and where its node sorts among the nodes). */
static void own_refresh(struct ownent *e, cm_obj *const *nodes, size_t nn, uint64_t epoch)
{
    if (own_facts(e))
        e->epoch = epoch - 1; /* the node may have moved */
    if (e->epoch != epoch) {
        size_t lo = 0, hi = nn;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(nodes[mid]->name, e->node) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        e->pos = lo;
        e->at = (unsigned char)(lo < nn && strcmp(nodes[lo]->name, e->node) == 0);
        e->epoch = epoch;
    }
}

/* The order of ds_plan: by node name, then pod name; a and b share pos and at. */
static int ownent_before(const struct ownent *a, const struct ownent *b)
{
    int c = a->at ? 0 : strcmp(a->node, b->node);
    return c ? c < 0 : strcmp(a->pod->name, b->pod->name) < 0;
}

/*
 * The pods sorted by (node name, pod name) without comparing names: a pod's key is
 * where its node sorts among the nodes (a counting sort over nn + 1 positions, the
 * pods of a node that is gone just before the node that follows it), names only
 * between pods of one node. Returns a malloc'd array of n, or NULL.
 */
static const struct ownent **ds_sorted(struct ownidx *ix, size_t nn)
{
    size_t nb = 2 * (nn + 1), n = ix->n;
    size_t *first = calloc(nb + 1, sizeof *first), *fill = malloc((nb + 1) * sizeof *fill);
    const struct ownent **out = malloc((n ? n : 1) * sizeof *out);
    if (!first || !fill || !out) {
        free(first);
        free(fill);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        first[2 * ix->e[i].pos + ix->e[i].at + 1]++;
    for (size_t b = 1; b <= nb; b++)
        first[b] += first[b - 1];
    memcpy(fill, first, (nb + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        const struct ownent *e = &ix->e[i];
        size_t key = 2 * e->pos + e->at, at = fill[key]++;
        for (; at > first[key] && ownent_before(e, out[at - 1]); at--)
            out[at] = out[at - 1]; /* insertion among the few pods of one node */
        out[at] = e;
    }
    free(first);
    free(fill);
    return out;
}

enum { DS_NO, DS_RUN, DS_KEEP }; /* what ds_eligible says of a node */

/* Walks the sorted nodes and the DaemonSet's pods sorted by node together. */
static void ds_plan(cm_obj *const *nodes, size_t nn, const struct ownent **np, size_t npods,
                    const signed char *eligible, struct dsplan *p)
{
    size_t j = 0;
    int64_t unavailable = 0;
    for (size_t i = 0; i < nn; i++) {
        for (; j < npods && np[j]->pos == i && !np[j]->at; j++) /* pods of nodes that are gone */
            if (!np[j]->deleting)
                names_add(&p->remove, np[j]->pod->name);
        int should = eligible[i] == DS_RUN, keep = eligible[i] != DS_NO;
        int have = 0, live = 0, rdy = 0, upd = 0;
        for (; j < npods && np[j]->pos == i; j++) {
            const struct ownent *e = np[j];
            have = 1;
            if (e->deleting)
                continue;
            int old = !sim_is(e->rev, p->rev);
            if (e->failed || !keep || (p->rolling && old && !e->ready)) {
                /* failed pods are replaced; an old pod that is not available goes at once */
                names_add(&p->remove, e->pod->name);
                live += !should;
                continue;
            }
            live++;
            rdy |= e->ready;
            upd |= !old;
            if (p->rolling && old)
                p->old[p->nold++] = e;
        }
        p->desired += should;
        p->current += should && have;
        p->mis += !should && live;
        p->ready += should && rdy;
        p->updated += should && upd;
        unavailable += should && !rdy;
        if (should && !live) /* a terminating pod does not count, as in the real controller */
            names_add(&p->create, nodes[i]->name);
    }
    for (; j < npods; j++)
        if (!np[j]->deleting)
            names_add(&p->remove, np[j]->pod->name);
    /* RollingUpdate (maxSurge 0): old available pods go while fewer than maxUnavailable
     * nodes are without an available pod, in node order. */
    int64_t max = 1;
    if (p->max_unavailable) {
        max = cJSON_IsString(p->max_unavailable)
                  ? (strtoll(p->max_unavailable->valuestring, NULL, 10) * p->desired + 99) / 100
                  : (int64_t)p->max_unavailable->valuedouble;
        if (max < 1)
            max = 1;
    }
    for (size_t k = 0; k < p->nold && unavailable < max; k++, unavailable++)
        names_add(&p->remove, p->old[k]->pod->name);
}

/* The revision label of a DaemonSet's current template: the one its pods had when the
 * simulation first saw it (a fixture's pods are current), a new one after each change. */
struct dsrev {
    char tmpl[16];
    char label[64];
    int64_t hashed_rv;    /* the DaemonSet version tmpl was computed for */
    int64_t gen;          /* the generation the eligibility cache is for */
    size_t ncache;
    int64_t *node_rv;     /* per node (in the store's order): the version it was judged at */
    signed char *should;  /* and whether the DaemonSet should run there */
};

/* The pod spec the DaemonSet's eligibility is judged by: its template's, with the
 * tolerations the controller adds. */
static cJSON *ds_tmpl_spec(const cm_obj *ds)
{
    cJSON *spec = cJSON_Duplicate(sim_get(sim_get(sim_get(ds->json, "spec"), "template"), "spec"), 1);
    if (!spec)
        spec = cJSON_CreateObject();
    daemon_tolerations(spec);
    return spec;
}

/* Whether the DaemonSet should run on each node, judged again only for nodes that changed
 * (a resourceVersion names one state of one node) or after a new generation: DS_RUN where a new
 * pod may start, DS_KEEP where only a NoSchedule taint is in the way, so a pod already there
 * keeps running (NodeShouldRunDaemonPod's shouldContinueRunning), DS_NO elsewhere. */
static signed char *ds_eligible(cm_sim *s, const cm_obj *ds, cm_obj *const *nodes, size_t nn)
{
    const char *uid = uid_of(ds->json);
    struct dsrev *r = cm_map_get(s->dsrevs, uid ? uid : "");
    int64_t gen = sim_geti(sim_get(ds->json, "metadata"), "generation", 1);
    if (!r)
        return NULL;
    if (r->gen != gen || r->ncache != nn) {
        int64_t *rv = realloc(r->node_rv, (nn ? nn : 1) * sizeof *rv);
        if (rv)
            r->node_rv = rv;
        signed char *sh = realloc(r->should, nn ? nn : 1);
        if (sh)
            r->should = sh;
        if (!rv || !sh)
            return NULL;
        for (size_t i = 0; i < nn; i++)
            r->node_rv[i] = -1;
        r->gen = gen;
        r->ncache = nn;
    }
    cJSON *tmpl_spec = NULL; /* made when a node needs judging */
    for (size_t i = 0; i < nn; i++) {
        if (r->node_rv[i] == nodes[i]->rv)
            continue;
        if (!tmpl_spec)
            tmpl_spec = ds_tmpl_spec(ds);
        const cJSON *node = nodes[i]->json;
        const cJSON *tol = sim_get(tmpl_spec, "tolerations");
        r->should[i] = (signed char)(!node_matches(tmpl_spec, node)        ? DS_NO
                                     : !untolerated(node, tol)             ? DS_RUN
                                     : !untolerated_of(node, tol, 0)       ? DS_KEEP
                                                                           : DS_NO);
        r->node_rv[i] = nodes[i]->rv;
    }
    cJSON_Delete(tmpl_spec);
    return r->should;
}

static const char *ds_revision(cm_sim *s, const cm_obj *ds, const struct ownidx *ix, const char *hash)
{
    const char *uid = uid_of(ds->json);
    struct dsrev *r = cm_map_get(s->dsrevs, uid ? uid : "");
    if (!r) {
        if (!(r = calloc(1, sizeof *r)) || cm_map_set(s->dsrevs, uid ? uid : "", r) != 0) {
            free(r);
            return hash;
        }
        r->hashed_rv = -1;
        snprintf(r->tmpl, sizeof r->tmpl, "%s", hash);
        snprintf(r->label, sizeof r->label, "%s", hash);
        for (size_t i = 0; ix && i < ix->n; i++) { /* in creation order */
            const cJSON *pod = ix->e[i].pod->json;
            const char *l = sim_gets(sim_get(sim_get(pod, "metadata"), "labels"), "controller-revision-hash");
            if (l && !sim_deleting(pod)) {
                snprintf(r->label, sizeof r->label, "%s", l);
                break;
            }
        }
    } else if (strcmp(r->tmpl, hash) != 0) {
        snprintf(r->tmpl, sizeof r->tmpl, "%s", hash);
        snprintf(r->label, sizeof r->label, "%s", hash);
    }
    r->hashed_rv = ds->rv;
    return r->label;
}

/* The template hash of ds, printed and hashed again only when ds changed. */
static void ds_hash(cm_sim *s, const cm_obj *ds, char *hash, size_t size)
{
    const char *uid = uid_of(ds->json);
    const struct dsrev *r = cm_map_get(s->dsrevs, uid ? uid : "");
    if (r && r->hashed_rv == ds->rv)
        snprintf(hash, size, "%s", r->tmpl);
    else
        hash_name(sim_get(sim_get(ds->json, "spec"), "template"), hash, size);
}

static void reconcile_ds(cm_sim *s, const char *ns, const char *name)
{
    cm_obj *ds = cm_store_get(s->st, s->k_ds, ns, name);
    if (!ds || sim_deleting(ds->json))
        return;
    char hash[16];
    ds_hash(s, ds, hash, sizeof hash);
    const char *uid = uid_of(ds->json);
    struct ownidx *ix = uid ? cm_map_get(s->owned, uid) : NULL;
    size_t npods = ix ? ix->n : 0;
    cm_obj *const *nodes;
    size_t nn = cm_store_list(s->st, s->k_node, NULL, &nodes);
    struct dsplan plan = {0};
    const cJSON *strategy = sim_get(sim_get(ds->json, "spec"), "updateStrategy");
    plan.rev = ds_revision(s, ds, ix, hash);
    plan.rolling = !sim_is(sim_gets(strategy, "type"), "OnDelete");
    plan.max_unavailable = sim_get(sim_get(strategy, "rollingUpdate"), "maxUnavailable");
    for (size_t i = 0; i < npods; i++)
        own_refresh(&ix->e[i], nodes, nn, s->node_epoch);
    const struct ownent **np = npods ? ds_sorted(ix, nn) : NULL;
    plan.old = malloc((npods ? npods : 1) * sizeof *plan.old);
    if ((np || !npods) && plan.old) {
        /* Decide first: the writes below change the store's lists. */
        const signed char *eligible = ds_eligible(s, ds, nodes, nn);
        if (eligible)
            ds_plan(nodes, nn, np, npods, eligible, &plan);
    }
    char rev[64];
    snprintf(rev, sizeof rev, "%s", plan.rev ? plan.rev : hash);
    free(plan.old);
    free(np);
    for (size_t i = 0; i < plan.create.n; i++) {
        ds = cm_store_get(s->st, s->k_ds, ns, name);
        if (ds)
            call(s, "POST", s->k_pod, ns, NULL, NULL, ds_pod(ds, plan.create.v[i], rev));
    }
    for (size_t i = 0; i < plan.remove.n; i++) {
        cm_obj *p = cm_store_get(s->st, s->k_pod, ns, plan.remove.v[i]);
        if (p)
            delete_pod(s, p, -1);
    }
    names_free(&plan.create);
    names_free(&plan.remove);
    ds = cm_store_get(s->st, s->k_ds, ns, name);
    if (!ds)
        return;
    cJSON *st = cJSON_CreateObject();
    sim_seti(st, "currentNumberScheduled", plan.current);
    sim_seti(st, "desiredNumberScheduled", plan.desired);
    if (plan.ready)
        sim_seti(st, "numberAvailable", plan.ready);
    sim_seti(st, "numberMisscheduled", plan.mis);
    sim_seti(st, "numberReady", plan.ready);
    if (plan.desired - plan.ready > 0)
        sim_seti(st, "numberUnavailable", plan.desired - plan.ready);
    sim_seti(st, "observedGeneration", sim_geti(sim_get(ds->json, "metadata"), "generation", 1));
    sim_seti(st, "updatedNumberScheduled", plan.updated);
    put_status(s, ds, st);
}

static void reconcile_rs(cm_sim *s, const char *ns, const char *name)
{
    cm_obj *rs = cm_store_get(s->st, s->k_rs, ns, name);
    if (!rs || sim_deleting(rs->json))
        return;
    int64_t want = sim_geti(sim_get(rs->json, "spec"), "replicas", 1);
    const char *uid = uid_of(rs->json);
    struct ownidx *ix = uid ? cm_map_get(s->owned, uid) : NULL;
    size_t np = ix ? ix->n : 0;
    int64_t active = 0, ready = 0;
    for (size_t i = 0; i < np; i++) {
        const struct ownent *e = &ix->e[i];
        own_facts(&ix->e[i]);
        if (e->deleting || e->terminal)
            continue;
        active++;
        ready += e->ready;
    }
    /* Too many: the unbound, then the not running, then the not ready go first (as the
     * controller ranks them), the rest from the end of the sorted list. */
    char (*extra)[256] = active > want ? malloc((size_t)(active - want) * sizeof *extra) : NULL;
    size_t nextra = 0;
    for (int pass = 0; pass < 4 && extra && active - (int64_t)nextra > want; pass++)
        for (size_t i = np; i-- > 0 && active - (int64_t)nextra > want;) {
            const struct ownent *e = &ix->e[i];
            if (e->deleting || e->terminal)
                continue;
            int pick = pass == 0 ? !e->bound
                     : pass == 1 ? !e->running && e->bound
                     : pass == 2 ? e->running && !e->ready
                                 : e->ready;
            if (pick)
                snprintf(extra[nextra++], sizeof *extra, "%s", e->pod->name);
        }
    char gen[300];
    snprintf(gen, sizeof gen, "%.250s-", name);
    for (int64_t i = active; i < want; i++) {
        rs = cm_store_get(s->st, s->k_rs, ns, name);
        if (rs)
            call(s, "POST", s->k_pod, ns, NULL, NULL, pod_from_template(rs, NULL, gen));
    }
    for (size_t i = 0; extra && i < nextra; i++) {
        cm_obj *p = cm_store_get(s->st, s->k_pod, ns, extra[i]);
        if (p)
            delete_pod(s, p, -1);
    }
    free(extra);
    rs = cm_store_get(s->st, s->k_rs, ns, name);
    if (!rs)
        return;
    int64_t count = active;
    cJSON *st = cJSON_CreateObject();
    if (ready)
        sim_seti(st, "availableReplicas", ready);
    if (count)
        sim_seti(st, "fullyLabeledReplicas", count);
    sim_seti(st, "observedGeneration", sim_geti(sim_get(rs->json, "metadata"), "generation", 1));
    if (ready)
        sim_seti(st, "readyReplicas", ready);
    sim_seti(st, "replicas", count);
    put_status(s, rs, st);
}

static void reconcile_sts(cm_sim *s, const char *ns, const char *name)
{
    cm_obj *sts = cm_store_get(s->st, s->k_sts, ns, name);
    if (!sts || sim_deleting(sts->json))
        return;
    const cJSON *spec = sim_get(sts->json, "spec");
    int64_t want = sim_geti(spec, "replicas", 1);
    int parallel = sim_is(sim_gets(spec, "podManagementPolicy"), "Parallel");
    int64_t ready = 0, current = 0, blocked = 0;
    for (int64_t i = 0; i < want; i++) {
        char pname[300];
        snprintf(pname, sizeof pname, "%.250s-%lld", name, (long long)i);
        cm_obj *p = cm_store_get(s->st, s->k_pod, ns, pname);
        if (p) {
            current += !sim_deleting(p->json);
            ready += pod_ready(p->json);
            blocked |= !pod_ready(p->json);
            continue;
        }
        if (blocked && !parallel)
            continue; /* OrderedReady: the next ordinal waits for the ones before */
        sts = cm_store_get(s->st, s->k_sts, ns, name);
        if (!sts)
            return;
        cJSON *pod = pod_from_template(sts, pname, NULL);
        cJSON *labels = sim_get(sim_get(pod, "metadata"), "labels");
        cm_set_str(labels, "statefulset.kubernetes.io/pod-name", pname);
        char idx[32];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        cm_set_str(labels, "apps.kubernetes.io/pod-index", idx);
        const char *rev = sim_gets(sim_get(sts->json, "status"), "updateRevision");
        if (rev)
            cm_set_str(labels, "controller-revision-hash", rev);
        cJSON *pspec = sim_get(pod, "spec");
        cm_set_str(pspec, "hostname", pname);
        if (sim_gets(spec, "serviceName"))
            cm_set_str(pspec, "subdomain", sim_gets(spec, "serviceName"));
        call(s, "POST", s->k_pod, ns, NULL, NULL, pod);
        current++;
        blocked = 1;
    }
    /* Scaled down: the highest ordinal goes first, one at a time. */
    cm_obj **pods;
    size_t np = owned_pods(s, sts, &pods);
    char victim[256] = "";
    long long top = -1;
    for (size_t i = 0; i < np; i++) {
        const char *dash = strrchr(pods[i]->name, '-');
        long long ord = dash ? strtoll(dash + 1, NULL, 10) : -1;
        if (ord >= want && ord > top && !sim_deleting(pods[i]->json)) {
            top = ord;
            snprintf(victim, sizeof victim, "%s", pods[i]->name);
        }
    }
    free(pods);
    if (victim[0]) {
        cm_obj *p = cm_store_get(s->st, s->k_pod, ns, victim);
        if (p)
            delete_pod(s, p, -1);
    }
    sts = cm_store_get(s->st, s->k_sts, ns, name);
    if (!sts)
        return;
    cJSON *st = cJSON_Duplicate(sim_get(sts->json, "status"), 1);
    if (!st)
        st = cJSON_CreateObject();
    sim_seti(st, "availableReplicas", ready);
    sim_seti(st, "currentReplicas", current);
    sim_seti(st, "observedGeneration", sim_geti(sim_get(sts->json, "metadata"), "generation", 1));
    sim_seti(st, "readyReplicas", ready);
    sim_seti(st, "replicas", current);
    sim_seti(st, "updatedReplicas", current);
    put_status(s, sts, st);
}

/* The scale of a pod's controller (ReplicaSet, StatefulSet, ...), or -1 when it has none. */
static int64_t controller_scale(cm_sim *s, const char *kind, const char *name, const char *ns, char *uid,
                                size_t size)
{
    const cm_kind *k = sim_is(kind, "ReplicaSet") ? s->k_rs
                     : sim_is(kind, "StatefulSet") ? s->k_sts
                     : sim_is(kind, "Deployment") ? s->k_deploy : NULL;
    cm_obj *o = k ? cm_store_get(s->st, k, ns, name) : NULL;
    if (!o)
        return -1;
    snprintf(uid, size, "%s", uid_of(o->json) ? uid_of(o->json) : "");
    return sim_geti(sim_get(o->json, "spec"), "replicas", 1);
}

/* An intOrString against a total ("50%" rounds up, as the disruption controller does). */
static int64_t scaled(const cJSON *v, int64_t total)
{
    if (cJSON_IsString(v))
        return (strtoll(v->valuestring, NULL, 10) * total + 99) / 100;
    int64_t n = 0;
    cm_json_int64(v, &n);
    return n;
}

static void reconcile_pdb(cm_sim *s, const char *ns, const char *name)
{
    cm_obj *pdb = cm_store_get(s->st, s->k_pdb, ns, name);
    if (!pdb || sim_deleting(pdb->json))
        return;
    const cJSON *spec = sim_get(pdb->json, "spec");
    struct pdbidx *ix = pdb_index(s, pdb); /* the namespace's pods its selector matches, by name */
    size_t n = ix ? ix->n : 0;
    int64_t pods = 0, healthy = 0, scale = 0;
    char seen[32][64];
    size_t nseen = 0;
    int all_controlled = 1;
    const cJSON *min = sim_get(spec, "minAvailable"), *max = sim_get(spec, "maxUnavailable");
    const char *last_kind = NULL, *last_name = NULL; /* the controller looked up last, and what it said */
    int64_t last_sc = -1;
    char last_uid[64] = "";
    for (size_t i = 0; i < n; i++) {
        struct pdbent *e = &ix->pods[i];
        if (e->rv != e->pod->rv) {
            const cJSON *p = e->pod->json, *r = controller_ref(p);
            e->terminal = (unsigned char)sim_terminal(p);
            e->ready = (unsigned char)pod_ready(p);
            e->ckind = sim_gets(r, "kind");
            e->cname = sim_gets(r, "name");
            e->rv = e->pod->rv;
        }
        if (e->terminal)
            continue;
        pods++;
        healthy += e->ready;
        int fresh = 0;
        if (!last_kind || !sim_is(last_kind, e->ckind) || !sim_is(last_name, e->cname)) {
            last_kind = e->ckind ? e->ckind : "";
            last_name = e->cname ? e->cname : "";
            last_sc = controller_scale(s, e->ckind, e->cname, ns, last_uid, sizeof last_uid);
            fresh = 1;
        }
        if (last_sc < 0) {
            all_controlled = 0;
            continue;
        }
        if (!fresh)
            continue; /* the controller of the pod before: counted once already (or the list is full) */
        int dup = 0;
        for (size_t j = 0; j < nseen && !dup; j++)
            dup = strcmp(seen[j], last_uid) == 0;
        if (!dup && nseen < 32) {
            snprintf(seen[nseen++], sizeof *seen, "%s", last_uid);
            scale += last_sc;
        }
    }
    /* getExpectedPodCount: an integer minAvailable counts the pods; otherwise the controllers' scale. */
    int use_scale = (max || cJSON_IsString(min)) && all_controlled && nseen > 0;
    int64_t expected = use_scale ? scale : pods;
    int64_t desired = min ? scaled(min, expected) : max ? expected - scaled(max, expected) : expected;
    if (desired < 0)
        desired = 0;
    if (cm_fault_pdb_blocked(s->f, ns, name))
        desired = expected; /* an injected fault: as if maxUnavailable were 0 */
    int64_t allowed = healthy - desired > 0 ? healthy - desired : 0;
    const cJSON *old = sim_get(pdb->json, "status");
    cJSON *st = cJSON_CreateObject();
    char now[40];
    now_str(s, now, sizeof now);
    const char *cstatus = allowed > 0 ? "True" : "False";
    const char *when = now;
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(old, "conditions"))
        if (sim_is(sim_gets(c, "type"), "DisruptionAllowed") && sim_is(sim_gets(c, "status"), cstatus) && sim_gets(c, "lastTransitionTime"))
            when = sim_gets(c, "lastTransitionTime");
    cJSON *cond = cJSON_CreateObject();
    cJSON_AddStringToObject(cond, "lastTransitionTime", when);
    cJSON_AddStringToObject(cond, "message", "");
    sim_seti(cond, "observedGeneration", sim_geti(sim_get(pdb->json, "metadata"), "generation", 1));
    cJSON_AddStringToObject(cond, "reason", allowed > 0 ? "SufficientPods" : "InsufficientPods");
    cJSON_AddStringToObject(cond, "status", cstatus);
    cJSON_AddStringToObject(cond, "type", "DisruptionAllowed");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "conditions"), cond);
    sim_seti(st, "currentHealthy", healthy);
    sim_seti(st, "desiredHealthy", desired);
    /* disruptedPods: the evictions not yet seen through (the pod still there, not terminating). */
    const cJSON *dp;
    cJSON *keep = NULL;
    cJSON_ArrayForEach(dp, sim_get(old, "disruptedPods")) {
        cm_obj *p = cm_store_get(s->st, s->k_pod, ns, dp->string);
        if (p && !sim_deleting(p->json)) {
            if (!keep)
                keep = cJSON_CreateObject();
            cJSON_AddItemToObject(keep, dp->string, cJSON_Duplicate(dp, 1));
            allowed = allowed > 0 ? allowed - 1 : 0;
        }
    }
    if (keep)
        cJSON_AddItemToObject(st, "disruptedPods", keep);
    sim_seti(st, "disruptionsAllowed", allowed);
    sim_seti(st, "expectedPods", expected);
    sim_seti(st, "observedGeneration", sim_geti(sim_get(pdb->json, "metadata"), "generation", 1));
    put_status(s, pdb, st);
}

/* ---- the drain ---- */

/*
 * The simulation's controllers, one row per enum sim_ctl (simint.h): what runs a queued item.
 * A row reconciles one object by namespace and name, or takes the item's key as it is.
 */
static const struct controller {
    void (*by_name)(cm_sim *s, const char *ns, const char *name);
    void (*by_key)(cm_sim *s, const char *key);
} CONTROLLERS[SIM_CTL_COUNT] = {
    [SIM_SCHED] = {reconcile_sched, NULL},
    [SIM_KUBELET] = {NULL, kubelet_reconcile},
    [SIM_DS] = {reconcile_ds, NULL},
    [SIM_RS] = {reconcile_rs, NULL},
    [SIM_DEPLOY] = {sim_deploy_reconcile, NULL},
    [SIM_STS] = {reconcile_sts, NULL},
    [SIM_PDB] = {reconcile_pdb, NULL},
    [SIM_NODE] = {reconcile_node, NULL},
    [SIM_GC] = {NULL, sim_gc_reconcile},
    [SIM_JOB] = {NULL, sim_job_reconcile},
    [SIM_IPAM] = {NULL, sim_ipam_reconcile},
};

static void reconcile(cm_sim *s, enum sim_ctl ctl, const char *key)
{
    const struct controller *c = &CONTROLLERS[ctl];
    s->reconciles++;
    if (c->by_key) {
        c->by_key(s, key);
        return;
    }
    char ns[256], name[256];
    splitkey(key, ns, sizeof ns, name, sizeof name);
    c->by_name(s, ns, name);
}

/* Runs the items queued before this drain, in order; what they cause waits for the next one. */
static void drain(cm_loop *loop, void *ud)
{
    cm_sim *s = ud;
    s->drain = NULL;
    size_t n = s->qlen;
    for (size_t i = 0; i < n && s->qlen && !cm_loop_cancelled(loop); i++) { /* a signal stops it between items */
        struct item it = s->q[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        char dedup[520];
        snprintf(dedup, sizeof dedup, "%d|%s", (int)it.ctl, it.key);
        cm_map_del(s->queued, dedup);
        reconcile(s, it.ctl, it.key);
        free(it.key);
    }
    if (s->qlen && !s->drain)
        s->drain = cm_loop_timer(s->loop, cm_loop_now(s->loop) + s->react, drain, s);
}

/* ---- settings, life cycle ---- */

/* A duration setting: a number of seconds or a Go-style string; dflt when absent, -2 when bad. */
static int64_t duration(const cJSON *o, const char *key, int64_t dflt)
{
    const cJSON *v = sim_get(o, key);
    double d;
    if (!v)
        return dflt;
    if (cm_json_double(v, &d))
        return d >= 0 ? (int64_t)(d * (double)CM_NS_PER_S) : -2;
    if (cJSON_IsString(v)) {
        int64_t ns = cm_parse_duration(v->valuestring);
        return ns >= 0 ? ns : -2;
    }
    return -2;
}

static int read_settings(cm_sim *s, const cJSON *doc, char *err, size_t errsize)
{
    const cJSON *sim = sim_get(sim_get(doc, "spec"), "simulation");
    struct { const char *key; int64_t *out; int64_t dflt; } d[] = {
        {"reactionDelay", &s->react, CM_NS_PER_S / 10},
        {"podStartDelay", &s->start, 2 * CM_NS_PER_S},
        {"podReadyDelay", &s->ready, CM_NS_PER_S},
        {"podStopDelay", &s->stop, 2 * CM_NS_PER_S},
        {"sandboxRetryDelay", &s->retry, 10 * CM_NS_PER_S},
    };
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) {
        *d[i].out = duration(sim, d[i].key, d[i].dflt);
        if (*d[i].out < 0) {
            snprintf(err, errsize, "FakeCluster spec.simulation.%s: not a duration", d[i].key);
            return -1;
        }
    }
    s->jitter = 0.2;
    if (sim_get(sim, "jitter") && (!cm_json_double(sim_get(sim, "jitter"), &s->jitter) || s->jitter < 0)) {
        snprintf(err, errsize, "FakeCluster spec.simulation.jitter: not a fraction >= 0");
        return -1;
    }
    const cJSON *rules = sim_get(sim, "pods");
    size_t n = (size_t)cJSON_GetArraySize(rules);
    s->rules = n ? calloc(n, sizeof *s->rules) : NULL;
    if (n && !s->rules)
        return -1;
    const cJSON *r;
    cJSON_ArrayForEach(r, rules) {
        struct rule *ru = &s->rules[s->nrules++];
        const char *prefix = sim_gets(r, "imagePrefix"), *sel = sim_gets(r, "selector");
        char e[256];
        if (prefix)
            ru->image_prefix = strdup(prefix);
        else if (!sel || !(ru->sel = cm_label_selector_parse(sel, e, sizeof e))) {
            snprintf(err, errsize, "FakeCluster spec.simulation.pods[%zu]: %s", s->nrules - 1,
                     sel ? e : "needs imagePrefix or selector");
            return -1;
        }
        ru->start = duration(r, "startDelay", -1);
        ru->ready = duration(r, "readyDelay", -1);
        if (ru->start < -1 || ru->ready < -1) {
            snprintf(err, errsize, "FakeCluster spec.simulation.pods[%zu]: bad delay", s->nrules - 1);
            return -1;
        }
    }
    return 0;
}

/*
 * The hosts a fixture gives explicitly (FakeCluster spec.hosts: node name -> a host document,
 * host.h's shape; what --fake-save writes): those nodes start with them instead of a kubeadm
 * node's base host. -1 with err naming the node and what is wrong.
 */
static int explicit_hosts(cm_sim *s, const cJSON *settings, char *err, size_t errsize)
{
    const cJSON *hosts = sim_get(sim_get(settings, "spec"), "hosts");
    if (!hosts)
        return 0;
    if (!cJSON_IsObject(hosts)) {
        snprintf(err, errsize, "FakeCluster spec.hosts: expected a mapping of node name to host");
        return -1;
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, hosts) {
        char why[400];
        if (!cm_store_get(s->st, s->k_node, "", h->string)) {
            snprintf(err, errsize, "FakeCluster spec.hosts.%.200s: no such Node in the fixture", h->string);
            return -1;
        }
        struct simnode *n = calloc(1, sizeof *n);
        if (!n || !(n->host = cm_host_from_json(h, why, sizeof why)) || cm_map_set(s->nodes, h->string, n) != 0) {
            snprintf(err, errsize, "FakeCluster spec.hosts.%.200s: %s", h->string,
                     n && !n->host ? why : "out of memory");
            if (n)
                cm_host_free(n->host);
            free(n);
            return -1;
        }
    }
    return 0;
}

static const cm_kind *kind(cm_fake *f, const char *av, const char *k)
{
    return cm_kinds_by_kind(f->kinds, av, k);
}

cm_sim *cm_sim_new(cm_fake *fake, cm_loop *loop, uint64_t seed, const cJSON *settings, char *err,
                   size_t errsize)
{
    cm_sim *s = calloc(1, sizeof *s);
    if (err && errsize)
        err[0] = '\0';
    if (!s)
        return NULL;
    s->f = fake;
    s->loop = loop;
    s->st = cm_fake_store(fake);
    s->rng = seed;
    s->sub = -1;
    s->k_pod = kind(fake, "v1", "Pod");
    s->k_node = kind(fake, "v1", "Node");
    s->k_event = kind(fake, "v1", "Event");
    s->k_ds = kind(fake, "apps/v1", "DaemonSet");
    s->k_rs = kind(fake, "apps/v1", "ReplicaSet");
    s->k_deploy = kind(fake, "apps/v1", "Deployment");
    s->k_sts = kind(fake, "apps/v1", "StatefulSet");
    s->k_pdb = kind(fake, "policy/v1", "PodDisruptionBudget");
    s->queued = cm_map_new();
    s->parked_set = cm_map_new();
    s->dsrevs = cm_map_new();
    s->owned = cm_map_new();
    s->pdbs = cm_map_new();
    s->pods = cm_map_new();
    s->nodes = cm_map_new();
    char e[512];
    if (!s->queued || !s->parked_set || !s->dsrevs || !s->owned || !s->pdbs || !s->pods || !s->nodes ||
        read_settings(s, settings ? settings : cm_fake_settings(fake), e, sizeof e) != 0 ||
        sim_x_new(s, settings ? settings : cm_fake_settings(fake), e, sizeof e) != 0 ||
        (s->sub = cm_store_subscribe(s->st, on_change, s)) < 0) {
        if (err && errsize)
            snprintf(err, errsize, "%s", s->sub < 0 && !e[0] ? "out of memory" : e);
        cm_sim_free(s);
        return NULL;
    }
    if (explicit_hosts(s, settings ? settings : cm_fake_settings(fake), err, errsize) != 0) {
        cm_sim_free(s);
        return NULL;
    }
    cm_fake_seed(fake, seed);
    fake->sim_kubelet = 1;
    cm_obj *const *items;
    size_t n = cm_store_list(s->st, s->k_node, NULL, &items);
    for (size_t i = 0; i < n; i++) {
        simnode(s, items[i]->name);
        enqueue(s, SIM_NODE, "", items[i]->name);
    }
    n = cm_store_list(s->st, s->k_pod, NULL, &items);
    for (size_t i = 0; i < n; i++) {
        const char *owner = sim_gets(controller_ref(items[i]->json), "uid");
        if (owner)
            own_add(s, owner, items[i], 0);
    }
    for (size_t i = 0; i < n; i++)
        enqueue(s, sim_gets(sim_get(items[i]->json, "spec"), "nodeName") ? SIM_KUBELET : SIM_SCHED, items[i]->ns, items[i]->name);
    enqueue_all(s, SIM_DS, s->k_ds, NULL);
    enqueue_all(s, SIM_DEPLOY, s->k_deploy, NULL);
    enqueue_all(s, SIM_RS, s->k_rs, NULL);
    enqueue_all(s, SIM_STS, s->k_sts, NULL);
    enqueue_all(s, SIM_PDB, s->k_pdb, NULL);
    sim_ipam_resync(s);
    sim_x_attach(s);
    return s;
}

static void free_podstate(void *ud, const char *key, void *value)
{
    (void)key;
    cm_sim *s = ud;
    struct podstate *ps = value;
    if (ps->timer)
        cm_loop_timer_cancel(s->loop, ps->timer);
    free(ps);
}

static void free_dsrev(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    struct dsrev *r = value;
    free(r->node_rv);
    free(r->should);
    free(r);
}

static void free_ownidx(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    struct ownidx *ix = value;
    free(ix->e);
    free(ix);
}

static void free_pdbidx(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    pdbidx_free(value);
}

static void free_node(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    struct simnode *n = value;
    cm_host_free(n->host);
    free(n);
}

void cm_sim_free(cm_sim *s)
{
    if (!s)
        return;
    if (s->sub >= 0) {
        cm_store_unsubscribe(s->st, s->sub);
        s->f->sim_kubelet = 0;
    }
    if (s->drain)
        cm_loop_timer_cancel(s->loop, s->drain);
    if (s->resync)
        cm_loop_timer_cancel(s->loop, s->resync);
    for (size_t i = 0; i < s->qlen; i++)
        free(s->q[(s->qhead + i) % s->qcap].key);
    free(s->q);
    if (s->pods)
        cm_map_each(s->pods, free_podstate, s);
    if (s->nodes)
        cm_map_each(s->nodes, free_node, s);
    for (size_t i = 0; i < s->nparked; i++)
        free(s->parked[i]);
    free(s->parked);
    if (s->dsrevs)
        cm_map_each(s->dsrevs, free_dsrev, NULL);
    if (s->owned)
        cm_map_each(s->owned, free_ownidx, NULL);
    cm_map_free(s->owned);
    if (s->pdbs)
        cm_map_each(s->pdbs, free_pdbidx, NULL);
    cm_map_free(s->pdbs);
    cm_map_free(s->dsrevs);
    cm_map_free(s->parked_set);
    cm_map_free(s->queued);
    cm_map_free(s->pods);
    cm_map_free(s->nodes);
    sim_x_free(s);
    for (size_t i = 0; i < s->nrules; i++) {
        free(s->rules[i].image_prefix);
        cm_selector_free(s->rules[i].sel);
    }
    free(s->rules);
    free(s);
}

void cm_sim_set_agent(cm_sim *s, cm_sim_agent_fn fn, void *ud)
{
    s->agent = fn;
    s->agent_ud = ud;
}

uint64_t cm_sim_requests(const cm_sim *s)
{
    return s->requests;
}

uint64_t cm_sim_lost(const cm_sim *s)
{
    return s->lost;
}

uint64_t cm_sim_reconciles(const cm_sim *s)
{
    return s->reconciles;
}

/* ---- for the controllers of sim_*.c (simint.h) ---- */

cm_fake *sim_fake(const cm_sim *s)
{
    return s->f;
}

cm_store *sim_store(const cm_sim *s)
{
    return s->st;
}

cm_loop *sim_loop(const cm_sim *s)
{
    return s->loop;
}

struct sim_x *sim_ext(const cm_sim *s)
{
    return s->x;
}

void sim_set_ext(cm_sim *s, struct sim_x *x)
{
    s->x = x;
}

void cm_sim_reseed(cm_sim *s, uint64_t state)
{
    s->rng ^= state;
}

uint64_t sim_rand(cm_sim *s)
{
    return cm_splitmix64(&s->rng);
}

int64_t sim_jittered(cm_sim *s, int64_t d)
{
    return jittered(s, d);
}

int sim_call(cm_sim *s, const char *method, const cm_kind *k, const char *ns, const char *name,
             const char *sub, const char *query, cJSON *body)
{
    if (!query)
        return call(s, method, k, ns, name, sub, body);
    char path[1024];
    path_of(k, ns, name, sub, path, sizeof path);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    cm_fake_req req = {.method = method, .path = path, .query = query, .content_type = "application/json",
                       .body = text, .body_len = text ? strlen(text) : 0};
    cm_fake_resp resp = {0};
    cm_fake_handle(s->f, &req, &resp);
    s->requests++;
    free(text);
    int status = resp.status;
    cm_fake_resp_clear(&resp);
    return status;
}

int sim_put(cm_sim *s, const cm_kind *k, cJSON *obj, const char *sub)
{
    return put(s, k, obj, sub);
}

int sim_create_aside(cm_sim *s, const cm_kind *k, const char *ns, cJSON *obj)
{
    return call_as(s, "POST", k, ns, NULL, NULL, obj, 1);
}

void sim_put_status(cm_sim *s, const cm_obj *o, cJSON *status)
{
    put_status(s, o, status);
}

void sim_delete_pod(cm_sim *s, const cm_obj *pod, int64_t grace)
{
    delete_pod(s, pod, grace);
}

void sim_enqueue_key(cm_sim *s, enum sim_ctl ctl, const char *key)
{
    enqueue(s, ctl, "", key); /* an empty namespace leaves the key as it is */
}

size_t sim_owned_pods(cm_sim *s, const cm_obj *owner, cm_obj ***out)
{
    return owned_pods(s, owner, out);
}

cJSON *sim_pod_from_template(const cm_obj *owner, const char *name, const char *generate)
{
    return pod_from_template(owner, name, generate);
}

void sim_owner_ref(cJSON *meta, const cm_obj *owner)
{
    owner_ref(meta, owner);
}

int sim_pod_ready(const cJSON *pod)
{
    return pod_ready(pod);
}

void sim_now(cm_sim *s, char *buf, size_t size)
{
    now_str(s, buf, size);
}

void sim_micro_now(cm_sim *s, char *buf, size_t size)
{
    int64_t ns = cm_loop_wall(s->loop);
    time_t secs = (time_t)(ns / CM_NS_PER_S);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%06dZ", (int)(ns / 1000 % 1000000));
}
