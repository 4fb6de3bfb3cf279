/* cni.c - a simulated node's CNI configuration, as its container runtime sees it (see cni.h). */
#include "cni.h"

#include "cnifile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Parses a config file's text into the list of its plugin entries, or NULL when invalid
 * (libcni's rules, as the real host's cm.cni applies them: runtime/cnifile.c). */
static cJSON *plugins_of(const char *name, const char *text)
{
    char err[256];
    cJSON *conf = text ? cm_cnifile_parse(name, text, strlen(text), err, sizeof err) : NULL;
    cJSON *list = conf ? cJSON_DetachItemFromObjectCaseSensitive(conf, "plugins") : NULL;
    cJSON_Delete(conf);
    return list;
}

int cm_cni_active(const cm_host *h, const char *dir, char *path, size_t size)
{
    cJSON *names = cm_host_file_list(h, dir);
    const cJSON *n;
    int found = 0;
    cJSON_ArrayForEach(n, names) /* sorted by name, as libcni sorts them */
    {
        const char *name = n->valuestring;
        if (!has_suffix(name, ".conf") && !has_suffix(name, ".conflist") && !has_suffix(name, ".json"))
            continue;
        snprintf(path, size, "%s/%s", dir, name);
        cJSON *plugins = plugins_of(name, cm_host_file_read(h, path));
        if (plugins) {
            cJSON_Delete(plugins);
            found = 1;
            break;
        }
    }
    cJSON_Delete(names);
    return found;
}

/* What a plugin needs on the host besides its binary, and what it says without it. */
static const struct {
    const char *type, *file, *error;
} PRECONDITIONS[] = {
    {"flannel", "/run/flannel/subnet.env",
     "failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory. "
     "Check the flannel pod log for this node."},
    {"calico", "/var/lib/calico/nodename",
     "stat /var/lib/calico/nodename: no such file or directory: check that the calico/node container is "
     "running and has mounted /var/lib/calico/"},
};

/* The error of one plugin's ADD, or NULL when it would succeed. */
static const char *plugin_error(const cm_host *h, const char *type, char *buf, size_t size)
{
    char bin[256];
    snprintf(bin, sizeof bin, "%s/%s", CM_CNI_BIN, type);
    if (!cm_host_file_read(h, bin)) {
        snprintf(buf, size, "failed to find plugin \"%s\" in path [%s]", type, CM_CNI_BIN);
        return buf;
    }
    for (size_t i = 0; i < sizeof PRECONDITIONS / sizeof PRECONDITIONS[0]; i++)
        if (strcmp(type, PRECONDITIONS[i].type) == 0 && !cm_host_file_read(h, PRECONDITIONS[i].file))
            return PRECONDITIONS[i].error;
    return NULL;
}

int cm_cni_sandbox_ok(const cm_host *h, const char *id, int *ready, char *msg, size_t size)
{
    char path[512];
    *ready = cm_cni_active(h, CM_CNI_DIR, path, sizeof path);
    if (!*ready) {
        snprintf(msg, size, "network is not ready: container runtime network not ready: NetworkReady=false "
                            "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not "
                            "initialized");
        return 0;
    }
    cJSON *plugins = plugins_of(path, cm_host_file_read(h, path));
    const cJSON *p;
    int ok = 1;
    cJSON_ArrayForEach(p, plugins)
    {
        char buf[256];
        const char *type = cJSON_GetObjectItemCaseSensitive(p, "type")->valuestring;
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
        const char *err = plugin_error(h, type, buf, sizeof buf);
        if (!err)
            continue;
        char who[200];
        if (name)
            snprintf(who, sizeof who, "type=\"%s\" name=\"%s\"", type, name);
        else
            snprintf(who, sizeof who, "type=\"%s\"", type);
        snprintf(msg, size, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup "
                            "network for sandbox \"%s\": plugin %s failed (add): %s", id, who, err);
        ok = 0;
        break;
    }
    cJSON_Delete(plugins);
    return ok;
}
