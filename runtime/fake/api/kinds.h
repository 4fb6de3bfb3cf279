/*
 * kinds.h - the resources the fake API server serves: the built-in ones
 * (core, apps, batch, policy, coordination, rbac, authorization,
 * apiextensions) and those that CustomResourceDefinitions add at run time.
 */
#ifndef CM_FAKE_KINDS_H
#define CM_FAKE_KINDS_H

#include <cJSON.h>
#include <stddef.h>

enum {
    CM_KIND_STATUS = 1 << 0,   /* has the status subresource */
    CM_KIND_EVICTION = 1 << 1, /* pods/eviction */
    CM_KIND_LOG = 1 << 2,      /* pods/log */
    CM_KIND_BUILTIN = 1 << 3,  /* a compiled-in type: strategic merge patch applies */
    CM_KIND_CREATE_ONLY = 1 << 4, /* a review: create answers, nothing is stored */
    CM_KIND_ALL = 1 << 5,      /* in the "all" category */
    CM_KIND_CUSTOM = 1 << 6    /* served from a CRD; strings owned by the kind */
};

typedef struct cm_kind {
    const char *group;    /* "" for the core group */
    const char *version;
    const char *kind;
    const char *plural;
    const char *singular;
    const char *short_names; /* comma-separated, or "" */
    int namespaced;
    unsigned flags;
    cJSON *schema;        /* custom kinds: the version's openAPIV3Schema (owned) */
    char *strings;        /* custom kinds: the block the names above point into */
} cm_kind;

typedef struct cm_kinds cm_kinds;

/* The registry with every built-in kind. NULL when out of memory. */
cm_kinds *cm_kinds_new(void);

/* Frees the registry and its custom kinds. */
void cm_kinds_free(cm_kinds *r);

/* The kind served at group/version/plural, or NULL. */
const cm_kind *cm_kinds_by_resource(const cm_kinds *r, const char *group, const char *version,
                                    const char *plural);

/* The kind of an object with this apiVersion ("v1", "apps/v1") and kind, or NULL. */
const cm_kind *cm_kinds_by_kind(const cm_kinds *r, const char *api_version, const char *kind);

/* The i-th kind (0 <= i < count), in registration order. */
size_t cm_kinds_count(const cm_kinds *r);
const cm_kind *cm_kinds_at(const cm_kinds *r, size_t i);

/*
 * Adds a custom kind (strings copied, schema duplicated). Returns it, or
 * NULL when out of memory. An existing group/version/plural is replaced in place.
 */
const cm_kind *cm_kinds_add_custom(cm_kinds *r, const char *group, const char *version,
                                   const char *kind, const char *plural, const char *singular,
                                   const char *short_names, int namespaced, int status,
                                   const cJSON *schema);

/* Writes "apps/v1" or "v1" into buf. */
void cm_kind_api_version(const cm_kind *k, char *buf, size_t size);

/* Writes the qualified resource as the API server names it in messages:
 * "pods", "deployments.apps". */
void cm_kind_qualified(const cm_kind *k, char *buf, size_t size);

#endif
