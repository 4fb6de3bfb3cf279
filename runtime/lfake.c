/*
 * lfake.c - cm.fake: the simulated parts of a fake cluster, from Lua. For now, simulated node
 * hosts (runtime/fake/host/host.h) and their CNI view (runtime/fake/host/cni.h).
 *
 *   fake.new_host([doc]) -> Host | nil, message, "InvalidHost"
 *       an empty host (loopback and default sysctls), or one from a document shaped as
 *       host:json() returns it (what cm.flannel.node_state() gives, plus the underlay)
 *   fake.node_host(node) -> Host
 *       the host the simulation gives a Node (a table) before any CNI (host.h cm_host_new_node:
 *       eth0 with the InternalIP/24, a default route, the standard CNI plugins)
 *   fake.request(method, path [, body]) -> object | nil, message, reason
 *       in a --fake run: one request straight to the simulated cluster's REST core, at once
 *       (no loop, no transport); body (a table) is sent as a merge patch. For the simulation's
 *       own agents (lua/cm/agents.lua), which run inside the loop and must not wait.
 *   fake.host(node) -> Host | nil, message, "NotFound"   in a --fake run: that node's simulated
 *       host, live: the handle finds the node's host at each call (raises once the Node is gone)
 *
 * Host methods; each change returns true, or nil, message, errno name ("EEXIST", "ENODEV",
 * "ENETUNREACH", "ENETDOWN", "ESRCH", "EADDRNOTAVAIL", "ERANGE", "EINVAL", "ENOENT") as the
 * kernel would answer it:
 *   host:json() -> table                     the whole state
 *   host:section(name) -> value | nil          one member of it ("links", "iptables")
 *   host:route_to(addr), host:neigh_to(dev, dst), host:fdb_to(dev, lladdr) -> entry | nil
 *                                                the dataplane model's lookups (host.h), in place
 *   host:link(name) -> table | nil, message, "ENODEV"
 *   host:link_add(link), host:link_del(name), host:link_set(name, {up = bool, mtu = n})
 *   host:addr_add(dev, cidr), host:addr_del(dev, cidr)
 *   host:route_add(route), host:route_replace(route), host:route_del(dst [, dev]) (dev: only through it)
 *   host:neigh_add(n), host:neigh_replace(n), host:neigh_del(dev, dst)
 *   host:fdb_add(f), host:fdb_replace(f), host:fdb_del(dev, lladdr, dst)
 *   host:prune(dev, {routes = {dst = true}, neighbours = {dst = true}, fdb = {"lladdr dst" = true}})
 *                                                deletes dev's routes (but kernel ones), neighbours
 *                                                and FDB entries not named, in that order, as
 *                                                route_del(dst), neigh_del and fdb_del would; the
 *                                                first failure is returned
 *   host:sysctl(key) -> value | nil, message, "ENOENT";  host:sysctl_set(key, value)
 *   host:read(path) -> text | nil, message, "ENOENT";  host:write(path, text), host:remove(path)
 *   host:list(dir) -> names
 *   host:iptables_save(family, backend) -> text;  host:iptables_restore(family, backend, text)
 *                                                the simulated rules (host.h), as the tools show them
 *   host:cni_active() -> path | nil, message, "ENOENT"   the CNI config the runtime uses
 *   host:sandbox(id) -> true | nil, message, "NetworkNotReady" | "FailedCreatePodSandBox"
 *   host:node_run(script [, args]) -> exit code, result line   a node script (a bundled name or
 *                                                a file) against this host through the host seam,
 *                                                as a node-run pod on it runs it (noderun.h)
 *   host:close()                                 also __gc and __close
 *
 *   fake.on_change(kinds, fn [, fields])   in a --fake run: fn(type, obj, prev) after every change
 *       of an object whose kind is in the list kinds ("Pod", "Node", ...): type "ADDED", "MODIFIED"
 *       or "DELETED", obj the object as of the change (DELETED: its last state), prev the object
 *       before a MODIFIED (else nil). With fields (a list of member paths: "kind",
 *       "metadata.name", "status.addresses"), obj and prev hold only those members (so a watcher
 *       of every pod does not copy each whole pod). fn runs inside the cluster's write: it reads (objects,
 *       hosts) and must not write (fake.request other than GET raises there); an error in it
 *       is logged and fails the run as an agent's does. The rehearsal's invariants use it.
 *   fake.rehearsal()            in a --fake run: {fixture = path, seed = n, exe = this binary,
 *       lua_dir = --lua-dir or nil}: what it takes to run the same rehearsal again on another seed
 *   fake.violation(message)     in a --fake run: a safety invariant is broken; logged with the
 *       virtual time, and the run ends failed (exit 1) whatever the script does
 */
#include "cmlua.h"
#include "fake/host/cni.h"
#include "fake/api/kinds.h"
#include "fake/api/store.h"
#include "fake/fake.h"
#include "fake/host/host.h"
#include "fake/host/ip4.h"
#include "fake/sim/simrun.h"
#include "lfake.h"
#include "json.h"
#include "ljson.h"
#include "noderun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOST_MT "cm.fake.Host"

/* The registry key of the on_change table: kind name -> array of functions. */
static const char WATCHERS_KEY = 'w';

/* The result of a host operation: true, or nil, "what: strerror", errno name. */
static int result(lua_State *L, int rc, const char *what)
{
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return cm_fail(L, cm_host_errno_name(-rc), "%s: %s", what, strerror(-rc));
}

/*
 * A Host handle: one it owns (fake.new_host) holds the host and frees it on close; one of a
 * node's simulated host holds only the node's name (user value 1) and finds the host again at
 * each call, since the simulation frees a node's host when the Node is deleted.
 */
typedef struct host_box {
    enum { BOX_CLOSED, BOX_OWNED, BOX_NODE } kind;
    cm_host *h; /* BOX_OWNED */
} host_box;

static cm_host *check_host(lua_State *L)
{
    host_box *box = luaL_checkudata(L, 1, HOST_MT);
    luaL_argcheck(L, box->kind != BOX_CLOSED, 1, "attempt to use a closed host");
    if (box->kind == BOX_OWNED)
        return box->h;
    lua_getiuservalue(L, 1, 1);
    const char *node = lua_tostring(L, -1);
    struct cm_run *run = cm_run_get(L);
    cm_host *h = run->sim ? cm_sim_run_host(run->sim, node) : NULL;
    if (!h)
        luaL_error(L, "the host of node '%s' is gone (its Node was deleted)", node);
    lua_pop(L, 1);
    return h;
}

/* Pushes a new, closed Host handle. */
static host_box *push_box(lua_State *L)
{
    host_box *box = lua_newuserdatauv(L, sizeof *box, 1);
    *box = (host_box){BOX_CLOSED, NULL};
    luaL_setmetatable(L, HOST_MT);
    return box;
}

void cm_fake_push_node_host(lua_State *L, const char *node)
{
    host_box *box = push_box(L);
    lua_pushstring(L, node);
    lua_setiuservalue(L, -2, 1);
    box->kind = BOX_NODE;
}

char *cm_fake_agent_on_pod(lua_State *L, const char *node, const cJSON *pod, const char *event)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cm.agents");
    int rc = cm_pcall(L, 1, 1);
    if (rc == LUA_OK) {
        lua_getfield(L, -1, "on_pod"); /* [agents, on_pod] */
        lua_remove(L, -2);
        lua_pushstring(L, node);
        cm_lua_push_json(L, pod);
        lua_pushstring(L, event);
        cm_fake_push_node_host(L, node); /* [on_pod, node, pod, event, host] */
        rc = cm_pcall(L, 4, 0);
    }
    char *err = NULL;
    if (rc != LUA_OK) { /* [message] */
        const char *msg = lua_tostring(L, -1);
        err = strdup(msg ? msg : "(an error that is not a string)");
        if (!err)
            err = strdup("out of memory");
    }
    lua_settop(L, top);
    return err;
}

static int link_add_op(cm_host *h, const cJSON *l, int replace)
{
    (void)replace;
    return cm_host_link_add(h, l);
}

/* The methods that take one object: its operation, and how messages name it. */
static const struct object_method {
    const char *name;
    int (*op)(cm_host *, const cJSON *, int replace);
    int replace;
    const char *verb, *field; /* "route add" + the object's "dst" */
} OBJECT_METHODS[] = {
    {"link_add", link_add_op, 0, "link add", "name"},
    {"route_add", cm_host_route_add, 0, "route add", "dst"},
    {"route_replace", cm_host_route_add, 1, "route replace", "dst"},
    {"neigh_add", cm_host_neigh_add, 0, "neigh add", "dst"},
    {"neigh_replace", cm_host_neigh_add, 1, "neigh replace", "dst"},
    {"fdb_add", cm_host_fdb_add, 0, "fdb add", "lladdr"},
    {"fdb_replace", cm_host_fdb_add, 1, "fdb replace", "lladdr"},
};

/* host:<method>(object), for the entry of OBJECT_METHODS that is upvalue 1. */
static int object_method(lua_State *L)
{
    const struct object_method *m = lua_touserdata(L, lua_upvalueindex(1));
    cm_host *h = check_host(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, m->field);
    const char *what = lua_pushfstring(L, "%s %s", m->verb, lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
    cJSON *obj = cm_lua_to_json(L, 2);
    int rc = m->op(h, obj, m->replace);
    cJSON_Delete(obj);
    return result(L, rc, what);
}

static int host_link_del(lua_State *L)
{
    const char *name = luaL_checkstring(L, 2);
    return result(L, cm_host_link_del(check_host(L), name), lua_pushfstring(L, "link del %s", name));
}

static int host_link_set(lua_State *L)
{
    cm_host *h = check_host(L);
    const char *name = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int rc = 0;
    if (lua_getfield(L, 3, "mtu") != LUA_TNIL)
        rc = cm_host_link_set_mtu(h, name, (int)luaL_checkinteger(L, -1));
    if (rc == 0 && lua_getfield(L, 3, "up") != LUA_TNIL)
        rc = cm_host_link_set_up(h, name, lua_toboolean(L, -1));
    return result(L, rc, lua_pushfstring(L, "link set %s", name));
}

static int host_addr(lua_State *L, int add)
{
    cm_host *h = check_host(L);
    const char *dev = luaL_checkstring(L, 2), *cidr = luaL_checkstring(L, 3);
    int rc = add ? cm_host_addr_add(h, dev, cidr) : cm_host_addr_del(h, dev, cidr);
    return result(L, rc, lua_pushfstring(L, "addr %s %s dev %s", add ? "add" : "del", cidr, dev));
}

static int host_addr_add(lua_State *L)
{
    return host_addr(L, 1);
}

static int host_addr_del(lua_State *L)
{
    return host_addr(L, 0);
}

static int host_route_del(lua_State *L)
{
    const char *dst = luaL_checkstring(L, 2), *dev = luaL_optstring(L, 3, NULL);
    return result(L, cm_host_route_del(check_host(L), NULL, dst, dev), lua_pushfstring(L, "route del %s", dst));
}

static int host_neigh_del(lua_State *L)
{
    const char *dev = luaL_checkstring(L, 2), *dst = luaL_checkstring(L, 3);
    return result(L, cm_host_neigh_del(check_host(L), dev, dst), lua_pushfstring(L, "neigh del %s", dst));
}

static int host_fdb_del(lua_State *L)
{
    const char *dev = luaL_checkstring(L, 2), *mac = luaL_checkstring(L, 3), *dst = luaL_checkstring(L, 4);
    return result(L, cm_host_fdb_del(check_host(L), dev, mac, dst), lua_pushfstring(L, "fdb del %s", mac));
}

/* The keys host:prune deletes from one section ("routes": dst; "neighbours": dst; "fdb": "lladdr dst") of
 * the entries on dev that want (a table of keys at index w) lacks; NULL-terminated, malloc'd (NULL: out of
 * memory). */
static char **prune_keys(lua_State *L, const cm_host *h, const char *section, const char *dev, int w)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(cm_host_json(h), section), *e;
    size_t n = 0;
    char **keys = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *keys);
    if (!keys)
        return NULL;
    lua_getfield(L, w, section);
    int t = lua_gettop(L);
    cJSON_ArrayForEach(e, arr)
    {
        const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dev"));
        const char *dst = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dst"));
        const char *proto = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "protocol"));
        const char *mac = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "lladdr"));
        if (!d || strcmp(d, dev) != 0 || !dst || (strcmp(section, "routes") == 0 && proto && strcmp(proto, "kernel") == 0))
            continue;
        char buf[512];
        snprintf(buf, sizeof buf, "%s%s%s", strcmp(section, "fdb") == 0 ? (mac ? mac : "") : "",
                 strcmp(section, "fdb") == 0 ? " " : "", dst);
        int wanted = 0;
        if (lua_istable(L, t)) {
            lua_getfield(L, t, buf);
            wanted = lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        if (!wanted && !(keys[n++] = strdup(buf))) {
            for (size_t i = 0; i + 1 < n; i++)
                free(keys[i]);
            free(keys);
            keys = NULL;
            break;
        }
    }
    lua_settop(L, t - 1);
    return keys;
}

static void free_keys(char **keys)
{
    for (size_t i = 0; keys && keys[i]; i++)
        free(keys[i]);
    free(keys);
}

static int host_prune(lua_State *L)
{
    cm_host *h = check_host(L);
    const char *dev = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    static const char *const sections[] = {"routes", "neighbours", "fdb"};
    for (int i = 0; i < 3; i++) {
        char **keys = prune_keys(L, h, sections[i], dev, 3);
        if (!keys)
            return luaL_error(L, "not enough memory");
        for (size_t k = 0; keys[k]; k++) {
            int rc;
            const char *what;
            if (i == 0) {
                rc = cm_host_route_del(h, NULL, keys[k], NULL);
                what = lua_pushfstring(L, "route del %s", keys[k]);
            } else if (i == 1) {
                rc = cm_host_neigh_del(h, dev, keys[k]);
                what = lua_pushfstring(L, "neigh del %s", keys[k]);
            } else {
                char *sp = strchr(keys[k], ' ');
                *sp = '\0';
                rc = cm_host_fdb_del(h, dev, keys[k], sp + 1);
                what = lua_pushfstring(L, "fdb del %s", keys[k]);
            }
            if (rc != 0) {
                free_keys(keys);
                return result(L, rc, what);
            }
            lua_pop(L, 1);
        }
        free_keys(keys);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int host_json(lua_State *L)
{
    cm_lua_push_json(L, cm_host_json(check_host(L)));
    return 1;
}

static int host_section(lua_State *L)
{
    cm_host *h = check_host(L);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cm_host_json(h), luaL_checkstring(L, 2));
    if (v)
        cm_lua_push_json(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* Pushes a host's entry, or nil. */
static int push_entry(lua_State *L, const cJSON *e)
{
    if (e)
        cm_lua_push_json(L, e);
    else
        lua_pushnil(L);
    return 1;
}

static int host_route_to(lua_State *L)
{
    cm_host *h = check_host(L);
    uint32_t addr;
    if (!cm_ip4_parse(luaL_checkstring(L, 2), 0, &addr))
        return push_entry(L, NULL);
    return push_entry(L, cm_host_route_to(h, addr));
}

static int host_neigh_to(lua_State *L)
{
    cm_host *h = check_host(L);
    return push_entry(L, cm_host_neigh_to(h, luaL_checkstring(L, 2), luaL_checkstring(L, 3)));
}

static int host_fdb_to(lua_State *L)
{
    cm_host *h = check_host(L);
    return push_entry(L, cm_host_fdb_to(h, luaL_checkstring(L, 2), luaL_checkstring(L, 3)));
}

static int host_link(lua_State *L)
{
    const char *name = luaL_checkstring(L, 2);
    const cJSON *l = cm_host_link(check_host(L), name);
    if (!l)
        return result(L, -ENODEV, lua_pushfstring(L, "link %s", name));
    cm_lua_push_json(L, l);
    return 1;
}

static int host_sysctl(lua_State *L)
{
    const char *key = luaL_checkstring(L, 2);
    const char *v = cm_host_sysctl_get(check_host(L), key);
    if (!v)
        return result(L, -ENOENT, lua_pushfstring(L, "sysctl %s", key));
    lua_pushstring(L, v);
    return 1;
}

static int host_sysctl_set(lua_State *L)
{
    const char *key = luaL_checkstring(L, 2), *value = luaL_checkstring(L, 3);
    return result(L, cm_host_sysctl_set(check_host(L), key, value), lua_pushfstring(L, "sysctl %s", key));
}

static int host_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 2);
    const char *text = cm_host_file_read(check_host(L), path);
    if (!text)
        return result(L, -ENOENT, path);
    lua_pushstring(L, text);
    return 1;
}

static int host_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 2), *text = luaL_checkstring(L, 3);
    return result(L, cm_host_file_write(check_host(L), path, text), path);
}

static int host_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 2);
    return result(L, cm_host_file_remove(check_host(L), path), path);
}

static int host_list(lua_State *L)
{
    cJSON *names = cm_host_file_list(check_host(L), luaL_checkstring(L, 2));
    if (!names)
        return luaL_error(L, "not enough memory");
    cm_lua_push_json(L, names);
    cJSON_Delete(names);
    return 1;
}

static int host_iptables_save(lua_State *L)
{
    cm_host *h = check_host(L);
    char *text = cm_host_ipt_save(h, luaL_checkstring(L, 2), luaL_checkstring(L, 3));
    if (!text)
        return luaL_error(L, "not enough memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

static int host_iptables_restore(lua_State *L)
{
    cm_host *h = check_host(L);
    char err[512];
    int rc = cm_host_ipt_restore(h, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checkstring(L, 4), err,
                                 sizeof err);
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return cm_fail(L, cm_host_errno_name(-rc), "iptables-restore: %s", err);
}

static int host_cni_active(lua_State *L)
{
    char path[512];
    if (!cm_cni_active(check_host(L), CM_CNI_DIR, path, sizeof path))
        return cm_fail(L, "ENOENT", "no CNI configuration in %s", CM_CNI_DIR);
    lua_pushstring(L, path);
    return 1;
}

static int host_sandbox(lua_State *L)
{
    char msg[1024];
    int ready;
    if (cm_cni_sandbox_ok(check_host(L), luaL_checkstring(L, 2), &ready, msg, sizeof msg)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return cm_fail(L, ready ? "FailedCreatePodSandBox" : "NetworkNotReady", "%s", msg);
}

static int host_close(lua_State *L)
{
    host_box *box = luaL_checkudata(L, 1, HOST_MT);
    if (box->kind == BOX_OWNED)
        cm_host_free(box->h);
    *box = (host_box){BOX_CLOSED, NULL};
    return 0;
}

static int host_tostring(lua_State *L)
{
    host_box *box = luaL_checkudata(L, 1, HOST_MT);
    lua_pushstring(L, box->kind != BOX_CLOSED ? "cm.fake.Host" : "cm.fake.Host (closed)");
    return 1;
}

static int fake_new_host(lua_State *L)
{
    int from_doc = !lua_isnoneornil(L, 1);
    if (from_doc)
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    host_box *box = push_box(L); /* [doc, box]: created closed, then filled */
    if (!from_doc) {
        box->h = cm_host_new();
        if (!box->h)
            return luaL_error(L, "not enough memory");
        box->kind = BOX_OWNED;
        return 1;
    }
    cJSON *doc = cm_lua_to_json(L, 1);
    char err[256];
    box->h = cm_host_from_json(doc, err, sizeof err);
    cJSON_Delete(doc);
    if (!box->h)
        return cm_fail(L, "InvalidHost", "invalid host: %s", err);
    box->kind = BOX_OWNED;
    return 1;
}

static int fake_node_host(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    host_box *box = push_box(L); /* [node, box]: created closed, then filled */
    cJSON *node = cm_lua_to_json(L, 1);
    box->h = cm_host_new_node(node);
    cJSON_Delete(node);
    if (!box->h)
        return luaL_error(L, "not enough memory");
    box->kind = BOX_OWNED;
    return 1;
}

/* Pushes an answer's body (or its Status as nil, message, reason); returns the count. */
static int push_answer(lua_State *L, const cm_fake_resp *resp)
{
    cm_json_error jerr;
    cJSON *body = resp->body ? cm_json_parse(resp->body, resp->body_len, &jerr) : NULL;
    int n;
    if (resp->status >= 200 && resp->status < 300 && body) {
        cm_lua_push_json(L, body);
        n = 1;
    } else {
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "message"));
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "reason"));
        n = cm_fail(L, reason ? reason : "Unknown", "%s", msg ? msg : "no answer");
    }
    cJSON_Delete(body);
    return n;
}

static int fake_request(lua_State *L)
{
    const char *method = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    struct cm_run *run = cm_run_get(L);
    if (!run->sim)
        return luaL_error(L, "fake.request: only in a --fake run");
    if (strcmp(method, "GET") != 0 && cm_sim_run_watching(run->sim))
        return luaL_error(L, "fake.request: %s inside fake.on_change (it only reads)", method);
    char *body = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        cJSON *b = cm_lua_to_json(L, 3);
        body = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
    }
    const char *q = strchr(path, '?');
    lua_pushlstring(L, path, q ? (size_t)(q - path) : strlen(path));
    cm_fake_resp resp = {0};
    cm_sim_run_request(run->sim, method, lua_tostring(L, -1), q ? q + 1 : NULL, body, &resp);
    free(body);
    int n = push_answer(L, &resp);
    cm_fake_resp_clear(&resp);
    return n;
}

static int host_node_run(lua_State *L)
{
    cm_host *h = check_host(L);
    const char *script = luaL_checkstring(L, 2);
    char *args = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        cJSON *a = cm_lua_to_json(L, 3);
        args = cJSON_GetArraySize(a) ? cJSON_PrintUnformatted(a) : NULL; /* {} may come out as [] */
        cJSON_Delete(a);
    }
    struct cm_run *run = cm_run_get(L);
    struct cm_node_run_opts o = {.ops = &cm_hostops_sim, .ud = h, .lua_dir = run->lua_dir, .log = run->log};
    char *line = NULL;
    int code = cm_node_run(&o, script, args, &line);
    free(args);
    lua_pushinteger(L, code);
    lua_pushstring(L, line ? line : "");
    free(line);
    return 2;
}

static const luaL_Reg host_methods[] = {
    {"addr_add", host_addr_add},       {"addr_del", host_addr_del},
    {"cni_active", host_cni_active},   {"close", host_close},
    {"fdb_del", host_fdb_del},         {"fdb_to", host_fdb_to},
    {"iptables_save", host_iptables_save},
    {"iptables_restore", host_iptables_restore},         {"json", host_json},
    {"link", host_link},               {"link_del", host_link_del},
    {"link_set", host_link_set},       {"list", host_list},
    {"neigh_del", host_neigh_del},     {"neigh_to", host_neigh_to},
    {"node_run", host_node_run},       {"prune", host_prune},
    {"read", host_read},
    {"remove", host_remove},           {"route_del", host_route_del},
    {"route_to", host_route_to},       {"section", host_section},
    {"sandbox", host_sandbox},
    {"sysctl", host_sysctl},           {"sysctl_set", host_sysctl_set},
    {"write", host_write},             {NULL, NULL},
};

static const luaL_Reg host_meta[] = {
    {"__tostring", host_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

static int fake_host(lua_State *L)
{
    const char *node = luaL_checkstring(L, 1);
    struct cm_run *run = cm_run_get(L);
    if (!run->sim)
        return luaL_error(L, "fake.host: only in a --fake run");
    if (!cm_sim_run_host(run->sim, node))
        return cm_fail(L, "NotFound", "no simulated host for node '%s' (no such Node)", node);
    cm_fake_push_node_host(L, node);
    return 1;
}

static const char *const EVENT_TYPES[] = {"ADDED", "MODIFIED", "DELETED"};

/* Pushes obj with only the members the list of dotted paths at index fields names. */
static void push_fields(lua_State *L, const cJSON *obj, int fields)
{
    lua_newtable(L);
    cm_lua_mark(L, -1, 0);
    int root = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, fields, i) == LUA_TSTRING; i++) {
        const char *path = lua_tostring(L, -1);
        const cJSON *o = obj;
        lua_pushvalue(L, root); /* [.., path, t] */
        for (const char *dot; o && (dot = strchr(path, '.')); path = dot + 1) {
            char seg[128];
            snprintf(seg, sizeof seg, "%.*s", (int)(dot - path), path);
            o = cJSON_GetObjectItemCaseSensitive(o, seg);
            if (!cJSON_IsObject(o))
                o = NULL;
            else if (lua_getfield(L, -1, seg) != LUA_TTABLE) { /* [.., path, t, sub?] */
                lua_pop(L, 1);
                lua_newtable(L);
                cm_lua_mark(L, -1, 0);
                lua_pushvalue(L, -1);
                lua_setfield(L, -3, seg);
            }
            if (o)
                lua_remove(L, -2); /* [.., path, sub] */
        }
        const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, path) : NULL;
        if (v) {
            cm_lua_push_json(L, v);
            lua_setfield(L, -2, path);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 1); /* the value that ended the list */
}

/* Pushes an object of a change for an on_change entry at index e (a function, or {fn, fields}). */
static void push_changed(lua_State *L, const cJSON *obj, int e)
{
    if (lua_type(L, e) != LUA_TTABLE) {
        cm_lua_push_json(L, obj);
        return;
    }
    lua_rawgeti(L, e, 2);
    push_fields(L, obj, lua_gettop(L));
    lua_remove(L, -2);
}

/* Calls each on_change function of the change's kind with (type, obj, prev); failures are the run's. */
static void changed(void *ud, const struct cm_event *ev)
{
    struct cm_run *run = ud;
    lua_State *L = run->L;
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &WATCHERS_KEY); /* [watchers] */
    if (lua_getfield(L, -1, ev->kind->kind) == LUA_TTABLE) { /* [watchers, fns] */
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            int e = (lua_rawgeti(L, top + 2, i), lua_gettop(L)); /* [watchers, fns, entry] */
            if (lua_type(L, e) == LUA_TTABLE)
                lua_rawgeti(L, e, 1);
            else
                lua_pushvalue(L, e);
            lua_pushstring(L, EVENT_TYPES[ev->type]);
            push_changed(L, ev->obj, e);
            if (ev->prev)
                push_changed(L, ev->prev, e);
            else
                lua_pushnil(L); /* [watchers, fns, entry, fn, type, obj, prev] */
            if (cm_pcall(L, 3, 0) != LUA_OK) {
                const char *msg = lua_tostring(L, -1);
                cm_sim_run_agent_failed(run->sim, NULL, msg ? msg : "fake.on_change: an error that is not a string");
            }
            lua_settop(L, top + 2);
        }
    }
    lua_settop(L, top);
}

static int fake_on_change(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 3)) { /* the entry is {fn, fields} */
        luaL_checktype(L, 3, LUA_TTABLE);
        for (lua_Integer i = 1; lua_rawgeti(L, 3, i) != LUA_TNIL; i++) {
            luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 3, "fields must be a list of member paths");
            lua_pop(L, 1);
        }
        lua_settop(L, 3);
        lua_createtable(L, 2, 0);
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, 3);
        lua_rawseti(L, -2, 2);
        lua_replace(L, 2);
    }
    struct cm_run *run = cm_run_get(L);
    if (!run->sim)
        return luaL_error(L, "fake.on_change: only in a --fake run");
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &WATCHERS_KEY) != LUA_TTABLE) { /* [.., watchers?] */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &WATCHERS_KEY);
        cm_sim_run_watch(run->sim, changed, run);
    }
    for (lua_Integer i = 1; lua_rawgeti(L, 1, i) != LUA_TNIL; i++) { /* [.., watchers, kind] */
        luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "kinds must be a list of kind names");
        if (lua_getfield(L, -2, lua_tostring(L, -1)) != LUA_TTABLE) { /* [.., watchers, kind, fns?] */
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2); /* [.., watchers, kind, fns, kind, fns] */
            lua_rawset(L, -5);
        }
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, luaL_len(L, -2) + 1);
        lua_pop(L, 2); /* [.., watchers] */
    }
    return 0;
}

static int fake_rehearsal(lua_State *L)
{
    struct cm_run *run = cm_run_get(L);
    if (!run->sim)
        return luaL_error(L, "fake.rehearsal: only in a --fake run");
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, cm_sim_run_fixture(run->sim));
    lua_setfield(L, -2, "fixture");
    lua_pushinteger(L, (lua_Integer)cm_sim_run_seed(run->sim));
    lua_setfield(L, -2, "seed");
    if (n > 0) {
        lua_pushlstring(L, exe, (size_t)n);
        lua_setfield(L, -2, "exe");
    }
    if (run->lua_dir) {
        lua_pushstring(L, run->lua_dir);
        lua_setfield(L, -2, "lua_dir");
    }
    return 1;
}

static int fake_violation(lua_State *L)
{
    const char *msg = luaL_checkstring(L, 1);
    struct cm_run *run = cm_run_get(L);
    if (!run->sim)
        return luaL_error(L, "fake.violation: only in a --fake run");
    cm_sim_run_violation(run->sim, msg);
    return 0;
}

static const luaL_Reg fake_funcs[] = {
    {"host", fake_host},
    {"new_host", fake_new_host},
    {"node_host", fake_node_host},
    {"on_change", fake_on_change},
    {"rehearsal", fake_rehearsal},
    {"request", fake_request},
    {"violation", fake_violation},
    {NULL, NULL},
};

int luaopen_cm_fake(lua_State *L)
{
    cm_new_class(L, HOST_MT, host_meta, host_methods); /* [methods] */
    for (size_t i = 0; i < sizeof OBJECT_METHODS / sizeof OBJECT_METHODS[0]; i++) {
        lua_pushlightuserdata(L, (void *)&OBJECT_METHODS[i]);
        lua_pushcclosure(L, object_method, 1);
        lua_setfield(L, -2, OBJECT_METHODS[i].name);
    }
    lua_pop(L, 1);
    luaL_newlib(L, fake_funcs);
    return 1;
}
