/*
 * liptables.c - cm.iptables: the packet filter rules of the run's host, through the
 * iptables tools of this system or image ({ip,ip6}tables-{legacy,nft}-{save,restore}) or the
 * simulated host's rules. What to remove is Lua's (lua/cm/iptables.lua).
 *
 *   iptables.save(family, backend) -> text | nil, msg, code   iptables-save's output;
 *       family "ipv4"|"ipv6", backend "legacy"|"nft"; "ENOENT" when that tool is missing
 *   iptables.restore(family, backend, text) -> true | nil, msg, code   iptables-restore
 *       --noflush --wait with text on stdin ("ToolFailed" with the tool's message)
 *   iptables.nft_tables() -> {{family, name}, ...} | nil, msg, "ENOENT" (no nft)
 *   iptables.nft_delete_table(family, name) -> true | nil, msg, code   (nft delete table)
 */
#include "lhost.h"
#include "ljson.h"

#include <stdlib.h>
#include <string.h>

static void check_args(lua_State *L, const char **family, const char **backend)
{
    static const char *const FAMILIES[] = {"ipv4", "ipv6", NULL};
    static const char *const BACKENDS[] = {"legacy", "nft", NULL};
    *family = FAMILIES[luaL_checkoption(L, 1, NULL, FAMILIES)];
    *backend = BACKENDS[luaL_checkoption(L, 2, NULL, BACKENDS)];
}

static int ipt_save(lua_State *L)
{
    const char *family, *backend;
    check_args(L, &family, &backend);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    char *out;
    if (ops->ipt_save(&c, family, backend, &out) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushstring(L, out);
    free(out);
    return 1;
}

static int ipt_restore(lua_State *L)
{
    const char *family, *backend;
    check_args(L, &family, &backend);
    const char *text = luaL_checkstring(L, 3);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    if (ops->ipt_restore(&c, family, backend, text) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushboolean(L, 1);
    return 1;
}

static int nft_tables(lua_State *L)
{
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    cJSON *out;
    if (ops->nft_tables(&c, &out) != 0)
        return cm_lua_host_fail(L, &c);
    cm_lua_push_json(L, out);
    cJSON_Delete(out);
    return 1;
}

static int nft_delete_table(lua_State *L)
{
    static const char *const FAMILIES[] = {"ip", "ip6", "inet", "arp", "bridge", "netdev", NULL};
    const char *family = FAMILIES[luaL_checkoption(L, 1, NULL, FAMILIES)];
    const char *name = luaL_checkstring(L, 2);
    luaL_argcheck(L, name[0] && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == strlen(name),
                  2, "not an nftables table name");
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    if (ops->nft_delete_table(&c, family, name) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"nft_tables", nft_tables},
    {"nft_delete_table", nft_delete_table},
    {"save", ipt_save},
    {"restore", ipt_restore},
    {NULL, NULL},
};

int luaopen_cm_iptables(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
