/* cmlua.c - the Lua host's shared pieces (see cmlua.h). */
#include "cmlua.h"

#include "bundled.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char RUN_KEY = 0; /* its address keys the run context in the registry */

/* ---- run context ---- */

void cm_run_set(lua_State *L, struct cm_run *run)
{
    if (run)
        lua_pushlightuserdata(L, run);
    else
        lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &RUN_KEY);
}

struct cm_run *cm_run_get(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &RUN_KEY);
    struct cm_run *run = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!run)
        luaL_error(L, "only valid inside a run");
    return run;
}

/* ---- protected calls ---- */

int cm_proc_failure(lua_State *L, int idx, const char **message)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return 0;
    lua_getfield(L, -1, "__name");
    int is = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "cm.proc.Failure") == 0;
    lua_pop(L, 2);
    if (!is)
        return 0;
    lua_getfield(L, idx, "exit");
    int exit = lua_tointeger(L, -1) == 2 ? 2 : 1;
    lua_getfield(L, idx, "message");
    if (message) /* the table holds the string (the caller keeps it on the stack) */
        *message = lua_isstring(L, -1) ? lua_tostring(L, -1) : "failed";
    lua_pop(L, 2);
    return exit;
}

/* Turns any error object into a string with a traceback (lua.c's msghandler); a cm.proc
 * usage or failure value is kept as it is (the runtime maps it to an exit code). */
static int msghandler(lua_State *L)
{
    if (cm_proc_failure(L, 1, NULL))
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1; /* an object that describes itself: no traceback */
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int cm_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs; /* function index */
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base); /* [handler, fn, args...] */
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

int cm_fail(lua_State *L, const char *code, const char *fmt, ...)
{
    va_list ap;
    luaL_pushfail(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushstring(L, code);
    return 3;
}

/* ---- deadline and cancel ---- */

/* Records why the run must stop, once it must; returns that (CM_GO_ON while it need not). */
static int must_stop(struct cm_run *run)
{
    if (run->interrupted == CM_GO_ON) {
        if (run->cancel && *run->cancel)
            run->interrupted = CM_CANCELLED;
        else if (run->deadline != CM_TIME_NEVER && cm_loop_now(run->loop) >= run->deadline)
            run->interrupted = CM_DEADLINE;
    }
    return run->interrupted;
}

static void interrupt_hook(lua_State *L, lua_Debug *ar);

/* Raises the stop error at `where` (which already names the place), and re-arms the hook for
 * every instruction so that a script's pcall, which catches this error, cannot go on past it. */
static int raise_stop(lua_State *L, const struct cm_run *run, const char *where)
{
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1);
    if (run->interrupted == CM_DEADLINE)
        lua_pushfstring(L, "%srun exceeded its deadline of %s", where, run->timeout);
    else
        lua_pushfstring(L, "%srun cancelled", where);
    return lua_error(L);
}

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    struct cm_run *run = cm_run_get(L);
    if (must_stop(run) == CM_GO_ON)
        return;
    char where[256] = "";
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        snprintf(where, sizeof where, "%s:%d: ", ar->short_src, ar->currentline);
    raise_stop(L, run, where);
}

void cm_interrupt_arm(lua_State *L)
{
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1000);
}

void cm_check_interrupt(lua_State *L)
{
    struct cm_run *run = cm_run_get(L);
    if (must_stop(run) == CM_GO_ON)
        return;
    luaL_where(L, 1);
    raise_stop(L, run, lua_tostring(L, -1));
}

/* ---- modules ---- */

static const luaL_Reg C_MODULES[] = {
    {"cm.cni", luaopen_cm_cni},
    {"cm.fake", luaopen_cm_fake},
    {"cm.http", luaopen_cm_http},
    {"cm.iptables", luaopen_cm_iptables},
    {"cm.netlink", luaopen_cm_netlink},
    {"cm.sysctl", luaopen_cm_sysctl},
    {"cm.json", luaopen_cm_json},
    {"cm.k8s", luaopen_cm_k8s},
    {"cm.log", luaopen_cm_log},
    {"cm.metrics", luaopen_cm_metrics},
    {"cm.node", luaopen_cm_node},
    {"cm.task", luaopen_cm_task},
    {"cm.time", luaopen_cm_time},
    {"cm.yaml", luaopen_cm_yaml},
    {NULL, NULL},
};

/* Opens path under the run's lua_dir, if that is set and the file exists there. */
static int load_from_dir(lua_State *L, const char *path, int *status)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &RUN_KEY);
    const struct cm_run *run = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!run || !run->lua_dir)
        return 0;
    const char *file = lua_pushfstring(L, "%s/%s", run->lua_dir, path + strlen("lua/"));
    if (access(file, F_OK) != 0) {
        lua_pop(L, 1);
        return 0;
    }
    *status = luaL_loadfilex(L, file, "t"); /* [file, chunk|msg] */
    lua_remove(L, -2);
    return 1;
}

int cm_load_bundled(lua_State *L, const char *path)
{
    int status;
    if (load_from_dir(L, path, &status))
        return status;
    for (const struct cm_bundled *b = cm_bundled_lua; b->path; b++) {
        if (strcmp(b->path, path) != 0)
            continue;
        lua_pushfstring(L, "@%s", b->path);
        status = luaL_loadbufferx(L, (const char *)b->data, b->len, lua_tostring(L, -1), "t");
        lua_remove(L, -2); /* the chunkname */
        return status;
    }
    lua_pushfstring(L, "no bundled file %s", path);
    return LUA_ERRFILE;
}

/*
 * package.preload loader of a bundled library; upvalue 1 is its entry. The
 * chunk's errors belong to the require that asked for it, so they propagate.
 */
static int load_library(lua_State *L)
{
    const struct cm_bundled *b = lua_touserdata(L, lua_upvalueindex(1));
    if (cm_load_bundled(L, b->path) != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, 1);  /* [chunk, modname] */
    lua_call(L, 1, 1);
    return 1;
}

void cm_preload_all(lua_State *L)
{
    int top = lua_gettop(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); /* [preload] */
    for (const luaL_Reg *m = C_MODULES; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    for (const struct cm_bundled *b = cm_bundled_lua; b->path; b++) {
        size_t n = strlen(b->path);
        if (strncmp(b->path, "lua/cm/", 7) != 0 || n < 12)
            continue;
        luaL_Buffer name; /* lua/cm/x/y.lua -> cm.x.y */
        luaL_buffinit(L, &name);
        for (const char *p = b->path + 4; p < b->path + n - 4; p++)
            luaL_addchar(&name, *p == '/' ? '.' : *p);
        luaL_pushresult(&name);                            /* [preload, name] */
        lua_pushlightuserdata(L, (void *)b);
        lua_pushcclosure(L, load_library, 1);              /* [preload, name, loader] */
        lua_rawset(L, -3);
    }
    lua_pop(L, 1);
    assert(lua_gettop(L) == top);
    (void)top;
}

void cm_new_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);    /* [mt] */
    if (meta)
        luaL_setfuncs(L, meta, 0);
    lua_newtable(L);               /* [mt, methods] */
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index"); /* mt.__index = methods */
    if (lua_getfield(L, -1, "close") == LUA_TFUNCTION) { /* [mt, methods, close] */
        lua_pushvalue(L, -1);
        lua_setfield(L, -4, "__close");
        lua_setfield(L, -3, "__gc"); /* one close for all three */
    } else {
        lua_pop(L, 1);
    }
    lua_remove(L, -2);             /* [methods] */
}

/* ---- strict globals ---- */

static int strict_index(lua_State *L)
{
    return luaL_error(L, "undefined global '%s'", luaL_tolstring(L, 2, NULL));
}

static int strict_newindex(lua_State *L)
{
    return luaL_error(L, "assignment to undeclared global '%s'", luaL_tolstring(L, 2, NULL));
}

void cm_strict_globals(lua_State *L)
{
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 2); /* [G, mt] */
    lua_pushcfunction(L, strict_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, strict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}
