/*
 * lnode.c - cm.node: node operations for scripts (over node.c).
 *
 *   local node = require "cm.node"
 *   node.cordon(c, name) -> changed | nil, msg, code
 *   node.uncordon(c, name [, {only_ours = bool}]) -> changed, why | nil, msg, code
 *   node.labels(c, name, {k = "v", gone = json.null}) -> changed | nil, msg, code
 *   node.annotations(c, name, {...}) -> changed | nil, msg, code
 *   node.drain(c, name [, opts]) -> result | nil, msg, code
 *   node.wait_pod(c, opts) -> pod | true | nil, msg, code
 *   node.wait_node(c, name [, opts]) -> node | true | nil, msg, code
 *   node.run_on(c, name, script [, args [, opts]]) -> result | nil, msg, code
 *   node.pods(c, name | {node =, namespace =, selector =}) -> view; view:list() -> {pod, ...} | nil,
 *     msg, code; view:close()
 *   node.is_cordoned_by_us(node_object) -> boolean
 *
 * Each operation runs on the run's loop (node.h) while the caller waits with
 * cm_await(): in a cm.task task the task yields, so many nodes drain at once.
 * Drain's on_progress callback runs on the caller's thread between waits, and
 * may itself wait. Misuse (an unknown option, a wrong type) raises.
 */
#include "cmlua.h"
#include "ljson.h"
#include "node.h"
#include "noderun.h"
#include "simrun.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OP_MT "cm.node.Op"
#define PODS_MT "cm.node.Pods"

enum finish_as { F_CHANGED, F_DRAIN, F_WAIT, F_RESULT };

/* An operation in flight, on the stack of the thread that waits for it (cancelled on __gc). */
typedef struct lop {
    cm_node_op *op;
    struct cm_run *run;
    cm_waiter w;
    enum finish_as as;
    int has_cb, has_report;
    int idx; /* the handle's stack index */
} lop;

static int op_gc(lua_State *L)
{
    lop *o = luaL_checkudata(L, 1, OP_MT);
    cm_node_op_cancel(o->op);
    o->op = NULL;
    return 0;
}

/* Pushes an operation handle with nothing in flight yet (uservalues: on_progress, report). */
static lop *new_op(lua_State *L, enum finish_as as)
{
    lop *o = lua_newuserdatauv(L, sizeof *o, 2);
    *o = (lop){.run = cm_run_get(L), .as = as};
    luaL_setmetatable(L, OP_MT);
    return o;
}

static void op_wake(void *ud)
{
    lop *o = ud;
    cm_waiter_wake(o->run, &o->w);
}

/* Copies the fields of result into the table at idx (drain's report). */
static void fill_report(lua_State *L, int idx, const cJSON *result)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, result) {
        cm_lua_push_json(L, f);
        lua_setfield(L, idx, f->string);
    }
}

/* Pushes the outcome of the ended operation. */
static int op_outcome(lua_State *L, lop *o)
{
    cJSON *result = NULL;
    cm_k8s_error err = {0};
    int rc = cm_node_op_finish(o->op, &result, &err);
    o->op = NULL;
    if (o->as == F_DRAIN && o->has_report && result) {
        lua_getiuservalue(L, o->idx, 2); /* [.., op, .., report] */
        fill_report(L, lua_gettop(L), result);
        lua_pop(L, 1);
    }
    if (rc < 0) {
        cJSON_Delete(result);
        return cm_fail(L, err.code ? err.code : "Unknown", "%s", err.message);
    }
    if (o->as == F_CHANGED) {
        cJSON *why = cJSON_GetObjectItemCaseSensitive(result, "why");
        lua_pushboolean(L, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "changed")));
        if (cJSON_IsString(why))
            lua_pushstring(L, why->valuestring);
        cJSON_Delete(result);
        return cJSON_IsString(why) ? 2 : 1;
    }
    if (o->as == F_WAIT && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "gone")))
        lua_pushboolean(L, 1);
    else
        cm_lua_push_json(L, result);
    cJSON_Delete(result);
    return 1;
}

/* Continues a wait for an operation: hands over its progress events, then waits again or ends.
 * The handle is at o->idx whenever this runs. */
static int op_continue(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lop *o = (lop *)ctx;
    luaL_checkstack(L, 4, NULL);
    for (;;) {
        for (cJSON *ev; o->op && (ev = cm_node_op_event(o->op)) != NULL;) {
            if (!o->has_cb) {
                cJSON_Delete(ev);
                continue;
            }
            int top = lua_gettop(L);
            lua_getiuservalue(L, o->idx, 1); /* [.., op, .., cb] */
            cm_lua_push_json(L, ev);         /* [.., op, .., cb, ev] */
            cJSON_Delete(ev);
            lua_callk(L, 1, 0, ctx, op_continue); /* may wait: it comes back here */
            lua_settop(L, top);
        }
        if (!o->op)
            return luaL_error(L, "the operation was cancelled");
        if (cm_node_op_done(o->op))
            return op_outcome(L, o);
        o->w = (cm_waiter){0};
        if (!cm_wait_here(L, &o->w, CM_TIME_NEVER))
            return cm_await(L, &o->w, CM_TIME_NEVER, ctx, op_continue);
    }
}

/* Waits for the operation just started into o (the handle at the top of the stack). */
static int await_op(lua_State *L, lop *o, cm_node_op *op)
{
    if (!op)
        return luaL_error(L, "not enough memory");
    o->op = op;
    o->idx = lua_gettop(L);
    return op_continue(L, LUA_OK, (lua_KContext)o);
}

/* The run's deadline, after checking for an interrupt. */
static int64_t run_deadline(lua_State *L)
{
    cm_check_interrupt(L);
    return cm_run_get(L)->deadline;
}

/* Raises for a key of the options table at idx that is not in allowed. */
static void check_options(lua_State *L, int idx, const char *const *allowed)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int ok = 0;
        for (size_t i = 0; k && allowed[i] && !ok; i++)
            ok = !strcmp(k, allowed[i]);
        if (!ok)
            luaL_error(L, "unknown option '%s'", k ? k : luaL_typename(L, -1));
    }
}

static int opt_bool(lua_State *L, int idx, const char *key, int dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    int t = lua_getfield(L, idx, key);
    int v = t == LUA_TNIL ? dflt : lua_toboolean(L, -1);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "option '%s' must be a boolean", key);
    lua_pop(L, 1);
    return v;
}

static double opt_num(lua_State *L, int idx, const char *key, double dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    int t = lua_getfield(L, idx, key);
    if (t != LUA_TNIL && t != LUA_TNUMBER)
        luaL_error(L, "option '%s' must be a number", key);
    double v = t == LUA_TNIL ? dflt : lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A string option; left on the stack when present (so it stays alive). */
static const char *opt_str(lua_State *L, int idx, const char *key)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t != LUA_TSTRING)
        luaL_error(L, "option '%s' must be a string", key);
    return lua_tostring(L, -1);
}

static int64_t seconds_ns(double s)
{
    return s >= 9e9 ? CM_TIME_NEVER : (int64_t)(s * 1e9);
}

/* ---- pod views ---- */

/* A view of one node's pods (podview.h), shared by the operations on that node. */
typedef struct lpods {
    cm_pod_view *v;
    struct cm_run *run;
    cm_waiter w; /* view:list() waiting for the view's list */
} lpods;

/* view:close(), __close and __gc: stops the view (once). */
static int pods_close(lua_State *L)
{
    lpods *p = luaL_checkudata(L, 1, PODS_MT);
    cm_pod_view_free(p->v);
    p->v = NULL;
    return 0;
}

static void pods_wake(void *ud)
{
    lpods *p = ud;
    cm_waiter_wake(p->run, &p->w);
}

/* Continues view:list(): the pods once the view's list has come. */
static int pods_listed(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lpods *p = (lpods *)ctx;
    for (;;) {
        if (!p->v)
            return luaL_error(L, "attempt to use a closed pod view");
        cm_k8s_error err = {0};
        int st = cm_pod_view_state(p->v, &err);
        if (st < 0)
            return cm_fail(L, err.code ? err.code : "Unknown", "%s", err.message);
        if (st > 0) {
            cJSON *items = cm_pod_view_pods(p->v);
            if (!items)
                return luaL_error(L, "not enough memory");
            cm_lua_push_json(L, items);
            cJSON_Delete(items);
            return 1;
        }
        p->w = (cm_waiter){0};
        if (!cm_wait_here(L, &p->w, CM_TIME_NEVER))
            return cm_await(L, &p->w, CM_TIME_NEVER, ctx, pods_listed);
    }
}

/* view:list() -> the node's pods as the view has them now (no request) | nil, msg, code */
static int pods_list(lua_State *L)
{
    lpods *p = luaL_checkudata(L, 1, PODS_MT);
    lua_settop(L, 1); /* the view stays referenced while the caller waits */
    cm_check_interrupt(L);
    return pods_listed(L, LUA_OK, (lua_KContext)p);
}

/* node.pods(c, name) -> view: one list and one watch of the node's pods, for drain, wait_pod
 * and run_on on that node (their option pods) and view:list(). node.pods(c, {node =, namespace =,
 * selector =}): of the pods that match (each optional), for run_on. Close it when done. */
static int node_pods(lua_State *L)
{
    static const char *const OPTS[] = {"node", "namespace", "selector", NULL};
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = NULL, *ns = NULL, *sel = NULL;
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_settop(L, 2);
        check_options(L, 2, OPTS);
        name = opt_str(L, 2, "node"); /* [c, opts, node?, ns?, sel?]: kept while the view is made */
        ns = opt_str(L, 2, "namespace");
        sel = opt_str(L, 2, "selector");
    } else {
        name = luaL_checkstring(L, 2);
    }
    lpods *p = lua_newuserdatauv(L, sizeof *p, 1);
    *p = (lpods){.run = cm_run_get(L)};
    luaL_setmetatable(L, PODS_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the view keeps its client alive */
    p->v = cm_pod_view_new(c, p->run->loop, name, ns, sel);
    if (!p->v)
        return luaL_error(L, "not enough memory");
    cm_pod_view_set_notify(p->v, pods_wake, p);
    return 1;
}

/* opts.pods of an operation on node: its pod view, or NULL. whole: it must be of all the node's
 * pods (drain, wait_pod); else (run_on) of node or any node, and of namespace or all. */
static cm_pod_view *opt_pods(lua_State *L, int idx, const char *node, int whole, const char *namespace)
{
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "pods") == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx))
            lua_pop(L, 1);
        return NULL;
    }
    lpods *p = luaL_testudata(L, -1, PODS_MT);
    if (!p)
        luaL_error(L, "option 'pods' must be a pod view (node.pods)");
    if (!p->v)
        luaL_error(L, "attempt to use a closed pod view");
    const char *vn = cm_pod_view_node(p->v), *vns = cm_pod_view_namespace(p->v);
    if (whole && !cm_pod_view_whole_node(p->v))
        luaL_error(L, "option 'pods' must be the view of all the pods of node %s (node.pods(c, name))",
                   node ? node : "(no node)");
    if (vn && (!node || strcmp(vn, node)))
        luaL_error(L, "option 'pods' is the view of node %s, not of %s", vn, node ? node : "(no node)");
    if (vns && namespace && strcmp(vns, namespace))
        luaL_error(L, "option 'pods' is the view of namespace %s, not of %s", vns, namespace);
    lua_pop(L, 1); /* the options table keeps it */
    return p->v;
}

/* ---- cordon, uncordon, labels, annotations ---- */

static int node_cordon(lua_State *L)
{
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_settop(L, 2);
    lop *o = new_op(L, F_CHANGED);
    return await_op(L, o, cm_node_cordon_start(c, o->run->loop, name, run_deadline(L), op_wake, o));
}

static int node_uncordon(lua_State *L)
{
    static const char *const OPTS[] = {"only_ours", NULL};
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = luaL_checkstring(L, 2);
    check_options(L, 3, OPTS);
    int only_ours = opt_bool(L, 3, "only_ours", 0);
    lua_settop(L, 3);
    lop *o = new_op(L, F_CHANGED);
    return await_op(L, o, cm_node_uncordon_start(c, o->run->loop, name, only_ours, run_deadline(L), op_wake, o));
}

/* labels / annotations: validated as the API server would, nothing sent when invalid. */
static int set_meta(lua_State *L, const char *field)
{
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_pushnil(L);
    while (lua_next(L, 3)) { /* keys strings; values strings or json.null */
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: keys must be strings", field);
        cm_lua_push_null(L);
        int is_null = lua_rawequal(L, -1, -2);
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING && !is_null)
            luaL_error(L, "%s: the value of '%s' must be a string or json.null", field, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    cJSON *changes = cm_lua_to_json(L, 3);
    char msg[4096];
    if (!cJSON_IsObject(changes) && cJSON_GetArraySize(changes) == 0) { /* {} encodes as an array */
        cJSON_Delete(changes);
        changes = cJSON_CreateObject();
    }
    if (cm_node_validate_meta(name, field, changes, msg, sizeof msg) < 0) {
        cJSON_Delete(changes);
        return cm_fail(L, "Invalid", "%s", msg);
    }
    lop *o = new_op(L, F_CHANGED);
    cm_node_op *op = cm_node_meta_start(c, o->run->loop, name, field, changes, run_deadline(L), op_wake, o);
    cJSON_Delete(changes);
    return await_op(L, o, op);
}

static int node_labels(lua_State *L)
{
    return set_meta(L, "labels");
}

static int node_annotations(lua_State *L)
{
    return set_meta(L, "annotations");
}

static int node_is_cordoned_by_us(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int ours = 0;
    if (lua_getfield(L, 1, "spec") == LUA_TTABLE && lua_getfield(L, -1, "unschedulable") == LUA_TBOOLEAN &&
        lua_toboolean(L, -1)) {
        if (lua_getfield(L, 1, "metadata") == LUA_TTABLE && lua_getfield(L, -1, "annotations") == LUA_TTABLE)
            ours = lua_getfield(L, -1, CM_NODE_CORDONED_ANNOTATION) == LUA_TSTRING;
    }
    lua_pushboolean(L, ours);
    return 1;
}

/* ---- drain ---- */

/* The seed of a drain's jitter: the run's --seed in simulation (mixed with the node and a count,
 * so runs repeat and drains differ), else the clock and the pid. */
static uint64_t drain_seed(struct cm_run *run, const char *node)
{
    static uint64_t count;
    uint64_t h = UINT64_C(1469598103934665603);
    for (const char *p = node; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    h ^= ++count * UINT64_C(0x9e3779b97f4a7c15);
    if (run->sim)
        return h ^ cm_sim_run_seed(run->sim);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return h ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
}

/* Pushes "namespace/name" of the controller's own pod and returns 1, or returns 0 outside a pod: the
 * Downward API's POD_NAMESPACE/POD_NAME, else in a pod its hostname in the service account's
 * namespace. */
static int push_own_pod(lua_State *L, cm_k8s_client *c)
{
    const char *pns = getenv("POD_NAMESPACE"), *pname = getenv("POD_NAME");
    const cm_k8s_config *cfg = cm_k8s_client_config(c);
    if (!pname && getenv("KUBERNETES_SERVICE_HOST") && cfg && cfg->in_cluster)
        pname = getenv("HOSTNAME"), pns = cfg->namespace;
    if (!pname || !*pname)
        return 0;
    lua_pushfstring(L, "%s/%s", pns && *pns ? pns : (cfg ? cfg->namespace : "default"), pname);
    return 1;
}

/* Reads opts[field] (a list of "ns/name"), with the controller's own pod added when c is given;
 * the strings stay referenced by the table it leaves at the top of the stack. */
static const char **ns_names(lua_State *L, int opts, const char *field, cm_k8s_client *c, size_t *n)
{
    lua_newtable(L); /* [.., keep] */
    int keep = lua_gettop(L);
    size_t cap = 1;
    if (!lua_isnoneornil(L, opts) && lua_getfield(L, opts, field) != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_argerror(L, opts, lua_pushfstring(L, "%s must be a list of \"namespace/name\"", field));
        cap += lua_rawlen(L, -1);
    }
    const char **list = lua_newuserdatauv(L, cap * sizeof *list, 0);
    lua_rawseti(L, keep, 0);
    *n = 0;
    if (lua_istable(L, -1) && lua_gettop(L) > keep) {
        for (lua_Integer i = 1; i < (lua_Integer)cap; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING || !strchr(lua_tostring(L, -1), '/'))
                luaL_error(L, "%s[%d] must be \"namespace/name\"", field, (int)i);
            list[(*n)++] = lua_tostring(L, -1);
            lua_rawseti(L, keep, i);
        }
    }
    lua_settop(L, keep);
    if (c && push_own_pod(L, c)) {
        list[(*n)++] = lua_tostring(L, -1);
        lua_rawseti(L, keep, (lua_Integer)cap + 1);
    }
    return list;
}

static enum cm_blocked_action blocked_action(lua_State *L, int opts, int64_t *after)
{
    *after = -1;
    if (lua_isnoneornil(L, opts) || lua_getfield(L, opts, "on_blocked") == LUA_TNIL) {
        if (!lua_isnoneornil(L, opts))
            lua_pop(L, 1);
        return CM_BLOCKED_WAIT;
    }
    int t = lua_gettop(L);
    luaL_argcheck(L, lua_istable(L, t), opts, "on_blocked must be {after = seconds, action = ...}");
    static const char *const KEYS[] = {"after", "action", NULL};
    check_options(L, t, KEYS);
    double s = opt_num(L, t, "after", -1);
    const char *a = opt_str(L, t, "action");
    static const char *const ACTIONS[] = {"wait", "fail", "delete", NULL};
    int i = 0;
    while (a && ACTIONS[i] && strcmp(ACTIONS[i], a))
        i++;
    if (!a || !ACTIONS[i] || s < 0)
        luaL_error(L, "on_blocked needs after (seconds) and action \"wait\", \"fail\" or \"delete\"");
    *after = seconds_ns(s);
    lua_settop(L, t - 1);
    return (enum cm_blocked_action)i;
}

static int node_drain(lua_State *L)
{
    static const char *const OPTS[] = {
        "force", "ignore_daemonsets", "delete_emptydir_data", "disable_eviction", "grace_period", "timeout",
        "pod_selector", "skip_wait_for_delete_timeout", "cordon", "retry_delay", "parallel", "exclude",
        "on_blocked", "relist", "on_progress", "report", "daemonsets", "pods", NULL};
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    check_options(L, 3, OPTS);
    struct cm_run *run = cm_run_get(L);
    cm_drain_opts o = {
        .force = opt_bool(L, 3, "force", 0),
        .ignore_daemonsets = opt_bool(L, 3, "ignore_daemonsets", 0),
        .delete_emptydir_data = opt_bool(L, 3, "delete_emptydir_data", 0),
        .disable_eviction = opt_bool(L, 3, "disable_eviction", 0),
        .grace_period = (int64_t)opt_num(L, 3, "grace_period", -1),
        .skip_wait_for_delete = (int64_t)opt_num(L, 3, "skip_wait_for_delete_timeout", 0),
        .cordon = opt_bool(L, 3, "cordon", 1),
        .retry_delay = seconds_ns(opt_num(L, 3, "retry_delay", 5)),
        .parallel = (int)opt_num(L, 3, "parallel", 10),
        .relist = opt_bool(L, 3, "relist", 1),
        .dry_run = run->dry_run,
        .view = opt_pods(L, 3, name, 1, NULL),
    };
    double timeout = opt_num(L, 3, "timeout", 0);
    luaL_argcheck(L, timeout >= 0 && o.parallel >= 1 && o.retry_delay >= 0, 3,
                  "timeout and retry_delay must be >= 0, parallel >= 1");
    o.blocked_action = blocked_action(L, 3, &o.blocked_after);
    o.pod_selector = opt_str(L, 3, "pod_selector"); /* [c, name, opts, sel?] */
    int64_t now = cm_loop_now(run->loop);
    o.deadline = timeout > 0 ? now + seconds_ns(timeout) : CM_TIME_NEVER;
    if (run->deadline < o.deadline)
        o.deadline = run->deadline;
    o.exclude = ns_names(L, 3, "exclude", c, &o.nexclude);                /* [.., keep] */
    o.daemonsets = ns_names(L, 3, "daemonsets", NULL, &o.ndaemonsets); /* [.., keep, keep] */
    o.seed = drain_seed(run, name);
    int cb = !lua_isnil(L, 3) && lua_getfield(L, 3, "on_progress") != LUA_TNIL; /* [.., keep, cb?] */
    if (!cb && !lua_isnil(L, 3))
        lua_pop(L, 1);
    if (cb)
        luaL_argcheck(L, lua_isfunction(L, -1), 3, "on_progress must be a function");
    int report = !lua_isnil(L, 3) && lua_getfield(L, 3, "report") != LUA_TNIL; /* [.., cb?, report?] */
    if (!report && !lua_isnil(L, 3))
        lua_pop(L, 1);
    if (report)
        luaL_argcheck(L, lua_istable(L, -1), 3, "report must be a table");
    lop *h = new_op(L, F_DRAIN); /* [.., cb?, report?, op] */
    h->has_cb = cb, h->has_report = report;
    if (report)
        lua_rotate(L, -2, 1), lua_setiuservalue(L, -2, 2);
    if (cb)
        lua_rotate(L, -2, 1), lua_setiuservalue(L, -2, 1);
    cm_node_op *op = cm_node_drain_start(c, run->loop, name, &o, op_wake, h);
    return await_op(L, h, op); /* the strings o points at stay below the handle */
}

/* ---- waits ---- */

static int node_wait_pod(lua_State *L)
{
    static const char *const OPTS[] = {"namespace", "selector", "node", "state", "timeout", "pods", NULL};
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    check_options(L, 2, OPTS);
    struct cm_run *run = cm_run_get(L);
    cm_node_wait w = {.kind = "Pod"};
    w.namespace = opt_str(L, 2, "namespace");
    w.label_selector = opt_str(L, 2, "selector");
    w.node = opt_str(L, 2, "node");
    const char *state = opt_str(L, 2, "state");
    luaL_argcheck(L, !state || !strcmp(state, "ready") || !strcmp(state, "gone"), 2,
                  "state must be \"ready\" or \"gone\"");
    w.gone = state && !strcmp(state, "gone");
    w.view = opt_pods(L, 2, w.node, 1, NULL);
    double timeout = opt_num(L, 2, "timeout", 0);
    int64_t now = cm_loop_now(run->loop);
    w.deadline = timeout > 0 ? now + seconds_ns(timeout) : CM_TIME_NEVER;
    if (run_deadline(L) < w.deadline)
        w.deadline = run->deadline;
    lop *o = new_op(L, F_WAIT);
    return await_op(L, o, cm_node_wait_start(c, run->loop, &w, op_wake, o));
}

static int node_wait_node(lua_State *L)
{
    static const char *const OPTS[] = {"condition", "status", "gone", "timeout", NULL};
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    check_options(L, 3, OPTS);
    struct cm_run *run = cm_run_get(L);
    cm_node_wait w = {.kind = "Node", .node = name};
    w.condition = opt_str(L, 3, "condition");
    w.status = opt_str(L, 3, "status");
    w.gone = opt_bool(L, 3, "gone", 0);
    double timeout = opt_num(L, 3, "timeout", 0);
    int64_t now = cm_loop_now(run->loop);
    w.deadline = timeout > 0 ? now + seconds_ns(timeout) : CM_TIME_NEVER;
    if (run_deadline(L) < w.deadline)
        w.deadline = run->deadline;
    lop *o = new_op(L, F_WAIT);
    return await_op(L, o, cm_node_wait_start(c, run->loop, &w, op_wake, o));
}

/* ---- run_on ---- */

/* The default image of node-run pods outside a pod (in one: the controller's own). */
#define DEFAULT_IMAGE "ghcr.io/cni-migrate/cni-migrate:" CM_VERSION

/* args at idx (a table, or none) as a JSON object's text, left on the stack. */
static const char *args_json(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) {
        lua_pushliteral(L, "{}");
        return lua_tostring(L, -1);
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    cJSON *a = cm_lua_to_json(L, idx);
    if (!cJSON_IsObject(a) && cJSON_GetArraySize(a) == 0) { /* {} encodes as an array */
        cJSON_Delete(a);
        a = cJSON_CreateObject();
    }
    if (!cJSON_IsObject(a)) {
        cJSON_Delete(a);
        luaL_argerror(L, idx, "args must be a table of named values");
    }
    char *text = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    lua_pushstring(L, text ? text : "{}");
    free(text);
    return lua_tostring(L, -1);
}

static int node_run_on(lua_State *L)
{
    static const char *const OPTS[] = {"namespace", "timeout", "image", "step", "cni_dir", "pods", "keep", NULL};
    cm_k8s_client *c = cm_lua_k8s_client(L, 1);
    const char *name = luaL_checkstring(L, 2), *script = luaL_checkstring(L, 3);
    lua_settop(L, 5);
    check_options(L, 5, OPTS);
    struct cm_run *run = cm_run_get(L);
    cm_node_run_spec s = {.node = name, .script = script, .namespace = "kube-system"};
    s.args_json = args_json(L, 4);                           /* [.., args] */
    const char *ns = opt_str(L, 5, "namespace");             /* each kept on the stack when given */
    s.namespace = ns ? ns : s.namespace;
    s.step = opt_str(L, 5, "step");
    s.cni_dir = opt_str(L, 5, "cni_dir");
    s.keep = opt_bool(L, 5, "keep", 0);
    s.view = opt_pods(L, 5, name, 0, s.namespace);
    s.image = opt_str(L, 5, "image");
    if (!s.image)
        s.image = getenv("CNI_MIGRATE_IMAGE");
    if (!s.image && push_own_pod(L, c))
        s.own_pod = lua_tostring(L, -1);
    else if (!s.image)
        s.image = DEFAULT_IMAGE;
    double timeout = opt_num(L, 5, "timeout", 300);
    luaL_argcheck(L, timeout > 0, 5, "timeout must be > 0");
    s.deadline = cm_loop_now(run->loop) + seconds_ns(timeout);
    if (run_deadline(L) < s.deadline)
        s.deadline = run->deadline;
    cJSON *paths = NULL;
    char msg[512];
    if (cm_node_script_paths(run->lua_dir, script, &paths, msg, sizeof msg) < 0)
        return luaL_error(L, "run_on: %s", msg); /* an unknown or broken script is the caller's mistake */
    s.host_paths = paths;
    char *source = cm_node_script_source(run->lua_dir, script); /* a site script goes with the pod */
    s.source = source;
    lop *o = new_op(L, F_RESULT);
    cm_node_op *op = cm_node_run_on_start(c, run->loop, &s, op_wake, o);
    cJSON_Delete(paths);
    free(source);
    return await_op(L, o, op);
}

static const luaL_Reg op_meta[] = {
    {"__gc", op_gc},
    {"__close", op_gc},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg node_funcs[] = {
    {"cordon", node_cordon},
    {"uncordon", node_uncordon},
    {"labels", node_labels},
    {"annotations", node_annotations},
    {"is_cordoned_by_us", node_is_cordoned_by_us},
    {"drain", node_drain},
    {"wait_pod", node_wait_pod},
    {"wait_node", node_wait_node},
    {"run_on", node_run_on},
    {"pods", node_pods},
    {NULL, NULL},
};

int luaopen_cm_node(lua_State *L)
{
    static const luaL_Reg no_methods[] = {{NULL, NULL}};
    cm_new_class(L, OP_MT, op_meta, no_methods);
    lua_pop(L, 1);
    static const luaL_Reg pods_meta[] = {{"__gc", pods_close}, {"__close", pods_close}, {"__index", NULL}, {NULL, NULL}};
    static const luaL_Reg pods_methods[] = {{"list", pods_list}, {"close", pods_close}, {NULL, NULL}};
    cm_new_class(L, PODS_MT, pods_meta, pods_methods);
    lua_pop(L, 1);
    luaL_newlib(L, node_funcs);
    lua_pushliteral(L, CM_NODE_CORDONED_ANNOTATION);
    lua_setfield(L, -2, "CORDONED_ANNOTATION");
    return 1;
}
