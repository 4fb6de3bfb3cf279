/*
 * fake.h - the fake cluster: an in-memory Kubernetes API server.
 *
 * The REST core is a plain function, cm_fake_handle(): a request (method,
 * path, query, a few headers, body) in, a response (status, content type,
 * body, Retry-After) out. The HTTP front (http.h) and the client's
 * in-process transport (inproc.h) both call it, so they see the same answers.
 *
 * A watch request answers with resp->watch set instead of a body: the caller
 * starts the stream with cm_fake_watch_start(), receives each event as one
 * line of JSON (with its '\n') through its callback, and gets a final call
 * with len 0 when the server ends the watch (timeoutSeconds); it must call
 * cm_fake_watch_close() once it is done with the stream, whoever ended it.
 *
 * Time comes from the loop given at creation: creationTimestamp and
 * deletionTimestamp use cm_loop_wall(), and grace periods, watch timeouts and
 * bookmarks are loop timers, so the same core runs on real or virtual time.
 */
#ifndef CM_FAKE_H
#define CM_FAKE_H

#include "loop.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cm_fake cm_fake;
typedef struct cm_fake_watch cm_fake_watch;
struct cm_store;

typedef struct cm_fake_req {
    const char *method;        /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;          /* "/api/v1/namespaces/default/pods", no query */
    const char *query;         /* raw query without '?', or NULL */
    const char *content_type;  /* request headers, NULL when absent */
    const char *accept;
    const char *authorization;
    const char *user_agent;    /* names the field manager when ?fieldManager is absent */
    const char *body;
    size_t body_len;
    /* In-process callers (the simulation) may give the body as a tree instead: cm_fake_handle
     * takes it (and frees it), as if body were its compact text, so nothing is printed and
     * parsed again. It must be what parsing that text would give (cm_json_parse: exact
     * integers, Raw literals), as trees built with cm_json_new_int64 or copied from the store are. */
    cJSON *json;
    int status_only;           /* the caller reads only resp->status: no response body is made */
    int internal;              /* from the cluster's own actors (the simulation and its agents):
                                  no token is asked of them */
    int aside;                 /* internal, and nothing in the run waits for it (a kubelet's Lease,
                                  the routine Events of the scheduler and kubelets): a new object's
                                  uid comes from a generator of its own, so the uids and generated
                                  names of everything else stay those of a run without these writes */
} cm_fake_req;

typedef struct cm_fake_resp {
    int status;                /* HTTP status */
    const char *content_type;  /* static text */
    char *body;                /* malloc'd; NULL for a watch */
    size_t body_len;
    int retry_after;           /* > 0: send a Retry-After header */
    int reset;                 /* an injected fault: close the connection without an answer */
    cm_fake_watch *watch;      /* a watch stream, see above */
    char *warnings;            /* malloc'd texts of Warning headers, one a line, or NULL */
} cm_fake_resp;

/* Creates an empty cluster (no objects at all; cm_fake_load adds the namespaces every
 * cluster has) on loop. NULL when out of memory. */
cm_fake *cm_fake_new(cm_loop *loop);

/* Frees the cluster; every watch must have been closed. */
void cm_fake_free(cm_fake *f);

/* Requires "Authorization: Bearer token" on every request (NULL: no check). */
int cm_fake_set_token(cm_fake *f, const char *token);

/* On: RBAC (rbac.h). The token set above is a cluster admin's; ServiceAccounts get theirs from
 * TokenRequests (POST serviceaccounts/NAME/token) and RBAC decides what they may do. */
void cm_fake_set_authorize(cm_fake *f, int on);

/* A fresh token in buf: prefix and 32 random hex digits; 0, or -1 when getrandom fails. */
int cm_fake_random_token(const char *prefix, char *buf, size_t size);

/* Seeds the generator of uids and generated names (deterministic runs). */
void cm_fake_seed(cm_fake *f, uint64_t seed);

/* That generator's state, to save with a cluster (so a later run never repeats a uid), and to
 * restore it (0: left as it is). */
uint64_t cm_fake_random_state(const cm_fake *f);
void cm_fake_set_random_state(cm_fake *f, uint64_t state);

/*
 * Answers a request for a path under /cni-migrate/ (the fake's own, not
 * Kubernetes', such as a node's simulated host), after the token check.
 * Fills resp as cm_fake_handle() would; its body is malloc'd.
 */
typedef void (*cm_fake_ext_fn)(void *ud, const cm_fake_req *req, cm_fake_resp *resp);

/* Routes paths under /cni-migrate/ to fn (NULL: they are 404s, as any unknown path). */
void cm_fake_set_extension(cm_fake *f, cm_fake_ext_fn fn, void *ud);

/*
 * Pod logs: what GET pods/NAME/log serves for a pod the simulated kubelet ran as a process
 * (sim/podproc.c), by the pod's uid: its output appended as it comes, to every
 * ?follow=true stream too; _end when the container ended (the streams end); _forget when the
 * pod is gone. A pod without a stored log serves its fake.cni-migrate.dev/log annotation.
 */
void cm_fake_log_append(cm_fake *f, const char *uid, const char *data, size_t len);
void cm_fake_log_end(cm_fake *f, const char *uid);
void cm_fake_log_forget(cm_fake *f, const char *uid);

/* The address clients reach the server at, for /api's serverAddressByClientCIDRs. */
void cm_fake_set_address(cm_fake *f, const char *host_port);

/*
 * Loads a fixture: a YAML (or JSON) stream of objects, or of Lists of them,
 * as `kubectl get -A -o yaml` prints them, plus an optional FakeCluster
 * document (cni-migrate.dev/v1alpha1, kept for the simulation). Namespaces an
 * object names but the fixture lacks are created, and so are default,
 * kube-system, kube-public and kube-node-lease. Returns 0, or -1 with
 * "NAME:LINE: what is wrong" in err (name is the file name shown).
 */
int cm_fake_load(cm_fake *f, const char *name, const char *text, size_t len, char *err,
                 size_t errsize);

/* The FakeCluster document of the fixture, or NULL. */
const cJSON *cm_fake_settings(const cm_fake *f);

/* The line of the fixture where node (a part of the FakeCluster document) starts,
 * or the document's own line when it is not known (0: no fixture line). */
int cm_fake_settings_line(const cm_fake *f, const cJSON *node);

/*
 * Answers one request. resp is filled (the caller clears it with cm_fake_resp_clear). A client's
 * request (not req->internal) passes the filter's request point first.
 */
void cm_fake_handle(cm_fake *f, const cm_fake_req *req, cm_fake_resp *resp);

/*
 * A filter around the REST core: the one way something outside the API server (the injected
 * faults, sim/fault.c) changes its answers. The core calls it at these named points, each with
 * the ud given to cm_fake_set_filter; every point must be set.
 */
typedef struct cm_fake_filter {
    /* A client's request, before the core: 1 when the filter answered it (resp filled, from
     * zero: an error Status, or resp->reset), 0 to let the core answer. */
    int (*request)(void *ud, const cm_fake_req *req, cm_fake_resp *resp);
    /* A new watch of resource (plural): ns from now at which the server ends it early, or -1. */
    int64_t (*watch_drop)(void *ud, const char *resource);
    /* A watch ended early, as watch_drop said it would (ns: its namespace, or NULL). */
    void (*watch_dropped)(void *ud, const char *resource, const char *ns);
    /* Whether the PDB ns/name allows no disruption whatever its spec (its status and evictions). */
    int (*pdb_blocked)(void *ud, const char *ns, const char *name);
    /* An eviction of pod refused because pdb_blocked said so. */
    void (*eviction_refused)(void *ud, const char *ns, const char *pdb, const char *pod);
    /* A pod whose graceful deletion begins (no simulation attached): 1 to leave it Terminating. */
    int (*pod_stuck)(void *ud, const cJSON *pod);
} cm_fake_filter;

/* Puts filter (static; NULL: none) around f's REST core, with ud for its points. */
void cm_fake_set_filter(cm_fake *f, const cm_fake_filter *filter, void *ud);

/* The ud of f's filter when that filter is `filter`, else NULL (so its owner finds itself). */
void *cm_fake_filter_ud(const cm_fake *f, const cm_fake_filter *filter);

/* Frees the body and warnings of resp (not its watch). */
void cm_fake_resp_clear(cm_fake_resp *resp);

/* Receives one event line (len > 0) or the end of the stream (line NULL, len 0). */
typedef void (*cm_fake_watch_fn)(void *ud, const char *line, size_t len);

/* Starts a watch: sends its initial events now, then each change as it happens. */
void cm_fake_watch_start(cm_fake_watch *w, cm_fake_watch_fn fn, void *ud);

/* Stops a watch and frees it; no callback is made after this. */
void cm_fake_watch_close(cm_fake_watch *w);

/* The store, for in-process callers and tests. */
struct cm_store *cm_fake_store(cm_fake *f);

/* Number of watches open (for tests). */
size_t cm_fake_watch_count(const cm_fake *f);

#endif
