/* write.c - create, update, patch, delete and eviction in the fake cluster. */
#include "fakeint.h"

#include "json.h"
#include "k8s_config.h"
#include "patch.h"
#include "proto.h"
#include "rbac.h"
#include "ssa.h"
#include "status.h"
#include "validate.h"
#include "yamldoc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A graceful deletion waiting for its grace period (the kubelet's part, until issue 5). */
struct pending {
    cm_fake *f;
    const cm_kind *kind;
    char ns[256], name[256], uid[64];
    cm_timer *timer;
    struct pending *next;
};

static cJSON *finish_delete(cm_fake *f, cm_obj *o);
static void pending_add(cm_fake *f, const cm_obj *o, int64_t grace);
static int is_pod(const cm_kind *k);

static int is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

int cm_kind_has_generation(const cm_kind *k)
{
    return (k->flags & CM_KIND_CUSTOM) || is(k->group, "apps") || is(k->group, "batch") ||
           is(k->group, "policy") || is(k->group, "apiextensions.k8s.io");
}

/* ---- request bodies ---- */

static int first_doc(void *ud, cJSON *doc, int line)
{
    (void)line;
    *(cJSON **)ud = doc;
    return 1;
}

/* Decodes a protobuf body (proto.c); NULL after a 415 (a kind it cannot decode) or 400 reply. */
static cJSON *proto_body(struct call *c)
{
    char err[300];
    int unsupported;
    cJSON *doc = cm_proto_decode(c->req->body ? c->req->body : "", c->req->body_len, &unsupported, err, sizeof err);
    if (!doc)
        cm_reply_status(c, unsupported ? cm_status_new(415, "UnsupportedMediaType", err) : cm_status_bad_request(err));
    return doc;
}

/* Parses the body as JSON, or YAML for YAML media types, or Kubernetes protobuf; NULL after a 4xx reply. */
static cJSON *read_body(struct call *c)
{
    const char *ct = c->req->content_type ? c->req->content_type : "application/json";
    cJSON *doc = NULL;
    if (c->json) { /* an in-process caller's tree: as if parsed from its text */
        doc = c->json;
        c->json = NULL;
        return doc;
    }
    if (cm_proto_media(ct))
        return proto_body(c);
    if (strstr(ct, "protobuf") || strstr(ct, "cbor")) { /* JSON, YAML and Kubernetes protobuf only */
        cm_reply_status(c, cm_status_new(415, "UnsupportedMediaType", "the body of the request was in an "
                        "unknown format - accepted media types include: application/json, application/yaml, "
                        "application/vnd.kubernetes.protobuf"));
        return NULL;
    }
    if (strstr(ct, "yaml")) {
        cm_yaml_error yerr;
        cm_yaml_opts opts = {.document = first_doc, .ud = &doc};
        if (cm_yaml_parse(c->req->body ? c->req->body : "", c->req->body_len, &opts, &yerr) < 0) {
            char msg[400];
            snprintf(msg, sizeof msg, "error converting YAML to JSON: yaml: line %d: %s", yerr.line, yerr.message);
            cm_reply_status(c, cm_status_bad_request(msg));
            return NULL;
        }
    } else {
        cm_json_error jerr;
        doc = c->req->body_len ? cm_json_parse(c->req->body, c->req->body_len, &jerr) : NULL;
        if (!doc && c->req->body_len) {
            char msg[400];
            snprintf(msg, sizeof msg, "couldn't get version/kind; json parse error: %s at offset %zu",
                     jerr.reason, jerr.offset);
            cm_reply_status(c, cm_status_bad_request(msg));
            return NULL;
        }
    }
    if (!doc)
        cm_reply_status(c, cm_status_bad_request("the body of the request is empty"));
    return doc;
}

/* Checks the body's apiVersion and kind against the URL's; 0 after a 400 reply. */
static int check_type(struct call *c, cJSON *obj)
{
    char want[160];
    cm_kind_api_version(c->kind, want, sizeof want);
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"));
    char msg[512];
    if (!cJSON_IsObject(obj)) {
        cm_reply_status(c, cm_status_bad_request("the body of the request is not an object"));
        return 0;
    }
    if (av && !is(av, want)) {
        snprintf(msg, sizeof msg, "the API version in the data (%s) does not match the expected API version (%s)", av, want);
        cm_reply_status(c, cm_status_bad_request(msg));
        return 0;
    }
    if (kind && !is(kind, c->kind->kind)) {
        snprintf(msg, sizeof msg, "the kind in the data (%s) does not match the expected kind (%s)", kind, c->kind->kind);
        cm_reply_status(c, cm_status_bad_request(msg));
        return 0;
    }
    cm_set_str(obj, "apiVersion", want);
    cm_set_str(obj, "kind", c->kind->kind);
    /* keep kind, apiVersion, metadata first, as the server prints them */
    cJSON *k = cJSON_DetachItemFromObjectCaseSensitive(obj, "kind");
    cJSON *a = cJSON_DetachItemFromObjectCaseSensitive(obj, "apiVersion");
    cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(obj, "metadata");
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        m = cJSON_CreateObject();
    }
    if (!m->string)
        m->string = strdup("metadata");
    cJSON_InsertItemInArray(obj, 0, m);
    cJSON_InsertItemInArray(obj, 0, a);
    cJSON_InsertItemInArray(obj, 0, k);
    return 1;
}

/* ---- validation ---- */

cJSON *cm_fake_validate_write(const cm_kind *k, const cJSON *obj)
{
    cJSON *found = cJSON_CreateObject(); /* the causes gather here; a Status only when there are some */
    cm_validate_meta(found, k, obj);
    if (is(k->kind, "Pod") && !k->group[0]) {
        const cJSON *containers = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, "spec"), "containers");
        if (cJSON_GetArraySize(containers) == 0)
            cm_status_invalid_cause(found, "FieldValueRequired", "spec.containers", "Required value");
    }
    cJSON *causes = cJSON_DetachItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(found, "details"), "causes");
    cJSON_Delete(found);
    if (!causes)
        return (k->flags & CM_KIND_CUSTOM) ? cm_fake_validate(k, obj) : NULL;
    const char *name = cm_meta_str(obj, "name");
    cJSON *st = cm_status_invalid(k, name ? name : "");
    cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(st, "details"), "causes", causes);
    cm_status_invalid_done(st, k, name ? name : "");
    return st;
}

/* ---- metadata the server owns ---- */

static void set_int(cJSON *obj, const char *key, int64_t v)
{
    cJSON *item = cm_json_new_int64(v);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
        cJSON_AddItemToObject(obj, key, item);
}

static int64_t get_int(const cJSON *obj, const char *key, int64_t dflt)
{
    int64_t v;
    return cm_json_int64(cJSON_GetObjectItemCaseSensitive(obj, key), &v) ? v : dflt;
}

/* Random suffix for generateName (the server's alphabet: no vowels, no confusables). */
static void generate_name(cm_fake *f, const char *prefix, char *buf, size_t size)
{
    static const char ALPHA[] = "bcdfghjklmnpqrstvwxz2456789";
    char uid[64];
    cm_fake_uid(f, uid, sizeof uid);
    char suffix[6];
    for (int i = 0; i < 5; i++)
        suffix[i] = ALPHA[(unsigned char)uid[i * 3] % (sizeof ALPHA - 1)];
    suffix[5] = '\0';
    snprintf(buf, size, "%s%s", prefix, suffix);
}

/* A Job's defaults and generated selector (SetDefaults_Job, the job strategy's PrepareForCreate):
 * the template and the selector get the controller-uid and job-name labels. */
static void job_defaults(cJSON *obj)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!cJSON_IsObject(spec))
        return;
    if (!cJSON_GetObjectItemCaseSensitive(spec, "completions") && !cJSON_GetObjectItemCaseSensitive(spec, "parallelism"))
        set_int(spec, "completions", 1);
    if (!cJSON_GetObjectItemCaseSensitive(spec, "parallelism"))
        set_int(spec, "parallelism", 1);
    if (!cJSON_GetObjectItemCaseSensitive(spec, "backoffLimit"))
        set_int(spec, "backoffLimit", 6);
    if (!cJSON_GetObjectItemCaseSensitive(spec, "completionMode"))
        cJSON_AddStringToObject(spec, "completionMode", "NonIndexed");
    if (!cJSON_GetObjectItemCaseSensitive(spec, "suspend"))
        cJSON_AddFalseToObject(spec, "suspend");
    if (!cJSON_GetObjectItemCaseSensitive(spec, "podReplacementPolicy"))
        cJSON_AddStringToObject(spec, "podReplacementPolicy",
                                cJSON_GetObjectItemCaseSensitive(spec, "podFailurePolicy") ? "Failed" : "TerminatingOrFailed");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "manualSelector")))
        return;
    if (!cJSON_GetObjectItemCaseSensitive(spec, "manualSelector"))
        cJSON_AddFalseToObject(spec, "manualSelector");
    const char *uid = cm_meta_str(obj, "uid"), *name = cm_meta_str(obj, "name");
    cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
    if (!cJSON_IsObject(tmpl))
        tmpl = cJSON_AddObjectToObject(spec, "template");
    cJSON *labels = cm_meta(tmpl);
    cJSON *l = cJSON_GetObjectItemCaseSensitive(labels, "labels");
    if (!cJSON_IsObject(l))
        l = cJSON_AddObjectToObject(labels, "labels");
    cm_set_str(l, "batch.kubernetes.io/controller-uid", uid);
    cm_set_str(l, "batch.kubernetes.io/job-name", name);
    cm_set_str(l, "controller-uid", uid);
    cm_set_str(l, "job-name", name);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "selector");
    cJSON *sel = cJSON_AddObjectToObject(spec, "selector");
    cm_set_str(cJSON_AddObjectToObject(sel, "matchLabels"), "batch.kubernetes.io/controller-uid", uid);
}

/* Sets o[key] to the value the JSON text gives when o has no key. */
static void dflt(cJSON *o, const char *key, const char *json)
{
    if (!cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_AddItemToObject(o, key, cJSON_Parse(json));
}

/* The apps/v1 workloads' spec defaults (SetDefaults_DaemonSet, _Deployment, _StatefulSet), which
 * the API server applies whenever it decodes one, on create, update and patch alike; kubectl
 * rollout status, for one, reads the update strategy they set. */
void cm_fake_apps_defaults(const cm_kind *k, cJSON *obj)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!is(k->group, "apps") || !cJSON_IsObject(spec))
        return;
    const char *field = is(k->kind, "Deployment") ? "strategy" : "updateStrategy";
    if (is(k->kind, "Deployment") || is(k->kind, "StatefulSet"))
        dflt(spec, "replicas", "1");
    if (is(k->kind, "DaemonSet") || is(k->kind, "Deployment") || is(k->kind, "StatefulSet")) {
        dflt(spec, "revisionHistoryLimit", "10");
        dflt(spec, field, "{\"type\":\"RollingUpdate\"}");
    }
    if (is(k->kind, "Deployment"))
        dflt(spec, "progressDeadlineSeconds", "600");
    if (is(k->kind, "StatefulSet")) {
        dflt(spec, "podManagementPolicy", "\"OrderedReady\"");
        dflt(spec, "persistentVolumeClaimRetentionPolicy", "{\"whenDeleted\":\"Retain\",\"whenScaled\":\"Retain\"}");
    }
    cJSON *st = cJSON_GetObjectItemCaseSensitive(spec, field);
    if (!cJSON_IsObject(st) || !is(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "type")), "RollingUpdate"))
        return;
    if (is(k->kind, "DaemonSet"))
        dflt(st, "rollingUpdate", "{\"maxUnavailable\":1,\"maxSurge\":0}");
    else if (is(k->kind, "Deployment"))
        dflt(st, "rollingUpdate", "{\"maxUnavailable\":\"25%\",\"maxSurge\":\"25%\"}");
    else if (is(k->kind, "StatefulSet"))
        dflt(st, "rollingUpdate", "{\"partition\":0}");
}

/* Defaults a real server (or its admission) would add to a new object. */
static void defaults(const cm_kind *k, cJSON *obj)
{
    if (is(k->group, "batch") && is(k->kind, "Job"))
        job_defaults(obj);
    cm_fake_apps_defaults(k, obj);
    if (k->group[0])
        return;
    if (is(k->kind, "Pod")) {
        cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
        if (!status)
            status = cJSON_AddObjectToObject(obj, "status");
        if (!cJSON_GetObjectItemCaseSensitive(status, "phase"))
            cJSON_AddStringToObject(status, "phase", "Pending");
    } else if (is(k->kind, "Namespace")) {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
        if (!spec)
            spec = cJSON_AddObjectToObject(obj, "spec");
        if (!cJSON_GetObjectItemCaseSensitive(spec, "finalizers")) /* the registry adds "kubernetes" */
            cJSON_AddItemToObject(spec, "finalizers", cJSON_CreateStringArray((const char *const[]){"kubernetes"}, 1));
        cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
        if (!status)
            status = cJSON_AddObjectToObject(obj, "status");
        if (!cJSON_GetObjectItemCaseSensitive(status, "phase"))
            cJSON_AddStringToObject(status, "phase", "Active");
    }
}

/* Fills uid, creationTimestamp and generation on a new object (aside: cm_fake_req.aside). */
static void stamp_new(cm_fake *f, const cm_kind *k, cJSON *obj, int aside)
{
    cJSON *meta = cm_meta(obj);
    char uid[64], now[40];
    cm_fake_uid_from(f, aside, uid, sizeof uid);
    cm_fake_now(f, now, sizeof now);
    cm_set_str(meta, "uid", uid);
    cm_set_str(meta, "creationTimestamp", now);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
    if (cm_kind_has_generation(k))
        set_int(meta, "generation", 1);
    defaults(k, obj);
}

static int ns_terminating(const cJSON *ns)
{
    const cJSON *phase = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ns, "status"), "phase");
    return cm_meta_str(ns, "deletionTimestamp") || (cJSON_IsString(phase) && is(phase->valuestring, "Terminating"));
}

/* The 403 the NamespaceLifecycle admission gives a write into a terminating namespace. */
static cJSON *terminating_ns_status(const cm_kind *k, const char *name, const char *ns)
{
    char why[512], cause[300];
    snprintf(why, sizeof why, "unable to create new content in namespace %s because it is being terminated", ns);
    snprintf(cause, sizeof cause, "namespace %s is being terminated", ns);
    cJSON *st = cm_status_forbidden(k, name, why);
    cm_status_cause(st, "NamespaceTerminating", cause, "metadata.namespace");
    return st;
}

static const cm_kind *ns_kind(cm_fake *f)
{
    return cm_kinds_by_kind(f->kinds, "v1", "Namespace");
}

/* Checks the namespace of a namespaced write: it exists and is not terminating. */
static int check_namespace(struct call *c, const char *name)
{
    if (!c->kind->namespaced)
        return 1;
    cm_obj *ns = cm_store_get(c->f->store, ns_kind(c->f), "", c->ns);
    if (!ns) {
        cm_reply_status(c, cm_status_not_found(ns_kind(c->f), c->ns));
        return 0;
    }
    if (ns_terminating(ns->json)) {
        cm_reply_status(c, terminating_ns_status(c->kind, name, c->ns));
        return 0;
    }
    return 1;
}

cm_obj *cm_fake_insert(struct call *c, cJSON *obj)
{
    const char *name = cm_meta_str(obj, "name");
    if (cm_store_get(c->f->store, c->kind, c->ns, name)) {
        cm_reply_status(c, cm_status_already_exists(c->kind, name));
        cJSON_Delete(obj);
        return NULL;
    }
    stamp_new(c->f, c->kind, obj, c->req->aside);
    cm_obj *o = cm_store_insert(c->f->store, c->kind, obj);
    if (!o) {
        cm_reply_status(c, cm_status_new(500, "InternalError", "out of memory"));
        cJSON_Delete(obj);
    }
    return o;
}

/* ---- PDB status (the disruption controller's answer at write time) ---- */

static int pod_ready(const cJSON *pod)
{
    const cJSON *cond;
    cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "status"), "conditions"))
        if (is(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "type")), "Ready"))
            return is(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "status")), "True");
    return 0;
}

/* An intOrString against a total ("50%" rounds up, as the controller does). */
static int64_t scaled(const cJSON *v, int64_t total)
{
    if (cJSON_IsString(v)) {
        int64_t pct = strtoll(v->valuestring, NULL, 10);
        return (pct * total + 99) / 100;
    }
    int64_t n = 0;
    cm_json_int64(v, &n);
    return n;
}

/* Recomputes a PDB's status from the pods it selects now (observedGeneration = generation). */
static void pdb_refresh(cm_fake *f, cJSON *pdb)
{
    const cm_kind *pods = cm_kinds_by_kind(f->kinds, "v1", "Pod");
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(pdb, "spec");
    char err[256];
    cm_selector *sel = cm_label_selector_from_json(cJSON_GetObjectItemCaseSensitive(spec, "selector"), err, sizeof err);
    cm_obj *const *items;
    size_t n = cm_store_list(f->store, pods, cm_meta_str(pdb, "namespace"), &items);
    int64_t expected = 0, healthy = 0;
    for (size_t i = 0; sel && !cm_selector_empty(sel) && i < n; i++) {
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(items[i]->json, "metadata"), "labels");
        if (!cm_selector_match_labels(sel, labels) || cm_meta_str(items[i]->json, "deletionTimestamp"))
            continue;
        expected++;
        healthy += pod_ready(items[i]->json);
    }
    cm_selector_free(sel);
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(spec, "minAvailable");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(spec, "maxUnavailable");
    int64_t desired = min ? scaled(min, expected) : max ? expected - scaled(max, expected) : expected;
    if (desired < 0)
        desired = 0;
    if (f->filter->pdb_blocked(f->filter_ud, cm_meta_str(pdb, "namespace"), cm_meta_str(pdb, "name")))
        desired = expected; /* an injected fault: as if maxUnavailable were 0 */
    cJSON_DeleteItemFromObjectCaseSensitive(pdb, "status");
    cJSON *st = cJSON_AddObjectToObject(pdb, "status");
    set_int(st, "observedGeneration", get_int(cJSON_GetObjectItemCaseSensitive(pdb, "metadata"), "generation", 1));
    set_int(st, "disruptionsAllowed", healthy - desired > 0 ? healthy - desired : 0);
    set_int(st, "currentHealthy", healthy);
    set_int(st, "desiredHealthy", desired);
    set_int(st, "expectedPods", expected);
}

static int is_pdb(const cm_kind *k)
{
    return is(k->group, "policy") && is(k->kind, "PodDisruptionBudget");
}

/* The field manager of a write: ?fieldManager, else the client's User-Agent up to its first '/'. */
static void manager_of(const struct call *c, char *buf, size_t size)
{
    const char *fm = cm_call_query(c, "fieldManager");
    const char *ua = c->req->user_agent;
    if (fm && *fm)
        snprintf(buf, size, "%s", fm);
    else if (ua && *ua)
        snprintf(buf, size, "%.*s", (int)strcspn(ua, "/"), ua);
    else
        snprintf(buf, size, "unknown");
}

/* Records the writer of obj's fields (old: the object before, NULL for a create). */
static void record_update(struct call *c, const cJSON *old, cJSON *obj)
{
    char manager[256], now[40];
    manager_of(c, manager, sizeof manager);
    cm_fake_now(c->f, now, sizeof now);
    cm_ssa_update(c->kind, old, obj, manager, now);
}

/* ---- create ---- */

static void review(struct call *c, cJSON *obj)
{
    cm_rbac_review(c, obj); /* without --authorize: everything it serves */
    cm_reply(c, 201, obj);
}

/* Prepares a create body: type, name (or generateName), namespace, validation. */
static int prepare_create(struct call *c, cJSON *obj)
{
    if (!check_type(c, obj))
        return 0;
    cJSON *meta = cm_meta(obj);
    const char *gen = cm_meta_str(obj, "generateName");
    if (!cm_meta_str(obj, "name") && gen && *gen) {
        char name[300];
        generate_name(c->f, gen, name, sizeof name);
        cm_set_str(meta, "name", name);
    }
    if (c->kind->namespaced) {
        const char *ns = cm_meta_str(obj, "namespace");
        if (ns && c->ns && !is(ns, c->ns)) {
            cm_reply_status(c, cm_status_bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            return 0;
        }
        if (!c->ns) {
            cm_reply_status(c, cm_status_not_found(ns_kind(c->f), ""));
            return 0;
        }
        cm_set_str(meta, "namespace", c->ns);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
    }
    cJSON *invalid = cm_fake_validate_write(c->kind, obj);
    if (invalid) {
        cm_reply_status(c, invalid);
        return 0;
    }
    return check_namespace(c, cm_meta_str(obj, "name"));
}

/* What a new object needs once stored: a CRD's kinds served, a PDB's status. */
static void after_create(struct call *c, cm_obj *o)
{
    if (is(c->kind->kind, "CustomResourceDefinition")) {
        char err[256];
        cm_fake_crd_serve(c->f, o->json, err, sizeof err);
    }
    if (is_pdb(c->kind) && !cJSON_GetObjectItemCaseSensitive(o->json, "status")) {
        cJSON *next = cJSON_Duplicate(o->json, 1);
        pdb_refresh(c->f, next);
        cm_store_replace(c->f->store, o, next);
    }
}

/* Creates obj (consumed): 201 with the stored object, or the dry-run answer.
 * applied: obj came from an apply and carries its managedFields already. */
static void create_object(struct call *c, cJSON *obj, int applied)
{
    if (!prepare_create(c, obj)) {
        cJSON_Delete(obj);
        return;
    }
    if (!applied)
        record_update(c, NULL, obj);
    if (cm_call_dry_run(c)) {
        const char *name = cm_meta_str(obj, "name");
        if (cm_store_get(c->f->store, c->kind, c->ns, name)) {
            cm_reply_status(c, cm_status_already_exists(c->kind, name));
            cJSON_Delete(obj);
            return;
        }
        stamp_new(c->f, c->kind, obj, c->req->aside);
        cm_reply(c, 201, obj);
        return;
    }
    cm_obj *o = cm_fake_insert(c, obj);
    if (!o)
        return;
    after_create(c, o);
    cm_reply_copy(c, 201, o->json);
}

/* Whether the body of the request is JSON or YAML, which strict decoding reads (not protobuf). */
static int textual_body(const struct call *c)
{
    return !cm_proto_media(c->req->content_type);
}

void cm_api_create(struct call *c)
{
    cJSON *obj = read_body(c);
    if (!obj)
        return;
    if (textual_body(c) && !cm_call_fields(c, obj, NULL, 0)) {
        cJSON_Delete(obj);
        return;
    }
    if (c->kind->flags & CM_KIND_CREATE_ONLY) {
        if (check_type(c, obj))
            review(c, obj);
        else
            cJSON_Delete(obj);
        return;
    }
    create_object(c, obj, 0);
}

/* ---- update ---- */

/* A member taken out of an object for a comparison, and the member it followed. */
struct aside {
    cJSON *parent, *item, *prev;
};

/* Detaches the first member named key of obj (as cJSON_DeleteItemFromObjectCaseSensitive
 * would delete it), remembering its place. */
static void set_aside(struct aside *a, cJSON *obj, const char *key)
{
    *a = (struct aside){obj, NULL, NULL};
    for (cJSON *c = obj ? obj->child : NULL; c; a->prev = c, c = c->next) {
        if (c->string && strcmp(c->string, key) == 0) {
            a->item = cJSON_DetachItemViaPointer(obj, c);
            return;
        }
    }
}

/* Links a->item back after a->prev (at the head when NULL), keeping cJSON's list shape:
 * the head's prev is the tail, the tail's next is NULL. (cJSON_InsertItemInArray
 * refuses an item that has a name.) */
static void relink(const struct aside *a)
{
    cJSON *p = a->parent, *it = a->item, *prev = a->prev;
    if (!prev) {
        it->next = p->child;
        it->prev = p->child ? p->child->prev : it;
        if (p->child)
            p->child->prev = it;
        p->child = it;
        return;
    }
    it->prev = prev;
    it->next = prev->next;
    if (prev->next)
        prev->next->prev = it;
    else
        p->child->prev = it;
    prev->next = it;
}

/* Puts members set aside back where they were, the last set aside first. */
static void put_back(struct aside *a, int n)
{
    while (n-- > 0)
        if (a[n].item)
            relink(&a[n]);
}

/*
 * Whether a and b are equal once the first member named by each path is left
 * out (paths are "key" or "metadata.key"). The members are detached for the
 * comparison and put back in place, so neither tree is copied: these run on
 * every write, and a pod or DaemonSet is thousands of items.
 */
static int equal_without(const cJSON *a, const cJSON *b, const char *const *keys, int n)
{
    struct aside aside[8];
    int k = 0;
    for (int i = 0; i < n && k + 2 <= 8; i++) {
        const char *dot = strchr(keys[i], '.');
        for (int side = 0; side < 2; side++) {
            cJSON *root = (cJSON *)(side ? b : a); /* put back before returning */
            cJSON *obj = dot ? cJSON_GetObjectItemCaseSensitive(root, "metadata") : root;
            set_aside(&aside[k++], obj, dot ? dot + 1 : keys[i]);
        }
    }
    int same = cm_json_equal(a, b);
    put_back(aside, k);
    return same;
}

/* Whether an update changes nothing but the resourceVersion and managedFields (both
 * objects have a metadata object: the store's always do, and update_object makes next's). */
static int same_object(const cJSON *a, const cJSON *b)
{
    static const char *const SKIP[] = {"metadata.resourceVersion", "metadata.managedFields"};
    return equal_without(a, b, SKIP, 2);
}

/* Everything but metadata and status: what a generation counts. */
static int spec_changed(const cJSON *a, const cJSON *b)
{
    static const char *const SKIP[] = {"metadata", "status"};
    return !equal_without(a, b, SKIP, 2);
}

/* Moves member key of src into dst (replacing dst's, or removing it when src has none). */
static void take_member(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    cJSON_DeleteItemFromObjectCaseSensitive(dst, key);
    if (v)
        cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}

/* Copies the fields clients cannot change from the stored object into next. */
static void keep_server_fields(const cm_obj *o, cJSON *next, int status_only, int has_status)
{
    cJSON *meta = cm_meta(next);
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(o->json, "metadata");
    static const char *const KEEP[] = {"uid", "creationTimestamp", "deletionTimestamp",
                                       "deletionGracePeriodSeconds", "generation", "namespace", "name"};
    for (size_t i = 0; i < sizeof KEEP / sizeof KEEP[0]; i++)
        take_member(meta, old, KEEP[i]);
    if (status_only) { /* /status: everything but the status comes from the stored object */
        cJSON *status = cJSON_DetachItemFromObjectCaseSensitive(next, "status");
        for (const cJSON *it = o->json->child; it; it = it->next) {
            if (is(it->string, "status") || is(it->string, "metadata"))
                continue;
            take_member(next, o->json, it->string);
        }
        if (status)
            cJSON_AddItemToObject(next, "status", status);
        const char *labels[] = {"labels", "annotations", "finalizers", "ownerReferences"};
        for (int i = 0; i < 4; i++)
            take_member(meta, old, labels[i]);
    } else if (has_status) {
        take_member(next, o->json, "status");
    }
}

/* Removes an object whose deletion was waiting on finalizers once they are gone. */
static int finalized(const cJSON *obj)
{
    return cm_meta_str(obj, "deletionTimestamp") &&
           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "finalizers")) == 0;
}

/* Whether a terminating pod's grace period is 0 or over: only then does an update that leaves it
 * without finalizers end it (ShouldDeleteDuringUpdate; past the grace its kubelet would end it).
 * A status update during the grace period leaves it terminating. */
static int grace_over(const cm_fake *f, const cJSON *pod)
{
    long long ends;
    const char *ts = cm_meta_str(pod, "deletionTimestamp");
    if (get_int(cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "deletionGracePeriodSeconds", 0) == 0)
        return 1;
    return ts && cm_parse_rfc3339(ts, &ends) == 0 && ends <= cm_loop_wall(f->loop);
}

/* Writes next (consumed) over o, after the checks of an update; replies.
 * applied: next came from an apply and carries its managedFields already. */
static void update_object(struct call *c, cm_obj *o, cJSON *next, int code, int applied)
{
    const char *rv = cm_meta_str(next, "resourceVersion");
    char have[24];
    snprintf(have, sizeof have, "%lld", (long long)o->rv);
    if (rv && *rv && !is(rv, have)) {
        cm_reply_status(c, cm_status_conflict(c->kind, c->name,
            "the object has been modified; please apply your changes to the latest version and try again"));
        cJSON_Delete(next);
        return;
    }
    int status_only = is(c->sub, "status");
    keep_server_fields(o, next, status_only, (c->kind->flags & CM_KIND_STATUS) != 0);
    if (!status_only)
        cm_fake_apps_defaults(c->kind, next);
    cm_set_str(cm_meta(next), "resourceVersion", have);
    cJSON *invalid = cm_fake_validate_write(c->kind, next);
    if (invalid) {
        cm_reply_status(c, invalid);
        cJSON_Delete(next);
        return;
    }
    if (cm_kind_has_generation(c->kind) && spec_changed(o->json, next))
        set_int(cm_meta(next), "generation", get_int(cm_meta(next), "generation", 1) + 1);
    if (same_object(o->json, next)) { /* nothing changes: nothing is written */
        cJSON_Delete(next);
        cm_reply_copy(c, code, o->json);
        return;
    }
    if (!applied)
        record_update(c, o->json, next);
    if (cm_call_dry_run(c)) {
        cm_reply(c, code, next);
        return;
    }
    if (is_pdb(c->kind) && !status_only && spec_changed(o->json, next))
        pdb_refresh(c->f, next);
    cm_store_replace(c->f->store, o, next);
    if (is(c->kind->kind, "CustomResourceDefinition")) {
        char err[256];
        cm_fake_crd_serve(c->f, o->json, err, sizeof err);
    }
    if (finalized(o->json) && !is_pod(o->kind)) {
        cm_reply(c, code, finish_delete(c->f, o));
        return;
    }
    if (finalized(o->json) &&
        (c->f->sim_kubelet ? get_int(cm_meta(o->json), "deletionGracePeriodSeconds", 0) == 0
                           : grace_over(c->f, o->json))) {
        pending_add(c->f, o, 0); /* a pod whose last finalizer went: gone right after (a simulated
                                  * kubelet still ends a pod in its grace period first) */
    }
    cm_reply_copy(c, code, o->json); /* with its new resourceVersion */
}

void cm_api_update(struct call *c)
{
    cJSON *next = read_body(c);
    if (!next || !check_type(c, next) || (textual_body(c) && !cm_call_fields(c, next, NULL, 0))) {
        cJSON_Delete(next);
        return;
    }
    const char *name = cm_meta_str(next, "name");
    if (!name || !is(name, c->name)) {
        char msg[600];
        snprintf(msg, sizeof msg, "the name of the object (%s) does not match the name on the URL (%s)",
                 name ? name : "", c->name);
        cm_reply_status(c, cm_status_bad_request(msg));
        cJSON_Delete(next);
        return;
    }
    cm_obj *o = cm_store_get(c->f->store, c->kind, c->ns, c->name);
    if (!o) {
        cm_reply_status(c, cm_status_not_found(c->kind, c->name));
        cJSON_Delete(next);
        return;
    }
    update_object(c, o, next, 200, 0);
}

/* ---- patch ---- */

enum patch_type { P_JSON, P_MERGE, P_STRATEGIC, P_APPLY, P_UNKNOWN };

static enum patch_type patch_type(const char *ct)
{
    if (!ct)
        return P_UNKNOWN;
    size_t n = strcspn(ct, ";");
    static const struct { const char *t; enum patch_type p; } T[] = {
        {"application/json-patch+json", P_JSON}, {"application/merge-patch+json", P_MERGE},
        {"application/strategic-merge-patch+json", P_STRATEGIC}, {"application/apply-patch+yaml", P_APPLY}};
    for (size_t i = 0; i < 4; i++)
        if (strlen(T[i].t) == n && strncmp(ct, T[i].t, n) == 0)
            return T[i].p;
    return P_UNKNOWN;
}

static void unsupported_media(struct call *c)
{
    const char *types = (c->kind->flags & CM_KIND_BUILTIN)
        ? "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
        : "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
    char msg[400];
    snprintf(msg, sizeof msg, "the body of the request was in an unknown format - accepted media types include: %s", types);
    cm_reply_status(c, cm_status_new(415, "UnsupportedMediaType", msg));
}

/* The 422 the server gives a JSON patch that does not apply: a generic
 * response whose details are empty (the reason, why, is not passed on). */
static cJSON *patch_failed(const char *why)
{
    (void)why;
    cJSON *st = cm_status_new(422, "Invalid", "the server rejected our request due to an error in our request");
    cm_status_details(st, NULL, NULL, NULL);
    return st;
}

/* Server-side apply: create when absent, else merge the applied configuration. */
static void apply(struct call *c, cm_obj *o, cJSON *patch)
{
    const char *fm = cm_call_query(c, "fieldManager");
    if (!fm || !*fm) {
        cJSON *st = cm_status_new(422, "Invalid",
                                  "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
        cm_status_details(st, NULL, "meta.k8s.io", "PatchOptions");
        cm_status_cause(st, "FieldValueRequired", "Required value: is required for apply patch", "fieldManager");
        cm_reply_status(c, st);
        cJSON_Delete(patch);
        return;
    }
    if (!cJSON_IsObject(patch) || !check_type(c, patch) || !cm_call_apply_fields(c, patch)) {
        if (!c->resp->status) /* not answered yet */
            cm_reply_status(c, cm_status_bad_request("an apply patch must be an object"));
        cJSON_Delete(patch);
        return;
    }
    char now[40];
    cm_fake_now(c->f, now, sizeof now);
    const char *force = cm_call_query(c, "force");
    cJSON *conflict = NULL;
    cJSON *next = cm_ssa_apply(c->kind, o ? o->json : NULL, patch, fm,
                               force && !strcmp(force, "true"), now, &conflict);
    cJSON_Delete(patch);
    if (!next)
        cm_reply_status(c, conflict);
    else if (!o)
        create_object(c, next, 1);
    else
        update_object(c, o, next, 200, 1);
}

/* Applies the body as a patch of type t to o; NULL after replying. */
static cJSON *patched(struct call *c, cm_obj *o, const cJSON *patch, enum patch_type t)
{
    char err[512];
    int bad = 0;
    cJSON *next = NULL;
    if (t == P_MERGE) {
        next = cm_merge_patch(o->json, patch);
    } else if (t == P_JSON) {
        next = cm_json_patch(o->json, patch, err, sizeof err, &bad);
        if (!next)
            cm_reply_status(c, bad ? cm_status_bad_request(err) : patch_failed(err));
        return next;
    } else {
        next = cm_strategic_patch(c->kind, o->json, patch, err, sizeof err);
    }
    if (!next)
        cm_reply_status(c, cm_status_bad_request(err));
    return next;
}

void cm_api_patch(struct call *c)
{
    enum patch_type t = patch_type(c->req->content_type);
    if (t == P_UNKNOWN || (t == P_STRATEGIC && !(c->kind->flags & CM_KIND_BUILTIN))) {
        unsupported_media(c);
        return;
    }
    cJSON *patch = read_body(c);
    if (!patch)
        return;
    cm_obj *o = cm_store_get(c->f->store, c->kind, c->ns, c->name);
    if (t == P_APPLY) {
        apply(c, o, patch);
        return;
    }
    if (!o) {
        cm_reply_status(c, cm_status_not_found(c->kind, c->name));
        cJSON_Delete(patch);
        return;
    }
    cJSON *next = patched(c, o, patch, t);
    int fields_ok = next && cJSON_IsObject(next) && cm_call_fields(c, next, patch, t == P_STRATEGIC);
    cJSON_Delete(patch);
    if (fields_ok && check_type(c, next))
        update_object(c, o, next, 200, 0);
    else if (next) {
        if (!c->resp->status) /* not answered yet */
            cm_reply_status(c, cm_status_bad_request("the patch does not leave an object"));
        cJSON_Delete(next);
    }
}

/* ---- delete ---- */

static void pending_fire(cm_loop *loop, void *ud);

static void pending_unlink(cm_fake *f, struct pending *p)
{
    for (struct pending **pp = &f->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

void cm_fake_pending_free(cm_fake *f)
{
    while (f->pending) {
        struct pending *p = f->pending;
        f->pending = p->next;
        cm_loop_timer_cancel(f->loop, p->timer);
        free(p);
    }
}

/* Arms the end of a pod's grace period: then the pod goes, unless a finalizer holds it. */
static void pending_add(cm_fake *f, const cm_obj *o, int64_t grace)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->f = f;
    p->kind = o->kind;
    snprintf(p->ns, sizeof p->ns, "%s", o->ns);
    snprintf(p->name, sizeof p->name, "%s", o->name);
    const char *uid = cm_meta_str(o->json, "uid");
    snprintf(p->uid, sizeof p->uid, "%s", uid ? uid : "");
    p->timer = cm_loop_timer(f->loop, cm_loop_now(f->loop) + grace * CM_NS_PER_S, pending_fire, p);
    if (!p->timer) {
        free(p);
        return;
    }
    p->next = f->pending;
    f->pending = p;
}

static void pending_fire(cm_loop *loop, void *ud)
{
    (void)loop;
    struct pending *p = ud;
    cm_fake *f = p->f;
    pending_unlink(f, p);
    cm_obj *o = cm_store_get(f->store, p->kind, p->ns, p->name);
    const char *uid = o ? cm_meta_str(o->json, "uid") : NULL;
    if (o && uid && is(uid, p->uid) && finalized(o->json))
        cJSON_Delete(finish_delete(f, o));
    free(p);
}

/* The grace period a pod's deletion gets, or 0 when it goes at once. */
static int64_t pod_grace(const cm_obj *o, int64_t requested)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(o->json, "spec");
    const char *phase = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o->json, "status"), "phase"));
    const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "nodeName"));
    if (!node || !*node || is(phase, "Succeeded") || is(phase, "Failed") || is(phase, "Pending"))
        return 0; /* no kubelet has it, or it has finished: nothing to wait for */
    if (requested >= 0)
        return requested;
    return get_int(spec, "terminationGracePeriodSeconds", 30);
}

static int is_pod(const cm_kind *k)
{
    return !k->group[0] && is(k->kind, "Pod");
}

/* Deletes everything in a namespace being deleted (the namespace controller's work). */
static void empty_namespace(cm_fake *f, const char *ns)
{
    for (size_t i = 0; i < cm_kinds_count(f->kinds); i++) {
        const cm_kind *k = cm_kinds_at(f->kinds, i);
        cm_obj *const *items;
        size_t n = k->namespaced ? cm_store_list(f->store, k, ns, &items) : 0;
        cm_obj **copy = n ? malloc(n * sizeof *copy) : NULL;
        if (!copy)
            continue;
        memcpy(copy, items, n * sizeof *copy);
        for (size_t j = 0; j < n; j++)
            cJSON_Delete(cm_fake_remove(f, copy[j], 0, 0));
        free(copy);
    }
}

/* Marks o as being deleted: deletionTimestamp (+ grace), and stores that. */
static void mark_deleting(cm_fake *f, cm_obj *o, int64_t grace)
{
    cJSON *next = cJSON_Duplicate(o->json, 1);
    cJSON *meta = cm_meta(next);
    if (!cm_meta_str(next, "deletionTimestamp")) {
        char when[40];
        cm_format_time(cm_loop_wall(f->loop) / CM_NS_PER_S + grace, when, sizeof when);
        cm_set_str(meta, "deletionTimestamp", when);
        set_int(meta, "deletionGracePeriodSeconds", grace);
    }
    if (!o->kind->group[0] && is(o->kind->kind, "Namespace")) {
        cJSON *status = cJSON_GetObjectItemCaseSensitive(next, "status");
        if (!status)
            status = cJSON_AddObjectToObject(next, "status");
        cm_set_str(status, "phase", "Terminating");
    }
    cm_store_replace(f->store, o, next);
}

/* Removes o from the store; the reply is the last state (pods) or a Success Status. */
static cJSON *finish_delete(cm_fake *f, cm_obj *o)
{
    cJSON *last = cJSON_Duplicate(o->json, 1);
    const cm_kind *k = o->kind;
    cm_store_delete(f->store, o);
    if (is_pod(k)) /* pods answer with the object, as their registry says */
        return last;
    cJSON *st = cm_status_new(200, NULL, NULL);
    cm_status_details(st, cm_meta_str(last, "name"), k->group, k->plural);
    const char *uid = cm_meta_str(last, "uid");
    if (uid)
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(st, "details"), "uid", uid);
    cJSON_Delete(last);
    cJSON_DeleteItemFromObjectCaseSensitive(st, "code");
    return st;
}

cJSON *cm_fake_remove(cm_fake *f, cm_obj *o, int64_t grace, int dry_run)
{
    int has_finalizers = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o->json, "metadata"), "finalizers")) > 0;
    int is_ns = !o->kind->group[0] && is(o->kind->kind, "Namespace");
    int deleting = cm_meta_str(o->json, "deletionTimestamp") != NULL;
    int64_t g = is_pod(o->kind) ? pod_grace(o, grace) : 0;
    if (dry_run)
        return cJSON_Duplicate(o->json, 1);
    if (is_ns && !deleting) {
        mark_deleting(f, o, 0);
        empty_namespace(f, o->name);
        if (!has_finalizers)
            pending_add(f, o, 0); /* the namespace controller finishes right after */
        return cJSON_Duplicate(o->json, 1);
    }
    if (has_finalizers || (g > 0 && deleting)) {
        if (!deleting)
            mark_deleting(f, o, g);
        return cJSON_Duplicate(o->json, 1);
    }
    if (g > 0) { /* graceful: terminating until the grace period ends */
        mark_deleting(f, o, g);
        if (!f->sim_kubelet && !f->filter->pod_stuck(f->filter_ud, o->json)) /* with a simulation, its kubelet ends it */
            pending_add(f, o, g);
        return cJSON_Duplicate(o->json, 1);
    }
    return finish_delete(f, o);
}

/* DeleteOptions from the body and the query. */
struct delopts {
    int64_t grace;      /* -1: the object's default */
    const char *uid, *rv;
    int dry_run;
    const char *policy; /* propagationPolicy, or NULL */
    int orphan;         /* orphanDependents: -1 unset, else its value */
    cJSON *body;
};

static int read_delopts(struct call *c, struct delopts *d)
{
    memset(d, 0, sizeof *d);
    d->grace = -1;
    if (c->req->body_len || c->json) {
        d->body = read_body(c);
        if (!d->body)
            return 0;
    }
    const cJSON *opts = d->body;
    if (cJSON_GetObjectItemCaseSensitive(d->body, "deleteOptions")) /* an Eviction */
        opts = cJSON_GetObjectItemCaseSensitive(d->body, "deleteOptions");
    d->grace = get_int(opts, "gracePeriodSeconds", -1);
    const char *q = cm_call_query(c, "gracePeriodSeconds");
    if (q && *q)
        d->grace = strtoll(q, NULL, 10);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(opts, "preconditions");
    d->uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pre, "uid"));
    d->rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pre, "resourceVersion"));
    d->dry_run = cm_call_dry_run(c);
    /* propagation comes from the body when there is one, else from the query (the handler decodes one) */
    const cJSON *od = cJSON_GetObjectItemCaseSensitive(opts, "orphanDependents");
    d->policy = d->body ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(opts, "propagationPolicy"))
                        : cm_call_query(c, "propagationPolicy");
    d->orphan = d->body ? (cJSON_IsBool(od) ? cJSON_IsTrue(od) : -1)
                        : (cm_call_query(c, "orphanDependents") ? is(cm_call_query(c, "orphanDependents"), "true") : -1);
    const cJSON *dr;
    cJSON_ArrayForEach(dr, cJSON_GetObjectItemCaseSensitive(opts, "dryRun"))
        d->dry_run |= cJSON_IsString(dr) && is(dr->valuestring, "All");
    return 1;
}

/* Checks uid and resourceVersion preconditions; 0 after a 409 reply. */
static int check_preconditions(struct call *c, const cm_obj *o, const struct delopts *d)
{
    const char *uid = cm_meta_str(o->json, "uid");
    char rv[24], why[400];
    snprintf(rv, sizeof rv, "%lld", (long long)o->rv);
    if (d->uid && !is(d->uid, uid ? uid : "")) {
        snprintf(why, sizeof why, "Precondition failed: UID in precondition: %s, UID in object meta: %s", d->uid, uid ? uid : "");
        cm_reply_status(c, cm_status_conflict(c->kind, o->name, why));
        return 0;
    }
    if (d->rv && !is(d->rv, rv)) {
        snprintf(why, sizeof why, "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", d->rv, rv);
        cm_reply_status(c, cm_status_conflict(c->kind, o->name, why));
        return 0;
    }
    return 1;
}

/* ---- the garbage collector's finalizers (the dependents are the simulation's, sim_gc.c) ---- */

/* ValidateDeleteOptions: 1, or 0 after a 422 reply. */
static int check_propagation(struct call *c, const struct delopts *d)
{
    static const cm_kind DELOPTS = {.group = "meta.k8s.io", .version = "v1", .kind = "DeleteOptions"};
    cJSON *st = NULL;
    char detail[300];
    if (d->policy && d->orphan >= 0) {
        st = cm_status_invalid(&DELOPTS, "");
        snprintf(detail, sizeof detail, "Invalid value: \"%s\": orphanDependents and deletionPropagation cannot be both set", d->policy);
        cm_status_invalid_cause(st, "FieldValueInvalid", "propagationPolicy", detail);
    }
    if (d->policy && !is(d->policy, "Foreground") && !is(d->policy, "Background") && !is(d->policy, "Orphan")) {
        if (!st)
            st = cm_status_invalid(&DELOPTS, "");
        snprintf(detail, sizeof detail, "Unsupported value: \"%.200s\": supported values: \"Foreground\", \"Background\", \"Orphan\"", d->policy);
        cm_status_invalid_cause(st, "FieldValueNotSupported", "propagationPolicy", detail);
    }
    if (!st)
        return 1;
    cm_status_invalid_done(st, &DELOPTS, "");
    cm_reply_status(c, st);
    return 0;
}

static int has_finalizer(const cJSON *obj, const char *name)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "finalizers"))
        if (cJSON_IsString(f) && is(f->valuestring, name))
            return 1;
    return 0;
}

/* Sets or clears one finalizer in meta; returns whether it changed. */
static int set_finalizer(cJSON *meta, const char *name, int want)
{
    cJSON *fins = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
    int i = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, fins) {
        if (cJSON_IsString(f) && is(f->valuestring, name)) {
            if (!want)
                cJSON_DeleteItemFromArray(fins, i);
            if (!want && cJSON_GetArraySize(fins) == 0)
                cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
            return !want;
        }
        i++;
    }
    if (!want)
        return 0;
    if (!cJSON_IsArray(fins)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
        fins = cJSON_AddArrayToObject(meta, "finalizers");
    }
    cJSON_AddItemToArray(fins, cJSON_CreateString(name));
    return 1;
}

/*
 * The finalizers a deletion puts on o for the garbage collector, in the same write as its
 * deletionTimestamp: orphan (dependents keep running, without the ownerReference) or
 * foregroundDeletion (dependents go first). With neither asked, the kind's default: batch/v1
 * Jobs orphan, everything else is deleted in the background.
 */
static void gc_finalizers(cm_fake *f, cm_obj *o, const struct delopts *d)
{
    if (!o->kind->group[0] && is(o->kind->kind, "Namespace"))
        return; /* the namespace controller's own deletion */
    int orphan_now = has_finalizer(o->json, "orphan"), fg_now = has_finalizer(o->json, "foregroundDeletion");
    int orphan = d->policy ? is(d->policy, "Orphan")
               : d->orphan >= 0 ? d->orphan
               : orphan_now ? 1
               : is(o->kind->group, "batch") && is(o->kind->kind, "Job");
    int fg = d->orphan >= 0 ? 0 : d->policy ? is(d->policy, "Foreground") : fg_now;
    if (orphan == orphan_now && fg == fg_now)
        return;
    cJSON *next = cJSON_Duplicate(o->json, 1);
    cJSON *meta = cm_meta(next);
    set_finalizer(meta, "orphan", orphan);
    set_finalizer(meta, "foregroundDeletion", fg);
    if (!cm_meta_str(next, "deletionTimestamp") && (orphan || fg)) {
        int64_t grace = is_pod(o->kind) ? pod_grace(o, d->grace) : 0;
        char when[40];
        cm_format_time(cm_loop_wall(f->loop) / CM_NS_PER_S + grace, when, sizeof when);
        cm_set_str(meta, "deletionTimestamp", when);
        set_int(meta, "deletionGracePeriodSeconds", grace);
    }
    cm_store_replace(f->store, o, next);
}

void cm_api_delete(struct call *c)
{
    struct delopts d;
    if (!read_delopts(c, &d))
        return;
    cm_obj *o = cm_store_get(c->f->store, c->kind, c->ns, c->name);
    if (!check_propagation(c, &d))
        ;
    else if (!o)
        cm_reply_status(c, cm_status_not_found(c->kind, c->name));
    else if (check_preconditions(c, o, &d)) {
        if (!d.dry_run)
            gc_finalizers(c->f, o, &d);
        cm_reply(c, 200, cm_fake_remove(c->f, o, d.grace, d.dry_run));
    }
    cJSON_Delete(d.body);
}

void cm_api_delete_collection(struct call *c)
{
    struct delopts d;
    if (!read_delopts(c, &d))
        return;
    if (!check_propagation(c, &d)) {
        cJSON_Delete(d.body);
        return;
    }
    char err[1024];
    cm_selector *ls = cm_label_selector_parse(cm_call_query(c, "labelSelector"), err, sizeof err);
    cm_selector *fs = ls ? cm_field_selector_parse(cm_call_query(c, "fieldSelector"), c->kind, err, sizeof err) : NULL;
    if (!ls || !fs) {
        cm_reply_status(c, cm_status_bad_request(err));
    } else {
        cm_obj *const *items;
        size_t n = cm_store_list(c->f->store, c->kind, c->ns, &items);
        cm_obj **copy = malloc((n ? n : 1) * sizeof *copy);
        char kind[160], av[160];
        snprintf(kind, sizeof kind, "%sList", c->kind->kind);
        cm_kind_api_version(c->kind, av, sizeof av);
        cJSON *list = cJSON_CreateObject();
        cJSON_AddStringToObject(list, "kind", kind);
        cJSON_AddStringToObject(list, "apiVersion", av);
        cJSON_AddObjectToObject(list, "metadata");
        cJSON *arr = cJSON_AddArrayToObject(list, "items");
        if (copy)
            memcpy(copy, items, n * sizeof *copy);
        for (size_t i = 0; copy && i < n; i++) {
            const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(copy[i]->json, "metadata"), "labels");
            if (!cm_selector_match_labels(ls, labels) || !cm_selector_match_fields(fs, copy[i]->json))
                continue;
            cJSON *gone = cJSON_Duplicate(copy[i]->json, 1);
            if (!d.dry_run)
                gc_finalizers(c->f, copy[i], &d);
            cJSON_Delete(cm_fake_remove(c->f, copy[i], d.grace, d.dry_run));
            cJSON_AddItemToArray(arr, gone);
        }
        free(copy);
        char rv[24];
        snprintf(rv, sizeof rv, "%lld", (long long)cm_store_rv(c->f->store));
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(list, "metadata"), "resourceVersion", rv);
        cm_reply(c, 200, list);
    }
    cm_selector_free(ls);
    cm_selector_free(fs);
    cJSON_Delete(d.body);
}

/* ---- eviction (pkg/registry/core/pod/storage/eviction.go, as peers.md §1.6 reads it) ---- */

static cJSON *too_many(const char *message, const char *cause, int retry)
{
    cJSON *st = cm_status_new(429, "TooManyRequests", message);
    cm_status_cause(st, "DisruptionBudget", cause, NULL);
    if (retry > 0)
        cm_status_retry_after(st, retry);
    return st;
}

/* The PDBs in the pod's namespace whose non-empty selector matches its labels. */
static size_t matching_pdbs(cm_fake *f, const cm_obj *pod, cm_obj **out, size_t max)
{
    const cm_kind *pk = cm_kinds_by_kind(f->kinds, "policy/v1", "PodDisruptionBudget");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod->json, "metadata"), "labels");
    cm_obj *const *items;
    size_t n = cm_store_list(f->store, pk, pod->ns, &items), found = 0;
    if (cJSON_GetArraySize(labels) == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char err[256];
        cm_selector *sel = cm_label_selector_from_json(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(items[i]->json, "spec"), "selector"), err, sizeof err);
        if (sel && !cm_selector_empty(sel) && cm_selector_match_labels(sel, labels)) {
            if (found < max)
                out[found] = items[i];
            found++;
        }
        cm_selector_free(sel);
    }
    return found;
}

/* checkAndDecrement: NULL when the budget allows it (and then records the disruption). */
static cJSON *check_budget(cm_fake *f, cm_obj *pdb, const cm_obj *pod, int dry_run)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pdb->json, "metadata");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(pdb->json, "status");
    char why[512];
    if (get_int(st, "observedGeneration", 0) < get_int(meta, "generation", 1)) {
        snprintf(why, sizeof why, "The disruption budget %s is still being processed by the server.", pdb->name);
        return too_many("Cannot evict pod as it would violate the pod's disruption budget.", why, 10);
    }
    int blocked = f->filter->pdb_blocked(f->filter_ud, pdb->ns, pdb->name);
    int64_t allowed = blocked ? 0 : get_int(st, "disruptionsAllowed", 0);
    const cm_kind *pk = pdb->kind;
    if (allowed < 0)
        return cm_status_forbidden(pk, pdb->name, "pdb disruptions allowed is negative");
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "disruptedPods")) > 2000)
        return cm_status_forbidden(pk, pdb->name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller");
    if (allowed == 0) {
        if (blocked)
            f->filter->eviction_refused(f->filter_ud, pdb->ns, pdb->name, pod->name);
        int64_t healthy = get_int(st, "currentHealthy", 0), desired = get_int(st, "desiredHealthy", 0);
        snprintf(why, sizeof why, "The disruption budget %s needs %lld healthy pods and has %lld currently",
                 pdb->name, (long long)(blocked && desired < healthy ? healthy : desired), (long long)healthy);
        return too_many("Cannot evict pod as it would violate the pod's disruption budget.", why, 0);
    }
    if (dry_run)
        return NULL;
    cJSON *next = cJSON_Duplicate(pdb->json, 1);
    cJSON *nst = cJSON_GetObjectItemCaseSensitive(next, "status");
    set_int(nst, "disruptionsAllowed", allowed - 1);
    cJSON *dp = cJSON_GetObjectItemCaseSensitive(nst, "disruptedPods");
    if (!cJSON_IsObject(dp)) {
        cJSON_DeleteItemFromObjectCaseSensitive(nst, "disruptedPods");
        dp = cJSON_AddObjectToObject(nst, "disruptedPods");
    }
    char now[40];
    cm_fake_now(f, now, sizeof now);
    cm_set_str(dp, pod->name, now);
    cm_store_replace(f->store, pdb, next);
    return NULL;
}

/* Whether a pod may go without asking its budget (terminal, pending, already terminating). */
static int can_ignore_pdb(const cm_obj *pod)
{
    const char *phase = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(pod->json, "status"), "phase"));
    return is(phase, "Succeeded") || is(phase, "Failed") || is(phase, "Pending") ||
           cm_meta_str(pod->json, "deletionTimestamp");
}

/* The budget of a not-ready pod (unhealthyPodEvictionPolicy): 1 when it may go unchecked. */
static int unhealthy_may_go(const cm_obj *pod, const cm_obj *pdb)
{
    if (pod_ready(pod->json))
        return 0;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pdb->json, "spec");
    const char *policy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "unhealthyPodEvictionPolicy"));
    if (is(policy, "AlwaysAllow"))
        return 1;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(pdb->json, "status");
    return get_int(st, "currentHealthy", 0) >= get_int(st, "desiredHealthy", 0) &&
           get_int(st, "desiredHealthy", 0) > 0;
}

/* Checks the Eviction body against the URL; 0 after a 400 reply. */
static int check_eviction(struct call *c, const cJSON *ev)
{
    const char *name = cm_meta_str(ev, "name");
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "kind"));
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "apiVersion"));
    if (kind && (!is(kind, "Eviction") || !(is(av, "policy/v1") || is(av, "policy/v1beta1")))) {
        cm_reply_status(c, cm_status_bad_request("the body of the request is not an Eviction (policy/v1 or policy/v1beta1)"));
        return 0;
    }
    if (name && !is(name, c->name)) {
        cm_reply_status(c, cm_status_bad_request("name in URL does not match name in Eviction object"));
        return 0;
    }
    return 1;
}

/* The pod's DisruptionTarget condition, as the eviction writes it before the delete
 * (addConditionAndDeletePod; PodDisruptionConditions, on since 1.26): its watchers and a Job's
 * podFailurePolicy (onPodConditions) see why it went. */
static void disruption_target(cm_fake *f, cm_obj *pod)
{
    cJSON *next = cJSON_Duplicate(pod->json, 1);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(next, "status");
    if (!st)
        st = cJSON_AddObjectToObject(next, "status");
    cJSON *conds = cJSON_GetObjectItemCaseSensitive(st, "conditions");
    if (!cJSON_IsArray(conds)) {
        cJSON_DeleteItemFromObjectCaseSensitive(st, "conditions");
        conds = cJSON_AddArrayToObject(st, "conditions");
    }
    cJSON *cond = NULL, *e;
    cJSON_ArrayForEach(e, conds)
        if (is(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type")), "DisruptionTarget"))
            cond = e;
    if (cond && is(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "status")), "True")) {
        cJSON_Delete(next); /* already so: UpdatePodCondition changes nothing */
        return;
    }
    if (!cond) {
        cond = cJSON_CreateObject();
        cJSON_AddItemToArray(conds, cond);
    }
    char now[40];
    cm_fake_now(f, now, sizeof now);
    cm_set_str(cond, "type", "DisruptionTarget");
    cm_set_str(cond, "status", "True");
    cJSON_DeleteItemFromObjectCaseSensitive(cond, "lastProbeTime");
    cJSON_AddNullToObject(cond, "lastProbeTime");
    cm_set_str(cond, "lastTransitionTime", now);
    cm_set_str(cond, "reason", "EvictionByEvictionAPI");
    cm_set_str(cond, "message", "Eviction API: evicting");
    cm_store_replace(f->store, pod, next);
}

static void evicted(struct call *c, cm_obj *pod, const struct delopts *d)
{
    if (!d->dry_run)
        disruption_target(c->f, pod);
    cJSON_Delete(cm_fake_remove(c->f, pod, d->grace, d->dry_run));
    cm_reply(c, 201, cm_status_new(201, NULL, NULL));
}

void cm_api_evict(struct call *c)
{
    struct delopts d;
    if (!read_delopts(c, &d))
        return;
    cm_obj *pod = cm_store_get(c->f->store, c->kind, c->ns, c->name);
    cm_obj *ns = cm_store_get(c->f->store, ns_kind(c->f), "", c->ns);
    cm_obj *pdbs[2];
    cJSON *refusal = NULL;
    if (!check_eviction(c, d.body)) {
        cJSON_Delete(d.body);
        return;
    }
    if (!pod)
        refusal = cm_status_not_found(c->kind, c->name);
    else if (ns && ns_terminating(ns->json))
        refusal = terminating_ns_status(c->kind, c->name, c->ns);
    if (refusal || !check_preconditions(c, pod, &d)) {
        if (refusal)
            cm_reply_status(c, refusal);
        cJSON_Delete(d.body);
        return;
    }
    size_t n = can_ignore_pdb(pod) ? 0 : matching_pdbs(c->f, pod, pdbs, 2);
    if (n > 1) {
        cJSON *st = cm_status_new(500, NULL, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
        cm_reply_status(c, st);
    } else if (n == 1 && !unhealthy_may_go(pod, pdbs[0]) &&
               (refusal = check_budget(c->f, pdbs[0], pod, d.dry_run)) != NULL) {
        cm_reply_status(c, refusal);
    } else {
        evicted(c, pod, &d);
    }
    cJSON_Delete(d.body);
}
