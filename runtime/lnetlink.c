/*
 * lnetlink.c - cm.netlink: links, addresses, routes, neighbours and the bridge FDB of the
 * run's host (the kernel over rtnetlink, nl.c; or a simulated node's host), as tables in the
 * shapes of hostops.h. Each function takes a last, optional opts table; opts.netns names a
 * network namespace file (real host only) to act in. Failures: nil, message, errno name
 * ("ENODEV", "EEXIST", "ESRCH", "EOPNOTSUPP"; the message carries the kernel's extended ack),
 * or "Timeout".
 *
 *   netlink.host() -> "real" | "simulated"
 *   netlink.links([opts]) -> links          opts.kind, opts.name filter
 *   netlink.link(name [, opts]) -> link | nil, msg, "ENODEV"
 *   netlink.link_add(link [, opts])          link = {name, kind = "vxlan"|"bridge"|"veth"|
 *       "dummy", mtu?, mac?, up?, vxlan = {id, port?, local?, dev?, learning?}, peer? (veth)}
 *   netlink.link_del(name [, opts]), netlink.link_set(name, {up?, mtu?, master?} [, opts])
 *   netlink.addrs([opts]) -> addrs          opts.dev, opts.family ("inet"|"inet6")
 *   netlink.addr_add(dev, cidr [, opts]), netlink.addr_del(dev, cidr [, opts])
 *   netlink.routes([opts]) -> routes        opts.dev, opts.family, opts.protocol, opts.type,
 *       opts.table ("main" by default; "all" for every table)
 *   netlink.route_add(route [, opts]), netlink.route_replace(route [, opts]),
 *   netlink.route_del(route [, opts])       route as routes() gives it
 *   netlink.neighbours([opts]) -> neighbours   opts.dev, opts.family
 *   netlink.neigh_add(n [, opts]), netlink.neigh_replace(n [, opts]), netlink.neigh_del(n [, opts])
 *   netlink.fdb([opts]) -> entries           opts.dev
 *   netlink.fdb_add(f [, opts]), netlink.fdb_replace(f [, opts]), netlink.fdb_del(f [, opts])
 * Each change returns true.
 */
#include "lhost.h"
#include "ljson.h"

#include <string.h>

/* Whether entry matches every string filter of opts (at idx) among keys. */
static int matches(lua_State *L, int idx, const cJSON *entry, const char *const *keys)
{
    for (const char *const *k = keys; *k; k++) {
        if (!idx || lua_getfield(L, idx, *k) == LUA_TNIL) {
            if (idx)
                lua_pop(L, 1);
            if (strcmp(*k, "table") == 0) { /* the main table unless asked */
                const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "table"));
                if (t && strcmp(t, "main") != 0)
                    return 0;
            }
            continue;
        }
        const char *want = luaL_checkstring(L, -1);
        const char *have = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, *k));
        int ok = (strcmp(*k, "table") == 0 && strcmp(want, "all") == 0) || (have && strcmp(want, have) == 0);
        lua_pop(L, 1);
        if (!ok)
            return 0;
    }
    return 1;
}

/* Pushes the entries of arr that match opts (at idx, 0: none); frees arr. */
static int push_filtered(lua_State *L, cJSON *arr, int idx, const char *const *keys)
{
    cJSON *out = cJSON_CreateArray();
    cJSON *e = arr->child;
    while (e) {
        cJSON *next = e->next;
        if (matches(L, idx, e, keys))
            cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(arr, e));
        e = next;
    }
    cJSON_Delete(arr);
    cm_lua_push_json(L, out);
    cJSON_Delete(out);
    return 1;
}

/* The opts table at idx, or 0 when absent. */
static int opts_at(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return idx;
}

static int done(lua_State *L, const cm_hostcall *c, int rc)
{
    if (rc != 0)
        return cm_lua_host_fail(L, c);
    lua_pushboolean(L, 1);
    return 1;
}

/* A list operation (which: 0 links, 1 addrs, 2 routes, 3 neighbours, 4 fdb), filtered. */
static int list(lua_State *L, int which, const char *const *keys)
{
    int o = opts_at(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, o);
    cJSON *arr = NULL;
    int rc = which == 0 ? ops->links(&c, &arr) : which == 1 ? ops->addrs(&c, &arr)
             : which == 2 ? ops->routes(&c, &arr) : ops->neighs(&c, which == 4, &arr);
    if (rc != 0)
        return cm_lua_host_fail(L, &c);
    return push_filtered(L, arr, o, keys);
}

static int nl_links(lua_State *L)
{
    static const char *const K[] = {"kind", "name", NULL};
    return list(L, 0, K);
}

static int nl_addrs(lua_State *L)
{
    static const char *const K[] = {"dev", "family", NULL};
    return list(L, 1, K);
}

static int nl_routes(lua_State *L)
{
    static const char *const K[] = {"dev", "family", "protocol", "type", "table", NULL};
    return list(L, 2, K);
}

static int nl_neighbours(lua_State *L)
{
    static const char *const K[] = {"dev", "family", NULL};
    return list(L, 3, K);
}

static int nl_fdb(lua_State *L)
{
    static const char *const K[] = {"dev", NULL};
    return list(L, 4, K);
}

static int nl_link(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int o = opts_at(L, 2);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, o);
    cJSON *arr;
    if (ops->links(&c, &arr) != 0)
        return cm_lua_host_fail(L, &c);
    const cJSON *l;
    cJSON_ArrayForEach(l, arr)
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "name"));
        if (n && strcmp(n, name) == 0) {
            cm_lua_push_json(L, l);
            cJSON_Delete(arr);
            return 1;
        }
    }
    cJSON_Delete(arr);
    return cm_fail(L, "ENODEV", "link %s: No such device", name);
}

/* An operation on one object (a table at 1): which says which. */
enum { OP_LINK_ADD, OP_ROUTE_ADD, OP_ROUTE_REPLACE, OP_ROUTE_DEL, OP_NEIGH_ADD, OP_NEIGH_REPLACE, OP_NEIGH_DEL,
       OP_FDB_ADD, OP_FDB_REPLACE, OP_FDB_DEL };

static int object_op(lua_State *L)
{
    int op = (int)lua_tointeger(L, lua_upvalueindex(1));
    luaL_checktype(L, 1, LUA_TTABLE);
    int o = opts_at(L, 2);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, o);
    cJSON *obj = cm_lua_to_json(L, 1);
    int rc;
    switch (op) {
    case OP_LINK_ADD: rc = ops->link_add(&c, obj); break;
    case OP_ROUTE_ADD: rc = ops->route_add(&c, obj, 0); break;
    case OP_ROUTE_REPLACE: rc = ops->route_add(&c, obj, 1); break;
    case OP_ROUTE_DEL: rc = ops->route_del(&c, obj); break;
    case OP_NEIGH_ADD: rc = ops->neigh_add(&c, 0, obj, 0); break;
    case OP_NEIGH_REPLACE: rc = ops->neigh_add(&c, 0, obj, 1); break;
    case OP_NEIGH_DEL: rc = ops->neigh_del(&c, 0, obj); break;
    case OP_FDB_ADD: rc = ops->neigh_add(&c, 1, obj, 0); break;
    case OP_FDB_REPLACE: rc = ops->neigh_add(&c, 1, obj, 1); break;
    default: rc = ops->neigh_del(&c, 1, obj); break;
    }
    cJSON_Delete(obj);
    return done(L, &c, rc);
}

static int nl_link_del(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, opts_at(L, 2));
    return done(L, &c, ops->link_del(&c, name));
}

static int nl_link_set(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, opts_at(L, 3));
    cJSON *set = cm_lua_to_json(L, 2);
    int rc = ops->link_set(&c, name, set);
    cJSON_Delete(set);
    return done(L, &c, rc);
}

static int addr_op(lua_State *L, int add)
{
    const char *dev = luaL_checkstring(L, 1), *cidr = luaL_checkstring(L, 2);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, opts_at(L, 3));
    return done(L, &c, add ? ops->addr_add(&c, dev, cidr) : ops->addr_del(&c, dev, cidr));
}

static int nl_addr_add(lua_State *L)
{
    return addr_op(L, 1);
}

static int nl_addr_del(lua_State *L)
{
    return addr_op(L, 0);
}

static int nl_host(lua_State *L)
{
    cm_hostcall c;
    lua_pushstring(L, cm_lua_host(L, &c, 0)->name);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"host", nl_host},         {"links", nl_links},         {"link", nl_link},
    {"link_del", nl_link_del}, {"link_set", nl_link_set},   {"addrs", nl_addrs},
    {"addr_add", nl_addr_add}, {"addr_del", nl_addr_del},   {"routes", nl_routes},
    {"neighbours", nl_neighbours}, {"fdb", nl_fdb},         {NULL, NULL},
};

static const struct { const char *name; int op; } OBJECT_OPS[] = {
    {"link_add", OP_LINK_ADD},     {"route_add", OP_ROUTE_ADD},   {"route_replace", OP_ROUTE_REPLACE},
    {"route_del", OP_ROUTE_DEL},   {"neigh_add", OP_NEIGH_ADD},   {"neigh_replace", OP_NEIGH_REPLACE},
    {"neigh_del", OP_NEIGH_DEL},   {"fdb_add", OP_FDB_ADD},       {"fdb_replace", OP_FDB_REPLACE},
    {"fdb_del", OP_FDB_DEL},
};

int luaopen_cm_netlink(lua_State *L)
{
    luaL_newlib(L, funcs); /* [netlink] */
    for (size_t i = 0; i < sizeof OBJECT_OPS / sizeof OBJECT_OPS[0]; i++) {
        lua_pushinteger(L, OBJECT_OPS[i].op);
        lua_pushcclosure(L, object_op, 1);
        lua_setfield(L, -2, OBJECT_OPS[i].name);
    }
    return 1;
}
