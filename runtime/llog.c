/*
 * llog.c - cm.log: leveled, structured logging through the run's sink.
 *
 *   log.debug(msg [, fields]) / log.info / log.warn / log.error
 *       fields: a table of name = value; strings are written as text, numbers,
 *       booleans and tables as JSON. Names are written sorted.
 *   log.secret(value) -> a Secret: logs as "[redacted]"; secret:reveal() gives
 *       the value back. Fields named like credentials (token, password, ...)
 *       are redacted whatever their value.
 *   log.enabled(level) -> whether a line at that level would be written
 *   log.isatty(stream) -> whether "stdout" or "stderr" is a terminal (for redraws and
 *       live progress lines; plain lines otherwise)
 *   log.format() -> "text" or "json" (--log-format)
 *
 * Lines carry the run's clock: wall time on a real run, virtual time in a
 * simulation. Format and level come from --log-format and --log-level.
 */
#include "cmlua.h"
#include "ljson.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_MT "cm.log.Secret"

static int cmp_fields(const void *a, const void *b)
{
    return strcmp(((const cm_log_field *)a)->key, ((const cm_log_field *)b)->key);
}

/* Fills f from the value on top of the stack, leaving its text there (anchored). */
static void field_value(lua_State *L, cm_log_field *f)
{
    int t = lua_type(L, -1);
    if (luaL_testudata(L, -1, SECRET_MT)) {
        f->secret = 1;
        lua_pushliteral(L, "");
    } else if (t == LUA_TSTRING) {
        lua_pushvalue(L, -1);
    } else if (t == LUA_TNUMBER || t == LUA_TBOOLEAN || t == LUA_TTABLE) {
        cJSON *v = cm_lua_to_json(L, -1);
        char *text = cJSON_PrintUnformatted(v);
        cJSON_Delete(v);
        if (!text)
            luaL_error(L, "not enough memory");
        lua_pushstring(L, text);
        free(text);
        f->is_json = 1;
    } else {
        luaL_tolstring(L, -1, NULL);
    }
    lua_replace(L, -2); /* [text] replaces the value */
    f->value = lua_tostring(L, -1);
}

/* log.<level>(msg [, fields]) with level as upvalue 1. */
static int log_at(lua_State *L)
{
    int level = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *msg = luaL_checkstring(L, 1);
    struct cm_run *run = cm_run_get(L);
    if (!cm_log_enabled(&run->log, level))
        return 0;
    size_t n = 0;
    cm_log_field *fields = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_settop(L, 2);
        lua_Integer count = 0;
        for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1))
            count++;
        fields = lua_newuserdatauv(L, (size_t)count * sizeof *fields + 1, 0); /* [.., buf] */
        luaL_checkstack(L, (int)count * 2 + 4, "too many log fields");
        for (lua_pushnil(L); lua_next(L, 2);) { /* [.., buf, (key, text)*, key, value] */
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_argerror(L, 2, "field names must be strings");
            fields[n] = (cm_log_field){.key = lua_tostring(L, -2)};
            field_value(L, &fields[n++]);
            lua_pushvalue(L, -2); /* [.., key, text, key] for the next lua_next */
        }
        qsort(fields, n, sizeof *fields, cmp_fields);
    }
    if (cm_log_write(&run->log, level, cm_loop_wall(run->loop), msg, fields, n) < 0)
        return luaL_error(L, "not enough memory");
    return 0;
}

static int log_enabled(lua_State *L)
{
    int level = cm_log_level_from_name(luaL_checkstring(L, 1));
    luaL_argcheck(L, level >= 0, 1, "expected debug, info, warn or error");
    lua_pushboolean(L, cm_log_enabled(&cm_run_get(L)->log, level));
    return 1;
}

static int log_isatty(lua_State *L)
{
    static const char *const names[] = {"stdout", "stderr", NULL};
    int which = luaL_checkoption(L, 1, NULL, names);
    lua_pushboolean(L, isatty(which ? STDERR_FILENO : STDOUT_FILENO));
    return 1;
}

static int log_format(lua_State *L)
{
    lua_pushstring(L, cm_run_get(L)->log.json ? "json" : "text");
    return 1;
}

static int log_secret(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_newuserdatauv(L, 0, 1); /* [value, secret] */
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, SECRET_MT);
    return 1;
}

static int secret_reveal(lua_State *L)
{
    luaL_checkudata(L, 1, SECRET_MT);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static int secret_tostring(lua_State *L)
{
    lua_pushliteral(L, "[redacted]");
    return 1;
}

static const luaL_Reg secret_methods[] = {
    {"reveal", secret_reveal},
    {NULL, NULL},
};

static const luaL_Reg secret_meta[] = {
    {"__tostring", secret_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg log_funcs[] = {
    {"enabled", log_enabled},
    {"isatty", log_isatty},
    {"format", log_format},
    {"secret", log_secret},
    {NULL, NULL},
};

int luaopen_cm_log(lua_State *L)
{
    cm_new_class(L, SECRET_MT, secret_meta, secret_methods);
    lua_pop(L, 1);
    luaL_newlib(L, log_funcs); /* [log] */
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, log_at, 1);
        lua_setfield(L, -2, names[i]);
    }
    return 1;
}
