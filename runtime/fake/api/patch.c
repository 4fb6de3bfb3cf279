/* patch.c - merge patch, JSON patch and strategic merge patch (see patch.h). */
#include "patch.h"

#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void errf(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* ---- RFC 7386 ---- */

/* Merges patch into target in place; target may be replaced, so it is returned. */
static cJSON *merge_into(cJSON *target, const cJSON *patch)
{
    if (!cJSON_IsObject(patch)) {
        cJSON_Delete(target);
        return cJSON_Duplicate(patch, 1);
    }
    if (!cJSON_IsObject(target)) {
        cJSON_Delete(target);
        target = cJSON_CreateObject();
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, patch) {
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
            continue;
        }
        cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(target, p->string);
        cJSON *merged = merge_into(old, p);
        if (merged)
            cJSON_AddItemToObject(target, p->string, merged);
    }
    return target;
}

cJSON *cm_merge_patch(const cJSON *target, const cJSON *patch)
{
    return merge_into(cJSON_Duplicate(target, 1), patch);
}

/* ---- RFC 6902 ---- */

/* Splits a JSON pointer's next token at *p into buf, unescaping ~0 and ~1. */
static int pointer_token(const char **p, char *buf, size_t size)
{
    size_t n = 0;
    for ((*p)++; **p && **p != '/'; (*p)++) {
        char c = **p;
        if (c == '~') {
            char e = (*p)[1];
            if (e != '0' && e != '1')
                return -1;
            c = e == '0' ? '~' : '/';
            (*p)++;
        }
        if (n + 1 >= size)
            return -1;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

/* Parses an array index token; -1 when it is not one ("-" gives size). */
static long array_index(const char *tok, int size)
{
    if (strcmp(tok, "-") == 0)
        return size;
    if (!*tok || (tok[0] == '0' && tok[1]))
        return -1;
    char *end;
    long i = strtol(tok, &end, 10);
    return *end || i < 0 ? -1 : i;
}

/* Finds the container of the pointer's last token; the token goes into last. */
static cJSON *resolve_parent(cJSON *doc, const char *path, char *last, size_t size)
{
    if (path[0] != '/')
        return NULL;
    const char *p = path;
    cJSON *cur = doc;
    for (;;) {
        if (pointer_token(&p, last, size) != 0)
            return NULL;
        if (!*p)
            return cur;
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, last);
        } else if (cJSON_IsArray(cur)) {
            long i = array_index(last, cJSON_GetArraySize(cur));
            cur = i >= 0 ? cJSON_GetArrayItem(cur, (int)i) : NULL;
        } else {
            return NULL;
        }
        if (!cur)
            return NULL;
    }
}

/* The value at path, or NULL. */
static cJSON *resolve(cJSON *doc, const char *path)
{
    if (!*path)
        return doc;
    char last[512];
    cJSON *parent = resolve_parent(doc, path, last, sizeof last);
    if (cJSON_IsObject(parent))
        return cJSON_GetObjectItemCaseSensitive(parent, last);
    if (cJSON_IsArray(parent)) {
        long i = array_index(last, cJSON_GetArraySize(parent));
        return i >= 0 && i < cJSON_GetArraySize(parent) ? cJSON_GetArrayItem(parent, (int)i) : NULL;
    }
    return NULL;
}

/* Detaches the value at path; NULL when there is none. */
static cJSON *detach(cJSON *doc, const char *path)
{
    char last[512];
    cJSON *parent = resolve_parent(doc, path, last, sizeof last);
    if (cJSON_IsObject(parent))
        return cJSON_DetachItemFromObjectCaseSensitive(parent, last);
    if (cJSON_IsArray(parent)) {
        long i = array_index(last, cJSON_GetArraySize(parent));
        if (i >= 0 && i < cJSON_GetArraySize(parent))
            return cJSON_DetachItemFromArray(parent, (int)i);
    }
    return NULL;
}

/* Inserts value before the array item at, by hand: Debian 12's libcjson (1.7.15-1+deb12u4)
 * cJSON_InsertItemInArray refuses any index inside the array but 0, and the value was lost. */
static void insert_before(cJSON *arr, cJSON *at, cJSON *value)
{
    value->next = at;
    value->prev = at->prev; /* the head's prev is the tail */
    if (at == arr->child)
        arr->child = value;
    else
        at->prev->next = value;
    at->prev = value;
}

/* Adds value (owned) at path: object member set, array insert. */
static int add_at(cJSON **doc, const char *path, cJSON *value, char *err, size_t errsize)
{
    if (!*path) {
        cJSON_Delete(*doc);
        *doc = value;
        return 0;
    }
    char last[512];
    cJSON *parent = resolve_parent(*doc, path, last, sizeof last);
    if (cJSON_IsObject(parent)) {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
        cJSON_AddItemToObject(parent, last, value);
        return 0;
    }
    if (cJSON_IsArray(parent)) {
        int n = cJSON_GetArraySize(parent);
        long i = array_index(last, n);
        if (i >= 0 && i <= n && !(value->type & cJSON_StringIsConst)) {
            cJSON_free(value->string); /* a member's name ("value") is no array item's */
            value->string = NULL;
        }
        if (i >= 0 && i < n) {
            insert_before(parent, cJSON_GetArrayItem(parent, (int)i), value);
            return 0;
        }
        if (i == n)
            return cJSON_AddItemToArray(parent, value) ? 0 : -1;
    }
    cJSON_Delete(value);
    errf(err, errsize, "add operation does not apply: doc is missing path: \"%s\": missing value", path);
    return -1;
}

/* RFC 6902 value equality (object member order does not matter). */
static int json_equal(const cJSON *a, const cJSON *b)
{
    return cm_json_equal(a, b);
}

/* One operation of a JSON patch, on *doc. */
static int apply_op(cJSON **doc, const cJSON *op, char *err, size_t errsize, int *bad)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "op"));
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "path"));
    const char *from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "from"));
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
    if (!name || !path) {
        *bad = 1;
        return errf(err, errsize, "Unexpected kind: %s", name ? name : "unknown"), -1;
    }
    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 || strcmp(name, "test") == 0) {
        if (!value) {
            *bad = 1;
            return errf(err, errsize, "missing value for %s operation", name), -1;
        }
    }
    if (strcmp(name, "add") == 0)
        return add_at(doc, path, cJSON_Duplicate(value, 1), err, errsize);
    if (strcmp(name, "remove") == 0) {
        cJSON *old = detach(*doc, path);
        if (!old)
            return errf(err, errsize, "unable to remove nonexistent key: %s: missing value", path), -1;
        cJSON_Delete(old);
        return 0;
    }
    if (strcmp(name, "replace") == 0) {
        cJSON *old = detach(*doc, path);
        if (!old && *path)
            return errf(err, errsize, "replace operation does not apply: doc is missing key: %s: missing value", path), -1;
        cJSON_Delete(old);
        return add_at(doc, path, cJSON_Duplicate(value, 1), err, errsize);
    }
    if (strcmp(name, "test") == 0) {
        cJSON *have = resolve(*doc, path);
        if (have ? json_equal(have, value) : cJSON_IsNull(value))
            return 0;
        return errf(err, errsize, "testing value %s failed: test failed", path), -1;
    }
    if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        if (!from) {
            *bad = 1;
            return errf(err, errsize, "missing from for %s operation", name), -1;
        }
        cJSON *src = name[0] == 'm' ? detach(*doc, from) : cJSON_Duplicate(resolve(*doc, from), 1);
        if (!src)
            return errf(err, errsize, "%s operation does not apply: doc is missing from path: %s: missing value",
                        name, from), -1;
        return add_at(doc, path, src, err, errsize);
    }
    *bad = 1;
    return errf(err, errsize, "Unexpected kind: %s", name), -1;
}

cJSON *cm_json_patch(const cJSON *target, const cJSON *patch, char *err, size_t errsize,
                     int *bad_request)
{
    *bad_request = 0;
    if (!cJSON_IsArray(patch)) {
        *bad_request = 1;
        errf(err, errsize, "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        return NULL;
    }
    cJSON *doc = cJSON_Duplicate(target, 1);
    const cJSON *op;
    cJSON_ArrayForEach(op, patch) {
        if (apply_op(&doc, op, err, errsize, bad_request) != 0) {
            cJSON_Delete(doc);
            return NULL;
        }
    }
    return doc;
}

/* ---- strategic merge patch ---- */

/* Merge keys of the lists in built-in types, by path with "[]" for list items.
 * "" marks a list of primitives merged as a set; absent lists are replaced. */
static const struct { const char *path, *key; } POD_KEYS[] = {
    {"containers", "name"}, {"initContainers", "name"}, {"ephemeralContainers", "name"},
    {"containers[].env", "name"}, {"initContainers[].env", "name"},
    {"containers[].ports", "containerPort"}, {"initContainers[].ports", "containerPort"},
    {"containers[].volumeMounts", "mountPath"}, {"initContainers[].volumeMounts", "mountPath"},
    {"containers[].volumeDevices", "devicePath"}, {"initContainers[].volumeDevices", "devicePath"},
    {"volumes", "name"}, {"imagePullSecrets", "name"}, {"hostAliases", "ip"},
    {"resourceClaims", "name"}, {"schedulingGates", "name"},
};

static const struct { const char *kind, *path, *key; } KIND_KEYS[] = {
    {NULL, "metadata.ownerReferences", "uid"},
    {NULL, "metadata.finalizers", ""},
    {NULL, "status.conditions", "type"},
    {"Pod", "status.podIPs", "ip"},
    {"Node", "spec.taints", "key"},
    {"Node", "status.addresses", "type"},
    {"Node", "spec.podCIDRs", ""},
    {"Service", "spec.ports", "port"},
    {"Namespace", "spec.finalizers", ""},
};

/* The pod spec prefix of a path in kind k's objects, or NULL. */
static const char *pod_spec_rest(const cm_kind *k, const char *path)
{
    static const char *const PREFIXES[] = {"spec.template.spec.", "spec.jobTemplate.spec.template.spec."};
    if (strcmp(k->kind, "Pod") == 0 && strncmp(path, "spec.", 5) == 0)
        return path + 5;
    for (size_t i = 0; i < 2; i++)
        if (strncmp(path, PREFIXES[i], strlen(PREFIXES[i])) == 0)
            return path + strlen(PREFIXES[i]);
    return NULL;
}

/* The merge key of the list at path (NULL: replace the list; "": primitive set). */
static const char *merge_key(const cm_kind *k, const char *path)
{
    const char *rest = pod_spec_rest(k, path);
    for (size_t i = 0; rest && i < sizeof POD_KEYS / sizeof POD_KEYS[0]; i++)
        if (strcmp(POD_KEYS[i].path, rest) == 0)
            return POD_KEYS[i].key;
    for (size_t i = 0; i < sizeof KIND_KEYS / sizeof KIND_KEYS[0]; i++)
        if ((!KIND_KEYS[i].kind || strcmp(KIND_KEYS[i].kind, k->kind) == 0) &&
            strcmp(KIND_KEYS[i].path, path) == 0)
            return KIND_KEYS[i].key;
    return NULL;
}

const char *cm_patch_merge_key(const cm_kind *k, const char *path)
{
    return merge_key(k, path);
}

struct smp {
    const cm_kind *kind;
    char *err;
    size_t errsize;
};

static cJSON *smp_map(struct smp *s, cJSON *orig, const cJSON *patch, const char *path);

/* The list item of orig whose merge key equals that of item, or NULL. */
static cJSON *find_keyed(cJSON *list, const char *key, const cJSON *item)
{
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(item, key);
    cJSON *el;
    cJSON_ArrayForEach(el, list)
        if (want && cm_json_equal(cJSON_GetObjectItemCaseSensitive(el, key), want))
            return el;
    return NULL;
}

/* Whether a patch list asks for replacement with an item {"$patch": "replace"}. */
static int list_replace(const cJSON *patch)
{
    const cJSON *el;
    cJSON_ArrayForEach(el, patch) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(el, "$patch");
        if (cJSON_IsString(d) && strcmp(d->valuestring, "replace") == 0)
            return 1;
    }
    return 0;
}

/* Merges a list of maps by key: update, append or delete ($patch: delete). */
static cJSON *smp_keyed_list(struct smp *s, cJSON *orig, const cJSON *patch, const char *key,
                             const char *path)
{
    if (!cJSON_IsArray(orig) || list_replace(patch)) {
        cJSON_Delete(orig);
        orig = cJSON_CreateArray();
        if (list_replace(patch)) { /* the list is exactly the other items */
            const cJSON *el;
            cJSON_ArrayForEach(el, patch)
                if (!cJSON_GetObjectItemCaseSensitive(el, "$patch"))
                    cJSON_AddItemToArray(orig, cJSON_Duplicate(el, 1));
            return orig;
        }
    }
    char sub[512];
    if (snprintf(sub, sizeof sub, "%s[]", path) >= (int)sizeof sub)
        sub[0] = '\0'; /* too deep to have a merge key */
    const cJSON *el;
    cJSON_ArrayForEach(el, patch) {
        cJSON *hit = find_keyed(orig, key, el);
        const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(el, "$patch"));
        if (d && strcmp(d, "delete") == 0) {
            if (hit)
                cJSON_Delete(cJSON_DetachItemViaPointer(orig, hit));
            continue;
        }
        if (!cJSON_IsObject(el) || !cJSON_GetObjectItemCaseSensitive(el, key)) {
            errf(s->err, s->errsize, "map: %s does not contain declared merge key: %s",
                 cJSON_IsObject(el) ? "map[]" : "item", key);
            cJSON_Delete(orig);
            return NULL;
        }
        if (hit) {
            cJSON *merged = smp_map(s, cJSON_Duplicate(hit, 1), el, sub);
            if (!merged) {
                cJSON_Delete(orig);
                return NULL;
            }
            cJSON_ReplaceItemViaPointer(orig, hit, merged);
        } else {
            cJSON_AddItemToArray(orig, smp_map(s, cJSON_CreateObject(), el, sub));
        }
    }
    return orig;
}

/* Merges a list of primitives as a set (finalizers, podCIDRs). */
static cJSON *smp_set_list(cJSON *orig, const cJSON *patch)
{
    if (!cJSON_IsArray(orig)) {
        cJSON_Delete(orig);
        orig = cJSON_CreateArray();
    }
    const cJSON *el;
    cJSON_ArrayForEach(el, patch) {
        const cJSON *have;
        int found = 0;
        cJSON_ArrayForEach(have, orig)
            found |= cm_json_equal(have, el);
        if (!found)
            cJSON_AddItemToArray(orig, cJSON_Duplicate(el, 1));
    }
    return orig;
}

/* Removes the values listed under "$deleteFromPrimitiveList/<field>". */
static void delete_from_list(cJSON *orig, const char *field, const cJSON *values)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(orig, field);
    const cJSON *v;
    cJSON_ArrayForEach(v, values) {
        for (cJSON *el = list ? list->child : NULL, *next; el; el = next) {
            next = el->next;
            if (cm_json_equal(el, v))
                cJSON_Delete(cJSON_DetachItemViaPointer(list, el));
        }
    }
}

/* Keeps only the keys named by "$retainKeys" (and those the patch sets). */
static void retain_keys(cJSON *orig, const cJSON *keys)
{
    for (cJSON *el = orig->child, *next; el; el = next) {
        next = el->next;
        int keep = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, keys)
            keep |= cJSON_IsString(k) && strcmp(k->valuestring, el->string) == 0;
        if (!keep)
            cJSON_Delete(cJSON_DetachItemViaPointer(orig, el));
    }
}

/* Applies one member of a patch map to orig. */
static int smp_member(struct smp *s, cJSON *orig, const cJSON *p, const char *path)
{
    char sub[512];
    if (snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", p->string) >= (int)sizeof sub)
        sub[0] = '\0'; /* too deep to have a merge key */
    if (cJSON_IsNull(p)) {
        cJSON_DeleteItemFromObjectCaseSensitive(orig, p->string);
        return 0;
    }
    cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(orig, p->string);
    cJSON *merged;
    if (cJSON_IsObject(p)) {
        merged = smp_map(s, cJSON_IsObject(old) ? old : (cJSON_Delete(old), cJSON_CreateObject()), p, sub);
    } else if (cJSON_IsArray(p)) {
        const char *key = merge_key(s->kind, sub);
        if (key && *key)
            merged = smp_keyed_list(s, old, p, key, sub);
        else if (key)
            merged = smp_set_list(old, p);
        else
            merged = (cJSON_Delete(old), cJSON_Duplicate(p, 1));
    } else {
        cJSON_Delete(old);
        merged = cJSON_Duplicate(p, 1);
    }
    if (!merged)
        return -1;
    cJSON_AddItemToObject(orig, p->string, merged);
    return 0;
}

/* Applies a patch map to orig (owned; returned, or NULL on error). */
static cJSON *smp_map(struct smp *s, cJSON *orig, const cJSON *patch, const char *path)
{
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patch, "$patch"));
    if (d && strcmp(d, "replace") == 0) {
        cJSON_Delete(orig);
        orig = cJSON_Duplicate(patch, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(orig, "$patch");
        return orig;
    }
    if (d && strcmp(d, "delete") == 0) {
        cJSON_Delete(orig);
        return cJSON_CreateObject();
    }
    const cJSON *retain = cJSON_GetObjectItemCaseSensitive(patch, "$retainKeys");
    if (cJSON_IsArray(retain))
        retain_keys(orig, retain);
    const cJSON *p;
    cJSON_ArrayForEach(p, patch) {
        const char *prefix = "$deleteFromPrimitiveList/";
        if (strncmp(p->string, prefix, strlen(prefix)) == 0) {
            delete_from_list(orig, p->string + strlen(prefix), p);
            continue;
        }
        if (p->string[0] == '$') /* $patch, $retainKeys, $setElementOrder/...: directives */
            continue;
        if (smp_member(s, orig, p, path) != 0) {
            cJSON_Delete(orig);
            return NULL;
        }
    }
    return orig;
}

cJSON *cm_strategic_patch(const cm_kind *k, const cJSON *target, const cJSON *patch, char *err,
                          size_t errsize)
{
    if (!cJSON_IsObject(patch)) {
        errf(err, errsize, "json: cannot unmarshal %s into Go value of type map[string]interface {}",
             cJSON_IsArray(patch) ? "array" : "value");
        return NULL;
    }
    struct smp s = {k, err, errsize};
    return smp_map(&s, cJSON_Duplicate(target, 1), patch, "");
}
