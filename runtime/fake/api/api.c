/* api.c - the REST core of the fake cluster: routing, discovery, get, list, watch. */
#include "fakeint.h"

#include "json.h"
#include "map.h"
#include "rbac.h"
#include "status.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_DEFAULT_TIMEOUT_S 1800
#define BOOKMARK_EVERY_S 60

/* ---- the cluster ---- */

/* ---- the filter's points when no filter is set: the core answers as it is ---- */

static int pass_request(void *ud, const cm_fake_req *req, cm_fake_resp *resp)
{
    (void)ud, (void)req, (void)resp;
    return 0;
}

static int64_t no_watch_drop(void *ud, const char *resource)
{
    (void)ud, (void)resource;
    return -1;
}

static void no_watch_dropped(void *ud, const char *resource, const char *ns)
{
    (void)ud, (void)resource, (void)ns;
}

static int no_pdb_blocked(void *ud, const char *ns, const char *name)
{
    (void)ud, (void)ns, (void)name;
    return 0;
}

static void no_eviction_refused(void *ud, const char *ns, const char *pdb, const char *pod)
{
    (void)ud, (void)ns, (void)pdb, (void)pod;
}

static int no_pod_stuck(void *ud, const cJSON *pod)
{
    (void)ud, (void)pod;
    return 0;
}

static const cm_fake_filter NO_FILTER = {pass_request, no_watch_drop, no_watch_dropped, no_pdb_blocked,
                                         no_eviction_refused, no_pod_stuck};

void cm_fake_set_filter(cm_fake *f, const cm_fake_filter *filter, void *ud)
{
    f->filter = filter ? filter : &NO_FILTER;
    f->filter_ud = filter ? ud : NULL;
}

void *cm_fake_filter_ud(const cm_fake *f, const cm_fake_filter *filter)
{
    return f->filter == filter ? f->filter_ud : NULL;
}

/* The aside generator follows from the main one's state (never 0: xorshift would stay there). */
static void seed_aside(cm_fake *f)
{
    f->rng_aside = (f->rng ^ UINT64_C(0x5851f42d4c957f2d)) | 1;
}

cm_fake *cm_fake_new(cm_loop *loop)
{
    cm_fake *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->loop = loop;
    cm_fake_set_filter(f, NULL, NULL);
    f->store = cm_store_new(10000);
    f->kinds = cm_kinds_new();
    f->rng = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)cm_loop_wall(loop);
    seed_aside(f);
    snprintf(f->address, sizeof f->address, "127.0.0.1:6443");
    if (!f->store || !f->kinds) {
        cm_fake_free(f);
        return NULL;
    }
    return f;
}

void cm_fake_free(cm_fake *f)
{
    if (!f)
        return;
    cm_fake_pending_free(f);
    cm_fake_ttl_free(f);
    cm_fake_logs_free(f);
    cm_store_free(f->store);
    cm_kinds_free(f->kinds);
    cJSON_Delete(f->settings);
    free(f->settings_lines);
    free(f->token);
    cm_rbac_free(f);
    free(f);
}

void cm_fake_set_extension(cm_fake *f, cm_fake_ext_fn fn, void *ud)
{
    f->ext = fn;
    f->ext_ud = ud;
}

void cm_fake_set_authorize(cm_fake *f, int on)
{
    f->authorize = on;
}

int cm_fake_set_token(cm_fake *f, const char *token)
{
    free(f->token);
    f->token = token ? strdup(token) : NULL;
    return token && !f->token ? -1 : 0;
}

void cm_fake_seed(cm_fake *f, uint64_t seed)
{
    f->rng = seed ? seed : 1;
    seed_aside(f);
}

uint64_t cm_fake_random_state(const cm_fake *f)
{
    return f->rng;
}

void cm_fake_set_random_state(cm_fake *f, uint64_t state)
{
    if (state)
        f->rng = state;
    seed_aside(f);
}

void cm_fake_set_address(cm_fake *f, const char *host_port)
{
    snprintf(f->address, sizeof f->address, "%s", host_port);
}

const cJSON *cm_fake_settings(const cm_fake *f)
{
    return f->settings;
}

cm_store *cm_fake_store(cm_fake *f)
{
    return f->store;
}

size_t cm_fake_watch_count(const cm_fake *f)
{
    return f->nwatches;
}

/* xorshift64*: uids and generated names, reproducible under cm_fake_seed. */
static uint64_t next_random(uint64_t *rng)
{
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    return *rng * UINT64_C(2685821657736338717);
}

void cm_fake_uid(cm_fake *f, char *buf, size_t size)
{
    cm_fake_uid_from(f, 0, buf, size);
}

void cm_fake_uid_from(cm_fake *f, int aside, char *buf, size_t size)
{
    uint64_t *rng = aside ? &f->rng_aside : &f->rng;
    uint64_t a = next_random(rng), b = next_random(rng);
    snprintf(buf, size, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
}

void cm_fake_now(const cm_fake *f, char *buf, size_t size)
{
    cm_format_time(cm_loop_wall(f->loop) / CM_NS_PER_S, buf, size);
}

/* ---- responses ---- */

void cm_fake_resp_clear(cm_fake_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    free(resp->warnings);
    resp->warnings = NULL;
}

void cm_reply_copy(struct call *c, int status, const cJSON *obj)
{
    cm_fake_resp *r = c->resp;
    free(r->body);
    r->status = status;
    r->content_type = "application/json";
    r->body = obj && !c->req->status_only ? cJSON_PrintUnformatted(obj) : NULL;
    r->body_len = r->body ? strlen(r->body) : 0;
}

void cm_reply(struct call *c, int status, cJSON *body)
{
    cm_reply_copy(c, status, body);
    cJSON_Delete(body);
}

void cm_reply_status(struct call *c, cJSON *status)
{
    int code = cm_status_code(status);
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(status, "details"), "retryAfterSeconds");
    c->resp->retry_after = cJSON_IsNumber(retry) ? retry->valueint : 0;
    cm_reply(c, code, status);
}

static void reply_text(struct call *c, int status, const char *text)
{
    cm_fake_resp *r = c->resp;
    free(r->body);
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    r->body = c->req->status_only ? NULL : strdup(text);
    r->body_len = r->body ? strlen(r->body) : 0;
}

static void not_found_path(struct call *c)
{
    cJSON *st = cm_status_new(404, "NotFound", "the server could not find the requested resource");
    cJSON *code = cJSON_DetachItemFromObjectCaseSensitive(st, "code");
    cJSON_AddItemToObject(st, "details", cJSON_CreateObject());
    cJSON_AddItemToObject(st, "code", code);
    cm_reply_status(c, st);
}

/* ---- query ---- */

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : isxdigit((unsigned char)c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Decodes %XX and '+' in place. */
static void url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
}

static int parse_query(struct call *c, const char *q)
{
    if (!q || !*q)
        return 0;
    size_t cap = 1;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    c->qkeys = calloc(cap, sizeof *c->qkeys);
    c->qvals = calloc(cap, sizeof *c->qvals);
    char *copy = strdup(q);
    if (!c->qkeys || !c->qvals || !copy) {
        free(copy);
        return -1;
    }
    for (char *save = NULL, *part = strtok_r(copy, "&", &save); part; part = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(part, '=');
        if (eq)
            *eq = '\0';
        c->qkeys[c->nq] = strdup(part);
        c->qvals[c->nq] = strdup(eq ? eq + 1 : "");
        if (!c->qkeys[c->nq] || !c->qvals[c->nq])
            break;
        url_decode(c->qkeys[c->nq]);
        url_decode(c->qvals[c->nq]);
        c->nq++;
    }
    free(copy);
    return 0;
}

const char *cm_call_query(const struct call *c, const char *key)
{
    for (size_t i = 0; i < c->nq; i++)
        if (strcmp(c->qkeys[i], key) == 0)
            return c->qvals[i];
    return NULL;
}

int cm_call_dry_run(const struct call *c)
{
    const char *v = cm_call_query(c, "dryRun");
    return v && strcmp(v, "All") == 0;
}

/* A boolean parameter, read as Go's strconv.ParseBool reads it. */
static int query_bool(const struct call *c, const char *key)
{
    static const char *const TRUE_WORDS[] = {"1", "t", "T", "true", "TRUE", "True"};
    const char *v = cm_call_query(c, key);
    for (size_t i = 0; v && i < sizeof TRUE_WORDS / sizeof TRUE_WORDS[0]; i++)
        if (strcmp(v, TRUE_WORDS[i]) == 0)
            return 1;
    return 0;
}

/* ---- discovery ---- */

static cJSON *str_array(const char *const *items)
{
    cJSON *a = cJSON_CreateArray();
    for (; *items; items++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*items));
    return a;
}

static cJSON *api_resource(const char *name, const char *singular, int namespaced,
                           const char *kind, const char *const *verbs)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "singularName", singular);
    cJSON_AddBoolToObject(r, "namespaced", namespaced);
    cJSON_AddStringToObject(r, "kind", kind);
    cJSON_AddItemToObject(r, "verbs", str_array(verbs));
    return r;
}

static const char *const ALL_VERBS[] = {"create", "delete", "deletecollection", "get", "list",
                                        "patch", "update", "watch", NULL};
static const char *const CREATE_VERB[] = {"create", NULL};
static const char *const STATUS_VERBS[] = {"get", "patch", "update", NULL};
static const char *const GET_VERB[] = {"get", NULL};

/* The APIResource entries of one kind: itself and its subresources. */
static void add_resources(cJSON *list, const cm_kind *k)
{
    cJSON *r = api_resource(k->plural, k->singular, k->namespaced, k->kind,
                            k->flags & CM_KIND_CREATE_ONLY ? CREATE_VERB : ALL_VERBS);
    if (k->short_names[0]) {
        cJSON *sn = cJSON_AddArrayToObject(r, "shortNames");
        char buf[128];
        snprintf(buf, sizeof buf, "%s", k->short_names);
        for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(sn, cJSON_CreateString(s));
    }
    if (k->flags & CM_KIND_ALL)
        cJSON_AddItemToObject(r, "categories", str_array((const char *const[]){"all", NULL}));
    cJSON_AddItemToArray(list, r);
    char name[160];
    if (k->flags & CM_KIND_EVICTION) {
        snprintf(name, sizeof name, "%s/eviction", k->plural);
        cJSON *e = api_resource(name, "", 1, "Eviction", CREATE_VERB);
        cJSON *verbs = cJSON_DetachItemFromObjectCaseSensitive(e, "verbs");
        cJSON_DeleteItemFromObjectCaseSensitive(e, "kind");
        cJSON_AddStringToObject(e, "group", "policy");
        cJSON_AddStringToObject(e, "version", "v1");
        cJSON_AddStringToObject(e, "kind", "Eviction");
        cJSON_AddItemToObject(e, "verbs", verbs);
        cJSON_AddItemToArray(list, e);
    }
    if (k->flags & CM_KIND_LOG) {
        snprintf(name, sizeof name, "%s/log", k->plural);
        cJSON_AddItemToArray(list, api_resource(name, "", 1, k->kind, GET_VERB));
    }
    if (k->flags & CM_KIND_STATUS) {
        snprintf(name, sizeof name, "%s/status", k->plural);
        cJSON_AddItemToArray(list, api_resource(name, "", k->namespaced, k->kind, STATUS_VERBS));
    }
}

/* GET /api/v1 or /apis/G/V: APIResourceList; 0 when no kind is served there. */
static int resource_list(struct call *c, const char *group, const char *version)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "kind", "APIResourceList");
    cJSON_AddStringToObject(doc, "apiVersion", "v1");
    char gv[256];
    snprintf(gv, sizeof gv, "%s%s%s", group, *group ? "/" : "", version);
    cJSON_AddStringToObject(doc, "groupVersion", gv);
    cJSON *list = cJSON_AddArrayToObject(doc, "resources");
    for (size_t i = 0; i < cm_kinds_count(c->f->kinds); i++) {
        const cm_kind *k = cm_kinds_at(c->f->kinds, i);
        if (strcmp(k->group, group) == 0 && strcmp(k->version, version) == 0)
            add_resources(list, k);
    }
    if (cJSON_GetArraySize(list) == 0) {
        cJSON_Delete(doc);
        return 0;
    }
    cm_reply(c, 200, doc);
    return 1;
}

/* The APIGroup document of group (versions in registration order). */
static cJSON *api_group(const cm_fake *f, const char *group)
{
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "name", group);
    cJSON *versions = cJSON_AddArrayToObject(g, "versions");
    cJSON *preferred = NULL;
    for (size_t i = 0; i < cm_kinds_count(f->kinds); i++) {
        const cm_kind *k = cm_kinds_at(f->kinds, i);
        if (strcmp(k->group, group) != 0)
            continue;
        char gv[256];
        snprintf(gv, sizeof gv, "%s/%s", group, k->version);
        int seen = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, versions)
            seen |= strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "groupVersion")), gv) == 0;
        if (seen)
            continue;
        cJSON *v2 = cJSON_CreateObject();
        cJSON_AddStringToObject(v2, "groupVersion", gv);
        cJSON_AddStringToObject(v2, "version", k->version);
        cJSON_AddItemToArray(versions, v2);
        if (!preferred)
            preferred = cJSON_Duplicate(v2, 1);
    }
    cJSON_AddItemToObject(g, "preferredVersion", preferred);
    return g;
}

static void api_groups(struct call *c)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "kind", "APIGroupList");
    cJSON_AddStringToObject(doc, "apiVersion", "v1");
    cJSON *groups = cJSON_AddArrayToObject(doc, "groups");
    for (size_t i = 0; i < cm_kinds_count(c->f->kinds); i++) {
        const cm_kind *k = cm_kinds_at(c->f->kinds, i);
        int seen = !k->group[0];
        const cJSON *g;
        cJSON_ArrayForEach(g, groups)
            seen |= strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "name")), k->group) == 0;
        if (!seen)
            cJSON_AddItemToArray(groups, api_group(c->f, k->group));
    }
    cm_reply(c, 200, doc);
}

static void api_versions(struct call *c)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "kind", "APIVersions");
    cJSON_AddItemToObject(doc, "versions", str_array((const char *const[]){"v1", NULL}));
    cJSON *a = cJSON_AddArrayToObject(doc, "serverAddressByClientCIDRs");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "clientCIDR", "0.0.0.0/0");
    cJSON_AddStringToObject(e, "serverAddress", c->f->address);
    cJSON_AddItemToArray(a, e);
    cm_reply(c, 200, doc);
}

static void version_doc(struct call *c)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "major", "1");
    cJSON_AddStringToObject(doc, "minor", "32");
    cJSON_AddStringToObject(doc, "gitVersion", "v1.32.0-cni-migrate-fake");
    cJSON_AddStringToObject(doc, "gitCommit", "0000000000000000000000000000000000000000");
    cJSON_AddStringToObject(doc, "gitTreeState", "clean");
    cJSON_AddStringToObject(doc, "buildDate", "2026-01-01T00:00:00Z");
    cJSON_AddStringToObject(doc, "goVersion", "go1.23.0");
    cJSON_AddStringToObject(doc, "compiler", "gc");
    cJSON_AddStringToObject(doc, "platform", "linux/amd64");
    cm_reply(c, 200, doc);
}

/* ---- routing ---- */

/* Splits path into at most max segments (in buf). Returns the count. */
static size_t split_path(char *buf, char **seg, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *s = strtok_r(buf, "/", &save); s && n < max; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    return n;
}

static int copy_seg(char *dst, size_t size, const char *src)
{
    if (strlen(src) >= size)
        return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* Resolves seg (after the group version) into kind, namespace, name, subresource. */
static int route_resource(struct call *c, const char *group, const char *version, char **seg, size_t n)
{
    size_t i = 0;
    if (n >= 3 && strcmp(seg[0], "namespaces") == 0 &&
        !(n == 3 && (strcmp(seg[2], "status") == 0 || strcmp(seg[2], "finalize") == 0))) {
        if (copy_seg(c->nsbuf, sizeof c->nsbuf, seg[1]) != 0)
            return 0;
        c->ns = c->nsbuf;
        i = 2;
    }
    if (i >= n || n - i > 3)
        return 0;
    c->kind = cm_kinds_by_resource(c->f->kinds, group, version, seg[i]);
    if (!c->kind || (c->ns && !c->kind->namespaced))
        return 0;
    if (i + 1 < n) {
        if (copy_seg(c->namebuf, sizeof c->namebuf, seg[i + 1]) != 0)
            return 0;
        c->name = c->namebuf;
    }
    if (i + 2 < n) {
        if (copy_seg(c->subbuf, sizeof c->subbuf, seg[i + 2]) != 0)
            return 0;
        c->sub = c->subbuf;
    }
    return 1;
}

/* ---- get and list ---- */

/* Whether the client asked for a Table (kubectl get). */
static int wants_table(const struct call *c)
{
    const char *a = c->req->accept;
    return a && strstr(a, "as=Table") != NULL;
}

static enum cm_include include_object(const struct call *c)
{
    const char *v = cm_call_query(c, "includeObject");
    if (v && strcmp(v, "None") == 0)
        return CM_INCLUDE_NONE;
    if (v && strcmp(v, "Object") == 0)
        return CM_INCLUDE_OBJECT;
    return CM_INCLUDE_METADATA;
}

/* Checks ?resourceVersion against the store: 504 for a version from the future. */
static int check_rv(struct call *c)
{
    const char *rv = cm_call_query(c, "resourceVersion");
    int64_t v;
    if (!rv || !*rv)
        return 1;
    if (!cm_parse_int64(rv, strlen(rv), &v) || v < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid resource version: %s", rv);
        cm_reply_status(c, cm_status_bad_request(msg));
        return 0;
    }
    if (v > cm_store_rv(c->f->store)) {
        char msg[200];
        snprintf(msg, sizeof msg, "Too large resource version: %lld, current: %lld", (long long)v,
                 (long long)cm_store_rv(c->f->store));
        cJSON *st = cm_status_new(504, "Timeout", msg);
        cm_status_cause(st, "ResourceVersionTooLarge", "Too large resource version", NULL);
        cm_status_retry_after(st, 1);
        cm_reply_status(c, st);
        return 0;
    }
    return 1;
}

static void api_get(struct call *c)
{
    if (!check_rv(c))
        return;
    cm_obj *o = cm_store_get(c->f->store, c->kind, c->ns, c->name);
    if (!o) {
        cm_reply_status(c, cm_status_not_found(c->kind, c->name));
        return;
    }
    if (wants_table(c)) {
        cJSON *t = cm_table_new(c->kind);
        char rv[24];
        snprintf(rv, sizeof rv, "%lld", (long long)o->rv);
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(t, "metadata"), "resourceVersion", rv);
        cm_table_add_row(t, c->kind, o->json, cm_loop_wall(c->f->loop), include_object(c));
        cm_reply(c, 200, t);
        return;
    }
    cm_reply_copy(c, 200, o->json);
}

/* Selectors of a list or watch. */
struct filter {
    cm_selector *labels, *fields;
    const char *node; /* spec.nodeName=X: served from the index */
};

static void filter_free(struct filter *fl)
{
    cm_selector_free(fl->labels);
    cm_selector_free(fl->fields);
}

static int filter_parse(struct call *c, struct filter *fl)
{
    char err[1024];
    memset(fl, 0, sizeof *fl);
    fl->labels = cm_label_selector_parse(cm_call_query(c, "labelSelector"), err, sizeof err);
    if (fl->labels)
        fl->fields = cm_field_selector_parse(cm_call_query(c, "fieldSelector"), c->kind, err, sizeof err);
    if (!fl->labels || !fl->fields) {
        filter_free(fl);
        cm_reply_status(c, cm_status_bad_request(err));
        return 0;
    }
    if (strcmp(c->kind->kind, "Pod") == 0 && !c->kind->group[0])
        fl->node = cm_selector_exact(fl->fields, "spec.nodeName");
    return 1;
}

static int filter_match(const struct filter *fl, const cJSON *obj)
{
    return cm_selector_match_labels(fl->labels, cJSON_GetObjectItemCaseSensitive(
                                                    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels")) &&
           cm_selector_match_fields(fl->fields, obj);
}

static int cmp_obj(const void *pa, const void *pb)
{
    const cm_obj *a = *(cm_obj *const *)pa, *b = *(cm_obj *const *)pb;
    int r = strcmp(a->ns, b->ns);
    return r ? r : strcmp(a->name, b->name);
}

/* The candidates of a list: one node's pods from the index, else the kind's bucket. */
static size_t candidates(struct call *c, const struct filter *fl, cm_obj ***out, int *owned)
{
    cm_obj *const *items;
    size_t n;
    *owned = 0;
    if (fl->node) {
        n = cm_store_pods_on_node(c->f->store, fl->node, &items);
        cm_obj **copy = malloc((n ? n : 1) * sizeof *copy);
        if (!copy)
            return 0;
        memcpy(copy, items, n * sizeof *copy);
        qsort(copy, n, sizeof *copy, cmp_obj);
        *out = copy;
        *owned = 1;
        return n;
    }
    n = cm_store_list(c->f->store, c->kind, c->ns, &items);
    *out = (cm_obj **)items;
    return n;
}

/* A continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"ns/name\u0000"}. */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *s, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        *o++ = B64[(v >> 18) & 63];
        *o++ = B64[(v >> 12) & 63];
        *o++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static char *b64_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; out && i < n && s[i] != '='; i++) {
        const char *p = strchr(B64, s[i]);
        if (!p || !s[i]) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    if (out)
        out[o] = '\0';
    return out;
}

static char *make_continue(int64_t rv, const cm_obj *last)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "v", "meta.k8s.io/v1");
    cJSON_AddItemToObject(t, "rv", cm_json_new_int64(rv));
    char start[600];
    snprintf(start, sizeof start, "%s/%s", last->ns, last->name);
    cJSON_AddStringToObject(t, "start", start);
    char *json = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    char *token = json ? b64_encode(json, strlen(json)) : NULL;
    free(json);
    return token;
}

/* Decodes ?continue into the list version and the key to start after; 0 after replying. */
static int read_continue(struct call *c, const char *token, int64_t *rv, char *after, size_t size)
{
    char *json = b64_decode(token);
    cJSON *t = json ? cJSON_Parse(json) : NULL;
    free(json);
    const char *start = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "start"));
    int ok = start && cm_json_int64(cJSON_GetObjectItemCaseSensitive(t, "rv"), rv);
    if (ok)
        snprintf(after, size, "%s", start);
    cJSON_Delete(t);
    if (!ok) {
        cm_reply_status(c, cm_status_bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"));
        return 0;
    }
    int64_t oldest;
    if (cm_store_replay(c->f->store, *rv, NULL, NULL, &oldest) != 0) {
        cm_reply_status(c, cm_status_gone(
            "The provided continue parameter is too old to display a consistent list result. You "
            "can start a new list without the continue parameter, or use the continue token in "
            "this response to retrieve the remainder of the results. Continuing with the provided "
            "token results in an inconsistent list - objects that were created, modified, or "
            "deleted between the time the first chunk was returned and now may show up in the list."));
        return 0;
    }
    return 1;
}

/* The list's item: built-in kinds drop kind and apiVersion, as typed lists do. */
static cJSON *list_item(const cm_kind *k, const cJSON *obj)
{
    cJSON *item = cJSON_Duplicate(obj, 1);
    if (!(k->flags & CM_KIND_CUSTOM)) {
        cJSON_DeleteItemFromObjectCaseSensitive(item, "kind");
        cJSON_DeleteItemFromObjectCaseSensitive(item, "apiVersion");
    }
    return item;
}

/* The list envelope: Table or KindList. */
static cJSON *list_doc(struct call *c, int table)
{
    if (table)
        return cm_table_new(c->kind);
    cJSON *doc = cJSON_CreateObject();
    char kind[160], av[160];
    snprintf(kind, sizeof kind, "%sList", c->kind->kind);
    cm_kind_api_version(c->kind, av, sizeof av);
    cJSON_AddStringToObject(doc, "kind", kind);
    cJSON_AddStringToObject(doc, "apiVersion", av);
    cJSON_AddObjectToObject(doc, "metadata");
    cJSON_AddArrayToObject(doc, "items");
    return doc;
}

/* Paging state of one list call. */
struct page {
    int64_t limit, rv;
    char after[600];
};

static int page_parse(struct call *c, struct page *pg)
{
    const char *limit = cm_call_query(c, "limit"), *cont = cm_call_query(c, "continue");
    pg->limit = 0;
    pg->rv = cm_store_rv(c->f->store);
    pg->after[0] = '\0';
    if (limit && *limit && (!cm_parse_int64(limit, strlen(limit), &pg->limit) || pg->limit < 0))
        pg->limit = 0;
    return cont && *cont ? read_continue(c, cont, &pg->rv, pg->after, sizeof pg->after) : 1;
}

/* Whether o sorts after the continue key "ns/name" in the store's order (namespace, then
 * name; a namespace has no '/', so the key splits at its first). */
static int after_key(const cm_obj *o, const char *key)
{
    const char *slash = strchr(key, '/');
    size_t nslen = slash ? (size_t)(slash - key) : strlen(key);
    int c = strncmp(o->ns, key, nslen);
    if (c == 0 && o->ns[nslen])
        c = 1; /* o's namespace is longer: after */
    return c ? c > 0 : strcmp(o->name, slash ? slash + 1 : "") > 0;
}

/* The first of the n sorted items after the continue key (none: 0), by binary search, so
 * that a page costs the same wherever it starts. */
static size_t first_after(cm_obj *const *items, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (key[0] && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (after_key(items[mid], key))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* resourceVersionMatch=Exact for a version the store has moved past: the fake keeps no
 * snapshots, so it answers as a server whose watch cache no longer has it. */
static int check_exact(struct call *c)
{
    const char *match = cm_call_query(c, "resourceVersionMatch");
    const char *rv = cm_call_query(c, "resourceVersion");
    int64_t v;
    if (!match || strcmp(match, "Exact") != 0 || !rv || !cm_parse_int64(rv, strlen(rv), &v) ||
        v == cm_store_rv(c->f->store))
        return 1;
    char msg[200];
    snprintf(msg, sizeof msg, "too old resource version: %lld (%lld)", (long long)v,
             (long long)cm_store_rv(c->f->store));
    cm_reply_status(c, cm_status_gone(msg));
    return 0;
}

static void api_list(struct call *c)
{
    struct filter fl;
    struct page pg;
    if (!check_rv(c) || !check_exact(c) || !filter_parse(c, &fl))
        return;
    if (!page_parse(c, &pg)) {
        filter_free(&fl);
        return;
    }
    int table = wants_table(c), owned;
    cm_obj **items = NULL;
    size_t n = candidates(c, &fl, &items, &owned);
    cJSON *doc = list_doc(c, table);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, table ? "rows" : "items");
    int64_t count = 0, remaining = 0;
    const cm_obj *last = NULL;
    int64_t now = cm_loop_wall(c->f->loop);
    /* With selectors the server does not know how many items remain (remainingItemCount is
     * left out, as the API documents) and stops at the first item past the page. */
    int selected = !cm_selector_empty(fl.labels) || !cm_selector_empty(fl.fields);
    for (size_t i = first_after(items, n, pg.after); i < n; i++) {
        const cm_obj *o = items[i];
        if ((c->ns && strcmp(o->ns, c->ns) != 0) || !filter_match(&fl, o->json))
            continue;
        if (pg.limit && count >= pg.limit) {
            remaining = selected ? 1 : (int64_t)(n - i); /* every item of an unselected list counts */
            break;
        }
        if (table)
            cm_table_add_row(doc, c->kind, o->json, now, include_object(c));
        else
            cJSON_AddItemToArray(arr, list_item(c->kind, o->json));
        count++;
        last = o;
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    char rv[24];
    snprintf(rv, sizeof rv, "%lld", (long long)pg.rv);
    cJSON_AddStringToObject(meta, "resourceVersion", rv);
    if (remaining && last) {
        char *token = make_continue(pg.rv, last);
        cJSON_AddStringToObject(meta, "continue", token ? token : "");
        if (!selected)
            cJSON_AddItemToObject(meta, "remainingItemCount", cm_json_new_int64(remaining));
        free(token);
    }
    if (owned)
        free(items);
    filter_free(&fl);
    cm_reply(c, 200, doc);
}

/* A container's output (the simulated kubelet's processes, cm_fake_log_append), by pod uid. */
struct podlog {
    char *text;
    size_t len, cap;
    int ended;
};

static struct podlog *podlog_of(cm_fake *f, const char *uid, int make)
{
    struct podlog *l = uid && f->logs ? cm_map_get(f->logs, uid) : NULL;
    if (l || !make || !uid)
        return l;
    if (!f->logs && !(f->logs = cm_map_new()))
        return NULL;
    if (!(l = calloc(1, sizeof *l)) || cm_map_set(f->logs, uid, l) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

/* ---- watch ---- */

struct cm_fake_watch {
    cm_fake *f;
    struct cm_fake_watch *next;
    const cm_kind *kind;
    char *ns;        /* NULL: every namespace */
    char *name;      /* a watch of one object (fieldSelector metadata.name or a name in the path) */
    struct filter fl;
    int64_t from;    /* resourceVersion to start after; -1: send the current state first */
    int bookmarks;
    int64_t timeout_ns;
    int table;
    enum cm_include include;
    int sub;         /* store subscription id, 0 when not started */
    cm_timer *t_end, *t_bookmark;
    int64_t last_rv;
    cm_fake_watch_fn fn;
    void *ud;
    int ended;
    int dropped;     /* an injected fault ends it before its timeout */
    char *log_uid;   /* a log followed (pods/log?follow=true): the pod's uid, else NULL */
    size_t log_from; /* where in that log the stream starts */
};

/* Formats one watch event and hands it to the consumer; text (or NULL) is obj printed already
 * (cm_event.text), which a watch of whole objects sends as it is. */
static void send_event(cm_fake_watch *w, const char *type, const cm_kind *k, const cJSON *obj,
                       const char *text, size_t len)
{
    if (text && !w->table) { /* what printing {"type": type, "object": obj} gives */
        size_t n = strlen(type) + len + 24;
        char *line = malloc(n);
        if (line) {
            int m = snprintf(line, n, "{\"type\":\"%s\",\"object\":%s}\n", type, text);
            w->fn(w->ud, line, (size_t)m);
        }
        free(line);
        return;
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", type);
    cJSON *o;
    if (w->table && strcmp(type, "BOOKMARK") != 0 && strcmp(type, "ERROR") != 0) {
        o = cm_table_new(k);
        cm_table_add_row(o, k, obj, cm_loop_wall(w->f->loop), w->include);
    } else {
        o = cJSON_Duplicate(obj, 1);
    }
    cJSON_AddItemToObject(ev, "object", o);
    char *printed = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!printed)
        return;
    size_t n = strlen(printed);
    char *line = realloc(printed, n + 2);
    if (!line) {
        free(printed);
        return;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    w->fn(w->ud, line, n + 1);
    free(line);
}

/* Whether an object is in the watch's scope (kind, namespace, name, selectors). */
static int watch_match(const cm_fake_watch *w, const cm_kind *k, const char *ns, const cJSON *obj)
{
    if (k != w->kind || (w->ns && strcmp(ns, w->ns) != 0))
        return 0;
    const char *name = cm_meta_str(obj, "name");
    if (w->name && (!name || strcmp(name, w->name) != 0))
        return 0;
    return filter_match(&w->fl, obj);
}

/* A store event, as this watch reports it (objects leaving the selection are DELETED). */
static void on_store_event(void *ud, const cm_event *ev)
{
    cm_fake_watch *w = ud;
    if (w->ended || ev->rv <= w->from)
        return;
    w->last_rv = ev->rv;
    int now = watch_match(w, ev->kind, ev->ns, ev->obj);
    int before = ev->prev ? watch_match(w, ev->kind, ev->ns, ev->prev) : now;
    if (ev->type == CM_EV_ADDED && now)
        send_event(w, "ADDED", ev->kind, ev->obj, ev->text, ev->len);
    else if (ev->type == CM_EV_DELETED && now)
        send_event(w, "DELETED", ev->kind, ev->obj, ev->text, ev->len);
    else if (ev->type == CM_EV_MODIFIED && now)
        send_event(w, before ? "MODIFIED" : "ADDED", ev->kind, ev->obj, ev->text, ev->len);
    else if (ev->type == CM_EV_MODIFIED && before)
        send_event(w, "DELETED", ev->kind, ev->obj, ev->text, ev->len);
}

static void watch_end(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_fake_watch *w = ud;
    w->t_end = NULL;
    if (w->t_bookmark)
        cm_loop_timer_cancel(w->f->loop, w->t_bookmark);
    w->t_bookmark = NULL;
    if (w->dropped && !w->ended)
        w->f->filter->watch_dropped(w->f->filter_ud, w->kind->plural, w->ns);
    if (!w->ended) {
        w->ended = 1;
        w->fn(w->ud, NULL, 0);
    }
}

static void watch_bookmark(cm_loop *loop, void *ud)
{
    cm_fake_watch *w = ud;
    w->t_bookmark = cm_loop_timer(loop, cm_loop_now(loop) + BOOKMARK_EVERY_S * CM_NS_PER_S,
                                  watch_bookmark, w);
    cJSON *o = cJSON_CreateObject();
    char av[160], rv[24];
    cm_kind_api_version(w->kind, av, sizeof av);
    cJSON_AddStringToObject(o, "kind", w->kind->kind);
    cJSON_AddStringToObject(o, "apiVersion", av);
    snprintf(rv, sizeof rv, "%lld", (long long)cm_store_rv(w->f->store));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "resourceVersion", rv);
    send_event(w, "BOOKMARK", w->kind, o, NULL, 0);
    cJSON_Delete(o);
}

/* Sends a synthetic ADDED for every object now in scope (watch without a version). */
static void send_current(cm_fake_watch *w)
{
    cm_obj *const *items;
    size_t n = cm_store_list(w->f->store, w->kind, w->ns, &items);
    cm_obj **copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return;
    memcpy(copy, items, n * sizeof *copy); /* the consumer may change the store */
    for (size_t i = 0; i < n && !w->ended; i++)
        if (watch_match(w, copy[i]->kind, copy[i]->ns, copy[i]->json))
            send_event(w, "ADDED", copy[i]->kind, copy[i]->json, NULL, 0);
    free(copy);
}

static void replay_event(void *ud, const cm_event *ev)
{
    on_store_event(ud, ev);
}

void cm_fake_watch_start(cm_fake_watch *w, cm_fake_watch_fn fn, void *ud)
{
    w->fn = fn;
    w->ud = ud;
    if (w->log_uid) { /* a followed log: what there is, then each append (cm_fake_log_append) */
        struct podlog *l = podlog_of(w->f, w->log_uid, 0);
        if (l && l->len > w->log_from)
            fn(ud, l->text + w->log_from, l->len - w->log_from);
        if ((!l || l->ended) && !w->ended) {
            w->ended = 1;
            fn(ud, NULL, 0);
        }
        return;
    }
    int64_t start = cm_store_rv(w->f->store), oldest;
    if (w->from < 0) {
        send_current(w);
        w->from = start;
    } else if (cm_store_replay(w->f->store, w->from, replay_event, w, &oldest) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "too old resource version: %lld (%lld)", (long long)w->from,
                 (long long)oldest);
        cJSON *st = cm_status_gone(msg);
        send_event(w, "ERROR", w->kind, st, NULL, 0);
        cJSON_Delete(st);
        watch_end(w->f->loop, w);
        return;
    } else {
        w->from = start; /* live events all come after this */
    }
    w->sub = cm_store_subscribe(w->f->store, on_store_event, w);
    int64_t drop = w->f->filter->watch_drop(w->f->filter_ud, w->kind->plural);
    w->dropped = drop >= 0 && drop < w->timeout_ns;
    w->t_end = cm_loop_timer(w->f->loop, cm_loop_now(w->f->loop) + (w->dropped ? drop : w->timeout_ns), watch_end, w);
    if (w->bookmarks)
        w->t_bookmark = cm_loop_timer(w->f->loop, cm_loop_now(w->f->loop) + BOOKMARK_EVERY_S * CM_NS_PER_S,
                                      watch_bookmark, w);
}

void cm_fake_watch_close(cm_fake_watch *w)
{
    if (!w)
        return;
    cm_fake *f = w->f;
    if (w->sub > 0)
        cm_store_unsubscribe(f->store, w->sub);
    if (w->t_end)
        cm_loop_timer_cancel(f->loop, w->t_end);
    if (w->t_bookmark)
        cm_loop_timer_cancel(f->loop, w->t_bookmark);
    for (cm_fake_watch **p = &f->watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    f->nwatches--;
    filter_free(&w->fl);
    free(w->ns);
    free(w->name);
    free(w->log_uid);
    free(w);
}

static void api_watch(struct call *c)
{
    cm_fake_watch *w = calloc(1, sizeof *w);
    if (!w || !filter_parse(c, &w->fl)) {
        free(w);
        return;
    }
    w->f = c->f;
    w->kind = c->kind;
    w->ns = c->ns ? strdup(c->ns) : NULL;
    const char *byname = c->name ? c->name : cm_selector_exact(w->fl.fields, "metadata.name");
    w->name = byname ? strdup(byname) : NULL;
    const char *rv = cm_call_query(c, "resourceVersion");
    int64_t v = -1;
    if (rv && *rv && strcmp(rv, "0") != 0 && (!cm_parse_int64(rv, strlen(rv), &v) || v < 0))
        v = -1;
    w->from = v;
    w->bookmarks = query_bool(c, "allowWatchBookmarks");
    const char *to = cm_call_query(c, "timeoutSeconds");
    int64_t secs = WATCH_DEFAULT_TIMEOUT_S;
    if (to && *to && (!cm_parse_int64(to, strlen(to), &secs) || secs <= 0))
        secs = WATCH_DEFAULT_TIMEOUT_S;
    w->timeout_ns = secs * CM_NS_PER_S;
    w->table = wants_table(c);
    w->include = include_object(c);
    w->next = c->f->watches;
    c->f->watches = w;
    c->f->nwatches++;
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    c->resp->watch = w;
}

/* ---- pods/log ---- */

void cm_fake_log_append(cm_fake *f, const char *uid, const char *data, size_t len)
{
    struct podlog *l = podlog_of(f, uid, 1);
    if (!l || len == 0)
        return;
    if (l->len + len + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 256; /* most are a few lines (a simulated container's) */
        while (cap < l->len + len + 1)
            cap *= 2;
        char *t = realloc(l->text, cap);
        if (!t)
            return;
        l->text = t;
        l->cap = cap;
    }
    memcpy(l->text + l->len, data, len);
    l->len += len;
    l->text[l->len] = '\0';
    for (cm_fake_watch *w = f->watches, *next; w; w = next) {
        next = w->next; /* the consumer may close its stream */
        if (w->log_uid && strcmp(w->log_uid, uid) == 0 && !w->ended)
            w->fn(w->ud, data, len);
    }
}

void cm_fake_log_end(cm_fake *f, const char *uid)
{
    struct podlog *l = podlog_of(f, uid, 1);
    if (l)
        l->ended = 1;
    for (cm_fake_watch *w = f->watches, *next; w; w = next) {
        next = w->next;
        if (w->log_uid && uid && strcmp(w->log_uid, uid) == 0 && !w->ended) {
            w->ended = 1;
            w->fn(w->ud, NULL, 0);
        }
    }
}

void cm_fake_log_forget(cm_fake *f, const char *uid)
{
    cm_fake_log_end(f, uid);
    struct podlog *l = uid && f->logs ? cm_map_del(f->logs, uid) : NULL;
    if (l)
        free(l->text);
    free(l);
}

static void free_podlog(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    struct podlog *l = value;
    free(l->text);
    free(l);
}

void cm_fake_logs_free(cm_fake *f)
{
    if (f->logs)
        cm_map_each(f->logs, free_podlog, NULL);
    cm_map_free(f->logs);
    f->logs = NULL;
}

/* The last n lines of text (n < 0: all of it), as tailLines counts them. */
static const char *tail_lines(const char *text, size_t len, int64_t n)
{
    const char *p = text + len;
    if (n < 0)
        return text;
    if (n == 0)
        return p;
    if (p > text && p[-1] == '\n')
        p--;
    for (; p > text; p--)
        if (p[-1] == '\n' && --n == 0)
            return p;
    return text;
}

static void api_log(struct call *c)
{
    cm_obj *o = cm_store_get(c->f->store, c->kind, c->ns, c->name);
    if (!o) {
        cm_reply_status(c, cm_status_not_found(c->kind, c->name));
        return;
    }
    const char *uid = cm_meta_str(o->json, "uid");
    struct podlog *l = podlog_of(c->f, uid, 0);
    if (!l) { /* no process of the simulated kubelet ran it: its log is what its fixture says */
        const char *log = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o->json, "metadata"), "annotations"),
            "fake.cni-migrate.dev/log"));
        reply_text(c, 200, log ? log : "");
        return;
    }
    const char *q = cm_call_query(c, "tailLines");
    int64_t tail = -1;
    if (q && (!cm_parse_int64(q, strlen(q), &tail) || tail < 0))
        tail = -1;
    const char *from = l->text ? tail_lines(l->text, l->len, tail) : "";
    if (!query_bool(c, "follow") || l->ended) {
        reply_text(c, 200, from);
        return;
    }
    cm_fake_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->log_uid = strdup(uid))) {
        free(w);
        cm_reply_status(c, cm_status_new(500, "InternalError", "out of memory"));
        return;
    }
    w->f = c->f;
    w->kind = c->kind;
    w->log_from = (size_t)(from - (l->text ? l->text : from));
    w->next = c->f->watches;
    c->f->watches = w;
    c->f->nwatches++;
    c->resp->status = 200;
    c->resp->content_type = "text/plain; charset=utf-8";
    c->resp->watch = w;
}

/* ---- dispatch ---- */

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static void dispatch_resource(struct call *c)
{
    const char *m = c->req->method;
    if (c->sa && !cm_rbac_check(c))
        return;
    if (c->sub && is(c->sub, "token") && is(c->kind->kind, "ServiceAccount") && is(m, "POST") && c->f->authorize)
        return cm_rbac_token_request(c);
    if (c->sub && is(c->sub, "eviction") && (c->kind->flags & CM_KIND_EVICTION) && is(m, "POST"))
        return cm_api_evict(c);
    if (c->sub && is(c->sub, "log") && (c->kind->flags & CM_KIND_LOG) && is(m, "GET"))
        return api_log(c);
    if (c->sub && !(is(c->sub, "status") && (c->kind->flags & CM_KIND_STATUS)))
        return not_found_path(c);
    if (c->kind->flags & CM_KIND_CREATE_ONLY)
        return is(m, "POST") && !c->name ? cm_api_create(c) : cm_reply_status(c, cm_status_method_not_allowed(m, c->kind));
    if (is(m, "GET") && c->name)
        return c->sub || !query_bool(c, "watch") ? api_get(c) : api_watch(c);
    if (is(m, "GET"))
        return query_bool(c, "watch") ? api_watch(c) : api_list(c);
    if (is(m, "POST") && !c->name && !c->sub)
        return cm_api_create(c);
    if (is(m, "PUT") && c->name)
        return cm_api_update(c);
    if (is(m, "PATCH") && c->name)
        return cm_api_patch(c);
    if (is(m, "DELETE") && c->name && !c->sub)
        return cm_api_delete(c);
    if (is(m, "DELETE") && !c->name && (c->ns || !c->kind->namespaced)) /* none across namespaces, as kube-apiserver */
        return cm_api_delete_collection(c);
    cm_reply_status(c, cm_status_method_not_allowed(m, c->kind));
}

/* Routes a path under /api or /apis; returns 0 when nothing is there. */
static int dispatch_api(struct call *c, char **seg, size_t n)
{
    if (is(seg[0], "api")) {
        if (n == 1)
            return api_versions(c), 1;
        if (!is(seg[1], "v1"))
            return 0;
        if (n == 2)
            return resource_list(c, "", "v1");
        if (!route_resource(c, "", "v1", seg + 2, n - 2))
            return 0;
        return dispatch_resource(c), 1;
    }
    if (n == 1)
        return api_groups(c), 1;
    if (n == 2) {
        cJSON *g = api_group(c->f, seg[1]);
        if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "versions"))) {
            cJSON_Delete(g);
            return 0;
        }
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "kind", "APIGroup");
        cJSON_AddStringToObject(doc, "apiVersion", "v1");
        for (cJSON *it = g->child; it; it = it->next)
            cJSON_AddItemToObject(doc, it->string, cJSON_Duplicate(it, 1));
        cJSON_Delete(g);
        return cm_reply(c, 200, doc), 1;
    }
    if (n == 3)
        return resource_list(c, seg[1], seg[2]);
    if (!route_resource(c, seg[1], seg[2], seg + 3, n - 3))
        return 0;
    return dispatch_resource(c), 1;
}

/* Whether the request's token is known (under --authorize, c->sa is who it is). */
static int authenticated(struct call *c)
{
    if (c->req->internal)
        return 1;
    if (c->f->authorize)
        return cm_rbac_authenticate(c->f, c->req->authorization, &c->sa);
    if (!c->f->token)
        return 1;
    const char *a = c->req->authorization;
    return a && strncmp(a, "Bearer ", 7) == 0 && strcmp(a + 7, c->f->token) == 0;
}

static void route(struct call *c)
{
    const char *path = c->req->path;
    if (!authenticated(c))
        return cm_reply_status(c, cm_status_new(401, "Unauthorized", "Unauthorized"));
    if (is(path, "/version") || is(path, "/version/"))
        return version_doc(c);
    if (is(path, "/healthz") || is(path, "/readyz") || is(path, "/livez"))
        return reply_text(c, 200, "ok");
    if (is(c->req->method, "GET") && cm_api_openapi(c))
        return;
    if (c->f->ext && strncmp(path, "/cni-migrate/", 13) == 0)
        return c->f->ext(c->f->ext_ud, c->req, c->resp);
    char buf[2048];
    char *seg[16];
    if (strlen(path) >= sizeof buf)
        return not_found_path(c);
    memcpy(buf, path, strlen(path) + 1);
    size_t n = split_path(buf, seg, 16);
    if (n == 0 || (!is(seg[0], "api") && !is(seg[0], "apis")) || !dispatch_api(c, seg, n))
        not_found_path(c);
}

void cm_fake_handle(cm_fake *f, const cm_fake_req *req, cm_fake_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    if (!req->internal && f->filter->request(f->filter_ud, req, resp)) {
        cJSON_Delete(req->json); /* a tree body, taken */
        return;
    }
    struct call c = {.f = f, .req = req, .resp = resp, .json = req->json};
    if (parse_query(&c, req->query) != 0)
        cm_reply_status(&c, cm_status_new(500, "InternalError", "out of memory"));
    else
        route(&c);
    for (size_t i = 0; i < c.nq; i++) {
        free(c.qkeys[i]);
        free(c.qvals[i]);
    }
    free(c.qkeys);
    free(c.qvals);
    cJSON_Delete(c.json); /* a tree body no verb read */
    if (!resp->body && !resp->watch && !resp->status)
        resp->status = 500;
}
