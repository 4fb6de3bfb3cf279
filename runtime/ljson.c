/*
 * ljson.c - cm.json: JSON for Lua on cJSON.
 *
 *   json.decode(text)        -> value | nil, message, "InvalidJSON"
 *   json.encode(value [, {indent = true}]) -> string    (raises on a value JSON cannot hold)
 *   json.null                 the JSON null sentinel (nil cannot sit in a table)
 *   json.array([t]), json.object([t]) -> t, marked so that an empty t encodes as [] or {}
 *   json.is_array(t)          whether t is marked as an array
 *
 * Objects encode with their keys sorted, so output is deterministic. A table
 * without a mark encodes as an array when its keys are exactly 1..n, as an
 * object when they are all strings, and as {} when empty.
 */
#include "ljson.h"

#include "cmlua.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000
#define TREE_MT "cm.json.Tree"

static const char NULL_KEY = 0, ARRAY_KEY = 0, OBJECT_KEY = 0; /* registry keys */

static int null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

/* Creates the shared sentinel and metatables on first use. */
static void push_shared(lua_State *L, const char *key)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    if (key == &NULL_KEY) {
        lua_newuserdatauv(L, 0, 0); /* [null] */
        lua_createtable(L, 0, 2);
        lua_pushcfunction(L, null_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "cm.json.null");
        lua_setfield(L, -2, "__name");
        lua_setmetatable(L, -2);
    } else {
        lua_createtable(L, 0, 1); /* [mt] */
        lua_pushstring(L, key == &ARRAY_KEY ? "array" : "object");
        lua_setfield(L, -2, "__jsontype");
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void cm_lua_push_null(lua_State *L)
{
    push_shared(L, &NULL_KEY);
}

void cm_lua_mark(lua_State *L, int idx, int is_array)
{
    idx = lua_absindex(L, idx);
    push_shared(L, is_array ? &ARRAY_KEY : &OBJECT_KEY);
    lua_setmetatable(L, idx);
}

/* ---- cJSON -> Lua ---- */

static void push_raw(lua_State *L, const cJSON *item)
{
    int64_t i;
    double d;
    if (cm_json_int64(item, &i))
        lua_pushinteger(L, (lua_Integer)i);
    else if (cm_json_double(item, &d))
        lua_pushnumber(L, d);
    else
        lua_pushstring(L, item->valuestring); /* not ours: keep the text */
}

static void push_number(lua_State *L, const cJSON *item)
{
    double d = item->valuedouble;
    if (d == floor(d) && fabs(d) <= 9007199254740992.0)
        lua_pushinteger(L, (lua_Integer)d);
    else
        lua_pushnumber(L, d);
}

void cm_lua_push_json(lua_State *L, const cJSON *item)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
        int is_array = cJSON_IsArray(item);
        lua_createtable(L, is_array ? cJSON_GetArraySize(item) : 0, is_array ? 0 : 4);
        cm_lua_mark(L, -1, is_array);
        lua_Integer n = 0;
        for (const cJSON *c = item->child; c; c = c->next) {
            cm_lua_push_json(L, c); /* [t, v] */
            if (is_array)
                lua_rawseti(L, -2, ++n);
            else
                lua_setfield(L, -2, c->string);
        }
    } else if (cJSON_IsString(item)) {
        lua_pushstring(L, item->valuestring);
    } else if (cJSON_IsNumber(item)) {
        push_number(L, item);
    } else if (cJSON_IsRaw(item)) {
        push_raw(L, item);
    } else if (cJSON_IsBool(item)) {
        lua_pushboolean(L, cJSON_IsTrue(item));
    } else {
        cm_lua_push_null(L);
    }
}

/* ---- Lua -> cJSON ---- */

static void add_value(lua_State *L, int idx, cJSON *parent, const char *key, int depth);

/* Links a new item into parent (under key, for an object) before it is filled. */
static cJSON *link(lua_State *L, cJSON *parent, const char *key, cJSON *item)
{
    if (!item)
        luaL_error(L, "not enough memory");
    if (key)
        cJSON_AddItemToObject(parent, key, item);
    else
        cJSON_AddItemToArray(parent, item);
    return item;
}

/* The table's JSON type from its mark: 'a', 'o' or 0 for none. */
static int table_mark(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_getfield(L, -1, "__jsontype");
    const char *t = lua_tostring(L, -1);
    int mark = t && strcmp(t, "array") == 0 ? 'a' : t && strcmp(t, "object") == 0 ? 'o' : 0;
    lua_pop(L, 2);
    return mark;
}

/* Counts keys; *max_int gets the largest positive integer key, *strings the string keys. */
static lua_Integer count_keys(lua_State *L, int idx, lua_Integer *max_int, lua_Integer *strings)
{
    lua_Integer n = 0;
    *max_int = 0;
    *strings = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* [key, value] */
        lua_pop(L, 1);
        n++;
        if (lua_type(L, -1) == LUA_TSTRING)
            (*strings)++;
        else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > *max_int)
            *max_int = lua_tointeger(L, -1);
    }
    return n;
}

static void fill_array(lua_State *L, int idx, lua_Integer n, cJSON *arr, int depth)
{
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        add_value(L, lua_gettop(L), arr, NULL, depth + 1);
        lua_pop(L, 1);
    }
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void fill_object(lua_State *L, int idx, lua_Integer n, cJSON *obj, int depth)
{
    const char **keys = lua_newuserdatauv(L, (size_t)n * sizeof *keys, 0); /* [keys] */
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* [keys, key, value] */
        lua_pop(L, 1);
        keys[k++] = lua_tostring(L, -1); /* anchored: the table holds its keys */
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
    for (lua_Integer i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        add_value(L, lua_gettop(L), obj, keys[i], depth + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void add_table(lua_State *L, int idx, cJSON *parent, const char *key, int depth)
{
    if (depth > MAX_DEPTH)
        luaL_error(L, "cannot encode as JSON: nested deeper than %d (a cycle?)", MAX_DEPTH);
    luaL_checkstack(L, 6, "JSON nested too deeply");
    int mark = table_mark(L, idx);
    lua_Integer max_int, strings, n = count_keys(L, idx, &max_int, &strings);
    if (mark == 'a' || (mark == 0 && n > 0 && strings == 0)) {
        if (strings > 0 || max_int != n)
            luaL_error(L, "cannot encode a table with non-sequence keys as a JSON array");
        fill_array(L, idx, n, link(L, parent, key, cJSON_CreateArray()), depth);
        return;
    }
    if (strings != n)
        luaL_error(L, "cannot encode a table with mixed keys as JSON");
    fill_object(L, idx, n, link(L, parent, key, cJSON_CreateObject()), depth);
}

static void add_value(lua_State *L, int idx, cJSON *parent, const char *key, int depth)
{
    size_t len;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        link(L, parent, key, cJSON_CreateNull());
        return;
    case LUA_TBOOLEAN:
        link(L, parent, key, cJSON_CreateBool(lua_toboolean(L, idx)));
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            link(L, parent, key, cm_json_new_int64(lua_tointeger(L, idx)));
            return;
        }
        if (!isfinite(lua_tonumber(L, idx)))
            luaL_error(L, "cannot encode %s as JSON", lua_tostring(L, idx));
        link(L, parent, key, cm_json_new_double(lua_tonumber(L, idx)));
        return;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len)
            luaL_error(L, "cannot encode a string with a NUL byte as JSON");
        link(L, parent, key, cJSON_CreateString(s));
        return;
    case LUA_TTABLE:
        add_table(L, idx, parent, key, depth);
        return;
    case LUA_TUSERDATA:
        cm_lua_push_null(L);
        if (lua_rawequal(L, idx, -1)) {
            lua_pop(L, 1);
            link(L, parent, key, cJSON_CreateNull());
            return;
        }
        break;
    default:
        break;
    }
    luaL_error(L, "cannot encode a %s value as JSON", luaL_typename(L, idx));
}

static int tree_gc(lua_State *L)
{
    cJSON **box = luaL_checkudata(L, 1, TREE_MT);
    cJSON_Delete(*box);
    *box = NULL;
    return 0;
}

/* Pushes a box that frees the tree it holds when collected. */
static cJSON **push_box(lua_State *L, cJSON *tree)
{
    cJSON **box = lua_newuserdatauv(L, sizeof *box, 0); /* [box] */
    *box = tree;
    if (luaL_newmetatable(L, TREE_MT)) {
        lua_pushcfunction(L, tree_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

/*
 * Builds under a holder array kept in a GC-owned box: every item is linked into
 * the tree as soon as it is made, so a raise halfway leaks nothing.
 */
cJSON *cm_lua_to_json(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    cJSON **box = push_box(L, cJSON_CreateArray());
    if (!*box)
        luaL_error(L, "not enough memory");
    add_value(L, idx, *box, NULL, 0);
    cJSON *tree = cJSON_DetachItemFromArray(*box, 0);
    lua_pop(L, 1); /* the box frees the empty holder when collected */
    return tree;
}

/* ---- the module ---- */

static int json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    cm_json_error err;
    cJSON *tree = cm_json_parse(text, len, &err);
    if (!tree)
        return cm_fail(L, "InvalidJSON", "invalid JSON at byte offset %I: %s",
                       (lua_Integer)err.offset, err.reason);
    /* converting may raise (stack overflow); keep the tree owned meanwhile */
    push_box(L, tree);         /* [box] */
    cm_lua_push_json(L, tree); /* [box, value] */
    return 1;
}

static int json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int indent = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "indent");
        indent = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    cJSON *tree = cm_lua_to_json(L, 1);
    char *text = indent ? cm_json_print_pretty(tree) : cJSON_PrintUnformatted(tree);
    cJSON_Delete(tree);
    if (!text)
        return luaL_error(L, "not enough memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

/* json.array(t) / json.object(t): marks t (a new table when absent) and returns it. */
static int mark_table(lua_State *L, int is_array)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    cm_lua_mark(L, 1, is_array);
    return 1;
}

static int json_array(lua_State *L)
{
    return mark_table(L, 1);
}

static int json_object(lua_State *L)
{
    return mark_table(L, 0);
}

static int json_is_array(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushboolean(L, table_mark(L, 1) == 'a');
    return 1;
}

static const luaL_Reg json_funcs[] = {
    {"array", json_array},
    {"decode", json_decode},
    {"encode", json_encode},
    {"is_array", json_is_array},
    {"object", json_object},
    {NULL, NULL},
};

int luaopen_cm_json(lua_State *L)
{
    luaL_newlib(L, json_funcs);
    cm_lua_push_null(L);
    lua_setfield(L, -2, "null");
    push_shared(L, &ARRAY_KEY);
    lua_setfield(L, -2, "array_mt");
    push_shared(L, &OBJECT_KEY);
    lua_setfield(L, -2, "object_mt");
    return 1;
}
