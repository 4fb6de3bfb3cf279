/* rbac.c - fake serve --authorize: tokens and RBAC (see rbac.h). */
#include "rbac.h"

#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* What a TokenRequest gets, whatever it asks for: the API server's default audience and an hour. */
static const char *const AUDIENCE = "https://kubernetes.default.svc.cluster.local";
enum { TOKEN_SECONDS = 3600 };

/* A token a TokenRequest issued, and the account it names. */
struct cm_sa_token {
    char token[48];
    struct cm_sa sa;
};

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

int cm_rbac_authenticate(const cm_fake *f, const char *authorization, const struct cm_sa **sa)
{
    *sa = NULL;
    if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *t = authorization + 7;
    if (f->token && is(t, f->token))
        return 1;
    for (size_t i = 0; i < f->ntokens; i++)
        if (is(t, f->tokens[i].token)) {
            *sa = &f->tokens[i].sa;
            return 1;
        }
    return 0;
}

/* Whether a JSON array of strings holds s, or "*" when star. */
static int holds(const cJSON *arr, const char *s, int star)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const char *v = cJSON_GetStringValue(it);
        if (v && (is(v, s) || (star && is(v, "*"))))
            return 1;
    }
    return 0;
}

/* A rule's resources against resource[/sub], as RBAC matches them: "*", the exact name, "* /sub". */
static int resource_matches(const cJSON *resources, const char *resource, const char *sub)
{
    char combined[300], any_sub[64];
    snprintf(combined, sizeof combined, "%s%s%s", resource, sub ? "/" : "", sub ? sub : "");
    if (holds(resources, combined, 1))
        return 1;
    if (!sub)
        return 0;
    snprintf(any_sub, sizeof any_sub, "*/%s", sub);
    return holds(resources, any_sub, 0);
}

struct want {
    const char *verb, *group, *resource, *sub, *name;
};

/* Whether one of the rules of role (a Role or ClusterRole object) allows w. */
static int role_allows(const cJSON *role, const struct want *w)
{
    const cJSON *rule;
    cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(role, "rules")) {
        const cJSON *names = cJSON_GetObjectItemCaseSensitive(rule, "resourceNames");
        if (holds(cJSON_GetObjectItemCaseSensitive(rule, "verbs"), w->verb, 1) &&
            holds(cJSON_GetObjectItemCaseSensitive(rule, "apiGroups"), w->group, 1) &&
            resource_matches(cJSON_GetObjectItemCaseSensitive(rule, "resources"), w->resource, w->sub) &&
            (cJSON_GetArraySize(names) == 0 || (w->name && *w->name && holds(names, w->name, 0))))
            return 1;
    }
    return 0;
}

/* Whether a binding's subjects include sa: the account itself, or a group it is in. */
static int binds(const cJSON *binding, const struct cm_sa *sa)
{
    char group[100];
    snprintf(group, sizeof group, "system:serviceaccounts:%s", sa->ns);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(binding, "subjects")) {
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "kind"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
        const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "namespace"));
        if (!kind || !name)
            continue;
        if (is(kind, "ServiceAccount") && is(name, sa->name) && ns && is(ns, sa->ns))
            return 1;
        if (is(kind, "Group") && (is(name, group) || is(name, "system:serviceaccounts") ||
                                  is(name, "system:authenticated")))
            return 1;
    }
    return 0;
}

static const cm_kind *rbac_kind(const cm_fake *f, const char *kind)
{
    return cm_kinds_by_kind(f->kinds, "rbac.authorization.k8s.io/v1", kind);
}

/* Whether one of the bindings of kind bkind in ns (NULL: cluster bindings) grants w to sa. */
static int bindings_allow(cm_fake *f, const char *bkind, const char *ns, const struct cm_sa *sa, const struct want *w)
{
    cm_obj *const *list;
    size_t n = cm_store_list(f->store, rbac_kind(f, bkind), ns, &list);
    for (size_t i = 0; i < n; i++) {
        const cJSON *b = list[i]->json;
        if (!binds(b, sa))
            continue;
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(b, "roleRef");
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "kind"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "name"));
        if (!kind || !name || (!is(kind, "ClusterRole") && !(ns && is(kind, "Role"))))
            continue;
        cm_obj *role = cm_store_get(f->store, rbac_kind(f, kind), is(kind, "Role") ? ns : "", name);
        if (role && role_allows(role->json, w))
            return 1;
    }
    return 0;
}

int cm_rbac_allows(cm_fake *f, const struct cm_sa *sa, const char *verb, const char *group, const char *resource,
                   const char *sub, const char *ns, const char *name)
{
    struct want w = {verb, group, resource, sub && *sub ? sub : NULL, name};
    if (is(group, "authorization.k8s.io") && strncmp(resource, "selfsubject", 11) == 0 && is(verb, "create"))
        return 1; /* system:basic-user */
    return bindings_allow(f, "ClusterRoleBinding", NULL, sa, &w) ||
           (ns && *ns && bindings_allow(f, "RoleBinding", ns, sa, &w));
}

/* The verb of a routed request, as the API server names it for authorization. */
static const char *verb_of(const struct call *c)
{
    const char *m = c->req->method, *watch = cm_call_query(c, "watch");
    int watching = watch && (is(watch, "1") || is(watch, "true") || is(watch, "True") || is(watch, "t"));
    if (is(m, "POST"))
        return "create";
    if (is(m, "PUT"))
        return "update";
    if (is(m, "PATCH"))
        return "patch";
    if (is(m, "DELETE"))
        return c->name ? "delete" : "deletecollection";
    if (watching)
        return "watch";
    return c->name ? "get" : "list";
}

int cm_rbac_check(struct call *c)
{
    const char *verb = verb_of(c);
    if (cm_rbac_allows(c->f, c->sa, verb, c->kind->group, c->kind->plural, c->sub, c->ns, c->name))
        return 1;
    char scope[100] = "at the cluster scope", why[1024];
    if (c->ns)
        snprintf(scope, sizeof scope, "in the namespace \"%s\"", c->ns);
    snprintf(why, sizeof why, "User \"system:serviceaccount:%s:%s\" cannot %s resource \"%s%s%s\" in API group "
             "\"%s\" %s", c->sa->ns, c->sa->name, verb, c->kind->plural, c->sub ? "/" : "", c->sub ? c->sub : "",
             c->kind->group, scope);
    cm_reply_status(c, cm_status_forbidden(c->kind, c->name, why));
    return 0;
}

static const char *str_at(const cJSON *obj, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
    return s ? s : "";
}

void cm_rbac_review(struct call *c, cJSON *review)
{
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(review, "spec"),
                                                       "resourceAttributes");
    int allowed = !c->sa || !ra || /* discovery's non-resource URLs: every user's */
                  cm_rbac_allows(c->f, c->sa, str_at(ra, "verb"), str_at(ra, "group"), str_at(ra, "resource"),
                                 str_at(ra, "subresource"), str_at(ra, "namespace"), str_at(ra, "name"));
    cJSON *status = cJSON_GetObjectItemCaseSensitive(review, "status");
    if (!status)
        status = cJSON_AddObjectToObject(review, "status");
    cJSON_DeleteItemFromObjectCaseSensitive(status, "allowed");
    cJSON_AddBoolToObject(status, "allowed", allowed);
}

int cm_fake_random_token(const char *prefix, char *buf, size_t size)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -1;
    int n = snprintf(buf, size, "%s", prefix);
    for (size_t i = 0; i < sizeof r && n > 0 && (size_t)n + 2 < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%02x", r[i]);
    return 0;
}

void cm_rbac_token_request(struct call *c)
{
    if (!cm_store_get(c->f->store, c->kind, c->ns, c->name))
        return cm_reply_status(c, cm_status_not_found(c->kind, c->name));
    struct cm_sa_token *grown = realloc(c->f->tokens, (c->f->ntokens + 1) * sizeof *grown);
    if (!grown)
        return cm_reply_status(c, cm_status_new(500, "InternalError", "out of memory"));
    c->f->tokens = grown;
    struct cm_sa_token *t = &grown[c->f->ntokens];
    if (cm_fake_random_token("cm-sa.", t->token, sizeof t->token) != 0)
        return cm_reply_status(c, cm_status_new(500, "InternalError", "getrandom failed"));
    snprintf(t->sa.ns, sizeof t->sa.ns, "%s", c->ns);
    snprintf(t->sa.name, sizeof t->sa.name, "%s", c->name);
    c->f->ntokens++;
    char now[40], expiry[40];
    cm_fake_now(c->f, now, sizeof now);
    cm_format_time(cm_loop_wall(c->f->loop) / CM_NS_PER_S + TOKEN_SECONDS, expiry, sizeof expiry);
    cJSON *tr = cJSON_CreateObject();
    cJSON_AddStringToObject(tr, "kind", "TokenRequest");
    cJSON_AddStringToObject(tr, "apiVersion", "authentication.k8s.io/v1");
    cJSON *meta = cJSON_AddObjectToObject(tr, "metadata");
    cJSON_AddStringToObject(meta, "name", c->name);
    cJSON_AddStringToObject(meta, "namespace", c->ns);
    cJSON_AddStringToObject(meta, "creationTimestamp", now);
    cJSON *spec = cJSON_AddObjectToObject(tr, "spec");
    cJSON_AddItemToObject(spec, "audiences", cJSON_CreateStringArray(&AUDIENCE, 1));
    cJSON_AddNumberToObject(spec, "expirationSeconds", TOKEN_SECONDS);
    cJSON *st = cJSON_AddObjectToObject(tr, "status");
    cJSON_AddStringToObject(st, "token", t->token);
    cJSON_AddStringToObject(st, "expirationTimestamp", expiry);
    cm_reply(c, 201, tr);
}

void cm_rbac_free(cm_fake *f)
{
    free(f->tokens);
    f->tokens = NULL;
    f->ntokens = 0;
}
