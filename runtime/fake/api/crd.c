/* crd.c - CustomResourceDefinitions: serving their kinds, validating against their schemas. */
#include "fakeint.h"

#include "json.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* Joins a list of strings with commas into buf. */
static void join(const cJSON *list, char *buf, size_t size)
{
    buf[0] = '\0';
    const cJSON *s;
    cJSON_ArrayForEach(s, list)
        if (cJSON_IsString(s))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "", s->valuestring);
}

int cm_fake_crd_serve(cm_fake *f, const cJSON *crd, char *err, size_t errsize)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(crd, "spec");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(spec, "names");
    const char *group = str(spec, "group"), *kind = str(names, "kind"), *plural = str(names, "plural");
    if (!group || !kind || !plural) {
        snprintf(err, errsize, "spec.group, spec.names.kind and spec.names.plural are required");
        return -1;
    }
    const char *singular = str(names, "singular");
    char lower[256], shorts[256];
    if (!singular) {
        size_t i = 0;
        for (; kind[i] && i + 1 < sizeof lower; i++)
            lower[i] = (char)(kind[i] >= 'A' && kind[i] <= 'Z' ? kind[i] + 32 : kind[i]);
        lower[i] = '\0';
        singular = lower;
    }
    join(cJSON_GetObjectItemCaseSensitive(names, "shortNames"), shorts, sizeof shorts);
    int namespaced = !str(spec, "scope") || strcmp(str(spec, "scope"), "Cluster") != 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(spec, "versions")) {
        const char *version = str(v, "name");
        if (!version || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "served")))
            continue;
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(v, "schema"), "openAPIV3Schema");
        int status = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(v, "subresources"), "status") != NULL;
        if (!cm_kinds_add_custom(f->kinds, group, version, kind, plural, singular, shorts,
                                 namespaced, status, schema)) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- OpenAPI v3 schema validation (types, required, enum) ---- */

struct verr {
    cJSON *st;
    int count;
};

static const char *type_of(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "array";
    if (cJSON_IsObject(v))
        return "object";
    int64_t i;
    return cm_json_int64(v, &i) ? "integer" : "number";
}

static int type_ok(const char *want, const cJSON *v, const cJSON *schema)
{
    const char *have = type_of(v);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, "x-kubernetes-int-or-string")))
        return strcmp(have, "integer") == 0 || strcmp(have, "string") == 0;
    if (!want)
        return 1;
    if (strcmp(want, "number") == 0)
        return strcmp(have, "integer") == 0 || strcmp(have, "number") == 0;
    if (cJSON_IsNull(v) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, "nullable")))
        return 1;
    return strcmp(want, have) == 0;
}

static void add_cause(struct verr *e, const char *type, const char *field, const char *msg)
{
    cm_status_invalid_cause(e->st, type, field, msg);
    e->count++;
}

/* The value as Go's %v-quoted form in messages: strings quoted, others printed. */
static void show(const cJSON *v, char *buf, size_t size)
{
    if (cJSON_IsString(v)) {
        snprintf(buf, size, "\"%s\"", v->valuestring);
        return;
    }
    char *p = cJSON_PrintUnformatted(v);
    snprintf(buf, size, "%s", p ? p : "");
    free(p);
}

static void validate_value(struct verr *e, const cJSON *schema, const cJSON *v, const char *path);

static void validate_enum(struct verr *e, const cJSON *schema, const cJSON *v, const char *path)
{
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum"), *x;
    if (!cJSON_IsArray(en))
        return;
    cJSON_ArrayForEach(x, en)
        if (cm_json_equal(x, v))
            return;
    char msg[1024], val[256];
    show(v, val, sizeof val);
    int n = snprintf(msg, sizeof msg, "Unsupported value: %s: supported values: ", val);
    int i = 0;
    cJSON_ArrayForEach(x, en) {
        show(x, val, sizeof val);
        if (n < (int)sizeof msg)
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%s", i++ ? ", " : "", val);
    }
    add_cause(e, "FieldValueNotSupported", path, msg);
}

static void validate_object(struct verr *e, const cJSON *schema, const cJSON *v, const char *path)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *req;
    char sub[512];
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(schema, "required")) {
        if (cJSON_IsString(req) && !cJSON_GetObjectItemCaseSensitive(v, req->valuestring)) {
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", req->valuestring);
            add_cause(e, "FieldValueRequired", sub, "Required value");
        }
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, m->string);
        if (!ps && cJSON_IsObject(extra))
            ps = extra;
        if (!ps)
            continue;
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", m->string);
        validate_value(e, ps, m, sub);
    }
}

static void validate_value(struct verr *e, const cJSON *schema, const cJSON *v, const char *path)
{
    const char *type = str(schema, "type");
    if (!type_ok(type, v, schema)) {
        char msg[600];
        snprintf(msg, sizeof msg, "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"",
                 type_of(v), path, type, type_of(v));
        add_cause(e, "FieldValueTypeInvalid", path, msg);
        return;
    }
    validate_enum(e, schema, v, path);
    if (cJSON_IsObject(v)) {
        validate_object(e, schema, v, path);
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items"), *x;
        int i = 0;
        char sub[512];
        cJSON_ArrayForEach(x, v) {
            snprintf(sub, sizeof sub, "%s[%d]", path, i++);
            if (cJSON_IsObject(items))
                validate_value(e, items, x, sub);
        }
    }
}

cJSON *cm_fake_validate(const cm_kind *k, const cJSON *obj)
{
    if (!k->schema)
        return NULL;
    const char *name = cm_meta_str(obj, "name");
    struct verr e = {cm_status_invalid(k, name ? name : ""), 0};
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(k->schema, "properties");
    const cJSON *m;
    cJSON_ArrayForEach(m, obj) { /* metadata, apiVersion and kind are the server's to check */
        if (!strcmp(m->string, "metadata") || !strcmp(m->string, "apiVersion") || !strcmp(m->string, "kind"))
            continue;
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, m->string);
        if (ps)
            validate_value(&e, ps, m, m->string);
    }
    const cJSON *req;
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(k->schema, "required"))
        if (cJSON_IsString(req) && !cJSON_GetObjectItemCaseSensitive(obj, req->valuestring))
            add_cause(&e, "FieldValueRequired", req->valuestring, "Required value");
    if (!e.count) {
        cJSON_Delete(e.st);
        return NULL;
    }
    cm_status_invalid_done(e.st, k, name ? name : "");
    return e.st;
}
