/* hostops_sim.c - a simulated node's host (runtime/fake/host.h) behind the host seam
 * (hostops.h): the same calls as the real host, answered with the kernel's errnos. */
#include "fake/host/host.h"
#include "hostops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H(c) ((cm_host *)(c)->ud)

/* A host operation's result: 0, or the failure "what: strerror". */
static int check(cm_hostcall *c, int rc, const char *what)
{
    if (rc == 0)
        return 0;
    return cm_hostcall_fail(c, -rc, "%s: %s", what, strerror(-rc));
}

static int no_netns(cm_hostcall *c, const char *what)
{
    if (!c->netns)
        return 0;
    return cm_hostcall_fail(c, EINVAL, "%s: a simulated host has no other network namespace (%s)", what, c->netns);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* A copy of one section of the host, each entry completed with the defaults given. */
static cJSON *section(cm_hostcall *c, const char *name, const char *const *defaults)
{
    cJSON *arr = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cm_host_json(H(c)), name), 1);
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        for (const char *const *d = defaults; d && *d; d += 2)
            if (!cJSON_GetObjectItemCaseSensitive(e, d[0]))
                cJSON_AddStringToObject(e, d[0], d[1]);
    }
    return arr;
}

static int sim_links(cm_hostcall *c, cJSON **out)
{
    if (no_netns(c, "link list"))
        return -1;
    *out = section(c, "links", NULL);
    return 0;
}

static int sim_link_add(cm_hostcall *c, const cJSON *link)
{
    char what[96];
    snprintf(what, sizeof what, "link add %s", jstr(link, "name") ? jstr(link, "name") : "?");
    if (no_netns(c, what))
        return -1;
    const char *peer = jstr(link, "peer"), *kind = jstr(link, "kind");
    if (peer && kind && strcmp(kind, "veth") == 0 && cm_host_link(H(c), peer))
        return check(c, -EEXIST, what);
    int rc = cm_host_link_add(H(c), link);
    if (rc == 0 && peer && kind && strcmp(kind, "veth") == 0) { /* a veth comes with its peer */
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", peer);
        cJSON_AddStringToObject(p, "kind", "veth");
        cJSON_AddStringToObject(p, "peer", jstr(link, "name"));
        rc = cm_host_link_add(H(c), p);
        cJSON_Delete(p);
        if (rc != 0) /* the peer's name is not taken (checked above): only the first end goes */
            cm_host_link_del(H(c), jstr(link, "name"));
    }
    return check(c, rc, what);
}

static int sim_link_del(cm_hostcall *c, const char *name)
{
    char what[96];
    snprintf(what, sizeof what, "link del %s", name);
    return no_netns(c, what) ? -1 : check(c, cm_host_link_del(H(c), name), what);
}

static int sim_link_set(cm_hostcall *c, const char *name, const cJSON *set)
{
    char what[96];
    snprintf(what, sizeof what, "link set %s", name);
    if (no_netns(c, what))
        return -1;
    int rc = cm_host_link(H(c), name) ? 0 : -ENODEV;
    const cJSON *mtu = cJSON_GetObjectItemCaseSensitive(set, "mtu");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(set, "up");
    const cJSON *master = cJSON_GetObjectItemCaseSensitive(set, "master");
    if (rc == 0 && cJSON_IsNumber(mtu))
        rc = cm_host_link_set_mtu(H(c), name, mtu->valueint);
    if (rc == 0 && master)
        rc = cm_host_link_set_master(H(c), name, cJSON_GetStringValue(master));
    if (rc == 0 && cJSON_IsBool(up))
        rc = cm_host_link_set_up(H(c), name, cJSON_IsTrue(up));
    return check(c, rc, what);
}

static int sim_addrs(cm_hostcall *c, cJSON **out)
{
    static const char *const D[] = {"family", "inet", NULL};
    if (no_netns(c, "addr list"))
        return -1;
    *out = section(c, "addresses", D);
    return 0;
}

static int sim_addr_add(cm_hostcall *c, const char *dev, const char *cidr)
{
    char what[128];
    snprintf(what, sizeof what, "addr add %s dev %s", cidr, dev);
    return no_netns(c, what) ? -1 : check(c, cm_host_addr_add(H(c), dev, cidr), what);
}

static int sim_addr_del(cm_hostcall *c, const char *dev, const char *cidr)
{
    char what[128];
    snprintf(what, sizeof what, "addr del %s dev %s", cidr, dev);
    return no_netns(c, what) ? -1 : check(c, cm_host_addr_del(H(c), dev, cidr), what);
}

static int sim_routes(cm_hostcall *c, cJSON **out)
{
    static const char *const D[] = {"family", "inet", "table", "main", "type", "unicast", "protocol", "boot", NULL};
    if (no_netns(c, "route list"))
        return -1;
    *out = section(c, "routes", D);
    cJSON *r;
    cJSON_ArrayForEach(r, *out)
    {
        if (!cJSON_GetObjectItemCaseSensitive(r, "scope")) /* IPv6 routes are all of scope universe */
            cJSON_AddStringToObject(r, "scope", jstr(r, "gateway") || strcmp(jstr(r, "family"), "inet6") == 0
                                                    ? "universe" : "link");
    }
    return 0;
}

static int sim_route_add(cm_hostcall *c, const cJSON *route, int replace)
{
    char what[128];
    snprintf(what, sizeof what, "route %s %s", replace ? "replace" : "add", jstr(route, "dst") ? jstr(route, "dst") : "?");
    return no_netns(c, what) ? -1 : check(c, cm_host_route_add(H(c), route, replace), what);
}

static int sim_route_del(cm_hostcall *c, const cJSON *route)
{
    const char *dst = jstr(route, "dst");
    char what[128];
    snprintf(what, sizeof what, "route del %s", dst ? dst : "?");
    if (no_netns(c, what))
        return -1;
    const char *dev = jstr(route, "dev"); /* the kernel resolves the device first */
    if (dev && !cm_host_link(H(c), dev))
        return check(c, -ENODEV, what);
    return check(c, dst ? cm_host_route_del(H(c), jstr(route, "family"), dst, NULL) : -EINVAL, what);
}

static int sim_neighs(cm_hostcall *c, int fdb, cJSON **out)
{
    static const char *const D[] = {"family", "inet", "state", "permanent", NULL};
    if (no_netns(c, fdb ? "fdb list" : "neigh list"))
        return -1;
    *out = section(c, fdb ? "fdb" : "neighbours", fdb ? NULL : D);
    return 0;
}

static int sim_neigh_add(cm_hostcall *c, int fdb, const cJSON *entry, int replace)
{
    char what[128];
    snprintf(what, sizeof what, "%s %s dev %s", fdb ? "fdb add" : "neigh add",
             jstr(entry, fdb ? "lladdr" : "dst") ? jstr(entry, fdb ? "lladdr" : "dst") : "?",
             jstr(entry, "dev") ? jstr(entry, "dev") : "?");
    if (no_netns(c, what))
        return -1;
    return check(c, fdb ? cm_host_fdb_add(H(c), entry, replace) : cm_host_neigh_add(H(c), entry, replace), what);
}

static int sim_neigh_del(cm_hostcall *c, int fdb, const cJSON *e)
{
    const char *dev = jstr(e, "dev"), *dst = jstr(e, "dst"), *ll = jstr(e, "lladdr");
    char what[128];
    snprintf(what, sizeof what, "%s %s dev %s", fdb ? "fdb del" : "neigh del", (fdb ? ll : dst) ? (fdb ? ll : dst) : "?",
             dev ? dev : "?");
    if (no_netns(c, what))
        return -1;
    if (!dev || (fdb ? !ll || !dst : !dst))
        return check(c, -EINVAL, what);
    return check(c, fdb ? cm_host_fdb_del(H(c), dev, ll, dst) : cm_host_neigh_del(H(c), dev, dst), what);
}

static int sim_sysctl_get(cm_hostcall *c, const char *key, char **out)
{
    const char *v = cm_host_sysctl_get(H(c), key);
    if (!v)
        return cm_hostcall_fail(c, ENOENT, "sysctl %s: %s", key, strerror(ENOENT));
    *out = strdup(v);
    return *out ? 0 : cm_hostcall_fail(c, ENOMEM, "out of memory");
}

static int sim_sysctl_set(cm_hostcall *c, const char *key, const char *value)
{
    char what[300];
    snprintf(what, sizeof what, "sysctl %s = %s", key, value);
    return check(c, cm_host_sysctl_set(H(c), key, value), what);
}

static int sim_file_list(cm_hostcall *c, const char *dir, cJSON **out)
{
    cJSON *names = cm_host_file_list(H(c), dir);
    if (!names)
        return cm_hostcall_fail(c, ENOMEM, "out of memory");
    cJSON *arr = cJSON_CreateArray();
    const cJSON *n;
    cJSON_ArrayForEach(n, names)
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", n->valuestring);
        cJSON_AddStringToObject(e, "type", "file");
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_Delete(names);
    *out = arr;
    return 0;
}

static int sim_file_read(cm_hostcall *c, const char *path, size_t max, char **out, size_t *len)
{
    const char *text = cm_host_file_read(H(c), path);
    if (!text)
        return cm_hostcall_fail(c, ENOENT, "%s: %s", path, strerror(ENOENT));
    size_t n = strlen(text);
    if (n > max)
        return cm_hostcall_fail(c, EFBIG, "%s: %zu bytes, more than the %zu allowed", path, n, max);
    *out = strdup(text);
    *len = n;
    return *out ? 0 : cm_hostcall_fail(c, ENOMEM, "out of memory");
}

static int sim_file_write(cm_hostcall *c, const char *path, const char *data, size_t len)
{
    if (strlen(data) != len)
        return cm_hostcall_fail(c, EINVAL, "%s: a simulated file holds text without NUL bytes", path);
    return check(c, cm_host_file_write(H(c), path, data), path);
}

static int sim_file_remove(cm_hostcall *c, const char *path)
{
    return check(c, cm_host_file_remove(H(c), path), path);
}

static int sim_file_resolve(cm_hostcall *c, const char *path, char **out)
{
    *out = strdup(path);
    return *out ? 0 : cm_hostcall_fail(c, ENOMEM, "out of memory");
}

static int sim_ipt_save(cm_hostcall *c, const char *family, const char *backend, char **out)
{
    if (strcmp(family, "ipv4") != 0 && strcmp(family, "ipv6") != 0)
        return cm_hostcall_fail(c, EINVAL, "iptables: family ipv4|ipv6, got %s", family);
    *out = cm_host_ipt_save(H(c), family, backend);
    return *out ? 0 : cm_hostcall_fail(c, ENOMEM, "out of memory");
}

static int sim_ipt_restore(cm_hostcall *c, const char *family, const char *backend, const char *text)
{
    char err[512];
    int rc = cm_host_ipt_restore(H(c), family, backend, text, err, sizeof err);
    if (rc == 0)
        return 0;
    c->code = "ToolFailed";
    return cm_hostcall_fail(c, -rc, "%s-%s-restore: %s", strcmp(family, "ipv6") == 0 ? "ip6tables" : "iptables",
                            backend, err);
}

/* The simulated host's nftables tables: its document's "nftables" array of {family, name}. */
static int sim_nft_tables(cm_hostcall *c, cJSON **out)
{
    *out = section(c, "nftables", NULL);
    if (!*out)
        *out = cJSON_CreateArray();
    return 0;
}

static int sim_nft_delete_table(cm_hostcall *c, const char *family, const char *name)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive((cJSON *)cm_host_json(H(c)), "nftables");
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (jstr(e, "family") && jstr(e, "name") && strcmp(jstr(e, "family"), family) == 0 &&
            strcmp(jstr(e, "name"), name) == 0) {
            cJSON_Delete(cJSON_DetachItemViaPointer(arr, e));
            return 0;
        }
    }
    c->code = "ToolFailed";
    return cm_hostcall_fail(c, ENOENT, "nft delete table %s %s: No such file or directory", family, name);
}

const cm_hostops cm_hostops_sim = {
    .name = "simulated",
    .links = sim_links,
    .link_add = sim_link_add,
    .link_del = sim_link_del,
    .link_set = sim_link_set,
    .addrs = sim_addrs,
    .addr_add = sim_addr_add,
    .addr_del = sim_addr_del,
    .routes = sim_routes,
    .route_add = sim_route_add,
    .route_del = sim_route_del,
    .neighs = sim_neighs,
    .neigh_add = sim_neigh_add,
    .neigh_del = sim_neigh_del,
    .sysctl_get = sim_sysctl_get,
    .sysctl_set = sim_sysctl_set,
    .file_list = sim_file_list,
    .file_read = sim_file_read,
    .file_write = sim_file_write,
    .file_remove = sim_file_remove,
    .file_resolve = sim_file_resolve,
    .ipt_save = sim_ipt_save,
    .ipt_restore = sim_ipt_restore,
    .nft_tables = sim_nft_tables,
    .nft_delete_table = sim_nft_delete_table,
};
