/*
 * simint.h - what sim.c shares with the controllers in sim_*.c: the work
 * queue, writes through the REST core, the owner index, and the hooks sim.c
 * calls into them. Internal to runtime/fake.
 *
 *   sim_gc.c      garbage collection by ownerReferences (background, foreground, orphan)
 *   sim_job.c     the Job controller, and the kubelet's part that ends containers
 *   sim_deploy.c  the Deployment controller: ReplicaSets per template, rollouts, status
 *   sim_ipam.c    pod addresses from Calico's IPAM blocks on Calico-networked nodes
 *   sim_lease.c   each node's Lease in kube-node-lease, renewed by its kubelet
 */
#ifndef CM_FAKE_SIMINT_H
#define CM_FAKE_SIMINT_H

#include "fakeint.h"
#include "rand.h" /* cm_splitmix64 */
#include "sim.h"
#include "store.h"

#include <cJSON.h>
#include <stdint.h>

/*
 * Every controller of the simulation, each a row of sim.c's one table (CONTROLLERS): a work-queue
 * item names one of them and a key, "ns/name" (a cluster-scoped object: "name"), or the
 * controller's own key (SIM_IPAM: "ip|ns|pod").
 */
enum sim_ctl {
    SIM_SCHED,   /* the scheduler (key "*": every pending pod) */
    SIM_KUBELET, /* a pod's kubelet */
    SIM_DS,      /* DaemonSet */
    SIM_RS,      /* ReplicaSet */
    SIM_DEPLOY,  /* Deployment (sim_deploy.c) */
    SIM_STS,     /* StatefulSet */
    SIM_PDB,     /* PodDisruptionBudget status */
    SIM_NODE,    /* the node controller's cordon taint; the host of a deleted Node goes */
    SIM_GC,      /* garbage collection (sim_gc.c) */
    SIM_JOB,     /* Job (sim_job.c) */
    SIM_IPAM,    /* a deleted pod's Calico IPAM address goes back (sim_ipam.c) */
    SIM_CTL_COUNT
};

/* The state of the controllers of sim_*.c, owned by the simulation (sim_x.c). */
struct sim_x {
    struct sim_gc *gc;
    struct sim_job *job;
    struct sim_ipam *ipam;
    struct sim_lease *lease;
};

/* ---- from sim.c ---- */

cm_fake *sim_fake(const cm_sim *s);
cm_store *sim_store(const cm_sim *s);
cm_loop *sim_loop(const cm_sim *s);
struct sim_x *sim_ext(const cm_sim *s);
void sim_set_ext(cm_sim *s, struct sim_x *x);

/* A draw from the seed's generator. */
uint64_t sim_rand(cm_sim *s);

/* A delay stretched by up to the jitter fraction (from the seed). */
int64_t sim_jittered(cm_sim *s, int64_t d);

/* Sends one request (body consumed, may be NULL; query may be NULL); returns the HTTP status. */
int sim_call(cm_sim *s, const char *method, const cm_kind *k, const char *ns, const char *name,
             const char *sub, const char *query, cJSON *body);

/* POSTs obj (consumed) as a write nothing in the run waits for (cm_fake_req.aside: a Lease, a
 * routine Event); returns the status. */
int sim_create_aside(cm_sim *s, const cm_kind *k, const char *ns, cJSON *obj);

/* PUTs obj (consumed) to its resource or its status subresource ("status"). */
int sim_put(cm_sim *s, const cm_kind *k, cJSON *obj, const char *sub);

/* Replaces o's status by status (consumed) unless it is already that. */
void sim_put_status(cm_sim *s, const cm_obj *o, cJSON *status);

/* Tells the agent hook (cm_sim_set_agent) what happened to pod on its node. */
void sim_tell_agent(cm_sim *s, const cm_obj *pod, enum cm_sim_pod_event ev);

/* Deletes a pod (grace -1: its own) with its uid as precondition. */
void sim_delete_pod(cm_sim *s, const cm_obj *pod, int64_t grace);

/* Queues a reconcile of ctl for key, deduplicated while queued. */
void sim_enqueue_key(cm_sim *s, enum sim_ctl ctl, const char *key);

/* Queues ctl for key after delay (sim_job.c keeps the timers); a key keeps its earliest. */
void sim_later(cm_sim *s, enum sim_ctl ctl, const char *key, int64_t delay);

/* The pods whose controller is owner, in creation order (*out malloc'd; free it). */
size_t sim_owned_pods(cm_sim *s, const cm_obj *owner, cm_obj ***out);

/* A new pod from owner's spec.template (name, or generateName), with its controller reference. */
cJSON *sim_pod_from_template(const cm_obj *owner, const char *name, const char *generate);

/* Adds metadata.ownerReferences naming owner as the controller. */
void sim_owner_ref(cJSON *meta, const cm_obj *owner);

/* Whether a pod is Running, Ready and not being deleted. */
int sim_pod_ready(const cJSON *pod);

/* RFC 3339 "now" of the simulated cluster; and as a MicroTime (microseconds: a Lease's renewTime,
 * an events.k8s.io Event's eventTime). */
void sim_now(cm_sim *s, char *buf, size_t size);
void sim_micro_now(cm_sim *s, char *buf, size_t size);

/* ---- into sim_*.c (hooks sim.c calls) ---- */

/* Creates the extension state and reads its settings from the FakeCluster document; -1 with err. */
int sim_x_new(cm_sim *s, const cJSON *settings, char *err, size_t errsize);
void sim_x_free(cm_sim *s);

/* Every store change (sim.c's subscriber calls it first); only reads and queues. */
void sim_x_on_change(cm_sim *s, const cm_event *ev);

/* Once, when the simulation attaches: queues what existing objects need. */
void sim_x_attach(cm_sim *s);

/* The kubelet saw a pod become Ready (or found it Ready): its containers may end later (sim_job.c). */
void sim_x_pod_ready(cm_sim *s, const cm_obj *pod);

/* Each controller's part of the hooks above. */
struct sim_gc *sim_gc_new(void);
void sim_gc_free(struct sim_gc *g);
void sim_gc_on_change(cm_sim *s, const cm_event *ev);
void sim_gc_attach(cm_sim *s);
void sim_gc_reconcile(cm_sim *s, const char *key);

struct sim_job *sim_job_new(const cJSON *settings, char *err, size_t errsize);
void sim_job_free(cm_sim *s, struct sim_job *j);
void sim_job_on_change(cm_sim *s, const cm_event *ev);
void sim_job_attach(cm_sim *s);
void sim_job_reconcile(cm_sim *s, const char *key);
void sim_job_pod_ready(cm_sim *s, const cm_obj *pod);

struct sim_ipam *sim_ipam_new(void);
void sim_ipam_free(struct sim_ipam *p);
void sim_ipam_on_change(cm_sim *s, const cm_event *ev);
void sim_ipam_resync(cm_sim *s);
void sim_ipam_reconcile(cm_sim *s, const char *key);

struct sim_lease *sim_lease_new(cm_sim *s);
void sim_lease_free(cm_sim *s, struct sim_lease *l);
void sim_lease_attach(cm_sim *s);

/* Small readers shared by sim_*.c. */
cJSON *sim_get(const cJSON *o, const char *k);

const char *sim_gets(const cJSON *o, const char *k);
int64_t sim_geti(const cJSON *o, const char *k, int64_t dflt);
void sim_seti(cJSON *o, const char *k, int64_t v);
int sim_is(const char *a, const char *b);
int sim_has_finalizer(const cJSON *obj, const char *name);
/* Whether the object has a deletionTimestamp; whether the pod's phase is Succeeded or Failed. */
int sim_deleting(const cJSON *o);
int sim_terminal(const cJSON *pod);

/* The Deployment controller (sim_deploy.c): SIM_DEPLOY's row. */
void sim_deploy_reconcile(cm_sim *s, const char *ns, const char *name);

/*
 * The pod address from Calico IPAM when the node's active CNI config uses calico-ipam
 * (sim_ipam.c): 1 with the address in ip, 0 with the kubelet's message in msg, or -1 when
 * the node's pods are not networked by Calico IPAM (the caller uses the podCIDR).
 */
int sim_ipam_assign(cm_sim *s, const cm_obj *pod, const cJSON *node, const cm_host *host,
                    const char *sandbox, char *ip, size_t ipsize, char *msg, size_t msgsize);

#endif
