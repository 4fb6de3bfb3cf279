/*
 * openapi.c - the part of /openapi/v3 that kubectl reads before it writes:
 * one document per group version listing each kind's PATCH operation and its
 * query parameters, from which kubectl learns the server checks fields
 * (fieldValidation) and need not validate on the client with full schemas.
 * And /openapi/v2, which kubectl before v1.29 fetches (in protobuf) before
 * every create or apply even when the server validates: a document without
 * definitions, so it finds no schema and leaves validation to the server.
 */
#include "fakeint.h"

#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TITLE[] = "Kubernetes (cni-migrate fake)", VERSION[] = "v1.32.0";

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
    cJSON_AddStringToObject(info, "title", TITLE);
    cJSON_AddStringToObject(info, "version", VERSION);
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

/* Appends a length-delimited protobuf field (field n, wire type 2) holding len bytes. */
static size_t pb_field(unsigned char *out, unsigned n, const void *bytes, size_t len)
{
    out[0] = (unsigned char)(n << 3 | 2);
    out[1] = (unsigned char)len; /* every field here is shorter than 128 bytes */
    memcpy(out + 2, bytes, len);
    return len + 2;
}

/* GET /openapi/v2 as the gnostic openapi_v2.Document protobuf kubectl asks for:
 * swagger = 1 "2.0", info = 2 {title = 1, version = 2}, paths = 8 {}. */
static void v2_protobuf(struct call *c)
{
    unsigned char info[128], *doc = malloc(256);
    if (!doc) {
        cm_reply_status(c, cm_status_new(500, "InternalError", "out of memory"));
        return;
    }
    size_t ni = pb_field(info, 1, TITLE, strlen(TITLE));
    ni += pb_field(info + ni, 2, VERSION, strlen(VERSION));
    size_t n = pb_field(doc, 1, "2.0", 3);
    n += pb_field(doc + n, 2, info, ni);
    n += pb_field(doc + n, 8, "", 0);
    free(c->resp->body);
    c->resp->status = 200;
    /* kube-openapi's form: the "@" kubectl asks with is no MIME token, and Go's parser refuses it */
    c->resp->content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    c->resp->body = (char *)doc;
    c->resp->body_len = n;
}

/* GET /openapi/v2 as JSON: the same document. */
static cJSON *v2_json(void)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "swagger", "2.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", TITLE);
    cJSON_AddStringToObject(info, "version", VERSION);
    cJSON_AddObjectToObject(doc, "paths");
    cJSON_AddObjectToObject(doc, "definitions");
    return doc;
}

int cm_api_openapi(struct call *c)
{
    const char *p = c->req->path;
    if (strcmp(p, "/openapi/v2") == 0) {
        if (c->req->accept && strstr(c->req->accept, "protobuf"))
            v2_protobuf(c);
        else
            cm_reply(c, 200, v2_json());
        return 1;
    }
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
