/*
 * node.h - node operations over the Kubernetes client, in plain C (runtime/lnode.c
 * is their Lua binding, cm.node): cordon and uncordon, labels and annotations,
 * drain with kubectl's contract (k8s.io/kubectl/pkg/drain, as peers.md §1 reads
 * it) and more, and waits on watches.
 *
 * Every operation is a state machine on the run's loop: a _start function
 * begins it and returns at once; its requests, retries, watches and timers go
 * on from the loop, and notify(ud) is called (from the loop) whenever it has a
 * progress event to hand over or has ended. So a Lua task that waits for an
 * operation yields to the one loop like any other wait, and many operations
 * are in flight at once. The caller takes events with cm_node_op_event() and
 * the outcome with cm_node_op_finish(), or drops the operation with
 * cm_node_op_cancel().
 *
 * Failures are cm_k8s_error codes: the client's (NotFound, Conflict, Timeout,
 * ...), Invalid (a label or annotation the API server would refuse), and the
 * drain's own: Refused (kubectl's filters refused pods: nothing evicted),
 * Timeout (pods left; their PodDisruptionBudgets named), Blocked (a budget
 * blocked longer than on_blocked.after with action "fail"), EvictionFailed.
 */
#ifndef CM_NODE_H
#define CM_NODE_H

#include "k8s_client.h"
#include "loop.h"
#include "podview.h"

#include <cJSON.h>
#include <stdint.h>

/* The annotation recording that we cordoned a node (value: RFC 3339 time). */
#define CM_NODE_CORDONED_ANNOTATION "cni-migrate.dev/cordoned"

typedef struct cm_node_op cm_node_op;
typedef void (*cm_node_notify)(void *ud);

/*
 * Checks label or annotation changes (field "labels" or "annotations"; an
 * object of key -> string or null) as the API server checks a Node's metadata.
 * Returns 0, or -1 with the server's message for node name in msg.
 */
int cm_node_validate_meta(const char *node, const char *field, const cJSON *changes, char *msg, size_t size);

/* Cordons node name: GET, then (unless already unschedulable) one strategic-merge PATCH of
 * spec.unschedulable with our annotation, guarded by the resourceVersion read. Result:
 * {"changed": bool, "why": "Already"} */
cm_node_op *cm_node_cordon_start(cm_k8s_client *c, cm_loop *loop, const char *name, int64_t deadline,
                                 cm_node_notify fn, void *ud);

/* Uncordons node name; only_ours: leave a node we did not cordon alone. Result:
 * {"changed": bool, "why": "Already"|"NotOurs"} */
cm_node_op *cm_node_uncordon_start(cm_k8s_client *c, cm_loop *loop, const char *name, int only_ours,
                                   int64_t deadline, cm_node_notify fn, void *ud);

/* Sets and removes (null) labels or annotations (field) of node name: GET, then one merge PATCH of
 * the keys that differ, nothing when none does. changes is copied; validate it first.
 * Result: {"changed": bool} */
cm_node_op *cm_node_meta_start(cm_k8s_client *c, cm_loop *loop, const char *name, const char *field,
                               const cJSON *changes, int64_t deadline, cm_node_notify fn, void *ud);

enum cm_blocked_action { CM_BLOCKED_WAIT, CM_BLOCKED_FAIL, CM_BLOCKED_DELETE };

typedef struct cm_drain_opts {
    int force, ignore_daemonsets, delete_emptydir_data, disable_eviction;
    int64_t grace_period;          /* seconds; < 0: the pod's own */
    int64_t deadline;              /* loop time the drain ends by (CM_TIME_NEVER: none) */
    const char *pod_selector;      /* label selector, or NULL */
    int64_t skip_wait_for_delete;  /* seconds, 0: off */
    int cordon;                    /* cordon first (as kubectl drain) */
    int64_t retry_delay;           /* ns between PDB retries, jittered by [0.75, 1.25) */
    int parallel;                  /* evictions in flight at once (>= 1) */
    const char *const *exclude;    /* "ns/name" never touched, nexclude of them */
    size_t nexclude;
    const char *const *daemonsets; /* "ns/name" of DaemonSets known to exist (not asked again), ndaemonsets */
    size_t ndaemonsets;
    int64_t blocked_after;         /* ns a budget may block before blocked_action (< 0: never) */
    enum cm_blocked_action blocked_action;
    int relist;                    /* list again at the end: pods that landed after the cordon */
    int dry_run;                   /* the client sends dryRun=All: nothing to wait for */
    uint64_t seed;                 /* the jitter's randomness (the run's seed in simulation) */
    cm_pod_view *view;             /* the node's pods (podview.h): listed and followed there, not asked
                                      again (NULL: a list and a watch of its own; also with pod_selector) */
} cm_drain_opts;

/*
 * Drains node name. Progress events: {"pod": "ns/name", "uid", "event":
 * "evicting"|"evicted"|"deleted"|"blocked"|"gone"|"failed"|"skipped", "message", "pdb"}.
 * Result (also on failure, from cm_node_op_finish): {"node", "evicted": [..], "deleted": [..],
 * "skipped": [{"pod", "reason"}], "warnings": [..], "failed": [{"pod", "reason", "message"}],
 * "left": [..], "blocked": [{"pod", "pdb", "message"}], "requests": N, "daemonsets": [..]}; daemonsets:
 * "ns/name" of the DaemonSets known to exist at its end (o->daemonsets and those it found), for the
 * next drain of a run to take instead of asking again (kubectl asks on every drain).
 */
cm_node_op *cm_node_drain_start(cm_k8s_client *c, cm_loop *loop, const char *name, const cm_drain_opts *o,
                                cm_node_notify fn, void *ud);

/* What cm_node_wait_start() waits for. */
typedef struct cm_node_wait {
    const char *kind;           /* "Pod" or "Node" */
    const char *namespace;      /* pods: NULL for all namespaces */
    const char *label_selector; /* pods */
    const char *node;           /* pods: on this node; nodes: this node */
    int gone;                   /* until nothing matches (else: until one is ready / holds the condition) */
    const char *condition;      /* nodes: condition type (default Ready); pods: always Ready */
    const char *status;         /* nodes: the condition's status (default "True") */
    int64_t deadline;
    cm_pod_view *view;          /* pods: the view of node's pods to follow instead of a list and a watch */
} cm_node_wait;

/* Waits on a list and a watch (never a poll). Result: the object that matched, or {"gone": true}. */
cm_node_op *cm_node_wait_start(cm_k8s_client *c, cm_loop *loop, const cm_node_wait *w, cm_node_notify fn,
                               void *ud);

/* What cm_node_run_on_start() runs. */
typedef struct cm_node_run_spec {
    const char *node;         /* the node the pod is pinned to (spec.nodeName) */
    const char *script;       /* what `cni-migrate node-run` is given: a bundled name or a path */
    const char *step;         /* names the pod with node: cm-STEP-NODE (NULL: the script's file's base name,
                               * without ".lua", in lower case with "-" for what a name cannot hold) */
    const char *args_json;    /* a JSON object */
    const char *namespace;    /* the pod's */
    const char *image;        /* NULL: the image of own_pod's first container */
    const char *own_pod;      /* "namespace/name" of the controller's own pod, read when image is NULL */
    const char *cni_dir;      /* mounted with host_paths */
    const cJSON *host_paths;  /* an array of the absolute paths the script declares */
    const char *source;       /* a site script's text, shipped in the pod (the image has the bundled); or NULL */
    int64_t deadline;
    cm_pod_view *view;        /* the node's pods: the pod's end is followed there (NULL: a watch of its own) */
    int keep;                 /* a pod that succeeded is left for the caller to delete (several in one
                               * deletecollection); a failed one is deleted all the same */
} cm_node_run_spec;

/*
 * Runs a node script on a node through a pod: privileged, hostNetwork, pinned by nodeName,
 * tolerating every taint, the CNI directory and the script's host paths mounted at the same
 * paths, running `cni-migrate node-run SCRIPT --args JSON --result-file /dev/termination-log`
 * (with a source, also `--script-env CNI_MIGRATE_NODE_SCRIPT`, that variable holding the text).
 * The pod's name derives from node and step, so a pod of that name already there and still
 * running is adopted (a restarted controller waits for the run in flight); one that has ended
 * (an earlier run's, kept or not deleted) or is going is deleted and replaced: its result may be
 * stale. Waits on a watch for the pod to end, then deletes it (with keep, only when it failed). Result: the script's JSON result (the
 * termination message; one over a kubelet's 4096 bytes is a line of the pod's log, which the
 * message, {"resultInLog": N}, points at: noderun.h cm_node_run_message). Failures: ScriptFailed (the message has the pod's reason, exit code,
 * the script's error and the end of its log), Timeout (the pod is deleted), Conflict (a pod of
 * that name on another node), the client's codes.
 */
cm_node_op *cm_node_run_on_start(cm_k8s_client *c, cm_loop *loop, const cm_node_run_spec *s, cm_node_notify fn,
                                 void *ud);

/* The name of a node-run pod: cm-STEP-NODE, cut to 63 characters with a hash when longer. */
void cm_node_run_pod_name(const char *node, const char *step, char *buf, size_t size);

/* Whether the operation has ended. */
int cm_node_op_done(const cm_node_op *op);

/* The next progress event (the caller owns it), or NULL. */
cJSON *cm_node_op_event(cm_node_op *op);

/* Takes the outcome of an ended operation and frees it: 0 with *result (owned by the caller; the
 * drain's also on failure), or -1 with err filled. */
int cm_node_op_finish(cm_node_op *op, cJSON **result, cm_k8s_error *err);

/* Stops an operation (no notify follows) and frees it; NULL is accepted. */
void cm_node_op_cancel(cm_node_op *op);

#endif
