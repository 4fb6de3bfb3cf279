/*
 * inproc.h - the simulation's transport: the Kubernetes client's requests go
 * straight to the fake cluster's REST core, with no socket, on the loop's
 * (virtual) clock.
 *
 * A request is handled when it starts (so the cluster changes at that moment
 * of virtual time); its answer arrives `latency` later through a loop timer,
 * and a watch's events arrive as the cluster produces them. The transport
 * counts requests by verb (get, list, watch, create, update, patch, delete)
 * for the run's summary, and can report each one to a trace.
 */
#ifndef CM_FAKE_INPROC_H
#define CM_FAKE_INPROC_H

#include "fake.h"
#include "k8s_transport.h"

/* The verbs counted, in cm_inproc_stats.counts order. */
enum { CM_VERB_GET, CM_VERB_LIST, CM_VERB_WATCH, CM_VERB_CREATE, CM_VERB_UPDATE, CM_VERB_PATCH,
       CM_VERB_DELETE, CM_VERB_COUNT };
extern const char *const cm_verb_names[CM_VERB_COUNT];

typedef struct cm_inproc_stats {
    long counts[CM_VERB_COUNT];
} cm_inproc_stats;

/* Called for each request once it is handled: verb, path, HTTP status. */
typedef void (*cm_inproc_trace_fn)(void *ud, int verb, const char *method, const char *path, int status);

/*
 * A transport over fake on loop; answers come latency_ns after their request.
 * stats (may be NULL) is counted into; trace (may be NULL) is called per request.
 * Returns NULL when out of memory.
 */
cm_transport *cm_inproc_transport_new(cm_fake *fake, cm_loop *loop, int64_t latency_ns,
                                      cm_inproc_stats *stats, cm_inproc_trace_fn trace, void *ud);

/* While *dead is non-zero (dead may be NULL), requests fail at once with ConnectFailed and never
 * reach the cluster: the process that sent them is gone (the crash fault). */
void cm_inproc_transport_set_dead(cm_transport *t, const int *dead);

/* The verb of a request, as the API server's audit log names it. */
int cm_inproc_verb(const char *method, const char *path, const char *query);

#endif
