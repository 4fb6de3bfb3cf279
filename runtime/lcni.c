/*
 * lcni.c - cm.cni: CNI network configuration files of the run's host (cnifile.h): the real
 * filesystem, or the simulated host's files in simulation.
 *
 *   cni.list(dir) -> {{name, path, type}, ...}   the config files, in the runtime's load order
 *   cni.parse(text, name) -> conf | nil, msg, "InvalidConfig"    (name: the file name)
 *   cni.read(path) -> conf | nil, msg, code      conf = {name, cniVersion?, conflist, plugins,
 *                                                  path, text}
 *   cni.active(dir) -> conf | nil, msg, "NotFound"   the first valid config, + skipped =
 *                                                  {{path, error}} for the invalid ones before it
 *   cni.write(path, text [, {validate = true}]) -> true   atomic, 0644; never over a symlink
 *   cni.remove(path, backup_dir) -> backup_path   copy into backup_dir, then remove
 *   cni.restore(backup_path, path) -> true        the backup's content back, atomically
 *   cni.read_text(path) -> text                 a small host file (subnet.env), same limits
 *   cni.files(dir) -> {{name, type}, ...}          every entry of dir, sorted by name (type "file",
 *                                                  "link", "dir" or "other"; node-facts' host)
 *   cni.MAX_SIZE                                   the largest file read or written (bytes)
 * Codes: "ENOENT", "ELOOP" (a symlink not followed), "EFBIG" (over MAX_SIZE), "EISDIR",
 * "InvalidConfig", "NotFound", or another errno name.
 */
#include "cnifile.h"
#include "lhost.h"
#include "ljson.h"

#include <stdlib.h>
#include <string.h>

/* Pushes a result tree (freed) or the failure. */
static int push(lua_State *L, const cm_hostcall *c, int rc, cJSON *out)
{
    if (rc != 0)
        return cm_lua_host_fail(L, c);
    cm_lua_push_json(L, out);
    cJSON_Delete(out);
    return 1;
}

static int cni_list(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    cJSON *out = NULL;
    int rc = cm_cnifile_list(ops, &c, dir, &out);
    return push(L, &c, rc, out);
}

static int cni_files(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    cJSON *out = NULL;
    int rc = ops->file_list(&c, dir, &out);
    return push(L, &c, rc, out);
}

static int cni_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "config.conflist");
    char err[512];
    cJSON *conf = cm_cnifile_parse(name, text, len, err, sizeof err);
    if (!conf)
        return cm_fail(L, "InvalidConfig", "%s", err);
    cm_lua_push_json(L, conf);
    cJSON_Delete(conf);
    return 1;
}

static int cni_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    cJSON *out = NULL;
    int rc = cm_cnifile_read(ops, &c, path, &out);
    return push(L, &c, rc, out);
}

static int cni_read_text(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    char *text;
    size_t len;
    if (ops->file_read(&c, path, CM_CNI_MAX_SIZE, &text, &len) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

static int cni_active(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    cJSON *out = NULL;
    int rc = cm_cnifile_active(ops, &c, dir, &out);
    return push(L, &c, rc, out);
}

static int cni_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    int validate = 1;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "validate") != LUA_TNIL)
            validate = lua_toboolean(L, -1);
    }
    if (strlen(text) != len)
        return luaL_argerror(L, 2, "a CNI config holds no NUL bytes");
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    if (cm_cnifile_write(ops, &c, path, text, validate) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushboolean(L, 1);
    return 1;
}

static int cni_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *backup_dir = luaL_checkstring(L, 2);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    char *backup;
    if (cm_cnifile_remove(ops, &c, path, backup_dir, &backup) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushstring(L, backup);
    free(backup);
    return 1;
}

static int cni_restore(lua_State *L)
{
    const char *backup = luaL_checkstring(L, 1), *path = luaL_checkstring(L, 2);
    cm_hostcall c;
    const cm_hostops *ops = cm_lua_host(L, &c, 0);
    if (cm_cnifile_restore(ops, &c, backup, path) != 0)
        return cm_lua_host_fail(L, &c);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"list", cni_list},       {"parse", cni_parse},     {"read", cni_read},     {"read_text", cni_read_text},     {"active", cni_active},
    {"files", cni_files},
    {"write", cni_write},     {"remove", cni_remove},   {"restore", cni_restore}, {NULL, NULL},
};

int luaopen_cm_cni(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushinteger(L, CM_CNI_MAX_SIZE);
    lua_setfield(L, -2, "MAX_SIZE");
    return 1;
}
