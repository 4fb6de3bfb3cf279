/*
 * lsysctl.c - cm.sysctl: kernel parameters of the run's host, by sysctl(8)'s dotted name
 * (sysctl.h): /proc/sys on the real host, the simulated host's table in simulation.
 *
 *   sysctl.get(name) -> value (string, without the trailing newline) | nil, msg, errno name
 *   sysctl.set(name, value) -> true | nil, msg, errno name ("ENOENT", "EACCES", "EINVAL")
 *   sysctl.name(part, ...) -> the dotted name of path parts ("flannel.1" becomes "flannel/1")
 * A malformed name (empty, "..", a '/' path, odd characters) raises: it is misuse.
 */
#include "lhost.h"
#include "sysctl.h"

#include <stdlib.h>
#include <string.h>

static const char *check_name(lua_State *L, int idx, char *buf, size_t size)
{
    char err[256];
    if (cm_sysctl_path(luaL_checkstring(L, idx), buf, size, err, sizeof err) != 0)
        luaL_argerror(L, idx, err);
    return buf;
}

static int sysctl_get(lua_State *L)
{
    char path[300];
    check_name(L, 1, path, sizeof path);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    char *v;
    if (ops->sysctl_get(&c, path, &v) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushstring(L, v);
    free(v);
    return 1;
}

static int sysctl_set(lua_State *L)
{
    char path[300];
    check_name(L, 1, path, sizeof path);
    const char *value = luaL_checkstring(L, 2);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    if (ops->sysctl_set(&c, path, value) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushboolean(L, 1);
    return 1;
}

static int sysctl_name(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        const char *s = luaL_checkstring(L, i);
        if (i > 1)
            luaL_addchar(&b, '.');
        for (; *s; s++)
            luaL_addchar(&b, *s == '.' ? '/' : *s);
    }
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"get", sysctl_get},
    {"set", sysctl_set},
    {"name", sysctl_name},
    {NULL, NULL},
};

int luaopen_cm_sysctl(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
