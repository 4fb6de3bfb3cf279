/*
 * sim.h - the fake cluster's simulated control plane and nodes: a scheduler,
 * the controllers a migration depends on (DaemonSet, ReplicaSet, Deployment,
 * StatefulSet, Job, PodDisruptionBudget status, the cordon taint, garbage
 * collection) and one kubelet per node, each node with a simulated host
 * (host.h), all on the loop's clock.
 *
 * The simulation subscribes to the store; each change queues reconciles of
 * the objects it concerns on one FIFO work queue, drained by a loop timer a
 * small reaction delay later (subscribers must not change the store). Every
 * write goes through cm_fake_handle(), so resourceVersions, defaults, watch
 * events and API rules are those any client sees. Nothing depends on the wall
 * clock or on hash order, and every random choice (delay jitter, tie breaks,
 * sandbox ids) comes from the seed: the same fixture and seed on a virtual
 * clock give the same run, event for event.
 *
 * While a simulation is attached its kubelets end terminating pods (after
 * min(grace period, stop delay), then a delete with grace 0); the REST core's
 * own grace timers stand aside (write.c).
 *
 * Settings come from the fixture's FakeCluster document (or the one passed),
 * spec.simulation; durations are numbers of seconds or Go-style strings:
 *
 *   spec:
 *     simulation:
 *       reactionDelay: 0.1      # store change -> controllers react (default 100ms)
 *       podStartDelay: 2        # bound pod -> Running (default 2s)
 *       podReadyDelay: 1        # Running -> Ready (default 1s)
 *       podStopDelay: 2         # cap on a terminating pod's stop time (default 2s)
 *       sandboxRetryDelay: 10   # a failed sandbox is retried after (default 10s)
 *       jitter: 0.2             # delays stretched by up to this fraction, from the seed
 *       pods:                   # first match wins: by image prefix or label selector
 *       - {imagePrefix: "docker.io/flannel/", startDelay: 3, readyDelay: 2}
 *       - {selector: "app=web", startDelay: 5}
 *       - {selector: "job-name=x", runFor: 30, exitCode: 0, failures: 2}  # containers that end (sim_job.c)
 *
 * The Job, Deployment, garbage-collection and Calico IPAM parts live in sim_*.c (simint.h).
 */
#ifndef CM_FAKE_SIM_H
#define CM_FAKE_SIM_H

#include "fake.h"
#include "host.h"
#include "loop.h"

#include <cJSON.h>
#include <stdint.h>

typedef struct cm_sim cm_sim;

/* What happened to a pod on a node, for the agent hook. */
enum cm_sim_pod_event {
    CM_SIM_POD_STARTED, /* its containers started (Running; also pods found running at attach) */
    CM_SIM_POD_STOPPING, /* it is being deleted: the kubelet stops its containers (a process gets
                          * SIGTERM); STOPPED follows when that is done */
    CM_SIM_POD_STOPPED, /* its containers stopped; the pod is deleted right after */
    CM_SIM_POD_RESTARTED, /* its containers run again after they exited (restartPolicy Always, or
                           * OnFailure after a failure): a process pod's process starts anew */
    CM_SIM_POD_RESYNC   /* a running network agent's pod (flannel, Canal, calico-node): what it
                         * programs from changed (a Node's annotations, podCIDR or addresses, a
                         * node added or deleted, Calico's IPAMBlocks, IPPools or
                         * FelixConfiguration); told once per reaction delay */
};

/*
 * The agent hook: called from a loop timer (so it may change the host and
 * call cm_fake_handle) when a pod starts or stops on node. pod is the pod as
 * stored, valid for the call only. This is where flanneld's and calico-node's
 * effects on the node's host are programmed (lua/cm/flannel.lua, calico.lua).
 */
typedef void (*cm_sim_agent_fn)(void *ud, cm_sim *sim, const char *node, const cJSON *pod,
                                enum cm_sim_pod_event ev);

/*
 * Attaches a simulation to fake, on fake's loop. seed drives every random
 * choice (and seeds the fake's uid and name generator, so one seed decides
 * the run). settings is a FakeCluster document, or NULL for the fixture's.
 * Existing nodes get their hosts now; existing objects are reconciled on the
 * first drain. Returns NULL when out of memory or when settings are invalid
 * (then err says why).
 */
cm_sim *cm_sim_new(cm_fake *fake, cm_loop *loop, uint64_t seed, const cJSON *settings,
                   char *err, size_t errsize);

/*
 * Moves the simulation's random sequence off the seed's start by state (a saved cluster's
 * FakeCluster spec.randomState), so that a run on a cluster that another run saved (--fake-save,
 * then a resumed run) does not hand out that run's sandbox ids again, as a node's container
 * runtime never does; the same saved cluster and seed still give the same run.
 */
void cm_sim_reseed(cm_sim *sim, uint64_t state);

/* Detaches and frees the simulation (its timers, its hosts). */
void cm_sim_free(cm_sim *sim);

/* The simulated host of node, or NULL when there is no such node. Owned by the simulation. */
cm_host *cm_sim_host(cm_sim *sim, const char *node);

/*
 * How the container of the pod with this uid ends (a node-run pod, whose script the run has
 * already run against the node's host): with exit_code and message as
 * state.terminated.message, once the pod is Ready; the pod then ends Succeeded (0) or
 * Failed under restartPolicy Never.
 */
void cm_sim_pod_result(cm_sim *sim, const char *pod_uid, int exit_code, const char *message);

/* The container of the pod with this uid is a process (podproc.h): it runs, Ready or not, until
 * cm_sim_pod_exit says how it ended (message NULL: none); the pod then ends as above. */
void cm_sim_pod_running(cm_sim *sim, const char *pod_uid);
void cm_sim_pod_exit(cm_sim *sim, const char *pod_uid, int exit_code, const char *message);

/* Whether a pod runs a network agent (flanneld, calico-node, Canal's): the pods whose start,
 * stop and resync lua/cm/agents.lua acts on. */
int cm_sim_network_agent(const cJSON *pod);

/* Sets (fn NULL: clears) the agent hook. */
void cm_sim_set_agent(cm_sim *sim, cm_sim_agent_fn fn, void *ud);

/* Requests the simulation has made, and reconciles it has run (for summaries and benchmarks). */
uint64_t cm_sim_requests(const cm_sim *sim);
uint64_t cm_sim_reconciles(const cm_sim *sim);

/* Work items the simulation could not queue for want of memory: a run with any cannot be
 * trusted (the summary says so and the run fails; see cm_sim_run_agent_errors). */
uint64_t cm_sim_lost(const cm_sim *sim);

#endif
