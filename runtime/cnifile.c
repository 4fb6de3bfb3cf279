/* cnifile.c - CNI configuration files on a host of the seam (see cnifile.h). */
#include "cnifile.h"

#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_config_name(const char *name)
{
    return has_suffix(name, ".conf") || has_suffix(name, ".conflist") || has_suffix(name, ".json");
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int is_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0];
}

cJSON *cm_cnifile_parse(const char *name, const char *text, size_t len, char *err, size_t errsize)
{
    const char *file = base_name(name);
    cm_json_error jerr;
    cJSON *doc = cm_json_parse(text, len, &jerr);
    if (!doc) {
        snprintf(err, errsize, "%s: offset %zu: %s", file, jerr.offset, jerr.reason);
        return NULL;
    }
    const char *why = NULL;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "cniVersion");
    int conflist = has_suffix(file, ".conflist");
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(doc, "plugins");
    if (!cJSON_IsObject(doc))
        why = "not a JSON object";
    else if (ver && !cJSON_IsString(ver))
        why = "cniVersion: expected a string";
    else if (conflist && !is_str(doc, "name"))
        why = "name: a network configuration list needs a name";
    else if (conflist && (!cJSON_IsArray(plugins) || cJSON_GetArraySize(plugins) == 0))
        why = "plugins: a network configuration list needs at least one plugin";
    else if (!conflist && !is_str(doc, "type"))
        why = "type: a network configuration needs the plugin's type";
    int i = 0;
    const cJSON *p;
    char buf[128];
    if (!why && conflist) {
        cJSON_ArrayForEach(p, plugins)
        {
            if (!cJSON_IsObject(p) || !is_str(p, "type")) {
                snprintf(buf, sizeof buf, "plugins[%d].type: every plugin needs a type", i);
                why = buf;
                break;
            }
            i++;
        }
    }
    if (why) {
        snprintf(err, errsize, "%s: %s", file, why);
        cJSON_Delete(doc);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(doc, "name");
    if (cJSON_IsString(nm))
        cJSON_AddStringToObject(out, "name", nm->valuestring);
    if (ver)
        cJSON_AddStringToObject(out, "cniVersion", ver->valuestring);
    cJSON_AddBoolToObject(out, "conflist", conflist);
    if (conflist) {
        cJSON_AddItemToObject(out, "plugins", cJSON_Duplicate(plugins, 1));
    } else {
        cJSON *arr = cJSON_AddArrayToObject(out, "plugins");
        cJSON_AddItemToArray(arr, cJSON_Duplicate(doc, 1));
    }
    cJSON_Delete(doc);
    return out;
}

int cm_cnifile_list(const cm_hostops *ops, cm_hostcall *c, const char *dir, cJSON **out)
{
    cJSON *entries;
    if (ops->file_list(c, dir, &entries) != 0)
        return -1;
    cJSON *arr = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) /* already sorted by name */
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type"));
        if (!name || !type || !is_config_name(name) || (strcmp(type, "file") != 0 && strcmp(type, "link") != 0))
            continue;
        cJSON *item = cJSON_CreateObject();
        char path[4096];
        snprintf(path, sizeof path, "%s%s%s", dir, has_suffix(dir, "/") ? "" : "/", name);
        cJSON_AddStringToObject(item, "name", name);
        cJSON_AddStringToObject(item, "path", path);
        cJSON_AddStringToObject(item, "type", type);
        cJSON_AddItemToArray(arr, item);
    }
    cJSON_Delete(entries);
    *out = arr;
    return 0;
}

/* Reads path's text; a symlink only when it resolves inside the file's own directory. */
static int read_text(const cm_hostops *ops, cm_hostcall *c, const char *path, char **text, size_t *len)
{
    if (ops->file_read(c, path, CM_CNI_MAX_SIZE, text, len) == 0)
        return 0;
    if (c->err != ELOOP)
        return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(base_name(path) - path), path);
    if (!dir[0])
        snprintf(dir, sizeof dir, ".");
    char *target = NULL, *rdir = NULL;
    int rc = -1;
    if (ops->file_resolve(c, path, &target) == 0 && ops->file_resolve(c, dir, &rdir) == 0) {
        size_t n = strlen(rdir);
        if (strncmp(target, rdir, n) == 0 && target[n] == '/')
            rc = ops->file_read(c, target, CM_CNI_MAX_SIZE, text, len);
        else
            cm_hostcall_fail(c, ELOOP, "%s: a symlink to %s, outside %s (not followed)", path, target, rdir);
    } else if (c->err == ENOENT) {
        cm_hostcall_fail(c, ELOOP, "%s: a dangling symlink (not followed)", path);
    }
    free(target);
    free(rdir);
    return rc;
}

int cm_cnifile_read(const cm_hostops *ops, cm_hostcall *c, const char *path, cJSON **out)
{
    char *text;
    size_t len;
    if (read_text(ops, c, path, &text, &len) != 0)
        return -1;
    char err[512];
    cJSON *conf = cm_cnifile_parse(path, text, len, err, sizeof err);
    if (!conf) {
        free(text);
        c->code = "InvalidConfig";
        return cm_hostcall_fail(c, EINVAL, "%s: %s", path, strchr(err, ':') ? strchr(err, ':') + 2 : err);
    }
    cJSON_AddStringToObject(conf, "path", path);
    cJSON_AddStringToObject(conf, "text", text);
    free(text);
    *out = conf;
    return 0;
}

int cm_cnifile_active(const cm_hostops *ops, cm_hostcall *c, const char *dir, cJSON **out)
{
    cJSON *files;
    if (cm_cnifile_list(ops, c, dir, &files) != 0) {
        if (c->err != ENOENT)
            return -1;
        files = cJSON_CreateArray(); /* no directory: no config */
    }
    cJSON *skipped = cJSON_CreateArray();
    const cJSON *f;
    cJSON *found = NULL;
    cJSON_ArrayForEach(f, files)
    {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
        cm_hostcall one = *c;
        if (cm_cnifile_read(ops, &one, path, &found) == 0)
            break;
        found = NULL;
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "path", path);
        cJSON_AddStringToObject(s, "error", one.msg);
        cJSON_AddItemToArray(skipped, s);
    }
    cJSON_Delete(files);
    if (!found) {
        int n = cJSON_GetArraySize(skipped);
        cJSON_Delete(skipped);
        c->code = "NotFound";
        return cm_hostcall_fail(c, ENOENT, "%s: no valid CNI network configuration (%d invalid)", dir, n);
    }
    cJSON_AddItemToObject(found, "skipped", skipped);
    *out = found;
    return 0;
}

int cm_cnifile_write(const cm_hostops *ops, cm_hostcall *c, const char *path, const char *text, int validate)
{
    size_t len = strlen(text);
    if (len > CM_CNI_MAX_SIZE)
        return cm_hostcall_fail(c, EFBIG, "%s: %zu bytes, more than the %d allowed", path, len, CM_CNI_MAX_SIZE);
    char err[512];
    cJSON *conf = validate ? cm_cnifile_parse(path, text, len, err, sizeof err) : NULL;
    if (validate && !conf) {
        c->code = "InvalidConfig";
        return cm_hostcall_fail(c, EINVAL, "%s: not written: %s", path, err);
    }
    cJSON_Delete(conf);
    return ops->file_write(c, path, text, len);
}

int cm_cnifile_remove(const cm_hostops *ops, cm_hostcall *c, const char *path, const char *backup_dir,
                      char **backup)
{
    char *text;
    size_t len;
    if (ops->file_read(c, path, CM_CNI_MAX_SIZE, &text, &len) != 0)
        return -1; /* a symlink is ELOOP here: never followed, never removed */
    char dest[4096];
    int rc = -1;
    for (int i = 0; i < 100; i++) {
        if (i == 0)
            snprintf(dest, sizeof dest, "%s/%s", backup_dir, base_name(path));
        else
            snprintf(dest, sizeof dest, "%s/%s.%d", backup_dir, base_name(path), i);
        char *old = NULL;
        size_t olen;
        cm_hostcall probe = *c;
        if (ops->file_read(&probe, dest, CM_CNI_MAX_SIZE, &old, &olen) != 0) {
            if (probe.err != ENOENT) {
                *c = probe;
                break;
            }
            rc = ops->file_write(c, dest, text, len);
            break;
        }
        int same = olen == len && memcmp(old, text, len) == 0;
        free(old);
        if (same) {
            rc = 0;
            break;
        }
    }
    free(text);
    if (rc == 0)
        rc = ops->file_remove(c, path);
    if (rc == 0 && !(*backup = strdup(dest)))
        rc = cm_hostcall_fail(c, ENOMEM, "out of memory");
    return rc;
}

int cm_cnifile_restore(const cm_hostops *ops, cm_hostcall *c, const char *backup, const char *path)
{
    char *text;
    size_t len;
    if (ops->file_read(c, backup, CM_CNI_MAX_SIZE, &text, &len) != 0)
        return -1;
    int rc = cm_cnifile_write(ops, c, path, text, is_config_name(path));
    free(text);
    return rc;
}
