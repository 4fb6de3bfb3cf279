/*
 * fakeint.h - what the files of the fake cluster share: the cluster struct,
 * the parsed request, and the helpers of the REST layer.
 */
#ifndef CM_FAKE_INT_H
#define CM_FAKE_INT_H

/* The longest object name (a DNS-1123 subdomain) and namespace (a DNS-1123 label) the API
 * server takes (validate.c) and a fixture may hold (fixture.c); the simulation sizes its
 * name and key buffers by them, so they never cut a name. */
#define CM_FAKE_NAME_MAX 253
#define CM_FAKE_NAMESPACE_MAX 63

#include "fake.h"
#include "kinds.h"
#include "object.h"
#include "select.h"
#include "store.h"
#include "table.h"

#include <cJSON.h>

struct cm_fake {
    cm_loop *loop;
    cm_store *store;
    cm_kinds *kinds;
    char *token;
    char address[128];
    uint64_t rng;
    uint64_t rng_aside;       /* the uids of cm_fake_req.aside writes */
    cJSON *settings;          /* the FakeCluster document, or NULL */
    struct cm_fake_watch *watches; /* open watches, a list */
    size_t nwatches;
    struct pending *pending;  /* graceful deletions waiting for their grace period */
    int sim_kubelet;          /* a simulation (sim.c) is attached: its kubelets end terminating pods */
    cm_fake_ext_fn ext;       /* answers paths under /cni-migrate/, or NULL */
    void *ext_ud;
    struct cm_node_line *settings_lines; /* where the FakeCluster document's nodes are (fixture.c) */
    size_t nsettings_lines;
    int settings_line;        /* the line the FakeCluster document starts on */
    const cm_fake_filter *filter; /* around the REST core (fake.h); never NULL */
    void *filter_ud;
    int authorize;            /* RBAC for ServiceAccounts' tokens (rbac.c); the token is an admin's */
    struct cm_sa_token *tokens; /* the tokens TokenRequests issued (rbac.c) */
    size_t ntokens;
    struct cm_map *logs;      /* pod uid -> its containers' output (api.c, pods/log) */
    struct cm_ttl *ttl;       /* Events' expiry (ttl.c), once a fixture is loaded */
};

/* Events expire from now on (ttl.c): reads the loaded fixture's spec.simulation.eventTTL and
 * queues its Events. 0, or -1 with err (and the fixture's line in *line) for a bad setting. */
int cm_fake_ttl_start(cm_fake *f, char *err, size_t errsize, int *line);

/* Stops the expiry and frees it (cm_fake_free). */
void cm_fake_ttl_free(cm_fake *f);

/* Frees the stored logs (cm_fake_free). */
void cm_fake_logs_free(cm_fake *f);

/* A node of a parsed document and the line it starts on. */
struct cm_node_line {
    const cJSON *node;
    int line;
};

/* A request once routed: the resource, namespace, name, subresource and query. */
struct call {
    cm_fake *f;
    const cm_fake_req *req;
    cm_fake_resp *resp;
    const cm_kind *kind;
    const char *ns;   /* NULL: all namespaces, or cluster-scoped */
    const char *name; /* NULL: the collection */
    const char *sub;  /* "status", "eviction", "log", or NULL */
    char nsbuf[256], namebuf[256], subbuf[32];
    char **qkeys, **qvals; /* decoded query */
    size_t nq;
    cJSON *json; /* req->json until read_body takes it */
    const struct cm_sa *sa; /* under --authorize, the ServiceAccount asking (rbac.h); NULL: an admin */
};

/* The decoded value of query parameter key, or NULL. */
const char *cm_call_query(const struct call *c, const char *key);

/* Whether ?dryRun=All was given. */
int cm_call_dry_run(const struct call *c);

/* Sets the response to a JSON body (consumed) with status code. */
void cm_reply(struct call *c, int status, cJSON *body);

/* Sets the response to a copy of obj (a stored object, printed as it is). */
void cm_reply_copy(struct call *c, int status, const cJSON *obj);

/* Sets the response to a Status error (consumed); its code is the HTTP status. */
void cm_reply_status(struct call *c, cJSON *status);


/* RFC 3339 UTC "now" of the cluster's clock. */
void cm_fake_now(const cm_fake *f, char *buf, size_t size);

/* A fresh uid (a v4 UUID from the cluster's generator). */
void cm_fake_uid(cm_fake *f, char *buf, size_t size);
/* The same from the aside generator when aside (cm_fake_req.aside). */
void cm_fake_uid_from(cm_fake *f, int aside, char *buf, size_t size);

/* The apps/v1 workloads' spec defaults the API server sets on every write (update strategy,
 * revisionHistoryLimit, ...), added where obj lacks them; other kinds are left alone. */
void cm_fake_apps_defaults(const cm_kind *k, cJSON *obj);

/* Answers GET /openapi/v3[/GV] (openapi.c); 0 when the path is not one. */
int cm_api_openapi(struct call *c);

/* The write verbs (write.c). */
void cm_api_create(struct call *c);
void cm_api_update(struct call *c);
void cm_api_patch(struct call *c);
void cm_api_delete(struct call *c);
void cm_api_delete_collection(struct call *c);
void cm_api_evict(struct call *c);

/*
 * Puts a new object into the store with the server-set metadata (uid,
 * creationTimestamp, generation, defaults). Takes obj. Returns the stored
 * object, or NULL with a Status reply already set.
 */
cm_obj *cm_fake_insert(struct call *c, cJSON *obj);

/* Finishes a deletion of o now, or marks it terminating (finalizers, graceful pods). */
cJSON *cm_fake_remove(cm_fake *f, cm_obj *o, int64_t grace, int dry_run);

/* Cancels the timers of graceful deletions (cm_fake_free). */
void cm_fake_pending_free(cm_fake *f);

/* Registers or refreshes the kinds a CustomResourceDefinition serves. */
int cm_fake_crd_serve(cm_fake *f, const cJSON *crd, char *err, size_t errsize);

/* Validates a custom object against its kind's schema; fills a 422 Status or returns NULL. */
cJSON *cm_fake_validate(const cm_kind *k, const cJSON *obj);

/* What a create or an update checks (write.c): metadata (validate.h), the checks of the built-in
 * kinds that clients meet most, a custom kind's schema; a 422 Status or NULL. Fixtures are loaded
 * through it too, so an object the server would refuse is not loaded to fail every later write. */
cJSON *cm_fake_validate_write(const cm_kind *k, const cJSON *obj);

/*
 * ?fieldValidation on the object of a create, update or patch (fields.c): its
 * unknown fields are dropped and duplicates keep their last value; under
 * Strict they are an error (a 400 for a create or update; for a patch, given
 * as the body patch, a 422, strategic: whether it is a strategic merge patch),
 * under Warn (the default) a Warning header each. 0 after an error reply.
 */
int cm_call_fields(struct call *c, cJSON *obj, const cJSON *patch, int strategic);

/* An apply patch's unknown fields, which server-side apply refuses whatever the fieldValidation:
 * 0 after the 500 "failed to create typed patch object (...): .spec.foo: field not declared in schema". */
int cm_call_apply_fields(struct call *c, const cJSON *patch);

/* Whether the kind bumps metadata.generation on spec changes. */
int cm_kind_has_generation(const cm_kind *k);

#endif
