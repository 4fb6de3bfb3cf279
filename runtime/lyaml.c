/*
 * lyaml.c - cm.yaml: YAML for Lua on libyaml, typed as Kubernetes reads it (see yamldoc.h).
 *
 *   yaml.decode(text [, name])     -> value | nil, message, "InvalidYAML"
 *       exactly one document (an empty stream gives json.null)
 *   yaml.decode_all(text [, name]) -> array of documents | nil, message, "InvalidYAML"
 *       empty documents are skipped, as kubectl skips them
 *   yaml.encode(value)             -> string    (raises on a value JSON cannot hold)
 *   yaml.encode_all(list)          -> string    one document per element, "---" between
 *
 * Values are those of cm.json (json.null, marked arrays and objects, exact
 * integers). Messages read "name:line:column: problem"; name defaults to "yaml".
 */
#include "cmlua.h"
#include "ljson.h"
#include "yamldoc.h"

#include <stdlib.h>

struct collect {
    lua_State *L;
    int list;       /* index of the result table */
    lua_Integer n;
};

/* Appends each document to the result table as a Lua value. */
static int collect_doc(void *ud, cJSON *doc, int line)
{
    struct collect *c = ud;
    (void)line;
    cm_lua_push_json(c->L, doc);
    cJSON_Delete(doc);
    lua_rawseti(c->L, c->list, ++c->n);
    return 0;
}

/*
 * Parses the text at 1 into a new array of documents on the stack. Returns 1,
 * or pushes nil, message, code and returns 0. A raise while converting (out of
 * stack) can leak the document in hand; only memory exhaustion gets there.
 */
static int decode_into(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "yaml");
    lua_newtable(L);
    cm_lua_mark(L, -1, 1);
    struct collect c = {L, lua_gettop(L), 0};
    cm_yaml_opts opts = {.document = collect_doc, .ud = &c};
    cm_yaml_error err;
    if (cm_yaml_parse(text, len, &opts, &err) < 0) {
        cm_fail(L, "InvalidYAML", "%s:%d:%d: %s", name, err.line, err.column, err.message);
        return 0;
    }
    return 1;
}

static int yaml_decode_all(lua_State *L)
{
    return decode_into(L) ? 1 : 3;
}

static int yaml_decode(lua_State *L)
{
    if (!decode_into(L))
        return 3;
    lua_Integer n = luaL_len(L, -1);
    if (n > 1)
        return cm_fail(L, "InvalidYAML", "%s: expected one YAML document, found %I",
                       luaL_optstring(L, 2, "yaml"), n);
    if (n == 0)
        cm_lua_push_null(L);
    else
        lua_rawgeti(L, -1, 1);
    return 1;
}

/* Emits docs[0..n) and pushes the text; frees the documents. */
static int push_emitted(lua_State *L, cJSON **docs, size_t n)
{
    size_t len = 0;
    cm_yaml_error err;
    char *text = cm_yaml_emit((const cJSON *const *)docs, n, &len, &err);
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(docs[i]);
    if (!text)
        return luaL_error(L, "cannot write YAML: %s", err.message);
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

static int yaml_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    cJSON *doc = cm_lua_to_json(L, 1);
    return push_emitted(L, &doc, 1);
}

static int yaml_encode_all(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    cJSON *all = cm_lua_to_json(L, 1); /* one conversion, so a raise leaks nothing */
    if (!cJSON_IsArray(all) && n > 0) {
        cJSON_Delete(all);
        return luaL_argerror(L, 1, "expected a list of documents");
    }
    cJSON **docs = lua_newuserdatauv(L, (size_t)n * sizeof *docs + 1, 0);
    size_t i = 0;
    while (all && all->child)
        docs[i++] = cJSON_DetachItemViaPointer(all, all->child);
    cJSON_Delete(all);
    return push_emitted(L, docs, i);
}

static const luaL_Reg yaml_funcs[] = {
    {"decode", yaml_decode},
    {"decode_all", yaml_decode_all},
    {"encode", yaml_encode},
    {"encode_all", yaml_encode_all},
    {NULL, NULL},
};

int luaopen_cm_yaml(lua_State *L)
{
    luaL_newlib(L, yaml_funcs);
    return 1;
}
