/* object.c - the small readers and builders of objects the fake cluster's files share (see object.h). */
#include "object.h"

#include <string.h>

const char *cm_meta_str(const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *cm_meta(cJSON *obj)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (!cJSON_IsObject(m)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
        m = cJSON_AddObjectToObject(obj, "metadata");
    }
    return m;
}

void cm_set_str(cJSON *obj, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v))
        cJSON_AddItemToObject(obj, key, v);
}

cJSON *cm_fake_event_new(const char *ns, const char *name, const cJSON *about, const struct cm_evspec *e,
                         const char *now)
{
    const char *v;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(ev, "firstTimestamp", now);
    cJSON_AddStringToObject(ev, "lastTimestamp", now);
    cJSON *inv = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(inv, "apiVersion", "v1");
    if (e->field_path)
        cJSON_AddStringToObject(inv, "fieldPath", e->field_path);
    cJSON_AddStringToObject(inv, "kind", e->kind);
    cJSON_AddStringToObject(inv, "name", (v = cm_meta_str(about, "name")) ? v : "");
    if (strcmp(e->kind, "Node") != 0)
        cJSON_AddStringToObject(inv, "namespace", ns);
    if ((v = cm_meta_str(about, "resourceVersion")))
        cJSON_AddStringToObject(inv, "resourceVersion", v);
    cJSON_AddStringToObject(inv, "uid", (v = cm_meta_str(about, "uid")) ? v : "");
    cJSON_AddStringToObject(ev, "message", e->message);
    cJSON_AddStringToObject(ev, "reason", e->reason);
    cJSON_AddStringToObject(ev, "reportingComponent", e->component);
    cJSON_AddStringToObject(ev, "reportingInstance", e->host ? e->host : "");
    cJSON *src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", e->component);
    if (e->host)
        cJSON_AddStringToObject(src, "host", e->host);
    cJSON_AddStringToObject(ev, "type", e->type);
    return ev;
}
