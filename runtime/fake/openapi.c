/*
 * openapi.c - the part of /openapi/v3 that kubectl reads before it writes:
 * one document per group version listing each kind's PATCH operation and its
 * query parameters, from which kubectl learns the server checks fields
 * (fieldValidation) and need not validate on the client with full schemas.
 */
#include "fakeint.h"

#include <stdio.h>
#include <string.h>

/* The path of a group version in the OpenAPI index: "api/v1", "apis/apps/v1". */
static void gv_path(const cm_kind *k, char *buf, size_t size)
{
    if (k->group[0])
        snprintf(buf, size, "apis/%s/%s", k->group, k->version);
    else
        snprintf(buf, size, "api/%s", k->version);
}

/* GET /openapi/v3: {"paths": {"api/v1": {"serverRelativeURL": ...}, ...}}. */
static cJSON *index_doc(const cm_fake *f)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    for (size_t i = 0; i < cm_kinds_count(f->kinds); i++) {
        char gv[300], url[400];
        gv_path(cm_kinds_at(f->kinds, i), gv, sizeof gv);
        if (cJSON_GetObjectItemCaseSensitive(paths, gv))
            continue;
        snprintf(url, sizeof url, "/openapi/v3/%s?hash=%zu", gv, cm_kinds_count(f->kinds));
        cJSON_AddStringToObject(cJSON_AddObjectToObject(paths, gv), "serverRelativeURL", url);
    }
    return doc;
}

static cJSON *query_param(const char *name)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddStringToObject(p, "in", "query");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "schema"), "type", "string");
    return p;
}

/* The PATCH operation of one kind's object path. */
static cJSON *patch_op(const cm_kind *k)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "operationId", "patch");
    cJSON *params = cJSON_AddArrayToObject(op, "parameters");
    static const char *const NAMES[] = {"dryRun", "fieldManager", "fieldValidation", "force"};
    for (size_t i = 0; i < 4; i++)
        cJSON_AddItemToArray(params, query_param(NAMES[i]));
    cJSON *gvk = cJSON_AddObjectToObject(op, "x-kubernetes-group-version-kind");
    cJSON_AddStringToObject(gvk, "group", k->group);
    cJSON_AddStringToObject(gvk, "version", k->version);
    cJSON_AddStringToObject(gvk, "kind", k->kind);
    return op;
}

/* GET /openapi/v3/<gv>: the object paths of the kinds served there. */
static cJSON *gv_doc(const cm_fake *f, const char *want)
{
    cJSON *doc = cJSON_CreateObject(), *paths = NULL;
    cJSON_AddStringToObject(doc, "openapi", "3.0.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "Kubernetes (cni-migrate fake)");
    cJSON_AddStringToObject(info, "version", "v1.32.0");
    paths = cJSON_AddObjectToObject(doc, "paths");
    int found = 0;
    for (size_t i = 0; i < cm_kinds_count(f->kinds); i++) {
        const cm_kind *k = cm_kinds_at(f->kinds, i);
        char gv[300], path[600];
        gv_path(k, gv, sizeof gv);
        if (strcmp(gv, want) != 0)
            continue;
        found = 1;
        snprintf(path, sizeof path, "/%s/%s%s/{name}", gv, k->namespaced ? "namespaces/{namespace}/" : "", k->plural);
        cJSON_AddItemToObject(cJSON_AddObjectToObject(paths, path), "patch", patch_op(k));
    }
    cJSON_AddObjectToObject(cJSON_AddObjectToObject(doc, "components"), "schemas");
    if (!found) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

int cm_api_openapi(struct call *c)
{
    const char *p = c->req->path;
    const char *prefix = "/openapi/v3";
    if (strncmp(p, prefix, strlen(prefix)) != 0)
        return 0;
    p += strlen(prefix);
    if (!*p || strcmp(p, "/") == 0) {
        cm_reply(c, 200, index_doc(c->f));
        return 1;
    }
    cJSON *doc = gv_doc(c->f, p + 1);
    if (!doc)
        return 0;
    cm_reply(c, 200, doc);
    return 1;
}
