/*
 * fault.h - injected faults: what goes wrong in a cluster, on purpose, so a
 * script is rehearsed against a cluster that misbehaves.
 *
 * Faults come from the fixture's FakeCluster document (spec.faults) and from
 * --fault flags, both checked strictly before anything runs. They are drawn
 * from the run's seed, each rule from a random stream of its own, so adding a
 * rule or enabling faults changes no other random choice of the simulation.
 *
 *   spec:
 *     faults:
 *       requests:            # answers to clients (scripts, kubectl), never to the simulation's actors
 *       - error: 500         # 500, 429, 409 or reset (the connection closes without an answer)
 *         rate: 0.1          # the chance per matching request (default 1)
 *         verbs: [get, list] # get list watch create update patch delete (default all; 409: update patch delete)
 *         resources: [pods]  # plural names, "pods/eviction" for a subresource (default every resource)
 *         retryAfter: 2      # seconds: Retry-After and details.retryAfterSeconds (500 and 429)
 *         times: 3           # at most this many times (default no limit)
 *         message: "..."     # the cause (500) or the message (429) instead of the default
 *       watchDrops:          # the server ends a watch early
 *       - {resources: [pods], rate: 0.5, within: 30s, times: 2}
 *       pods:                # by imagePrefix, selector, namespace, name (all that are given)
 *       - {imagePrefix: "quay.io/calico/", rate: 1, startDelay: 60s}
 *       - {selector: "app=web", fail: ErrImagePull}      # or CrashLoopBackOff
 *       nodes:               # the node's kubelet stops posting status at virtual time notReadyAt
 *       - {name: worker-2, notReadyAt: 90s}
 *       pdbs:                # the disruption controller never allows a disruption
 *       - {namespace: default, name: web}
 *       terminating:         # deleted pods that never finish terminating
 *       - {namespace: default, selector: "app=db", rate: 0.5}
 *
 * A --fault flag is one rule: "SECTION:KEY=VALUE,KEY=VALUE", list values
 * joined by '+': --fault requests:error=429,retryAfter=1,verbs=get+list,rate=0.5
 *
 * The API server meets the faults only as the filter around its REST core
 * (fake.h cm_fake_filter): cm_faults_new() sets it, with its named points
 * request (an error answer or a reset for a client's request; the cluster's
 * own actors are never refused), watch_drop/watch_dropped, pdb_blocked,
 * eviction_refused and pod_stuck. The simulation calls the hooks below, which
 * do nothing when no faults are attached.
 */
#ifndef CM_FAKE_FAULT_H
#define CM_FAKE_FAULT_H

#include "fake.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cm_faults cm_faults;

/* The kinds of fault, as counted and traced. */
enum cm_fault_kind {
    CM_FAULT_ERROR,             /* an API error answer */
    CM_FAULT_RESET,             /* a connection closed without an answer */
    CM_FAULT_WATCH_DROP,        /* a watch ended early by the server */
    CM_FAULT_SLOW_START,        /* a pod started late */
    CM_FAULT_FAILED_START,      /* a pod's container failed to start (each failure) */
    CM_FAULT_NODE_NOT_READY,    /* a node's kubelet stopped posting status */
    CM_FAULT_PDB_BLOCKED,       /* an eviction refused by a PDB that never allows one */
    CM_FAULT_STUCK_TERMINATING, /* a deleted pod that will stay Terminating */
    CM_FAULT_KINDS
};

/* Their names in traces and summaries: error, reset, watchDrop, slowStart, ... */
extern const char *const cm_fault_names[CM_FAULT_KINDS];

/* Told of each fault as it happens: its kind and what it hit (a JSON object). */
typedef void (*cm_fault_note_fn)(void *ud, enum cm_fault_kind kind, const cJSON *what);

/* Checks one --fault flag on its own. Returns 0, or -1 with a one-line why in err. */
int cm_fault_flag_check(const char *flag, char *err, size_t errsize);

/*
 * Reads the faults of fake's FakeCluster document (spec.faults) and of the
 * --fault flags, seeded by seed, and attaches them to fake, whose loop runs
 * their timers (a node going NotReady). fixture names the file in messages:
 * "FILE:LINE: FakeCluster spec.faults.requests[0].rate: why". Returns the
 * faults (also when there are none), or NULL with a one-line why in err.
 */
cm_faults *cm_faults_new(cm_fake *fake, const char *fixture, const char *const *flags, size_t nflags,
                         uint64_t seed, char *err, size_t errsize);

/* Detaches the faults from their cluster and frees them (NULL is accepted). */
void cm_faults_free(cm_faults *fl);

/* Whether any fault is configured. */
int cm_faults_any(const cm_faults *fl);

/* Sets the function told of each fault (fn NULL: none). */
void cm_faults_set_note(cm_faults *fl, cm_fault_note_fn fn, void *ud);

/* How many faults of kind have happened. */
long cm_faults_count(const cm_faults *fl, enum cm_fault_kind kind);

/*
 * crash: the script (the procedure) dies as kill -9 would right after its Nth
 * API write (create, update, patch, delete, eviction; whatever the answer) has
 * reached the cluster: the smallest afterWrites of the crash rules, 0 for none.
 * simrun.c counts the writes and stops the run.
 */
long cm_faults_crash_after(const cm_faults *fl);

/* ---- the simulation's hooks (sim.c, the kubelets and the PDB controller) ---- */

/* The extra delay (ns, 0 for none) before a pod's kubelet starts it. */
int64_t cm_fault_pod_start_delay(cm_fake *f, const cJSON *pod);

/*
 * A pod's sandbox is up (ip its address): when its containers are to fail,
 * the faults take the pod over (status, events, back-off) and this returns 1;
 * the kubelet then leaves it alone. 0: start it as usual.
 */
int cm_fault_pod_start(cm_fake *f, const cJSON *pod, const cJSON *node, const char *ip);

/* Whether node's kubelet has stopped (after its NotReady time): its pods are left as they are. */
int cm_fault_node_down(const cm_fake *f, const char *node);

/* Whether the PDB ns/name never allows a disruption (its status and evictions say so). */
int cm_fault_pdb_blocked(const cm_fake *f, const char *ns, const char *name);

/* Whether a pod whose deletion has begun is to stay Terminating (drawn once per deletion). */
int cm_fault_pod_stuck(cm_fake *f, const cJSON *pod);

#endif
