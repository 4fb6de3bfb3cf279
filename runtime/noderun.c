/* noderun.c - a node script against a host (see noderun.h). */
#include "noderun.h"

#include "json.h"
#include "ljson.h"
#include "strbuf.h"

#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {"error": msg, "code": code} as one line. */
static char *error_line(const char *msg, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg ? msg : "unknown error");
    cJSON_AddStringToObject(o, "code", code ? code : "ScriptError");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Whether script names a bundled node script rather than a file. */
static int is_name(const char *script)
{
    size_t n = strlen(script);
    return n && !strchr(script, '/') && !(n > 4 && strcmp(script + n - 4, ".lua") == 0);
}

/* Pushes exit code 0 and v (taken) as one line of JSON; returns 2. */
static int push_result(lua_State *L, cJSON *v)
{
    char *line = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    lua_pushinteger(L, 0);
    lua_pushstring(L, line ? line : "null");
    free(line);
    return 2;
}

/* The host paths of the script's table at idx (absent: none) as a JSON array line, pushed with exit
 * code 0 before it; or exit code 2, a message and "Usage" for a declaration that is not a list of
 * absolute paths. Returns the number of values pushed. */
static int declared_paths(lua_State *L, int idx, const char *script)
{
    cJSON *a = cJSON_CreateArray();
    if (lua_istable(L, idx) && lua_getfield(L, idx, "host_paths") != LUA_TNIL) {
        lua_Integer n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : -1;
        for (lua_Integer i = 1; i <= n; i++) {
            const char *p = lua_rawgeti(L, -1, i) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            if (!p || p[0] != '/')
                n = -1;
            else
                cJSON_AddItemToArray(a, cJSON_CreateString(p));
            lua_pop(L, 1);
        }
        if (n < 0) {
            cJSON_Delete(a);
            lua_pushinteger(L, 2);
            lua_pushfstring(L, "node script '%s': host_paths must be a list of absolute paths", script);
            lua_pushstring(L, "Usage");
            return 3;
        }
    }
    return push_result(L, a);
}

/* The protected part: [run, script, args_json, paths_only, source] -> result line, exit code
 * (with paths_only: the script's host paths, main not run; source: the script's text, or nil). */
static int body(lua_State *L)
{
    struct cm_run *run = lua_touserdata(L, 1);
    const char *script = lua_tostring(L, 2), *args = lua_tostring(L, 3);
    int paths_only = lua_toboolean(L, 4);
    size_t source_len = 0;
    const char *source = lua_tolstring(L, 5, &source_len);
    luaL_openlibs(L);
    cm_run_set(L, run);
    cm_preload_all(L);
    int status;
    if (source) {
        lua_pushfstring(L, "@%s", script);
        status = luaL_loadbufferx(L, source, source_len, lua_tostring(L, -1), "t");
    } else if (is_name(script)) {
        lua_pushfstring(L, "lua/node/%s.lua", script);
        status = cm_load_bundled(L, lua_tostring(L, -1));
    } else {
        status = luaL_loadfilex(L, script, "t");
    }
    if (status != LUA_OK) {
        if (status == LUA_ERRFILE && is_name(script))
            lua_pushfstring(L, "no node script '%s'", script); /* [.., why, message] */
        else
            lua_pushvalue(L, -1);
        lua_pushinteger(L, 2);
        lua_insert(L, -2);
        lua_pushstring(L, "Usage");
        return 3;
    }
    cm_strict_globals(L);
    cm_interrupt_arm(L);
    if (cm_pcall(L, 0, 1) != LUA_OK) {
        lua_pushinteger(L, 1);
        lua_insert(L, -2);
        lua_pushstring(L, "ScriptError");
        return 3;
    }
    if (lua_istable(L, -1))
        lua_getfield(L, -1, "main"); /* [.., chunk's value, main] */
    if (paths_only && lua_isfunction(L, -1))
        return declared_paths(L, lua_gettop(L) - 1, script);
    if (!lua_isfunction(L, -1)) {
        lua_pushinteger(L, 2);
        lua_pushfstring(L, "node script '%s' returns no main function", script);
        lua_pushstring(L, "Usage");
        return 3;
    }
    cm_json_error jerr;
    const char *text = args && *args ? args : "{}";
    cJSON *a = cm_json_parse(text, strlen(text), &jerr);
    if (!cJSON_IsObject(a)) {
        cJSON_Delete(a);
        lua_pushinteger(L, 2);
        lua_pushfstring(L, "--args: expected a JSON object%s%s", a ? "" : ": ", a ? "" : jerr.reason);
        lua_pushstring(L, "Usage");
        return 3;
    }
    cm_lua_push_json(L, a); /* [.., main, args] */
    cJSON_Delete(a);
    int base = lua_gettop(L) - 2;
    if (cm_pcall(L, 1, LUA_MULTRET) != LUA_OK) {
        lua_pushinteger(L, 1);
        lua_insert(L, -2);
        lua_pushstring(L, "ScriptError");
        return 3;
    }
    if (lua_isnil(L, base + 1)) { /* code "BadInput": what the host holds is unusable, exit 2 as for --args */
        const char *code = lua_isstring(L, base + 3) ? lua_tostring(L, base + 3) : "ScriptError";
        lua_pushinteger(L, strcmp(code, "BadInput") == 0 ? 2 : 1);
        lua_pushstring(L, lua_isstring(L, base + 2) ? lua_tostring(L, base + 2) : "the node script failed");
        lua_pushstring(L, code);
        return 3;
    }
    return push_result(L, cm_lua_to_json(L, base + 1)); /* raises for what JSON cannot hold: protected */
}

/* cm_node_run, or with paths_only the script's declared host paths. */
static int run_state(const struct cm_node_run_opts *o, const char *script, const char *args_json, int paths_only,
                     char **line)
{
    cm_loop *own = o->loop ? NULL : cm_loop_new(CM_CLOCK_REAL, 0);
    cm_loop *loop = o->loop ? o->loop : own;
    lua_State *L = loop ? luaL_newstate() : NULL;
    if (!L) {
        cm_loop_free(own);
        *line = error_line("out of memory", "ENOMEM");
        return 1;
    }
    memset(lua_getextraspace(L), 0, LUA_EXTRASPACE);
    static volatile sig_atomic_t never;
    struct cm_run run = {
        .L = L,
        .loop = loop,
        .log = o->log,
        .lua_dir = o->lua_dir,
        .deadline = o->timeout_ns ? cm_loop_now(loop) + o->timeout_ns : CM_TIME_NEVER,
        .cancel = o->cancel ? o->cancel : &never,
        .host_ops = o->ops,
        .host_ud = o->ud,
    };
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, &run);
    lua_pushstring(L, script);
    lua_pushstring(L, args_json ? args_json : "");
    lua_pushboolean(L, paths_only);
    if (o->source)
        lua_pushstring(L, o->source);
    else
        lua_pushnil(L);
    int code;
    if (cm_pcall(L, 5, 3) != LUA_OK) { /* the interrupt, or out of memory */
        code = 1;
        *line = error_line(lua_tostring(L, -1), run.interrupted ? (run.interrupted == CM_DEADLINE ? "Timeout" : "Cancelled") : "ScriptError");
    } else if ((code = (int)lua_tointeger(L, -3)) == 0) {
        *line = strdup(lua_tostring(L, -2));
    } else {
        *line = error_line(lua_tostring(L, -2), lua_tostring(L, -1));
    }
    lua_sethook(L, NULL, 0, 0);
    lua_close(L);
    cm_loop_free(own);
    return code;
}

int cm_node_run(const struct cm_node_run_opts *o, const char *script, const char *args_json, char **line)
{
    return run_state(o, script, args_json, 0, line);
}

char *cm_node_run_message(const char *line)
{
    size_t n = strlen(line);
    if (n <= CM_TERMINATION_MESSAGE_MAX)
        return strdup(line);
    char buf[64];
    snprintf(buf, sizeof buf, "{\"resultInLog\":%zu}", n);
    return strdup(buf);
}

int cm_node_script_paths(const char *lua_dir, const char *script, cJSON **paths, char *msg, size_t size)
{
    struct cm_node_run_opts o = {.lua_dir = lua_dir};
    char *line = NULL;
    int code = run_state(&o, script, NULL, 1, &line);
    cJSON *v = line ? cJSON_Parse(line) : NULL;
    free(line);
    *paths = NULL;
    if (code == 0 && cJSON_IsArray(v)) {
        *paths = v;
        return 0;
    }
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "error"));
    snprintf(msg, size, "%s", e ? e : "out of memory");
    cJSON_Delete(v);
    return -1;
}

char *cm_node_script_source(const char *lua_dir, const char *script)
{
    char path[4096];
    if (is_name(script) && !lua_dir)
        return NULL;
    if (is_name(script))
        snprintf(path, sizeof path, "%s/node/%s.lua", lua_dir, script);
    else
        snprintf(path, sizeof path, "%s", script);
    size_t len;
    return cm_read_file(path, &len);
}
