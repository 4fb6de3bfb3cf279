/*
 * rbac.h - authorization of the fake API server (fake serve --authorize): who a bearer token is
 * (the server's own token: a cluster admin; a token a TokenRequest issued: that ServiceAccount)
 * and what RBAC lets a ServiceAccount do, from the stored Roles, ClusterRoles and their bindings
 * (the fixture's and those applied since), with the API server's 403 Status. As the API server's
 * bootstrap roles do, every authenticated user may read discovery and create
 * SelfSubjectAccessReviews. Not modelled: aggregated ClusterRoles (their rules are read as
 * stored), nonResourceURLs rules, impersonation, users and groups other than ServiceAccounts'.
 */
#ifndef CM_FAKE_RBAC_H
#define CM_FAKE_RBAC_H

#include "fakeint.h"

/* A ServiceAccount a token names. */
struct cm_sa {
    char ns[CM_FAKE_NAMESPACE_MAX + 1];
    char name[CM_FAKE_NAME_MAX + 1];
};

/* Who authorization (an "Authorization" header, or NULL) is: 1 with *sa NULL for the server's
 * token, 1 with *sa set for a ServiceAccount's token, 0 for nobody (a 401). */
int cm_rbac_authenticate(const cm_fake *f, const char *authorization, const struct cm_sa **sa);

/* Whether RBAC lets sa do verb on group/resource[/sub] (name "" or NULL: none) in ns (NULL or "":
 * at the cluster scope). */
int cm_rbac_allows(cm_fake *f, const struct cm_sa *sa, const char *verb, const char *group, const char *resource,
                   const char *sub, const char *ns, const char *name);

/* Checks the routed request c of c->sa: 1 when allowed, else 0 with the API server's 403 set. */
int cm_rbac_check(struct call *c);

/* A SelfSubjectAccessReview's answer for c's user: status.allowed (and reason) set in review. */
void cm_rbac_review(struct call *c, cJSON *review);

/* POST serviceaccounts/NAME/token (a TokenRequest): a token that authenticates as that account. */
void cm_rbac_token_request(struct call *c);

/* Forgets every issued token (cm_fake_free). */
void cm_rbac_free(cm_fake *f);

#endif
