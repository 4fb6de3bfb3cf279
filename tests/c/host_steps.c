/*
 * host_steps.c - applies a steps file (tests/netns/host_steps.txt: a subset of `ip` and
 * `bridge` commands) to a simulated host, prints each step's result as an errno name (or
 * OK), then the host's routes, links and neighbours in the normalized form
 * tests/netns/test_host_kernel.sh also derives from the real kernel, so the two compare.
 */
#include "fake/host/host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXW 24

static const char *result_name(int rc)
{
    return rc == 0 ? "OK" : cm_host_errno_name(-rc);
}

/* The word after key in w[0..n), or NULL. */
static const char *after(char **w, int n, const char *key)
{
    for (int i = 0; i + 1 < n; i++)
        if (strcmp(w[i], key) == 0)
            return w[i + 1];
    return NULL;
}

static int has(char **w, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w[i], key) == 0)
            return 1;
    return 0;
}

static int link_add(cm_host *h, char **w, int n)
{
    const char *type = after(w, n, "type");
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "name", w[3]);
    cJSON_AddStringToObject(l, "kind", type ? type : "device");
    if (type && strcmp(type, "vxlan") == 0) {
        cJSON *vx = cJSON_AddObjectToObject(l, "vxlan");
        cJSON_AddNumberToObject(vx, "id", atof(after(w, n, "id")));
        cJSON_AddNumberToObject(vx, "port", after(w, n, "dstport") ? atof(after(w, n, "dstport")) : 8472);
        if (after(w, n, "local"))
            cJSON_AddStringToObject(vx, "local", after(w, n, "local"));
        if (after(w, n, "dev"))
            cJSON_AddStringToObject(vx, "dev", after(w, n, "dev"));
    }
    int rc = cm_host_link_add(h, l);
    cJSON_Delete(l);
    return rc;
}

static int route_add(cm_host *h, char **w, int n, int replace)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "dst", w[3]);
    if (after(w, n, "via"))
        cJSON_AddStringToObject(r, "gateway", after(w, n, "via"));
    if (after(w, n, "dev"))
        cJSON_AddStringToObject(r, "dev", after(w, n, "dev"));
    if (has(w, n, "onlink"))
        cJSON_AddTrueToObject(r, "onlink");
    int rc = cm_host_route_add(h, r, replace);
    cJSON_Delete(r);
    return rc;
}

static int entry_add(cm_host *h, char **w, int n, int fdb)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, fdb ? "lladdr" : "dst", w[3]);
    cJSON_AddStringToObject(e, fdb ? "dst" : "lladdr", after(w, n, fdb ? "dst" : "lladdr"));
    cJSON_AddStringToObject(e, "dev", after(w, n, "dev"));
    int rc = fdb ? cm_host_fdb_add(h, e, 0) : cm_host_neigh_add(h, e, 0);
    cJSON_Delete(e);
    return rc;
}

/* Applies one command; -EINVAL for a command outside the subset. */
static int apply(cm_host *h, char **w, int n)
{
    const char *obj = n > 2 ? w[1] : "", *verb = n > 2 ? w[2] : "";
    if (strcmp(w[0], "bridge") == 0 && strcmp(obj, "fdb") == 0 && strcmp(verb, "add") == 0)
        return entry_add(h, w, n, 1);
    if (strcmp(w[0], "ip") != 0 || n < 4)
        return -EINVAL;
    if (strcmp(obj, "link") == 0) {
        if (strcmp(verb, "add") == 0)
            return link_add(h, w, n);
        if (strcmp(verb, "del") == 0)
            return cm_host_link_del(h, w[3]);
        if (strcmp(verb, "set") == 0 && after(w, n, "mtu"))
            return cm_host_link_set_mtu(h, w[3], atoi(after(w, n, "mtu")));
        if (strcmp(verb, "set") == 0)
            return cm_host_link_set_up(h, w[3], has(w, n, "up"));
    } else if (strcmp(obj, "addr") == 0) {
        return strcmp(verb, "add") == 0 ? cm_host_addr_add(h, after(w, n, "dev"), w[3])
                                        : cm_host_addr_del(h, after(w, n, "dev"), w[3]);
    } else if (strcmp(obj, "route") == 0) {
        if (strcmp(verb, "del") == 0)
            return cm_host_route_del(h, NULL, w[3], NULL);
        return route_add(h, w, n, strcmp(verb, "replace") == 0);
    } else if (strcmp(obj, "neigh") == 0 && strcmp(verb, "add") == 0) {
        return entry_add(h, w, n, 0);
    }
    return -EINVAL;
}

/* Prints the state as sorted lines: "route DST via GW dev DEV [onlink]", "link NAME", "neigh ...". */
static void print_state(const cm_host *h)
{
    const cJSON *doc = cm_host_json(h), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "routes"))
    {
        const char *gw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "gateway"));
        printf("route %s%s%s dev %s%s\n", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dst")),
               gw ? " via " : "", gw ? gw : "", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dev")),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "onlink")) ? " onlink" : "");
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "links"))
        printf("link %s\n", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name")));
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "neighbours"))
        printf("neigh %s dev %s\n", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dst")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dev")));
}

int main(int argc, char **argv)
{
    FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;
    if (!f) {
        fprintf(stderr, "usage: host_steps STEPS-FILE\n");
        return 2;
    }
    cm_host *h = cm_host_new();
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *arrow = strstr(line, "=>");
        if (line[0] == '#' || !arrow)
            continue;
        *arrow = '\0';
        char *w[MAXW];
        int n = 0;
        for (char *t = strtok(line, " \t\n"); t && n < MAXW; t = strtok(NULL, " \t\n"))
            w[n++] = t;
        printf("step %s\n", result_name(apply(h, w, n)));
    }
    fclose(f);
    print_state(h);
    cm_host_free(h);
    return 0;
}
