/*
 * simrun.h - a run against the simulated cluster: the fake cluster and its
 * simulation on the run's clock (virtual for run --fake and fake host, real
 * time sped up for fake serve), the in-process transport for cm.k8s, the
 * node agents in the run's Lua state, the trace and the summary.
 */
#ifndef CM_FAKE_SIMRUN_H
#define CM_FAKE_SIMRUN_H

#include "cmlua.h"
#include "fake.h"
#include "fault.h"
#include "host.h"
#include "podproc.h"

#include <stddef.h>
#include <stdint.h>

/* Virtual time 0 of a simulation, unless the FakeCluster document sets spec.startTime. */
#define CM_SIM_DEFAULT_EPOCH "2026-11-01T09:00:00Z"

typedef struct cm_sim_run cm_sim_run;

/* How to simulate. */
struct cm_sim_opts {
    uint64_t seed;
    const char *trace;        /* write the timeline to this file (JSON lines); NULL: none */
    enum cm_clock_kind clock; /* CM_CLOCK_VIRTUAL, or CM_CLOCK_SCALED (real time x speed) */
    double speed;             /* scaled clock: loop seconds per real second (0: 1) */
    int frozen;               /* no simulation: the REST core alone, nothing reacts */
    const char *const *faults; /* --fault rules (fault.h), nfaults of them */
    size_t nfaults;
    const char *save;         /* --fake-save FILE: the cluster saved there as a fixture; NULL: not */
};

/*
 * Reads the fixture and builds the fake cluster on a new loop of the clock
 * asked for, whose time 0 (now, for the scaled clock) stands for the
 * fixture's FakeCluster spec.startTime (RFC 3339), else CM_SIM_DEFAULT_EPOCH;
 * attaches the faults of its spec.faults and of the --fault rules (fault.h)
 * and the simulation unless frozen, opens the trace file, and serves
 * each node's simulated host at GET /cni-migrate/v1alpha1/hosts/NODE.
 * Returns NULL with a one-line message in err ("FILE:LINE: what is wrong", or
 * the file's error).
 */
cm_sim_run *cm_sim_run_new(const char *fixture, const struct cm_sim_opts *o, char *err, size_t errsize);

/* The run's loop, owned by s. */
cm_loop *cm_sim_run_loop(const cm_sim_run *s);

/* The fake cluster, owned by s (for the HTTP front of fake serve). */
cm_fake *cm_sim_run_fake(const cm_sim_run *s);

/* Also tells fn of each injected fault as it happens (after the trace has it). */
void cm_sim_run_on_fault(cm_sim_run *s, cm_fault_note_fn fn, void *ud);


/* The fixture's path, as given. */
const char *cm_sim_run_fixture(const cm_sim_run *s);

/* The run's --seed: whatever else in the run draws random numbers seeds from it too (cm.node's jitter). */
uint64_t cm_sim_run_seed(const cm_sim_run *s);

/* Points the run's cm.k8s clients at the simulated cluster. */
void cm_sim_run_install(cm_sim_run *s, struct cm_run *run);

/*
 * Sends one request to the simulated cluster's REST core, at once (no loop):
 * what cm.fake.request() uses. A body is sent as a merge patch. Returns the
 * HTTP status; the caller clears resp with cm_fake_resp_clear().
 */
int cm_sim_run_request(cm_sim_run *s, const char *method, const char *path, const char *query,
                       const char *body, cm_fake_resp *resp);

/* The simulated host of node, or NULL when there is no such node (or the run is frozen). */
cm_host *cm_sim_run_host(cm_sim_run *s, const char *node);

/* The simulation (NULL when frozen). */
cm_sim *cm_sim_run_sim(const cm_sim_run *s);

/* Pods of pp's image run as processes (fake serve --run-image); NULL: none. The caller owns pp. */
void cm_sim_run_set_podproc(cm_sim_run *s, cm_podproc *pp);

/* Work items the simulation lost for want of memory (cm_sim_lost); the summary logs them. */
uint64_t cm_sim_run_lost(const cm_sim_run *s);

/* How many times an agent (lua/cm/agents.lua) failed; each was logged as an error. */
int cm_sim_run_agent_errors(const cm_sim_run *s);

/* Logs an agent's (or a watch's) failure, with the node when there is one, and counts it. */
void cm_sim_run_agent_failed(cm_sim_run *s, const char *node, const char *err);

/*
 * Hands every change of the cluster's objects, after it is made, to fn (what cm.fake.on_change
 * calls Lua with), or to none when fn is NULL. fn must not write to the cluster; while it runs,
 * cm_sim_run_watching() is 1 and the changes it makes anyway are not handed back to it.
 */
struct cm_event;
typedef void (*cm_sim_watch_fn)(void *ud, const struct cm_event *ev);
void cm_sim_run_watch(cm_sim_run *s, cm_sim_watch_fn fn, void *ud);
int cm_sim_run_watching(const cm_sim_run *s);

/*
 * A safety invariant of the rehearsal is broken (cm.fake.violation): logged as an error with
 * the virtual time ("at 2026-11-01T09:02:30.433Z (+150.4s)"), counted; the run then fails
 * (cm_sim_run_violations, which also gives the first, with its time).
 */
void cm_sim_run_violation(cm_sim_run *s, const char *message);
long cm_sim_run_violations(const cm_sim_run *s, const char **first);

/* Logs the summary: virtual time elapsed, requests by verb; then the faults injected, by kind. */
void cm_sim_run_summary(const cm_sim_run *s, const cm_logger *log, const cm_loop *loop);

/*
 * The simulated cluster as a fixture: [a List of every object, in the order they were last
 * written, and the FakeCluster document: the fixture's, with spec.startTime now, spec.randomState
 * (the uid generator) and spec.hosts (each node's simulated host)]. The caller owns it.
 */
cJSON *cm_sim_run_snapshot(cm_sim_run *s);

/* Writes the snapshot to path as YAML (whole or not at all); -1 with "--fake-save PATH: why". */
int cm_sim_run_save(cm_sim_run *s, const char *path, char *err, size_t errsize);

/* Whether the crash fault stopped the script (--fault crash:afterWrites=N). */
int cm_sim_run_crashed(const cm_sim_run *s);
long cm_sim_run_crash_after(const cm_sim_run *s); /* its N, 0 for none */

/* At the end of a run: saves to --fake-save (unless the crash saved it then); 0 or -1 with err. */
int cm_sim_run_finish_save(cm_sim_run *s, char *err, size_t errsize);

void cm_sim_run_free(cm_sim_run *s);

#endif
