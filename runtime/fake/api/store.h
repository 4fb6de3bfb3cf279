/*
 * store.h - the fake cluster's object store.
 *
 * Objects are cJSON trees keyed by kind, namespace and name. The store owns
 * the cluster-wide resourceVersion: every insert, replace and delete takes the
 * next one, writes it into metadata.resourceVersion, records an event in a
 * bounded history (for watches that resume from a version) and tells every
 * subscriber. Lists come back sorted by namespace then name, as etcd's keys
 * sort; pods are also indexed by spec.nodeName so that one node's pods are
 * found without scanning the cluster. A stored object's member names are shared process-wide
 * (cJSON_StringIsConst: copies keep pointing at them); nothing frees or rewrites one in place.
 *
 * The store knows nothing of HTTP or of API semantics (defaults, validation,
 * generation, finalizers): the REST layer (api.c) decides, the store records.
 */
#ifndef CM_FAKE_STORE_H
#define CM_FAKE_STORE_H

#include "kinds.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cm_store cm_store;

typedef struct cm_obj {
    const cm_kind *kind;
    char *ns;     /* "" for cluster-scoped kinds */
    char *name;
    cJSON *json;  /* the whole object; owned */
    int64_t rv;   /* metadata.resourceVersion as a number */
    char *node;   /* pods: spec.nodeName when set (the index key) */
} cm_obj;

enum cm_event_type { CM_EV_ADDED, CM_EV_MODIFIED, CM_EV_DELETED };

typedef struct cm_event {
    enum cm_event_type type;
    int64_t rv;
    const cm_kind *kind;
    const char *ns;
    const cJSON *obj; /* the object as of this event (for DELETED: its last state) */
    const cJSON *prev; /* MODIFIED, live events only: the object before; else NULL */
    const char *text;  /* obj as its compact JSON, when the store printed it for its history
                        * (valid during the call); else NULL */
    size_t len;        /* strlen(text) */
} cm_event;

/* Receives every change after it is made. Must not change the store. */
typedef void (*cm_store_fn)(void *ud, const cm_event *ev);

/* Creates an empty store keeping the last `history` events. NULL when out of memory. */
cm_store *cm_store_new(size_t history);

/* Frees the store and every object. */
void cm_store_free(cm_store *s);

/* The cluster's current resourceVersion (that of the last change). */
int64_t cm_store_rv(const cm_store *s);

/* The object, or NULL. ns is "" (or NULL) for cluster-scoped kinds. */
cm_obj *cm_store_get(const cm_store *s, const cm_kind *k, const char *ns, const char *name);

/*
 * Stores json (ownership passes) as a new object, with the next
 * resourceVersion. Returns it, or NULL when out of memory or when the
 * name is taken (the caller checks first).
 */
cm_obj *cm_store_insert(cm_store *s, const cm_kind *k, cJSON *json);

/* Replaces o's tree by json (ownership passes) with the next resourceVersion. Returns 0 or -1. */
int cm_store_replace(cm_store *s, cm_obj *o, cJSON *json);

/* Removes o; the DELETED event carries its last state with the next resourceVersion. */
void cm_store_delete(cm_store *s, cm_obj *o);

/*
 * The objects of kind k in namespace ns (NULL: all namespaces), sorted by
 * namespace and name. *out points into the store and is valid until the next
 * change. Returns the count.
 */
size_t cm_store_list(cm_store *s, const cm_kind *k, const char *ns, cm_obj *const **out);

/* The pods whose spec.nodeName is node, in no order; valid until the next change. */
size_t cm_store_pods_on_node(const cm_store *s, const char *node, cm_obj *const **out);

/* Subscribes fn to every change. Returns an id for cm_store_unsubscribe, or -1. */
int cm_store_subscribe(cm_store *s, cm_store_fn fn, void *ud);
void cm_store_unsubscribe(cm_store *s, int id);

/*
 * Replays, in order, the recorded events with a resourceVersion above rv
 * (fn NULL: only checks that they are all still known). Returns 0, or -1 when
 * events after rv have already left the history (the caller answers 410
 * Gone); *oldest is then the oldest version still known.
 */
int cm_store_replay(const cm_store *s, int64_t rv, cm_store_fn fn, void *ud, int64_t *oldest);

/* While quiet, changes are not recorded in the history (bulk fixture loading). */
void cm_store_set_quiet(cm_store *s, int quiet);

#endif
