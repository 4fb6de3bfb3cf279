/*
 * k8s_client.h - the Kubernetes API client, in plain C (runtime/lk8s.c is its
 * Lua binding; the drain engine and C tests call it directly).
 *
 * Objects are addressed by apiVersion + kind (+ namespace, name, subresource);
 * discovery maps them to the resource path and scope, cached per client or in
 * a cache the clients of a run share (opts.discovery).
 * Every request goes through the transport (k8s_transport.h) and waits in the
 * run's loop until its deadline, or, started with a _start function, goes on
 * from the loop while its caller does something else. On the way: a token bucket (QPS/burst, 5/10
 * by default, as client-go), credentials (token, tokenFile re-read every
 * minute, basic auth, exec plugins cached until their expiry; refreshed and
 * retried once on a 401), retries of 429/5xx that carry a Retry-After (at most
 * max_retries, never past the deadline, at most 60 s of waiting in all),
 * retries of reads on a connection reset, never a blind retry of a write;
 * Warning headers logged once each; server dry run (dryRun=All on writes).
 *
 * Failures fill a cm_k8s_result: err.code is the Status reason of a non-2xx
 * answer (NotFound, Conflict, ...; derived from the HTTP code when the body is
 * not a Status), or a transport code (Timeout, ConnectFailed, TLS,
 * ConnectionReset, TransportError, Cancelled), or AuthFailed for an exec plugin
 * that failed; status is the HTTP code (0 for transport failures) and
 * status_obj the Status itself.
 */
#ifndef CM_K8S_CLIENT_H
#define CM_K8S_CLIENT_H

#include "k8s_config.h"
#include "k8s_transport.h"
#include "log.h"
#include "loop.h"

#include <cJSON.h>
#include <stdint.h>

typedef struct cm_k8s_client cm_k8s_client;

/* A discovery cache (apiVersion -> resources, per server) that clients may share. */
typedef struct cm_k8s_discovery cm_k8s_discovery;

/* Creates an empty cache; NULL when out of memory. */
cm_k8s_discovery *cm_k8s_discovery_new(void);

/* Frees a cache once no client uses it; NULL is accepted. */
void cm_k8s_discovery_free(cm_k8s_discovery *d);

typedef struct cm_k8s_client_opts {
    double qps;             /* requests per second; 0: 5; < 0: no limit */
    int burst;              /* 0: 10 */
    int dry_run;            /* server dry run: dryRun=All on every write */
    int max_retries;        /* 0: 10 (429/5xx with Retry-After) */
    const char *user_agent; /* NULL: cni-migrate/<version> (<os>/<arch>) */
    cm_k8s_discovery *discovery; /* shared, outliving the client; NULL: the client's own */
    struct cm_metrics *metrics;  /* counts answers (watch streams too), failures, retries (metrics.h); NULL: none */
} cm_k8s_client_opts;

/* An object's address. namespace NULL: the client's namespace for a named
 * object of a namespaced kind, all namespaces for a list or watch. */
typedef struct cm_k8s_ref {
    const char *api_version, *kind, *namespace, *name, *subresource;
} cm_k8s_ref;

/* A query parameter; values are escaped when the URL is built. */
typedef struct cm_k8s_param {
    const char *key, *value;
} cm_k8s_param;

typedef struct cm_k8s_result {
    long status;        /* HTTP status; 0 when no answer came */
    cJSON *json;        /* a 2xx JSON body, parsed */
    char *text;         /* the raw body (malloc'd, NUL-terminated) unless json holds it */
    size_t len;         /* the body's length */
    cJSON *status_obj;  /* a non-2xx Status body */
    double retry_after; /* seconds, from Retry-After; 0 when absent */
    cm_k8s_error err;   /* code NULL on success */
} cm_k8s_result;

/* What a resource is, from discovery. */
typedef struct cm_k8s_resinfo {
    char prefix[256]; /* "/api/v1" or "/apis/apps/v1" */
    char plural[128]; /* "daemonsets" */
    int namespaced;
} cm_k8s_resinfo;

/*
 * Creates a client. It takes cfg and transport (NULL: the libcurl transport
 * on loop) and frees them with itself; log is copied. Returns NULL with err
 * filled when out of memory or when no transport can be made.
 */
cm_k8s_client *cm_k8s_client_new(cm_loop *loop, const cm_logger *log, cm_k8s_config *cfg,
                                 cm_transport *transport, const cm_k8s_client_opts *opts,
                                 cm_k8s_error *err);

/* Frees a client, abandoning any request in flight; NULL is accepted. */
void cm_k8s_client_free(cm_k8s_client *c);

/* The configuration the client uses. */
const cm_k8s_config *cm_k8s_client_config(const cm_k8s_client *c);

/* Frees what a result holds and empties it. */
void cm_k8s_result_free(cm_k8s_result *r);

/*
 * Maps apiVersion + kind to its resource (discovery, cached). Returns 0, or
 * -1 with err filled (NotFound when the server does not serve the kind).
 */
int cm_k8s_resolve(cm_k8s_client *c, const char *api_version, const char *kind, int64_t deadline,
                   cm_k8s_resinfo *out, cm_k8s_error *err);

/*
 * Sends one request to the object or collection ref names. content_type and
 * body may be NULL. deadline is on the loop's clock (CM_TIME_NEVER: none).
 * Returns 0 for a 2xx answer (res->json holds a JSON body), -1 otherwise.
 */
int cm_k8s_call(cm_k8s_client *c, const char *method, const cm_k8s_ref *ref,
                const cm_k8s_param *params, size_t nparams, const char *content_type,
                const char *body, size_t body_len, int64_t deadline, cm_k8s_result *res);

/* ---- requests that do not wait ----
 *
 * The calls above wait in the loop (cm_loop_run_until) until they are done.
 * Their _start forms only begin: the request goes on from the loop (its
 * discovery, rate-limit token, exchange, retries, pages) and fn(req, ud) is
 * called once it is done, possibly before _start returns. So several requests
 * are in flight at once on the client's transport (a Lua task yields
 * meanwhile: runtime/lk8s.c). fn must not free the request; the caller takes
 * its outcome with cm_k8s_req_finish() or drops it with cm_k8s_req_cancel().
 * A client freed with requests in flight ends them with Cancelled (fn is called).
 * _start returns NULL when out of memory.
 */
typedef struct cm_k8s_req cm_k8s_req;
typedef void (*cm_k8s_req_fn)(cm_k8s_req *req, void *ud);

/* cm_k8s_call without waiting. body is copied. */
cm_k8s_req *cm_k8s_call_start(cm_k8s_client *c, const char *method, const cm_k8s_ref *ref,
                              const cm_k8s_param *params, size_t nparams, const char *content_type,
                              const char *body, size_t body_len, int64_t deadline, cm_k8s_req_fn fn, void *ud);

/* cm_k8s_list_all without waiting. */
cm_k8s_req *cm_k8s_list_start(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                              size_t nparams, int limit, int64_t deadline, cm_k8s_req_fn fn, void *ud);

/* cm_k8s_evict without waiting. delete_options is copied. */
cm_k8s_req *cm_k8s_evict_start(cm_k8s_client *c, const char *namespace, const char *name,
                               const cJSON *delete_options, int64_t deadline, cm_k8s_req_fn fn, void *ud);

/* Whether the request is done. */
int cm_k8s_req_done(const cm_k8s_req *req);

/* Takes the outcome of a done request into res and frees the request: 0 for 2xx, -1 otherwise
 * (a request not done is abandoned: Cancelled). */
int cm_k8s_req_finish(cm_k8s_req *req, cm_k8s_result *res);

/* Abandons a request (no callback follows) and frees it; NULL is accepted. */
void cm_k8s_req_cancel(cm_k8s_req *req);

/* The Content-Type of a patch type: "merge", "strategic", "json", "apply";
 * NULL for another name. */
const char *cm_k8s_patch_type(const char *type);

/*
 * Lists a whole collection, following continue tokens (limit per page; 0: 500)
 * and restarting once from the beginning when a continue token expired (410).
 * On success res->json is the first page with every item. Returns 0 or -1.
 */
int cm_k8s_list_all(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                    size_t nparams, int limit, int64_t deadline, cm_k8s_result *res);

/*
 * Evicts a pod (policy/v1, or policy/v1beta1 where only that is served).
 * delete_options (may be NULL) becomes the Eviction's deleteOptions; dry run
 * adds dryRun ["All"] to it. Returns 0 or -1.
 */
int cm_k8s_evict(cm_k8s_client *c, const char *namespace, const char *name,
                 const cJSON *delete_options, int64_t deadline, cm_k8s_result *res);

/*
 * What the server said of pods/eviction when the client discovered the core v1 group (kubectl's
 * CheckEvictionSupport, without a request of its own): 1 policy/v1, 2 only policy/v1beta1,
 * 0 none (deletion is the only way), -1 v1 not discovered yet (any request on a core kind does).
 */
int cm_k8s_eviction_support(const cm_k8s_client *c);

/* ---- watch ---- */

typedef struct cm_k8s_watch cm_k8s_watch;

/*
 * Prepares a watch of the collection ref names (ref->name NULL), from
 * resource_version (NULL: from now, after a one-item list to learn it).
 * Bookmarks are always asked for; deliver_bookmarks says whether next()
 * returns them. Returns NULL when out of memory.
 */
cm_k8s_watch *cm_k8s_watch_new(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                               size_t nparams, const char *resource_version, int deliver_bookmarks);

/*
 * Waits for the next event until deadline. Returns 1 with *event (owned by
 * the caller: {"type","object"}), 0 when the deadline came first, -1 with err
 * filled. The stream is reopened from the last resourceVersion seen when the
 * server ends it, after a connection reset or refused connection (backing off
 * from 0.1 s to 5 s, 8 times in a row at most) and after a 429/5xx with
 * Retry-After; on 410 or an ERROR event with Expired/Gone the collection
 * is listed again and delivered as one event {"type":"RELIST","object":list},
 * and the watch goes on from the list's resourceVersion.
 */
int cm_k8s_watch_next(cm_k8s_watch *w, int64_t deadline, cJSON **event, cm_k8s_error *err);

/* What cm_k8s_watch_poll() returns while nothing can be said yet. */
#define CM_K8S_PENDING 2

/*
 * cm_k8s_watch_next without waiting: 1, 0 or -1 as it, or CM_K8S_PENDING
 * when something is on its way (a stream, a list, a back-off); the watch's
 * notify function is then called from the loop when it is worth polling again.
 */
int cm_k8s_watch_poll(cm_k8s_watch *w, int64_t deadline, cJSON **event, cm_k8s_error *err);

/* Sets the function cm_k8s_watch_poll() relies on to say "poll again" (NULL: none). */
void cm_k8s_watch_set_notify(cm_k8s_watch *w, void (*fn)(void *ud), void *ud);

/* The last resourceVersion seen, or NULL. */
const char *cm_k8s_watch_resource_version(const cm_k8s_watch *w);

/* Stops and frees a watch; NULL is accepted. */
void cm_k8s_watch_free(cm_k8s_watch *w);

#endif
