/*
 * ljson.h - Lua values <-> cJSON trees, shared by cm.json, cm.yaml and the
 * bindings that speak JSON (the Kubernetes client, the fake cluster).
 *
 * In Lua, JSON null is the sentinel json.null; arrays and objects carry the
 * metatables json.array_mt and json.object_mt so that [] and {} survive a
 * round trip; integers are Lua integers, exact over int64 (see json.h).
 */
#ifndef CM_LJSON_H
#define CM_LJSON_H

#include <cJSON.h>
#include <lua.h>

/* Pushes item as a Lua value. */
void cm_lua_push_json(lua_State *L, const cJSON *item);

/*
 * Converts the value at idx to a new cJSON tree, which the caller owns.
 * Raises for a value JSON cannot hold (a function, inf, a cycle, mixed keys).
 */
cJSON *cm_lua_to_json(lua_State *L, int idx);

/* Pushes the json.null sentinel. */
void cm_lua_push_null(lua_State *L);

/* Gives the table at idx the array (is_array) or object metatable. */
void cm_lua_mark(lua_State *L, int idx, int is_array);

#endif
