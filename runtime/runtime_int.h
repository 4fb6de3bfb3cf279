/*
 * runtime_int.h - what the commands that are not scripts (fake serve, fake
 * host) need from the runtime beyond include/cnimigrate.h: a run whose body
 * is C, on a simulated cluster, with the run's Lua state for the
 * simulation's node agents (lua/cm/agents.lua).
 */
#ifndef CM_RUNTIME_INT_H
#define CM_RUNTIME_INT_H

#include "cmlua.h"
#include "cnimigrate.h"
#include "fake/sim/simrun.h"

#include <stddef.h>

/*
 * The body of a run: called once the run's Lua state and its simulated
 * cluster are up, it waits through run->loop (the run's cancel and deadline
 * apply there) and returns a CM_* code, with a one-line why in err.
 */
typedef int (*cm_run_body_fn)(struct cm_run *run, cm_sim_run *sim, void *ud, char *err, size_t errsize);

/*
 * Runs fn in a run of rt on the cluster of fixture, simulated as o says; the
 * seed, trace and faults are rt's (--seed, --trace, --fault), and so are the Lua directory,
 * the log, the deadline and the cancel. Returns fn's code, or CM_USAGE for a
 * bad fixture; the message is in cm_runtime_last_error(rt).
 */
int cm_runtime_run_sim(cm_runtime *rt, const char *fixture, const struct cm_sim_opts *o, cm_run_body_fn fn,
                       void *ud);

#endif
