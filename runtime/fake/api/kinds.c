/* kinds.c - the registry of served resources (see kinds.h). */
#include "kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B CM_KIND_BUILTIN
#define S CM_KIND_STATUS
#define A CM_KIND_ALL

static const cm_kind BUILTIN[] = {
    {"", "v1", "Namespace", "namespaces", "namespace", "ns", 0, B | S, NULL, NULL},
    {"", "v1", "Node", "nodes", "node", "no", 0, B | S, NULL, NULL},
    {"", "v1", "Pod", "pods", "pod", "po", 1,
     B | S | A | CM_KIND_EVICTION | CM_KIND_LOG, NULL, NULL},
    {"", "v1", "ConfigMap", "configmaps", "configmap", "cm", 1, B, NULL, NULL},
    {"", "v1", "Secret", "secrets", "secret", "", 1, B, NULL, NULL},
    {"", "v1", "Service", "services", "service", "svc", 1, B | S | A, NULL, NULL},
    {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", "sa", 1, B, NULL, NULL},
    {"", "v1", "Event", "events", "event", "ev", 1, B, NULL, NULL},
    {"apps", "v1", "DaemonSet", "daemonsets", "daemonset", "ds", 1, B | S | A, NULL, NULL},
    {"apps", "v1", "Deployment", "deployments", "deployment", "deploy", 1, B | S | A, NULL, NULL},
    {"apps", "v1", "ReplicaSet", "replicasets", "replicaset", "rs", 1, B | S | A, NULL, NULL},
    {"apps", "v1", "StatefulSet", "statefulsets", "statefulset", "sts", 1, B | S | A, NULL, NULL},
    {"batch", "v1", "Job", "jobs", "job", "", 1, B | S | A, NULL, NULL},
    {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", "pdb", 1,
     B | S, NULL, NULL},
    {"coordination.k8s.io", "v1", "Lease", "leases", "lease", "", 1, B, NULL, NULL},
    {"scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", "pc", 0, B, NULL,
     NULL},
    {"rbac.authorization.k8s.io", "v1", "Role", "roles", "role", "", 1, B, NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", "", 1, B,
     NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", "", 0, B,
     NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
     "clusterrolebinding", "", 0, B, NULL, NULL},
    {"authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
     "selfsubjectaccessreview", "", 0, B | CM_KIND_CREATE_ONLY, NULL, NULL},
    {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
     "customresourcedefinition", "crd,crds", 0, B | S, NULL, NULL},
};

#undef B
#undef S
#undef A

struct cm_kinds {
    cm_kind **items;
    size_t n, cap;
};

/* Appends k (owned by the registry). */
static int push(cm_kinds *r, cm_kind *k)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        cm_kind **items = realloc(r->items, cap * sizeof *items);
        if (!items)
            return -1;
        r->items = items;
        r->cap = cap;
    }
    r->items[r->n++] = k;
    return 0;
}

cm_kinds *cm_kinds_new(void)
{
    cm_kinds *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < sizeof BUILTIN / sizeof BUILTIN[0]; i++) {
        cm_kind *k = malloc(sizeof *k);
        if (!k || push(r, k) != 0) {
            free(k);
            cm_kinds_free(r);
            return NULL;
        }
        *k = BUILTIN[i];
    }
    return r;
}

static void kind_free(cm_kind *k)
{
    if (k->flags & CM_KIND_CUSTOM) {
        cJSON_Delete(k->schema);
        free(k->strings);
    }
    free(k);
}

void cm_kinds_free(cm_kinds *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        kind_free(r->items[i]);
    free(r->items);
    free(r);
}

const cm_kind *cm_kinds_by_resource(const cm_kinds *r, const char *group, const char *version,
                                    const char *plural)
{
    for (size_t i = 0; i < r->n; i++) {
        const cm_kind *k = r->items[i];
        if (strcmp(k->plural, plural) == 0 && strcmp(k->group, group) == 0 &&
            strcmp(k->version, version) == 0)
            return k;
    }
    return NULL;
}

const cm_kind *cm_kinds_by_kind(const cm_kinds *r, const char *api_version, const char *kind)
{
    const char *slash = strchr(api_version, '/');
    size_t glen = slash ? (size_t)(slash - api_version) : 0;
    const char *version = slash ? slash + 1 : api_version;
    for (size_t i = 0; i < r->n; i++) {
        const cm_kind *k = r->items[i];
        if (strcmp(k->kind, kind) == 0 && strcmp(k->version, version) == 0 &&
            strlen(k->group) == glen && strncmp(k->group, api_version, glen) == 0)
            return k;
    }
    return NULL;
}

size_t cm_kinds_count(const cm_kinds *r)
{
    return r->n;
}

const cm_kind *cm_kinds_at(const cm_kinds *r, size_t i)
{
    return r->items[i];
}

/* Copies the strings of a custom kind into one block that the kind owns. */
static int fill_custom(cm_kind *k, const char *const src[6])
{
    size_t total = 0;
    for (int i = 0; i < 6; i++)
        total += strlen(src[i]) + 1;
    k->strings = malloc(total);
    if (!k->strings)
        return -1;
    const char **dst[6] = {&k->group, &k->version, &k->kind, &k->plural, &k->singular,
                           &k->short_names};
    char *p = k->strings;
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(src[i]) + 1;
        memcpy(p, src[i], n);
        *dst[i] = p;
        p += n;
    }
    return 0;
}

const cm_kind *cm_kinds_add_custom(cm_kinds *r, const char *group, const char *version,
                                   const char *kind, const char *plural, const char *singular,
                                   const char *short_names, int namespaced, int status,
                                   const cJSON *schema)
{
    cm_kind *k = calloc(1, sizeof *k);
    const char *const src[6] = {group, version, kind, plural, singular, short_names};
    if (!k || fill_custom(k, src) != 0) {
        free(k);
        return NULL;
    }
    k->namespaced = namespaced;
    k->flags = CM_KIND_CUSTOM | (status ? CM_KIND_STATUS : 0);
    k->schema = schema ? cJSON_Duplicate(schema, 1) : NULL;
    for (size_t i = 0; i < r->n; i++) {
        cm_kind *old = r->items[i];
        if (strcmp(old->plural, plural) == 0 && strcmp(old->group, group) == 0 &&
            strcmp(old->version, version) == 0 && (old->flags & CM_KIND_CUSTOM)) {
            /* keep the address: stored objects point at it */
            cJSON_Delete(old->schema);
            free(old->strings);
            *old = *k;
            free(k);
            return old;
        }
    }
    if (push(r, k) != 0) {
        kind_free(k);
        return NULL;
    }
    return k;
}

void cm_kind_api_version(const cm_kind *k, char *buf, size_t size)
{
    if (k->group[0])
        snprintf(buf, size, "%s/%s", k->group, k->version);
    else
        snprintf(buf, size, "%s", k->version);
}

void cm_kind_qualified(const cm_kind *k, char *buf, size_t size)
{
    if (k->group[0])
        snprintf(buf, size, "%s.%s", k->plural, k->group);
    else
        snprintf(buf, size, "%s", k->plural);
}
