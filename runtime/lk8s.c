/*
 * lk8s.c - cm.k8s: the Kubernetes API client for scripts (over k8s_client.c).
 *
 *   local k8s = require "cm.k8s"
 *   local c = k8s.client([opts])   -- opts: kubeconfig, context, namespace, qps, burst,
 *                                  -- timeout (s per request, default 60, 0: none), dry_run,
 *                                  -- serviceaccount_dir, max_retries, user_agent
 *   c:get(ref) / c:list(ref) / c:pages(ref) / c:create(obj [, opts]) / c:update(obj [, opts])
 *   c:patch(ref, patch [, opts]) / c:delete(ref [, opts]) / c:evict(ref [, opts])
 *   c:delete_collection(ref [, opts])   (ref: labelSelector and/or fieldSelector, no name)
 *   c:watch(ref) / c:logs(ref) / c:info() / c:close()   (w:timeout(s), w:resource_version(), w:close())
 *
 * A ref is a table {apiVersion=, kind=, name=, namespace=, subresource=}.
 * Misuse raises. A failure of the world returns nil, message, code (the Status
 * reason, or the client's own: Timeout, ConnectFailed, TLS, ...). The iterators
 * do not raise for it: pages yields false, message, code once and ends; a watch
 * delivers one {type = "ERROR", message =, code =} event and ends. A cancelled
 * run or a run past its deadline raises, as everywhere.
 *
 * Every request, page and watch event is waited for with cm_await(): in a
 * cm.task task the task yields while the request is in flight (so the
 * requests of several tasks overlap on the client's transport), on the main
 * thread the loop runs until the answer is there. The request's state lives
 * in a cm.k8s.Request userdata on the waiting thread's stack, whose __gc
 * abandons a request nobody waits for any more.
 */
#include "cmlua.h"
#include "json.h"
#include "k8s_client.h"
#include "ljson.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_MT "cm.k8s.Client"
#define WATCH_MT "cm.k8s.Watch"
#define REQ_MT "cm.k8s.Request"

typedef struct lclient {
    cm_k8s_client *c;
    int64_t timeout; /* per request, ns */
    int dry_run;     /* every write carries dryRun=All (for c:info) */
} lclient;

typedef struct lwatch {
    cm_k8s_watch *w;
    int64_t deadline; /* c:watch's timeout: the stream's (its timeoutSeconds) and the iterator's */
    int64_t until;    /* w:timeout's: the iterator's only, the stream goes on (CM_TIME_NEVER: none) */
    struct cm_run *run;
    cm_waiter waiter; /* woken by the watch's notify */
    int busy;         /* a task waits on it */
    int failed;       /* delivered its ERROR event: the iterator ends */
} lwatch;

/* A request in flight, on the stack of the thread that waits for it (closed on __gc). */
typedef struct lreq {
    cm_k8s_req *r;
    struct cm_run *run;
    cm_waiter w;
    int restarted; /* pages: after an expired continue token */
} lreq;

/* ---- errors ---- */

/* The code of a failure: its Status reason or the client's own. */
static const char *code_of(const cm_k8s_error *err)
{
    return err->code ? err->code : "Unknown";
}

/* Returns nil, message, code for a failed result (and frees it). */
static int fail(lua_State *L, cm_k8s_result *res)
{
    cm_check_interrupt(L); /* a cancelled run, or one past its deadline, raises */
    int n = cm_fail(L, code_of(&res->err), "%s", res->err.message);
    cm_k8s_result_free(res);
    return n;
}

/*
 * Pushes an answer's body as a table and frees it: a list's items one by one as each becomes a
 * Lua value, so a page is never whole twice, parsed and in Lua, at the same moment.
 */
static void push_body(lua_State *L, cm_k8s_result *res)
{
    cJSON *json = res->json, *items = cJSON_DetachItemFromObjectCaseSensitive(json, "items");
    res->json = NULL;
    cm_lua_push_json(L, json); /* [body] */
    cJSON_Delete(json);
    if (!cJSON_IsArray(items)) {
        if (items) {
            cm_lua_push_json(L, items);
            lua_setfield(L, -2, "items");
        }
        cJSON_Delete(items);
        return;
    }
    lua_createtable(L, cJSON_GetArraySize(items), 0); /* [body, items] */
    cm_lua_mark(L, -1, 1);
    lua_Integer n = 0;
    for (cJSON *it; (it = cJSON_DetachItemViaPointer(items, items->child)) != NULL;) {
        cm_lua_push_json(L, it); /* [body, items, item] */
        cJSON_Delete(it);
        lua_rawseti(L, -2, ++n);
    }
    cJSON_Delete(items);
    lua_setfield(L, -2, "items"); /* [body] */
}

/* Pushes the outcome of a call: the body as a table (true when empty), or the failure. */
static int finish(lua_State *L, int rc, cm_k8s_result *res)
{
    if (rc < 0)
        return fail(L, res);
    if (res->json)
        push_body(L, res);
    else
        lua_pushboolean(L, 1);
    cm_k8s_result_free(res);
    return 1;
}

/* ---- requests in flight ---- */

static int req_gc(lua_State *L)
{
    lreq *q = luaL_checkudata(L, 1, REQ_MT);
    cm_k8s_req_cancel(q->r);
    q->r = NULL;
    return 0;
}

/* Pushes a request handle with nothing in flight yet: made before the arguments are read, so a
 * raise leaks nothing. */
static lreq *new_req(lua_State *L)
{
    lreq *q = lua_newuserdatauv(L, sizeof *q, 0);
    *q = (lreq){.run = cm_run_get(L)};
    luaL_setmetatable(L, REQ_MT);
    return q;
}

static void req_wake(cm_k8s_req *r, void *ud)
{
    (void)r;
    lreq *q = ud;
    cm_waiter_wake(q->run, &q->w);
}

/*
 * Waits for the request just started into q, then continues in k. On the main thread the loop runs
 * meanwhile; in a task the task yields, so the requests of several tasks are in flight at once.
 */
static int await_req(lua_State *L, lreq *q, cm_k8s_req *r, lua_KFunction k)
{
    if (!r)
        return luaL_error(L, "not enough memory");
    q->r = r;
    q->w = (cm_waiter){.done = cm_k8s_req_done(r)};
    return cm_await(L, &q->w, CM_TIME_NEVER, (lua_KContext)q, k);
}

/* Takes the outcome of q's request. */
static int req_take(lreq *q, cm_k8s_result *res)
{
    int rc = cm_k8s_req_finish(q->r, res);
    q->r = NULL;
    return rc;
}

/* ---- arguments ---- */

static lclient *check_client(lua_State *L)
{
    lclient *lc = luaL_checkudata(L, 1, CLIENT_MT);
    if (!lc->c)
        luaL_error(L, "attempt to use a closed Kubernetes client");
    return lc;
}

/* The string field key of the table at idx (left on the stack), or NULL. */
static const char *opt_field(lua_State *L, int idx, const char *key)
{
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL)
        return NULL;
    if (t == LUA_TNUMBER)
        return lua_tostring(L, -1);
    if (t != LUA_TSTRING)
        luaL_error(L, "field '%s' must be a string, got %s", key, luaL_typename(L, -1));
    return lua_tostring(L, -1);
}

/* Reads a ref table at idx; its strings stay on the stack. */
static void check_ref(lua_State *L, int idx, cm_k8s_ref *ref, int need_name)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    ref->api_version = opt_field(L, idx, "apiVersion");
    ref->kind = opt_field(L, idx, "kind");
    ref->name = opt_field(L, idx, "name");
    ref->namespace = opt_field(L, idx, "namespace");
    ref->subresource = opt_field(L, idx, "subresource");
    if (!ref->api_version || !ref->kind)
        luaL_argerror(L, idx, "a ref needs apiVersion and kind");
    if (need_name && !ref->name)
        luaL_argerror(L, idx, "a ref needs a name");
}

/* The ref of an object: apiVersion, kind, metadata.name and .namespace. */
static void object_ref(lua_State *L, int idx, cm_k8s_ref *ref)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    ref->api_version = opt_field(L, idx, "apiVersion");
    ref->kind = opt_field(L, idx, "kind");
    if (lua_getfield(L, idx, "metadata") != LUA_TTABLE)
        luaL_argerror(L, idx, "an object needs metadata");
    int meta = lua_gettop(L);
    ref->name = opt_field(L, meta, "name");
    ref->namespace = opt_field(L, meta, "namespace");
    ref->subresource = NULL;
    if (!ref->api_version || !ref->kind)
        luaL_argerror(L, idx, "an object needs apiVersion and kind");
}

/* Adds string param key from table idx (field name = key) when present. */
static void add_param(lua_State *L, int idx, const char *key, cm_k8s_param *p, size_t *n)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return;
    const char *v = opt_field(L, idx, key);
    if (v)
        p[(*n)++] = (cm_k8s_param){key, v};
}

/* A boolean field as "true", when set. */
static void add_bool_param(lua_State *L, int idx, const char *key, cm_k8s_param *p, size_t *n)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return;
    lua_getfield(L, idx, key);
    if (lua_toboolean(L, -1))
        p[(*n)++] = (cm_k8s_param){key, "true"};
    lua_pop(L, 1);
}

/* The deadline of one request: the client's timeout, bounded by the run's. */
static int64_t deadline_of(lua_State *L, const lclient *lc)
{
    struct cm_run *run = cm_run_get(L);
    cm_check_interrupt(L);
    int64_t d = lc->timeout > 0 ? cm_loop_now(run->loop) + lc->timeout : CM_TIME_NEVER;
    return d < run->deadline ? d : run->deadline;
}

/* Encodes the Lua value at idx as JSON text, left on the stack. */
static const char *encode(lua_State *L, int idx, size_t *len)
{
    cJSON *v = cm_lua_to_json(L, idx);
    char *s = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (!s)
        luaL_error(L, "not enough memory");
    lua_pushstring(L, s);
    free(s);
    return lua_tolstring(L, -1, len);
}

/* ---- client ---- */

static int client_close(lua_State *L)
{
    lclient *lc = luaL_checkudata(L, 1, CLIENT_MT);
    cm_k8s_client_free(lc->c);
    lc->c = NULL;
    return 0;
}

/* Reads a number option. */
static double num_opt(lua_State *L, int idx, const char *key, double def)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return def;
    lua_getfield(L, idx, key);
    double v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Raises for a key of the options table at idx that is not in known: a misspelt option
 * (dryRun for dry_run) must not be ignored silently. */
static void check_keys(lua_State *L, int idx, const char *const *known)
{
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) { /* [key, value] */
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *const *p = known;
        while (k && *p && strcmp(*p, k) != 0)
            p++;
        if (!k || !*p)
            luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", k ? k : luaL_typename(L, -2)));
    }
}

static const char *const CLIENT_OPTIONS[] = {"kubeconfig", "context", "namespace", "qps", "burst", "timeout",
                                             "dry_run", "serviceaccount_dir", "max_retries", "user_agent",
                                             NULL};

/* Reads k8s.client's options (table at 1, or none) over the run's defaults. */
static void client_opts(lua_State *L, const struct cm_run *run, cm_k8s_config_opts *co, cm_k8s_client_opts *o,
                        double *timeout)
{
    *co = (cm_k8s_config_opts){.kubeconfig = run->kubeconfig, .context = run->context,
                               .namespace = run->namespace};
    *o = (cm_k8s_client_opts){.dry_run = run->dry_run, .metrics = run->metrics};
    *timeout = num_opt(L, 1, "timeout", 60);
    luaL_argcheck(L, *timeout >= 0 && *timeout < 1e9, 1, "timeout must be seconds from 0 to 1e9");
    if (!lua_istable(L, 1))
        return;
    check_keys(L, 1, CLIENT_OPTIONS);
    const char *v; /* strings stay on the stack, above the options table */
    if ((v = opt_field(L, 1, "kubeconfig")))
        co->kubeconfig = v;
    if ((v = opt_field(L, 1, "context")))
        co->context = v;
    if ((v = opt_field(L, 1, "namespace")))
        co->namespace = v;
    co->sa_dir = opt_field(L, 1, "serviceaccount_dir");
    o->user_agent = opt_field(L, 1, "user_agent");
    o->qps = num_opt(L, 1, "qps", 0);
    o->burst = (int)num_opt(L, 1, "burst", 0);
    o->max_retries = (int)num_opt(L, 1, "max_retries", 0);
    if (lua_getfield(L, 1, "dry_run") != LUA_TNIL)
        o->dry_run = lua_toboolean(L, -1);
}

static const char DISCOVERY_KEY = 0; /* its address keys the run's discovery cache in the registry */

static int discovery_gc(lua_State *L)
{
    cm_k8s_discovery **d = lua_touserdata(L, 1);
    cm_k8s_discovery_free(*d);
    *d = NULL;
    return 0;
}

/*
 * The run's discovery cache, shared by its clients (per server inside). Made
 * before the first client, so the Lua state finalizes it after them.
 */
static cm_k8s_discovery *run_discovery(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &DISCOVERY_KEY) == LUA_TUSERDATA) {
        cm_k8s_discovery *d = *(cm_k8s_discovery **)lua_touserdata(L, -1);
        lua_pop(L, 1);
        return d;
    }
    lua_pop(L, 1);
    cm_k8s_discovery **d = lua_newuserdatauv(L, sizeof *d, 0); /* [ud] */
    *d = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, discovery_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    *d = cm_k8s_discovery_new();
    lua_rawsetp(L, LUA_REGISTRYINDEX, &DISCOVERY_KEY);
    return *d;
}

/* k8s.client([opts]) -> client | nil, message, code */
static int k8s_client(lua_State *L)
{
    struct cm_run *run = cm_run_get(L);
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    cm_k8s_discovery *disc = run_discovery(L);
    lclient *lc = lua_newuserdatauv(L, sizeof *lc, 0); /* [opts, ud]: created closed */
    lc->c = NULL;
    luaL_setmetatable(L, CLIENT_MT);
    cm_k8s_config_opts co;
    cm_k8s_client_opts o;
    double timeout;
    client_opts(L, run, &co, &o, &timeout); /* [opts, ud, strings...] */
    lc->timeout = (int64_t)(timeout * 1e9);
    lc->dry_run = o.dry_run;
    o.discovery = disc;
    cm_k8s_error err = {0};
    cm_k8s_config *cfg = run->k8s_config_new ? run->k8s_config_new(run, co.namespace)
                                              : cm_k8s_config_load(&co, &err);
    cm_transport *tr = cfg && run->k8s_transport_new ? run->k8s_transport_new(run) : NULL;
    if (cfg)
        lc->c = cm_k8s_client_new(run->loop, &run->log, cfg, tr, &o, &err);
    if (!lc->c)
        return cm_fail(L, err.code ? err.code : "NoConfig", "%s", err.message);
    lua_pushvalue(L, 2);
    return 1;
}

/* c:info() -> {server, namespace, context, source, inCluster, dryRun} */
static int client_info(lua_State *L)
{
    lclient *lc = check_client(L);
    const cm_k8s_config *cfg = cm_k8s_client_config(lc->c);
    lua_createtable(L, 0, 6);
    lua_pushboolean(L, lc->dry_run);
    lua_setfield(L, -2, "dryRun");
    lua_pushstring(L, cfg->server);
    lua_setfield(L, -2, "server");
    lua_pushstring(L, cfg->namespace);
    lua_setfield(L, -2, "namespace");
    lua_pushstring(L, cfg->context);
    lua_setfield(L, -2, "context");
    lua_pushstring(L, cfg->source);
    lua_setfield(L, -2, "source");
    lua_pushboolean(L, cfg->in_cluster);
    lua_setfield(L, -2, "inCluster");
    return 1;
}

/* Continues a method whose result is the request's answer: the body as a table, or the failure. */
static int req_finished(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    cm_k8s_result res;
    int rc = req_take((lreq *)ctx, &res);
    return finish(L, rc, &res);
}

/* Continues c:logs(): the body as text. */
static int logs_finished(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    cm_k8s_result res;
    if (req_take((lreq *)ctx, &res) < 0)
        return fail(L, &res);
    lua_pushlstring(L, res.text ? res.text : "", res.len);
    cm_k8s_result_free(&res);
    return 1;
}

/* c:get(ref) -> object | nil, message, code */
static int client_get(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 2); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 1);
    cm_k8s_param p[2];
    size_t n = 0;
    add_param(L, 2, "resourceVersion", p, &n);
    return await_req(L, q, cm_k8s_call_start(lc->c, "GET", &ref, p, n, NULL, NULL, 0, deadline_of(L, lc), req_wake, q), req_finished);
}

/* The selectors and list options of a ref table. */
static size_t list_params(lua_State *L, int idx, cm_k8s_param *p)
{
    size_t n = 0;
    add_param(L, idx, "labelSelector", p, &n);
    add_param(L, idx, "fieldSelector", p, &n);
    add_param(L, idx, "resourceVersion", p, &n);
    add_param(L, idx, "resourceVersionMatch", p, &n);
    return n;
}

/* The page size of a ref table (limit, default 500). */
static int page_limit(lua_State *L, int idx)
{
    lua_Integer limit = (lua_Integer)num_opt(L, idx, "limit", 500);
    luaL_argcheck(L, limit > 0 && limit <= 100000, idx, "limit must be from 1 to 100000");
    return (int)limit;
}

/* c:list(ref) -> list (every page, items together) | nil, message, code */
static int client_list(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 2); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 0);
    cm_k8s_param p[4];
    size_t n = list_params(L, 2, p);
    cm_k8s_req *r = cm_k8s_list_start(lc->c, &ref, p, n, page_limit(L, 2), deadline_of(L, lc), req_wake, q);
    return await_req(L, q, r, req_finished);
}

static int page_fetched(lua_State *L, int status, lua_KContext ctx);

/* Starts one page of the pages iterator from continue token cont (NULL: the first) into q. */
static int fetch_page(lua_State *L, lclient *lc, lreq *q, const char *cont)
{
    cm_k8s_ref ref;
    check_ref(L, lua_upvalueindex(2), &ref, 0);
    ref.name = NULL;
    cm_k8s_param p[6];
    size_t n = list_params(L, lua_upvalueindex(2), p);
    char lim[24];
    snprintf(lim, sizeof lim, "%d", page_limit(L, lua_upvalueindex(2)));
    p[n++] = (cm_k8s_param){"limit", lim};
    p[n++] = (cm_k8s_param){"continue", cont};
    cm_k8s_req *r = cm_k8s_call_start(lc->c, "GET", &ref, p, n, NULL, NULL, 0, deadline_of(L, lc), req_wake, q);
    return await_req(L, q, r, page_fetched);
}

/* Continues the pages iterator once a page came: it, and where the next one starts. */
static int page_fetched(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lreq *q = (lreq *)ctx;
    cm_k8s_result res;
    int rc = req_take(q, &res);
    if (rc < 0 && res.status == 410 && !q->restarted && lua_isstring(L, lua_upvalueindex(3))) {
        cm_k8s_result_free(&res); /* an expired continue token: start again */
        q->restarted = 1;
        return fetch_page(L, check_client(L), q, NULL);
    }
    if (rc < 0) { /* false, message, code: the loop's body sees it; the next call ends the loop */
        lua_pushboolean(L, 0);
        lua_replace(L, lua_upvalueindex(3));
        fail(L, &res);
        lua_pushboolean(L, 0);
        lua_replace(L, -4); /* false, not nil, so the generic for runs once more */
        return 3;
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(res.json, "metadata");
    const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
    if (next && *next)
        lua_pushstring(L, next);
    else
        lua_pushboolean(L, 0);
    lua_replace(L, lua_upvalueindex(3));
    push_body(L, &res); /* [client, req, ..., page] */
    cm_k8s_result_free(&res);
    lua_pushboolean(L, q->restarted);
    return 2;
}

/* The pages iterator; upvalues: client, ref table, continue token (false: done). */
static int pages_next(lua_State *L)
{
    lua_settop(L, 0);
    lua_pushvalue(L, lua_upvalueindex(1)); /* [client] */
    lclient *lc = check_client(L);
    if (lua_type(L, lua_upvalueindex(3)) == LUA_TBOOLEAN)
        return 0; /* done */
    lreq *q = new_req(L); /* [client, req] */
    if (lua_isstring(L, lua_upvalueindex(3)))
        lua_gc(L, LUA_GCCOLLECT); /* the page before, when the loop let it go, is not held with this one */
    return fetch_page(L, lc, q, lua_tostring(L, lua_upvalueindex(3)));
}

/*
 * c:pages(ref) -> iterator over pages: for page, restarted in c:pages{...}; a page that cannot
 * be had comes as false, message, code, and the loop ends after it.
 */
static int client_pages(lua_State *L)
{
    check_client(L);
    luaL_argcheck(L, lua_isnone(L, 3), 3, "options are fields of the ref table"); /* not silently lost */
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 0);
    lua_settop(L, 2);
    lua_pushnil(L); /* [c, ref, continue] */
    lua_pushcclosure(L, pages_next, 3);
    return 1;
}

/* The params of a write: fieldManager, fieldValidation. */
static size_t write_params(lua_State *L, int idx, cm_k8s_param *p)
{
    size_t n = 0;
    add_param(L, idx, "fieldManager", p, &n);
    add_param(L, idx, "fieldValidation", p, &n);
    return n;
}

/* c:create(obj [, opts]) -> created | nil, message, code */
static int client_create(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 3); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    object_ref(L, 2, &ref);
    ref.name = NULL;
    if (!ref.namespace) /* a namespaced object goes to the client's namespace */
        ref.namespace = cm_k8s_client_config(lc->c)->namespace;
    cm_k8s_param p[2];
    size_t n = write_params(L, 3, p);
    size_t len;
    const char *body = encode(L, 2, &len);
    return await_req(L, q, cm_k8s_call_start(lc->c, "POST", &ref, p, n, "application/json", body, len, deadline_of(L, lc), req_wake, q), req_finished);
}

/* c:update(obj [, opts]) -> updated | nil, ...; opts.subresource = "status" */
static int client_update(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 3); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    object_ref(L, 2, &ref);
    if (!ref.name)
        luaL_argerror(L, 2, "an object to update needs metadata.name");
    if (lua_type(L, 3) == LUA_TTABLE)
        ref.subresource = opt_field(L, 3, "subresource");
    cm_k8s_param p[2];
    size_t n = write_params(L, 3, p);
    size_t len;
    const char *body = encode(L, 2, &len);
    return await_req(L, q, cm_k8s_call_start(lc->c, "PUT", &ref, p, n, "application/json", body, len, deadline_of(L, lc), req_wake, q), req_finished);
}

/* c:patch(ref, patch [, opts]) opts: type (merge|strategic|json|apply), fieldManager, force */
static int client_patch(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 4); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 1);
    luaL_argcheck(L, lua_istable(L, 3) || lua_isstring(L, 3), 3, "expected a table or a string");
    const char *type = "merge";
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        const char *t = opt_field(L, 4, "type");
        type = t ? t : type;
    }
    const char *ct = cm_k8s_patch_type(type);
    if (!ct)
        return luaL_argerror(L, 4, lua_pushfstring(L, "unknown patch type '%s' (merge, strategic, json, apply)", type));
    cm_k8s_param p[4];
    size_t n = write_params(L, 4, p);
    int apply = strcmp(type, "apply") == 0;
    if (apply && n == 0)
        p[n++] = (cm_k8s_param){"fieldManager", "cni-migrate"};
    if (apply)
        add_bool_param(L, 4, "force", p, &n);
    size_t len;
    const char *body = lua_type(L, 3) == LUA_TSTRING ? lua_tolstring(L, 3, &len) : encode(L, 3, &len);
    return await_req(L, q, cm_k8s_call_start(lc->c, "PATCH", &ref, p, n, ct, body, len, deadline_of(L, lc), req_wake, q), req_finished);
}

/* The DeleteOptions body from opts at idx (NULL when none). */
static cJSON *delete_options(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    int has_grace = lua_getfield(L, idx, "gracePeriodSeconds") != LUA_TNIL;
    lua_Integer grace = has_grace ? luaL_checkinteger(L, -1) : 0;
    const char *pp = opt_field(L, idx, "propagationPolicy");
    int pidx = lua_getfield(L, idx, "preconditions") == LUA_TTABLE ? lua_gettop(L) : 0;
    const char *uid = pidx ? opt_field(L, pidx, "uid") : opt_field(L, idx, "uid");
    const char *rv = pidx ? opt_field(L, pidx, "resourceVersion") : opt_field(L, idx, "resourceVersion");
    cJSON *o = cJSON_CreateObject(); /* nothing raises from here on */
    if (has_grace)
        cJSON_AddItemToObject(o, "gracePeriodSeconds", cm_json_new_int64(grace));
    if (pp)
        cJSON_AddStringToObject(o, "propagationPolicy", pp);
    cJSON *pre = cJSON_CreateObject();
    if (uid)
        cJSON_AddStringToObject(pre, "uid", uid);
    if (rv)
        cJSON_AddStringToObject(pre, "resourceVersion", rv);
    if (uid || rv)
        cJSON_AddItemToObject(o, "preconditions", pre);
    else
        cJSON_Delete(pre);
    return o;
}

/* c:delete(ref [, opts]) -> the answer (Status or object) | nil, ... */
static int client_delete(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 3); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 1);
    int64_t deadline = deadline_of(L, lc); /* may raise: before anything is allocated */
    cJSON *o = delete_options(L, 3);
    char *body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    cm_k8s_req *r = cm_k8s_call_start(lc->c, "DELETE", &ref, NULL, 0, body ? "application/json" : NULL, body,
                                      body ? strlen(body) : 0, deadline, req_wake, q);
    free(body);
    return await_req(L, q, r, req_finished);
}

/*
 * c:delete_collection(ref [, opts]) -> the list of what was deleted (as the server listed it) | nil, ...
 * One DELETE on the collection (the verb deletecollection), of what ref's labelSelector and
 * fieldSelector match; at least one of them, so that a ref missing a name never empties a
 * collection. opts as delete's.
 */
static int client_delete_collection(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 3); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 0);
    luaL_argcheck(L, !ref.name && !ref.subresource, 2, "a collection's ref has no name or subresource");
    cm_k8s_param p[2];
    size_t n = 0;
    add_param(L, 2, "labelSelector", p, &n);
    add_param(L, 2, "fieldSelector", p, &n);
    luaL_argcheck(L, n > 0, 2, "a labelSelector or a fieldSelector is needed");
    int64_t deadline = deadline_of(L, lc); /* may raise: before anything is allocated */
    cJSON *o = delete_options(L, 3);
    char *body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    cm_k8s_req *r = cm_k8s_call_start(lc->c, "DELETE", &ref, p, n, body ? "application/json" : NULL, body,
                                      body ? strlen(body) : 0, deadline, req_wake, q);
    free(body);
    return await_req(L, q, r, req_finished);
}

/* c:evict(ref [, opts]) -> Status | nil, ...; opts as delete's (gracePeriodSeconds, uid, ...) */
static int client_evict(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 3); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *name = opt_field(L, 2, "name");
    const char *ns = opt_field(L, 2, "namespace");
    luaL_argcheck(L, name != NULL, 2, "a ref needs a name");
    int64_t deadline = deadline_of(L, lc); /* may raise: before anything is allocated */
    cJSON *o = delete_options(L, 3);
    cm_k8s_req *r = cm_k8s_evict_start(lc->c, ns, name, o, deadline, req_wake, q);
    cJSON_Delete(o);
    return await_req(L, q, r, req_finished);
}

/* c:logs(ref) -> text | nil, ...; ref: name, namespace, container, tailLines, sinceSeconds, previous */
static int client_logs(lua_State *L)
{
    lclient *lc = check_client(L);
    lua_settop(L, 2); /* optional arguments become nil, above them: strings of the tables */
    lreq *q = new_req(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .subresource = "log"};
    ref.name = opt_field(L, 2, "name");
    ref.namespace = opt_field(L, 2, "namespace");
    luaL_argcheck(L, ref.name != NULL, 2, "a ref needs a name");
    cm_k8s_param p[6];
    size_t n = 0;
    add_param(L, 2, "container", p, &n);
    add_param(L, 2, "tailLines", p, &n);
    add_param(L, 2, "sinceSeconds", p, &n);
    add_param(L, 2, "limitBytes", p, &n);
    add_bool_param(L, 2, "previous", p, &n);
    add_bool_param(L, 2, "timestamps", p, &n);
    cm_k8s_req *r = cm_k8s_call_start(lc->c, "GET", &ref, p, n, NULL, NULL, 0, deadline_of(L, lc), req_wake, q);
    return await_req(L, q, r, logs_finished);
}

/* ---- watch ---- */

/* w:close(), __close and __gc: frees the watch (once) and wakes a task waiting on it, which finds
 * it closed (a waiting task's stack holds the watch, so __gc never finds one waiting). */
static int watch_close(lua_State *L)
{
    lwatch *lw = luaL_checkudata(L, 1, WATCH_MT);
    cm_k8s_watch_free(lw->w);
    lw->w = NULL;
    if (lw->busy)
        cm_waiter_wake(lw->run, &lw->waiter);
    return 0;
}

/* Continues the iterator: polls the watch, and waits again while it has nothing to say. */
static int watch_polled(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lwatch *lw = (lwatch *)ctx;
    cJSON *ev = NULL;
    cm_k8s_error err = {0};
    int rc;
    for (;;) {
        if (!lw->w) {
            lw->busy = 0;
            return luaL_error(L, "attempt to use a closed watch");
        }
        struct cm_run *run = lw->run;
        int64_t deadline = lw->deadline < run->deadline ? lw->deadline : run->deadline;
        int64_t until = lw->until < deadline ? lw->until : deadline;
        rc = cm_k8s_watch_poll(lw->w, deadline, &ev, &err);
        if (rc != CM_K8S_PENDING)
            break;
        if (cm_loop_now(run->loop) >= until) { /* w:timeout's end: the stream stays open */
            rc = 0;
            break;
        }
        lw->waiter = (cm_waiter){0};
        if (!cm_wait_here(L, &lw->waiter, until))
            return cm_await(L, &lw->waiter, until, ctx, watch_polled);
    }
    lw->busy = 0;
    cm_check_interrupt(L);
    if (rc < 0) { /* one ERROR event, then the loop ends */
        lw->failed = 1;
        lua_createtable(L, 0, 3);
        lua_pushliteral(L, "ERROR");
        lua_setfield(L, -2, "type");
        lua_pushstring(L, err.message);
        lua_setfield(L, -2, "message");
        lua_pushstring(L, code_of(&err));
        lua_setfield(L, -2, "code");
        return 1;
    }
    if (rc == 0)
        return 0;
    cm_lua_push_json(L, ev);
    cJSON_Delete(ev);
    return 1;
}

/* Wakes the task or main thread waiting on the watch. */
static void watch_notify(void *ud)
{
    lwatch *lw = ud;
    cm_waiter_wake(lw->run, &lw->waiter);
}

/* The iterator: w() -> event | nil at the deadline, or after the ERROR event of a failure. */
static int watch_call(lua_State *L)
{
    lwatch *lw = luaL_checkudata(L, 1, WATCH_MT);
    if (!lw->w)
        return luaL_error(L, "attempt to use a closed watch");
    if (lw->failed)
        return 0;
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1); /* [w, client]: the client must still be open */
    lua_insert(L, 1);           /* [client, w]: the watch stays referenced while a task waits */
    check_client(L);
    cm_check_interrupt(L);
    luaL_argcheck(L, !lw->busy, 1, "the watch is already being waited on by another task");
    lw->busy = 1;
    cm_k8s_watch_set_notify(lw->w, watch_notify, lw);
    return watch_polled(L, LUA_OK, (lua_KContext)lw);
}

/* w:resource_version() -> the last resourceVersion seen, to watch on from */
static int watch_rv(lua_State *L)
{
    lwatch *lw = luaL_checkudata(L, 1, WATCH_MT);
    if (!lw->w)
        return luaL_error(L, "attempt to use a closed watch");
    lua_pushstring(L, cm_k8s_watch_resource_version(lw->w));
    return 1;
}

/* w:timeout(seconds) -> w: the iterator ends that many seconds from now, its stream staying open
 * (as c:watch's timeout allows): a loop woken now and then by a watch opened without a timeout
 * does not open it again each time */
static int watch_timeout(lua_State *L)
{
    lwatch *lw = luaL_checkudata(L, 1, WATCH_MT);
    double s = luaL_checknumber(L, 2);
    luaL_argcheck(L, s >= 0, 2, "the timeout must be >= 0");
    if (!lw->w)
        return luaL_error(L, "attempt to use a closed watch");
    lw->until = cm_loop_now(lw->run->loop) + (int64_t)(s * 1e9);
    lua_settop(L, 1);
    return 1;
}

/*
 * c:watch(ref) -> w, nil, nil, w: for ev in c:watch{apiVersion=, kind=, namespace=,
 * labelSelector=, fieldSelector=, resourceVersion=, timeout=, bookmarks=} do ... end
 * Events are {type = ADDED|MODIFIED|DELETED|BOOKMARK|RELIST, object = ...}; the loop
 * ends at the timeout (seconds) or the run's deadline, or after one {type = "ERROR",
 * message =, code =} when the watch fails. The watch closes with the loop.
 */
static int client_watch(lua_State *L)
{
    lclient *lc = check_client(L);
    luaL_argcheck(L, lua_isnone(L, 3), 3, "options are fields of the ref table"); /* not silently lost */
    lua_settop(L, 2); /* optional arguments become nil, above them: strings of the tables */
    cm_k8s_ref ref;
    check_ref(L, 2, &ref, 0);
    ref.name = NULL;
    cm_k8s_param p[4];
    size_t n = 0;
    add_param(L, 2, "labelSelector", p, &n);
    add_param(L, 2, "fieldSelector", p, &n);
    const char *rv = opt_field(L, 2, "resourceVersion");
    lua_getfield(L, 2, "bookmarks");
    int bookmarks = lua_toboolean(L, -1);
    double timeout = num_opt(L, 2, "timeout", -1);
    struct cm_run *run = cm_run_get(L);
    lwatch *lw = lua_newuserdatauv(L, sizeof *lw, 1);
    *lw = (lwatch){.run = run, .until = CM_TIME_NEVER};
    luaL_setmetatable(L, WATCH_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the watch keeps its client alive */
    lw->deadline = timeout >= 0 ? cm_loop_now(run->loop) + (int64_t)(timeout * 1e9) : CM_TIME_NEVER;
    lw->w = cm_k8s_watch_new(lc->c, &ref, p, n, rv, bookmarks);
    if (!lw->w)
        return luaL_error(L, "not enough memory");
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, -3); /* [w, nil, nil, w]: closed when the loop ends */
    return 4;
}

static const luaL_Reg client_methods[] = {
    {"close", client_close},   {"create", client_create}, {"delete", client_delete},
    {"delete_collection", client_delete_collection},
    {"evict", client_evict},   {"get", client_get},       {"info", client_info},
    {"list", client_list},     {"logs", client_logs},     {"pages", client_pages},
    {"patch", client_patch},   {"update", client_update}, {"watch", client_watch},
    {NULL, NULL},
};

static const luaL_Reg watch_methods[] = {
    {"close", watch_close},
    {"resource_version", watch_rv},
    {"timeout", watch_timeout},
    {NULL, NULL},
};

static const luaL_Reg watch_meta[] = {
    {"__call", watch_call},
    {NULL, NULL},
};

static const luaL_Reg req_meta[] = {
    {"__gc", req_gc},
    {NULL, NULL},
};

static const luaL_Reg k8s_funcs[] = {
    {"client", k8s_client},
    {NULL, NULL},
};

int luaopen_cm_k8s(lua_State *L)
{
    cm_new_class(L, CLIENT_MT, NULL, client_methods);
    lua_pop(L, 1);
    cm_new_class(L, WATCH_MT, watch_meta, watch_methods);
    lua_pop(L, 1);
    static const luaL_Reg no_methods[] = {{NULL, NULL}};
    cm_new_class(L, REQ_MT, req_meta, no_methods);
    lua_pop(L, 1);
    luaL_newlib(L, k8s_funcs);
    return 1;
}

struct cm_k8s_client *cm_lua_k8s_client(lua_State *L, int idx)
{
    lclient *lc = luaL_checkudata(L, idx, CLIENT_MT);
    if (!lc->c)
        luaL_error(L, "attempt to use a closed Kubernetes client");
    return lc->c;
}
