/* status.c - metav1.Status bodies (see status.h). */
#include "status.h"

#include <stdio.h>
#include <string.h>

cJSON *cm_status_new(int code, const char *reason, const char *message)
{
    cJSON *st = cJSON_CreateObject();
    if (!st)
        return NULL;
    cJSON_AddStringToObject(st, "kind", "Status");
    cJSON_AddStringToObject(st, "apiVersion", "v1");
    cJSON_AddItemToObject(st, "metadata", cJSON_CreateObject());
    cJSON_AddStringToObject(st, "status", code >= 200 && code < 300 ? "Success" : "Failure");
    if (message && *message)
        cJSON_AddStringToObject(st, "message", message);
    if (reason && *reason)
        cJSON_AddStringToObject(st, "reason", reason);
    cJSON_AddNumberToObject(st, "code", code);
    return st;
}

/* details, created before "code" so the field order matches the server's. */
static cJSON *details(cJSON *st)
{
    cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "details");
    if (d)
        return d;
    d = cJSON_CreateObject();
    cJSON *code = cJSON_DetachItemFromObjectCaseSensitive(st, "code");
    cJSON_AddItemToObject(st, "details", d);
    if (code)
        cJSON_AddItemToObject(st, "code", code);
    return d;
}

void cm_status_details(cJSON *st, const char *name, const char *group, const char *kind)
{
    cJSON *d = details(st);
    if (name && *name)
        cJSON_AddStringToObject(d, "name", name);
    if (group && *group)
        cJSON_AddStringToObject(d, "group", group);
    if (kind && *kind)
        cJSON_AddStringToObject(d, "kind", kind);
}

void cm_status_cause(cJSON *st, const char *reason, const char *message, const char *field)
{
    cJSON *d = details(st);
    cJSON *causes = cJSON_GetObjectItemCaseSensitive(d, "causes");
    if (!causes) {
        causes = cJSON_CreateArray();
        cJSON *retry = cJSON_DetachItemFromObjectCaseSensitive(d, "retryAfterSeconds");
        cJSON_AddItemToObject(d, "causes", causes);
        if (retry)
            cJSON_AddItemToObject(d, "retryAfterSeconds", retry);
    }
    cJSON *c = cJSON_CreateObject();
    if (reason && *reason)
        cJSON_AddStringToObject(c, "reason", reason);
    if (message && *message)
        cJSON_AddStringToObject(c, "message", message);
    if (field && *field)
        cJSON_AddStringToObject(c, "field", field);
    cJSON_AddItemToArray(causes, c);
}

void cm_status_retry_after(cJSON *st, int seconds)
{
    cJSON *d = details(st);
    cJSON_DeleteItemFromObjectCaseSensitive(d, "retryAfterSeconds");
    cJSON_AddNumberToObject(d, "retryAfterSeconds", seconds);
}

int cm_status_code(const cJSON *st)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(st, "code");
    return cJSON_IsNumber(c) ? c->valueint : 500;
}

cJSON *cm_status_not_found(const cm_kind *k, const char *name)
{
    char q[256], msg[1024];
    cm_kind_qualified(k, q, sizeof q);
    snprintf(msg, sizeof msg, "%s \"%s\" not found", q, name);
    cJSON *st = cm_status_new(404, "NotFound", msg);
    cm_status_details(st, name, k->group, k->plural);
    return st;
}

cJSON *cm_status_already_exists(const cm_kind *k, const char *name)
{
    char q[256], msg[1024];
    cm_kind_qualified(k, q, sizeof q);
    snprintf(msg, sizeof msg, "%s \"%s\" already exists", q, name);
    cJSON *st = cm_status_new(409, "AlreadyExists", msg);
    cm_status_details(st, name, k->group, k->plural);
    return st;
}

cJSON *cm_status_conflict(const cm_kind *k, const char *name, const char *why)
{
    char q[256], msg[1024];
    cm_kind_qualified(k, q, sizeof q);
    snprintf(msg, sizeof msg, "Operation cannot be fulfilled on %s \"%s\": %s", q, name, why);
    cJSON *st = cm_status_new(409, "Conflict", msg);
    cm_status_details(st, name, k->group, k->plural);
    return st;
}

cJSON *cm_status_bad_request(const char *message)
{
    return cm_status_new(400, "BadRequest", message);
}

cJSON *cm_status_method_not_allowed(const char *method, const cm_kind *k)
{
    char q[256], msg[512];
    cm_kind_qualified(k, q, sizeof q);
    snprintf(msg, sizeof msg, "%s is not supported on resources of kind \"%s\"", method, q);
    cJSON *st = cm_status_new(405, "MethodNotAllowed", msg);
    cm_status_details(st, NULL, k->group, k->plural);
    return st;
}

cJSON *cm_status_forbidden(const cm_kind *k, const char *name, const char *why)
{
    char q[256], msg[1024];
    cm_kind_qualified(k, q, sizeof q);
    if (name && *name)
        snprintf(msg, sizeof msg, "%s \"%s\" is forbidden: %s", q, name, why);
    else
        snprintf(msg, sizeof msg, "%s is forbidden: %s", q, why);
    cJSON *st = cm_status_new(403, "Forbidden", msg);
    cm_status_details(st, name, k->group, k->plural);
    return st;
}

cJSON *cm_status_gone(const char *message)
{
    return cm_status_new(410, "Expired", message);
}

cJSON *cm_status_invalid(const cm_kind *k, const char *name)
{
    cJSON *st = cm_status_new(422, "Invalid", NULL);
    cm_status_details(st, name, k->group, k->kind);
    return st;
}

void cm_status_invalid_cause(cJSON *st, const char *type, const char *field, const char *detail)
{
    cm_status_cause(st, type, detail, field);
}

/* The text field.ErrorType.String() gives for a cause reason. */
static const char *type_text(const char *reason)
{
    static const struct { const char *reason, *text; } T[] = {
        {"FieldValueRequired", "Required value"}, {"FieldValueInvalid", "Invalid value"},
        {"FieldValueNotSupported", "Unsupported value"}, {"FieldValueForbidden", "Forbidden"},
        {"FieldValueDuplicate", "Duplicate value"}, {"FieldValueTooLong", "Too long"},
        {"FieldValueTypeInvalid", "Invalid value"}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].reason, reason) == 0)
            return T[i].text;
    return reason;
}

void cm_status_invalid_done(cJSON *st, const cm_kind *k, const char *name)
{
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "%s%s%s \"%s\" is invalid: ", k->kind, k->group[0] ? "." : "",
                     k->group, name); /* GroupKind.String(): "Deployment.apps", "Pod" */
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(st, "details"), "causes");
    int count = cJSON_GetArraySize(causes), i = 0;
    if (count > 1)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "[");
    const cJSON *c;
    cJSON_ArrayForEach(c, causes) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "field");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "message");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "reason");
        if (n < (int)sizeof msg)
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%s: %s", i++ ? ", " : "",
                          cJSON_IsString(f) ? f->valuestring : "<nil>",
                          cJSON_IsString(m) ? m->valuestring
                                            : type_text(cJSON_IsString(r) ? r->valuestring : ""));
    }
    if (count > 1 && n < (int)sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, "]");
    cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(st, "reason");
    cJSON_DeleteItemFromObjectCaseSensitive(st, "message");
    /* message before reason, as the server orders them */
    cJSON *rest[3];
    const char *names[3] = {"reason", "details", "code"};
    rest[0] = old;
    rest[1] = cJSON_DetachItemFromObjectCaseSensitive(st, "details");
    rest[2] = cJSON_DetachItemFromObjectCaseSensitive(st, "code");
    cJSON_AddStringToObject(st, "message", msg);
    for (int j = 0; j < 3; j++)
        if (rest[j])
            cJSON_AddItemToObject(st, names[j], rest[j]);
}
