/*
 * simrun.h - a run against the simulated cluster (--fake FIXTURE): the fake
 * cluster on the run's virtual clock, the in-process transport for cm.k8s,
 * the trace and the summary.
 */
#ifndef CM_FAKE_SIMRUN_H
#define CM_FAKE_SIMRUN_H

#include "cmlua.h"
#include "fake.h"
#include "host.h"

#include <stddef.h>
#include <stdint.h>

/* Virtual time 0 of a simulation, unless the FakeCluster document sets spec.startTime. */
#define CM_SIM_DEFAULT_EPOCH "2026-11-01T09:00:00Z"

typedef struct cm_sim_run cm_sim_run;

/*
 * Reads the fixture and builds the fake cluster on a new virtual-clock loop
 * whose time 0 is the fixture's FakeCluster spec.startTime (RFC 3339), else
 * CM_SIM_DEFAULT_EPOCH; attaches the faults of its spec.faults and of the
 * nfaults --fault flags (fault.h); opens the trace file (trace may be NULL).
 * Returns NULL with a one-line message in err ("FILE:LINE: what is wrong", or
 * the file's error).
 */
cm_sim_run *cm_sim_run_new(const char *fixture, uint64_t seed, const char *trace,
                           const char *const *faults, size_t nfaults, char *err, size_t errsize);

/* The run's loop (virtual clock), owned by s. */
cm_loop *cm_sim_run_loop(const cm_sim_run *s);


/* Points the run's cm.k8s clients at the simulated cluster. */
void cm_sim_run_install(cm_sim_run *s, struct cm_run *run);

/*
 * Sends one request to the simulated cluster's REST core, at once (no loop):
 * what cm.fake.request() uses. A body is sent as a merge patch. Returns the
 * HTTP status; the caller clears resp with cm_fake_resp_clear().
 */
int cm_sim_run_request(cm_sim_run *s, const char *method, const char *path, const char *query,
                       const char *body, cm_fake_resp *resp);

/* The simulated host of node, or NULL when there is no such node. */
cm_host *cm_sim_run_host(cm_sim_run *s, const char *node);

/* Pushes a Host handle over a host the simulation owns (lfake.c); closing it frees nothing. */
void cm_fake_push_host(lua_State *L, cm_host *host);

/* How many times an agent (lua/cm/agents.lua) failed; each was logged as an error. */
int cm_sim_run_agent_errors(const cm_sim_run *s);

/* Logs the summary: virtual time elapsed, requests by verb; then the faults injected, by kind. */
void cm_sim_run_summary(const cm_sim_run *s, const cm_logger *log, const cm_loop *loop);

void cm_sim_run_free(cm_sim_run *s);

#endif
