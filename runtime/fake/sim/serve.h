/*
 * serve.h - `cni-migrate fake serve`: the simulated cluster of a fixture over
 * HTTP(S) on real time (optionally sped up) until cancelled, with a
 * kubeconfig for clients; and `cni-migrate fake host`: a node's simulated
 * host after some virtual time. Both are runs of the runtime (runtime_int.h),
 * whose Lua state runs the simulation's node agents.
 */
#ifndef CM_FAKE_SERVE_H
#define CM_FAKE_SERVE_H

#include "cnimigrate.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cm_serve_opts {
    const char *fixture;        /* path of the fixture (YAML) */
    const char *listen;         /* "127.0.0.1:0" by default */
    const char *kubeconfig_out; /* NULL: none */
    const char *token;          /* NULL: no authentication (a random one with authorize) */
    int authorize;              /* --authorize: RBAC for ServiceAccounts' tokens; token is an admin's */
    int tls;                    /* generate a CA and a serving certificate */
    int allow_remote;           /* permit a non-loopback --listen */
    double speed;               /* --speed: cluster seconds per real second (0: 1) */
    int frozen;                 /* --no-sim: the REST core alone, nothing reacts */
    const char *run_image;      /* --run-image: this image's pods run as processes (podproc.h), or NULL */
    /* told each injected fault as it happens, as one line "fault KIND {...}" (NULL: nobody) */
    void (*on_fault)(void *ud, const char *line);
    void *on_fault_ud;
};

/* Told the URL once the server is listening (and the kubeconfig written). */
typedef void (*cm_serve_ready_fn)(void *ud, const char *url);

/*
 * Serves until rt's run is cancelled (cm_runtime_cancel) or its --timeout
 * passes; rt's seed, trace, Lua directory and log apply. Returns CM_OK after
 * a clean stop, CM_USAGE for bad input (fixture, --listen) and CM_FAILED for
 * other failures, with why in err.
 */
int cm_fake_serve(cm_runtime *rt, const struct cm_serve_opts *o, cm_serve_ready_fn ready, void *ud,
                  char *err, size_t errsize);

/* How long fake host simulates when no --at is given; it stops sooner once nothing is scheduled. */
#define CM_FAKE_HOST_DEFAULT_AT (300 * INT64_C(1000000000))

/*
 * Simulates the cluster of fixture on the virtual clock for `at` ns (less
 * when nothing is left to happen), then writes node's simulated host to out
 * as JSON (two-space indented), or with reach the dataplane model's verdicts
 * from node's pods to every other pod and back (lua/cm/dataplane.lua, one
 * line each). CM_USAGE for a bad fixture or an unknown node, CM_FAILED when
 * the simulation's agents failed; why in err.
 */
int cm_fake_host(cm_runtime *rt, const char *fixture, const char *node, int64_t at, int reach, FILE *out,
                 char *err, size_t errsize);

#endif
