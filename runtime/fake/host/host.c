/* host.c - a simulated Linux host (see host.h). */
#include "host.h"
#include "ip4.h"
#include "map.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * An index of a section (routes by family and dst, neighbours by dev and dst, FDB entries by
 * dev, MAC and dst): the first entry with each key, so that a host with thousands of peers'
 * entries finds one at once. Built when first needed, kept up by the changes that know what they
 * did, and built again after one that removes entries wholesale (a device gone or down).
 */
struct hidx {
    cm_map *m;  /* key -> the first entry (array order) with it */
    int valid;  /* m is the section's */
    int dups;   /* some key has more than one entry (kernel routes of one prefix on two devices) */
};

enum { IX_ROUTES, IX_NEIGH, IX_FDB };

struct cm_host {
    cJSON *doc;
    cJSON *links, *addresses, *routes, *neighbours, *fdb, *sysctls, *files;
    struct hidx ix[3];
};

/*
 * ---- entries stored once ----
 * Every host of a simulated cluster carries the same peers' routes, neighbours and FDB entries
 * (each node's flannel.1 has a route, a neighbour and an FDB entry for every other node), so the
 * entries of those three sections are kept once, process-wide, and a host's section holds small
 * references to them (cJSON_CreateObjectReference): N hosts with N peers hold N^2 references
 * to N entries instead of N^2 copies. Nothing changes an entry in place (a change replaces the
 * item), and a reference reads, prints and copies as the entry itself, so the sharing shows
 * nowhere. A pooled entry is freed with its last reference.
 */
struct pooled {
    cJSON *obj;  /* the entry; owned */
    size_t refs; /* references to it in hosts' sections */
    char *text;  /* its compact JSON: the key it is found by */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER; /* fake serve's threads have hosts too */
static cm_map *pool_by_text, *pool_by_child; /* text -> pooled; "%p" of obj->child -> pooled */

/* The pool's key of a reference or pooled entry: the address of its first member. */
static void child_key(const cJSON *e, char buf[32])
{
    snprintf(buf, 32, "%p", (const void *)e->child);
}

/* A reference to the pooled copy of entry (which this consumes); entry itself when it has no
 * members or memory is short (it is then a plain entry, which drop() frees as well). */
static cJSON *share(cJSON *entry)
{
    char *text = entry && entry->child ? cJSON_PrintUnformatted(entry) : NULL;
    if (!text)
        return entry;
    char key[32];
    cJSON *ref = NULL;
    pthread_mutex_lock(&pool_lock);
    if (!pool_by_text && !(pool_by_text = cm_map_new()))
        goto out;
    if (!pool_by_child && !(pool_by_child = cm_map_new()))
        goto out;
    struct pooled *p = cm_map_get(pool_by_text, text);
    if (!p) {
        if (!(p = calloc(1, sizeof *p)))
            goto out;
        p->obj = entry;
        p->text = text;
        child_key(entry, key);
        if (cm_map_set(pool_by_text, text, p) != 0 || cm_map_set(pool_by_child, key, p) != 0) {
            cm_map_del(pool_by_text, text);
            free(p);
            goto out;
        }
        entry = NULL;
        text = NULL;
    }
    if ((ref = cJSON_CreateObjectReference(p->obj->child)))
        p->refs++;
out:
    pthread_mutex_unlock(&pool_lock);
    free(text);
    if (!ref)
        return entry; /* out of memory: entry, when it was not pooled, else NULL */
    cJSON_Delete(entry);
    return ref;
}

/* Lets go of the pooled entry that e (an entry leaving its section) refers to, if it does. */
static void release(const cJSON *e)
{
    if (!e || !(e->type & cJSON_IsReference) || !e->child)
        return;
    char key[32];
    child_key(e, key);
    pthread_mutex_lock(&pool_lock);
    struct pooled *p = pool_by_child ? cm_map_get(pool_by_child, key) : NULL;
    if (p && --p->refs == 0) {
        cm_map_del(pool_by_child, key);
        cm_map_del(pool_by_text, p->text);
        cJSON_Delete(p->obj);
        free(p->text);
        free(p);
    }
    pthread_mutex_unlock(&pool_lock);
}

/* Frees an entry that has left its section. */
static void drop(cJSON *e)
{
    release(e);
    cJSON_Delete(e);
}

/* ---- small helpers ---- */

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The first element of arr whose members k1 (and k2, k3 when given) equal the values. */
static cJSON *find(const cJSON *arr, const char *k1, const char *v1, const char *k2, const char *v2,
                   const char *k3, const char *v3)
{
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (streq(str(e, k1), v1) && (!k2 || streq(str(e, k2), v2)) && (!k3 || streq(str(e, k3), v3)))
            return e;
    }
    return NULL;
}

/* Removes every element of arr whose member key equals value. */
static void remove_where(cJSON *arr, const char *key, const char *value)
{
    cJSON *e = arr->child;
    while (e) {
        cJSON *next = e->next;
        if (streq(str(e, key), value))
            drop(cJSON_DetachItemViaPointer(arr, e));
        e = next;
    }
}

/* ---- the sections' indexes (struct hidx) ---- */

static int route_family(const cJSON *r);

/* An entry's key in section which (0 when it has none). */
static int entry_key(int which, const cJSON *e, char *buf, size_t size)
{
    const char *dst = str(e, "dst"), *dev = str(e, "dev");
    int n = which == IX_ROUTES  ? snprintf(buf, size, "%d %s", route_family(e), dst ? dst : "")
          : which == IX_NEIGH   ? snprintf(buf, size, "%s %s", dev ? dev : "", dst ? dst : "")
                                : snprintf(buf, size, "%s %s %s", dev ? dev : "", str(e, "lladdr") ? str(e, "lladdr") : "",
                                           dst ? dst : "");
    return n > 0 && (size_t)n < size;
}

static cJSON *section(const cm_host *h, int which)
{
    return which == IX_ROUTES ? h->routes : which == IX_NEIGH ? h->neighbours : h->fdb;
}

/* The index of section which, built first when it is not valid; NULL when out of memory. */
static struct hidx *index_of(cm_host *h, int which)
{
    struct hidx *x = &h->ix[which];
    if (x->valid)
        return x;
    cm_map_free(x->m);
    if (!(x->m = cm_map_new()))
        return NULL;
    x->dups = 0;
    cJSON *e;
    char key[256];
    cJSON_ArrayForEach(e, section(h, which))
    {
        if (!entry_key(which, e, key, sizeof key))
            continue;
        if (cm_map_get(x->m, key))
            x->dups = 1;
        else if (cm_map_set(x->m, key, e) != 0)
            return NULL;
    }
    x->valid = 1;
    return x;
}

/* The first entry of section which with this key, or NULL. */
static cJSON *index_find(cm_host *h, int which, const char *key)
{
    struct hidx *x = index_of(h, which);
    if (x)
        return cm_map_get(x->m, key);
    cJSON *e; /* out of memory: the slow way */
    char k[256];
    cJSON_ArrayForEach(e, section(h, which))
        if (entry_key(which, e, k, sizeof k) && strcmp(k, key) == 0)
            return e;
    return NULL;
}

/* The section's entries changed wholesale: its index is built again when next needed. */
static void index_reset(cm_host *h, int which)
{
    h->ix[which].valid = 0;
}

/* e was appended to section which. */
static void index_added(cm_host *h, int which, cJSON *e)
{
    struct hidx *x = &h->ix[which];
    char key[256];
    if (!x->valid || !entry_key(which, e, key, sizeof key))
        return index_reset(h, which);
    if (cm_map_get(x->m, key))
        x->dups = 1;
    else if (cm_map_set(x->m, key, e) != 0)
        index_reset(h, which);
}

/* e took the place of old (same key) in section which. */
static void index_replaced(cm_host *h, int which, const cJSON *old, cJSON *e)
{
    struct hidx *x = &h->ix[which];
    char key[256];
    if (!x->valid || !entry_key(which, e, key, sizeof key))
        return index_reset(h, which);
    if (cm_map_get(x->m, key) == old && cm_map_set(x->m, key, e) != 0)
        index_reset(h, which);
}

/* e is about to leave section which. */
static void index_removing(cm_host *h, int which, const cJSON *e)
{
    struct hidx *x = &h->ix[which];
    char key[256];
    if (!x->valid || !entry_key(which, e, key, sizeof key))
        return index_reset(h, which);
    if (cm_map_get(x->m, key) != e)
        return; /* a later entry of a key that has more */
    if (x->dups)
        index_reset(h, which); /* the next one of its key becomes the first */
    else
        cm_map_del(x->m, key);
}

/* Whether s is written as an IPv6 address or prefix. */
static int is_v6(const char *s)
{
    return s && strchr(s, ':');
}

/* Parses an IPv6 "addr" or "addr/len" (len 0-128; 128 when absent); 1 if it is one. */
static int ip6_parse(const char *s, unsigned char a[16], int *len)
{
    char tmp[64];
    if (!s || strlen(s) >= sizeof tmp)
        return 0;
    snprintf(tmp, sizeof tmp, "%s", s);
    char *slash = strchr(tmp, '/'), *end = NULL;
    if (slash)
        *slash = '\0';
    long n = slash ? strtol(slash + 1, &end, 10) : 128;
    if ((slash && (end == slash + 1 || *end || n < 0 || n > 128)) || inet_pton(AF_INET6, tmp, a) != 1)
        return 0;
    *len = (int)n;
    return 1;
}

/* Clears the bits of a past its first len. */
static void ip6_mask(unsigned char a[16], int len)
{
    for (int i = 0; i < 16; i++) {
        int keep = len - 8 * i;
        a[i] &= (unsigned char)(keep >= 8 ? 0xff : keep <= 0 ? 0 : 0xff << (8 - keep));
    }
}

/* Whether addr lies in the prefix net/len. */
static int ip6_contains(const unsigned char net[16], int len, const unsigned char addr[16])
{
    unsigned char a[16], n[16];
    memcpy(a, addr, 16);
    memcpy(n, net, 16);
    ip6_mask(a, len);
    ip6_mask(n, len);
    return memcmp(a, n, 16) == 0;
}

/* An IPv6 address or prefix as the kernel prints it ("fd00::11/64"); net: its network part. */
static int ip6_canonical(const char *s, int net, int with_len, char *buf, size_t size)
{
    unsigned char a[16];
    int len;
    char text[INET6_ADDRSTRLEN];
    if (!ip6_parse(s, a, &len))
        return 0;
    if (net)
        ip6_mask(a, len);
    inet_ntop(AF_INET6, a, text, sizeof text);
    if (with_len)
        snprintf(buf, size, "%s/%d", text, len);
    else
        snprintf(buf, size, "%s", text);
    return 1;
}

/* An address as stored: IPv6 ones in the kernel's form, IPv4 ones as given (in buf or s). */
static const char *canonical_addr(const char *s, char *buf, size_t size)
{
    return is_v6(s) && !strchr(s, '/') && ip6_canonical(s, 0, 0, buf, size) ? buf : s;
}

/* A route's family: 6 for "inet6", else 4. */
static int route_family(const cJSON *r)
{
    return streq(str(r, "family"), "inet6") ? 6 : 4;
}

/* A route's dst in canonical form ("default", or the network address and prefix). */
static int canonical_dst(const char *dst, char *buf, size_t size)
{
    uint32_t a;
    int p;
    if (streq(dst, "default") || streq(dst, "0.0.0.0/0") || streq(dst, "::/0")) {
        snprintf(buf, size, "default");
        return 1;
    }
    if (is_v6(dst))
        return ip6_canonical(dst, 1, 1, buf, size);
    if (!cm_ip4_parse_cidr(dst, &a, &p))
        return 0;
    char net[16];
    cm_ip4_format(a & cm_ip4_mask(p), net, sizeof net);
    snprintf(buf, size, "%s/%d", net, p);
    return 1;
}

/* Sets a string member in place (keeping member order), or adds it. */
static void set_str(cJSON *obj, const char *key, const char *value)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(value));
    else
        cJSON_AddStringToObject(obj, key, value);
}

static int is_up(const cJSON *link)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(link, "up"));
}

const char *cm_host_errno_name(int err)
{
    static const struct { int e; const char *name; } NAMES[] = {
        {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"}, {EINVAL, "EINVAL"}, {ERANGE, "ERANGE"},
        {ENETUNREACH, "ENETUNREACH"}, {ENETDOWN, "ENETDOWN"}, {ESRCH, "ESRCH"},
        {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ENOENT, "ENOENT"}, {ENOMEM, "ENOMEM"}, {EOPNOTSUPP, "EOPNOTSUPP"},
        {EHOSTUNREACH, "EHOSTUNREACH"},
    };
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (NAMES[i].e == err)
            return NAMES[i].name;
    return "EIO";
}

/* ---- construction ---- */

static const char *const DEFAULT_SYSCTLS[][2] = {
    {"net/ipv4/ip_forward", "0"},
    {"net/ipv4/conf/all/rp_filter", "0"},
    {"net/ipv4/conf/default/rp_filter", "0"},
    {"net/ipv4/conf/all/forwarding", "0"},
    {"net/ipv4/conf/default/forwarding", "0"},
    {"net/ipv6/conf/all/forwarding", "0"},
    {"net/ipv6/conf/default/accept_ra", "1"},
    {"net/bridge/bridge-nf-call-iptables", "1"},
};

/* Wraps doc (owned) and finds its sections, adding empty ones. */
static cm_host *wrap(cJSON *doc)
{
    cm_host *h = calloc(1, sizeof *h);
    if (!h) {
        cJSON_Delete(doc);
        return NULL;
    }
    h->doc = doc;
    static const char *const ARRAYS[] = {"links", "addresses", "routes", "neighbours", "fdb"};
    cJSON **slots[] = {&h->links, &h->addresses, &h->routes, &h->neighbours, &h->fdb};
    for (size_t i = 0; i < 5; i++) {
        *slots[i] = cJSON_GetObjectItemCaseSensitive(doc, ARRAYS[i]);
        if (!*slots[i])
            *slots[i] = cJSON_AddArrayToObject(doc, ARRAYS[i]);
    }
    h->sysctls = cJSON_GetObjectItemCaseSensitive(doc, "sysctls");
    if (!h->sysctls)
        h->sysctls = cJSON_AddObjectToObject(doc, "sysctls");
    h->files = cJSON_GetObjectItemCaseSensitive(doc, "files");
    if (!h->files)
        h->files = cJSON_AddObjectToObject(doc, "files");
    return h;
}

/* The per-device sysctls a new link brings, as the kernel creates them. */
static void add_device_sysctls(cm_host *h, const char *dev)
{
    char key[128];
    const char *rp = cm_host_sysctl_get(h, "net/ipv4/conf/default/rp_filter");
    const char *fw = cm_host_sysctl_get(h, "net/ipv4/conf/default/forwarding");
    const char *ra = cm_host_sysctl_get(h, "net/ipv6/conf/default/accept_ra");
    snprintf(key, sizeof key, "net/ipv4/conf/%s/rp_filter", dev);
    set_str(h->sysctls, key, rp ? rp : "0");
    snprintf(key, sizeof key, "net/ipv4/conf/%s/forwarding", dev);
    set_str(h->sysctls, key, fw ? fw : "0");
    snprintf(key, sizeof key, "net/ipv6/conf/%s/accept_ra", dev);
    set_str(h->sysctls, key, ra ? ra : "1");
}

cm_host *cm_host_new(void)
{
    cm_host *h = wrap(cJSON_CreateObject());
    if (!h)
        return NULL;
    for (size_t i = 0; i < sizeof DEFAULT_SYSCTLS / sizeof DEFAULT_SYSCTLS[0]; i++)
        cJSON_AddStringToObject(h->sysctls, DEFAULT_SYSCTLS[i][0], DEFAULT_SYSCTLS[i][1]);
    cJSON *lo = cJSON_CreateObject();
    cJSON_AddStringToObject(lo, "name", "lo");
    cJSON_AddStringToObject(lo, "kind", "loopback");
    cJSON_AddNumberToObject(lo, "mtu", 65536);
    cJSON_AddStringToObject(lo, "mac", "00:00:00:00:00:00");
    cJSON_AddTrueToObject(lo, "up");
    cm_host_link_add(h, lo);
    cJSON_Delete(lo);
    cm_host_addr_add(h, "lo", "127.0.0.1/8");
    return h;
}

void cm_host_free(cm_host *h)
{
    if (!h)
        return;
    for (int i = 0; i < 3; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, section(h, i)) release(e);
    }
    cJSON_Delete(h->doc);
    for (int i = 0; i < 3; i++)
        cm_map_free(h->ix[i].m);
    free(h);
}

const cJSON *cm_host_json(const cm_host *h)
{
    return h->doc;
}

const cJSON *cm_host_link(const cm_host *h, const char *name)
{
    return find(h->links, "name", name, NULL, NULL, NULL, NULL);
}

const cJSON *cm_host_route_to(const cm_host *h, uint32_t addr)
{
    const cJSON *best = NULL, *r;
    int len = -1;
    cJSON_ArrayForEach(r, h->routes)
    {
        const char *dst = str(r, "dst");
        uint32_t v;
        int prefix = 32;
        if (!dst)
            continue;
        if (strcmp(dst, "default") == 0) {
            v = 0;
            prefix = 0;
        } else if (!(strchr(dst, '/') ? cm_ip4_parse_cidr(dst, &v, &prefix) : cm_ip4_parse(dst, 0, &v))) {
            continue;
        }
        uint32_t mask = cm_ip4_mask(prefix);
        if (prefix > len && (addr & mask) == (v & mask)) {
            best = r;
            len = prefix;
        }
    }
    return best;
}

/* Whether member key of e is there and neither null nor false (a Lua value that is true). */
static int truthy(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return v && !cJSON_IsNull(v) && !cJSON_IsFalse(v);
}

const cJSON *cm_host_neigh_to(cm_host *h, const char *dev, const char *dst)
{
    /* the section's index ("dev dst"), as neigh_del finds an entry, unless a key has two entries
     * (then the first with an lladdr may not be the index's) */
    char key[256];
    struct hidx *x = index_of(h, IX_NEIGH);
    int n_key = snprintf(key, sizeof key, "%s %s", dev, dst);
    if (x && !x->dups && n_key > 0 && (size_t)n_key < sizeof key) {
        const cJSON *e = cm_map_get(x->m, key);
        return e && truthy(e, "lladdr") ? e : NULL;
    }
    const cJSON *n;
    cJSON_ArrayForEach(n, h->neighbours)
        if (streq(str(n, "dev"), dev) && streq(str(n, "dst"), dst) && truthy(n, "lladdr"))
            return n;
    return NULL;
}

const cJSON *cm_host_fdb_to(const cm_host *h, const char *dev, const char *lladdr)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, h->fdb)
        if (streq(str(f, "dev"), dev) && streq(str(f, "lladdr"), lladdr) && truthy(f, "dst"))
            return f;
    return NULL;
}

/* Checks that every element of a section names an existing link as its dev. */
static int check_devs(const cm_host *h, const cJSON *arr, const char *section, char *err, size_t n)
{
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *dev = str(e, "dev");
        if (!cJSON_IsObject(e) || !dev) {
            snprintf(err, n, "%s[%d]: expected an object with a dev", section, i);
            return 0;
        }
        if (!cm_host_link(h, dev)) {
            snprintf(err, n, "%s[%d]: dev: no link %s", section, i, dev);
            return 0;
        }
        i++;
    }
    return 1;
}

/* Checks names and VXLAN lower devices of the links. */
static int check_links(const cm_host *h, char *err, size_t n)
{
    int i = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, h->links)
    {
        const char *name = str(l, "name");
        const cJSON *vx = cJSON_GetObjectItemCaseSensitive(l, "vxlan");
        const char *lower = vx ? str(vx, "dev") : NULL;
        if (!name || !*name || strlen(name) > 15) {
            snprintf(err, n, "links[%d]: name: expected 1 to 15 characters", i);
            return 0;
        }
        if (find(h->links, "name", name, NULL, NULL, NULL, NULL) != l) {
            snprintf(err, n, "links[%d]: name: %s is taken", i, name);
            return 0;
        }
        if (lower && !cm_host_link(h, lower)) {
            snprintf(err, n, "links[%d]: vxlan.dev: no link %s", i, lower);
            return 0;
        }
        i++;
    }
    return 1;
}

/* Checks that a section is an object of strings. */
static int check_strings(const cJSON *obj, const char *section, char *err, size_t n)
{
    const cJSON *e;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, n, "%s: expected an object", section);
        return 0;
    }
    cJSON_ArrayForEach(e, obj)
    {
        if (!cJSON_IsString(e)) {
            snprintf(err, n, "%s: %s: expected a string", section, e->string);
            return 0;
        }
    }
    return 1;
}

cm_host *cm_host_from_json(const cJSON *doc, char *err, size_t errsize)
{
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errsize, "a host must be an object");
        return NULL;
    }
    cm_host *h = wrap(cJSON_Duplicate(doc, 1));
    if (!h) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    const cJSON *arrays[] = {h->links, h->addresses, h->routes, h->neighbours, h->fdb};
    static const char *const NAMES[] = {"links", "addresses", "routes", "neighbours", "fdb"};
    for (size_t i = 0; i < 5; i++) {
        if (!cJSON_IsArray(arrays[i])) {
            snprintf(err, errsize, "%s: expected an array", NAMES[i]);
            cm_host_free(h);
            return NULL;
        }
    }
    int ok = check_links(h, err, errsize) && check_devs(h, h->addresses, "addresses", err, errsize) &&
             check_devs(h, h->routes, "routes", err, errsize) &&
             check_devs(h, h->neighbours, "neighbours", err, errsize) &&
             check_devs(h, h->fdb, "fdb", err, errsize) && check_strings(h->sysctls, "sysctls", err, errsize) &&
             check_strings(h->files, "files", err, errsize);
    if (!ok) {
        cm_host_free(h);
        return NULL;
    }
    return h;
}

/* ---- links ---- */

static void bridge_mtu_adjust(cm_host *h, const char *bridge);

/* Whether a VXLAN device is an IPv6 one (its local address, or its remote or group, is). */
static int vxlan_v6(const cJSON *vx)
{
    return is_v6(str(vx, "local")) || is_v6(str(vx, "remote")) || is_v6(str(vx, "group"));
}

/* Whether another VXLAN device of the same family uses the same VNI and port: the kernel
 * allows one per family (flannel.1 and flannel-v6.1 share VNI and port). */
static int vxlan_clash(const cm_host *h, const cJSON *vx)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(vx, "id");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(vx, "port");
    int p = cJSON_IsNumber(port) ? port->valueint : 8472;
    const cJSON *l;
    cJSON_ArrayForEach(l, h->links)
    {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(l, "vxlan");
        const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *oport = cJSON_GetObjectItemCaseSensitive(o, "port");
        if (o && cJSON_IsNumber(oid) && oid->valueint == id->valueint &&
            (cJSON_IsNumber(oport) ? oport->valueint : 8472) == p && vxlan_v6(o) == vxlan_v6(vx))
            return 1;
    }
    return 0;
}

/* A new link's MTU when none is given: a VXLAN device's is its lower device's less the
 * encapsulation (50 bytes over IPv4, 70 over IPv6), as the kernel sets it; else 1500. */
static int default_mtu(const cm_host *h, const cJSON *vx)
{
    const cJSON *lower = vx ? cm_host_link(h, str(vx, "dev")) : NULL;
    const cJSON *mtu = cJSON_GetObjectItemCaseSensitive(lower, "mtu");
    if (!cJSON_IsNumber(mtu))
        return 1500;
    return mtu->valueint - (vxlan_v6(vx) ? 70 : 50);
}

int cm_host_link_add(cm_host *h, const cJSON *link)
{
    const char *name = str(link, "name");
    if (!name || !*name || strchr(name, '/') || strchr(name, ' '))
        return -EINVAL;
    if (strlen(name) > 15) /* IFNAMSIZ: the kernel's attribute policy says ERANGE */
        return -ERANGE;
    if (cm_host_link(h, name))
        return -EEXIST;
    const cJSON *vx = cJSON_GetObjectItemCaseSensitive(link, "vxlan");
    if (vx) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(vx, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 16777215)
            return -EINVAL;
        const char *lower = str(vx, "dev");
        if (lower && !cm_host_link(h, lower))
            return -ENODEV;
        if (vxlan_clash(h, vx))
            return -EEXIST;
    }
    cJSON *copy = cJSON_Duplicate(link, 1);
    if (!copy)
        return -ENOMEM;
    if (!cJSON_GetObjectItemCaseSensitive(copy, "up"))
        cJSON_AddFalseToObject(copy, "up");
    if (!cJSON_GetObjectItemCaseSensitive(copy, "mtu"))
        cJSON_AddNumberToObject(copy, "mtu", default_mtu(h, vx));
    cJSON *cvx = cJSON_GetObjectItemCaseSensitive(copy, "vxlan");
    if (cvx && !cJSON_GetObjectItemCaseSensitive(cvx, "learning")) /* the kernel's default */
        cJSON_AddTrueToObject(cvx, "learning");
    cJSON_AddItemToArray(h->links, copy);
    add_device_sysctls(h, name);
    return 0;
}

/* Removes the per-device sysctls of dev. */
static void remove_device_sysctls(cm_host *h, const char *dev)
{
    char mid[40];
    snprintf(mid, sizeof mid, "/%s/", dev);
    cJSON *e = h->sysctls->child;
    while (e) {
        cJSON *next = e->next;
        if ((strncmp(e->string, "net/ipv4/conf/", 14) == 0 || strncmp(e->string, "net/ipv6/conf/", 14) == 0) &&
            strncmp(e->string + 13, mid, strlen(mid)) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(h->sysctls, e));
        e = next;
    }
}

int cm_host_link_del(cm_host *h, const char *name)
{
    cJSON *link = find(h->links, "name", name, NULL, NULL, NULL, NULL);
    if (!link)
        return -ENODEV;
    char *dev = strdup(name);
    char *master = str(link, "master") ? strdup(str(link, "master")) : NULL;
    char *peer = streq(str(link, "kind"), "veth") && str(link, "peer") ? strdup(str(link, "peer")) : NULL;
    if (!dev) {
        free(master);
        free(peer);
        return -ENOMEM;
    }
    cJSON_Delete(cJSON_DetachItemViaPointer(h->links, link));
    remove_where(h->addresses, "dev", dev);
    remove_where(h->routes, "dev", dev);
    remove_where(h->neighbours, "dev", dev);
    remove_where(h->fdb, "dev", dev);
    for (int i = 0; i < 3; i++)
        index_reset(h, i);
    remove_device_sysctls(h, dev);
    cJSON *l = h->links->child;
    while (l) { /* enslaved links lose their master; VXLAN devices on it go with it */
        cJSON *next = l->next;
        const cJSON *vx = cJSON_GetObjectItemCaseSensitive(l, "vxlan");
        if (streq(str(l, "master"), dev))
            cJSON_DeleteItemFromObjectCaseSensitive(l, "master");
        if (vx && streq(str(vx, "dev"), dev)) {
            cm_host_link_del(h, str(l, "name"));
            next = h->links->child; /* the list changed: start over */
        }
        l = next;
    }
    if (master)
        bridge_mtu_adjust(h, master);
    if (peer) /* a veth's peer goes with it */
        cm_host_link_del(h, peer);
    free(master);
    free(peer);
    free(dev);
    return 0;
}

/* The route of family fam (4 or 6) to dst (canonical), or NULL. */
static cJSON *find_route(cm_host *h, int fam, const char *dst, const char *dev)
{
    char key[256];
    snprintf(key, sizeof key, "%d %s", fam, dst);
    cJSON *r = index_find(h, IX_ROUTES, key); /* the first of family fam to dst */
    if (!r || !dev || streq(str(r, "dev"), dev))
        return r;
    if (h->ix[IX_ROUTES].valid && !h->ix[IX_ROUTES].dups)
        return NULL; /* no other route to dst */
    cJSON_ArrayForEach(r, h->routes) /* one prefix on several devices: the one on dev */
    {
        if (route_family(r) == fam && streq(str(r, "dst"), dst) && streq(str(r, "dev"), dev))
            return r;
    }
    return NULL;
}

/* Adds the kernel's prefix route for an IPv6 address: any length, /128 too, scope universe. */
static void add_prefix_route6(cm_host *h, const char *dev, const char *cidr)
{
    char dst[64];
    if (streq(dev, "lo") || !ip6_canonical(cidr, 1, 1, dst, sizeof dst) || find_route(h, 6, dst, dev))
        return;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "family", "inet6");
    cJSON_AddStringToObject(r, "dst", dst);
    cJSON_AddStringToObject(r, "dev", dev);
    cJSON_AddStringToObject(r, "scope", "universe");
    cJSON_AddStringToObject(r, "protocol", "kernel");
    cJSON_AddItemToArray(h->routes, r);
    index_added(h, IX_ROUTES, r);
}

/* Adds the kernel's prefix route for an address (not for /32 or the loopback). */
static void add_prefix_route(cm_host *h, const char *dev, const char *cidr)
{
    uint32_t a;
    int p;
    char dst[24], src[16];
    if (is_v6(cidr)) {
        add_prefix_route6(h, dev, cidr);
        return;
    }
    if (streq(dev, "lo") || !cm_ip4_parse_cidr(cidr, &a, &p) || p == 32 || !canonical_dst(cidr, dst, sizeof dst))
        return;
    if (find_route(h, 4, dst, dev))
        return;
    cm_ip4_format(a, src, sizeof src);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "dst", dst);
    cJSON_AddStringToObject(r, "dev", dev);
    cJSON_AddStringToObject(r, "scope", "link");
    cJSON_AddStringToObject(r, "protocol", "kernel");
    cJSON_AddStringToObject(r, "src", src);
    cJSON_AddItemToArray(h->routes, r);
    index_added(h, IX_ROUTES, r);
}

int cm_host_link_set_up(cm_host *h, const char *name, int up)
{
    cJSON *link = find(h->links, "name", name, NULL, NULL, NULL, NULL);
    if (!link)
        return -ENODEV;
    cJSON_ReplaceItemInObjectCaseSensitive(link, "up", cJSON_CreateBool(up));
    if (!up) { /* its routes and neighbours go (permanent ones too), and its IPv6 addresses
                * (net.ipv6.conf.*.keep_addr_on_down = 0) */
        remove_where(h->routes, "dev", name);
        remove_where(h->neighbours, "dev", name);
        index_reset(h, IX_ROUTES);
        index_reset(h, IX_NEIGH);
        cJSON *a = h->addresses->child;
        while (a) {
            cJSON *next = a->next;
            if (streq(str(a, "dev"), name) && streq(str(a, "family"), "inet6"))
                cJSON_Delete(cJSON_DetachItemViaPointer(h->addresses, a));
            a = next;
        }
        return 0;
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, h->addresses)
    {
        if (streq(str(a, "dev"), name))
            add_prefix_route(h, name, str(a, "address"));
    }
    return 0;
}

int cm_host_link_set_mtu(cm_host *h, const char *name, int mtu)
{
    cJSON *link = find(h->links, "name", name, NULL, NULL, NULL, NULL);
    if (!link)
        return -ENODEV;
    if (mtu < 68 || mtu > 65536)
        return -EINVAL;
    cJSON_ReplaceItemInObjectCaseSensitive(link, "mtu", cJSON_CreateNumber(mtu));
    if (streq(str(link, "kind"), "bridge") && !cJSON_GetObjectItemCaseSensitive(link, "mtuSetByUser"))
        cJSON_AddTrueToObject(link, "mtuSetByUser");
    return 0;
}

/* ---- addresses ---- */

int cm_host_addr_add(cm_host *h, const char *dev, const char *cidr)
{
    uint32_t a;
    int p;
    char v6[64];
    const cJSON *link = cm_host_link(h, dev);
    if (!link)
        return -ENODEV;
    if (is_v6(cidr) ? !ip6_canonical(cidr, 0, 1, v6, sizeof v6) : !cm_ip4_parse_cidr(cidr, &a, &p))
        return -EINVAL;
    if (is_v6(cidr))
        cidr = v6;
    if (find(h->addresses, "dev", dev, "address", cidr, NULL, NULL))
        return -EEXIST;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dev", dev);
    cJSON_AddStringToObject(e, "address", cidr);
    if (is_v6(cidr))
        cJSON_AddStringToObject(e, "family", "inet6");
    cJSON_AddItemToArray(h->addresses, e);
    if (is_up(link))
        add_prefix_route(h, dev, cidr);
    return 0;
}

int cm_host_addr_del(cm_host *h, const char *dev, const char *cidr)
{
    char v6[64];
    if (is_v6(cidr) && ip6_canonical(cidr, 0, 1, v6, sizeof v6))
        cidr = v6;
    cJSON *e = find(h->addresses, "dev", dev, "address", cidr, NULL, NULL);
    if (!e)
        return cm_host_link(h, dev) ? -EADDRNOTAVAIL : -ENODEV;
    cJSON_Delete(cJSON_DetachItemViaPointer(h->addresses, e));
    char dst[64];
    if (canonical_dst(cidr, dst, sizeof dst)) {
        cJSON *r = find_route(h, is_v6(cidr) ? 6 : 4, dst, dev);
        if (r && streq(str(r, "protocol"), "kernel")) {
            index_removing(h, IX_ROUTES, r);
            drop(cJSON_DetachItemViaPointer(h->routes, r));
        }
    }
    return 0;
}

/* ---- routes ---- */

/* Whether the IPv6 gw is on a network directly connected to dev (an address or a route without gateway). */
static int reachable6_on(const cm_host *h, const char *dev, const unsigned char gw[16])
{
    const cJSON *e;
    unsigned char a[16];
    int p;
    cJSON_ArrayForEach(e, h->addresses)
    {
        if (streq(str(e, "dev"), dev) && ip6_parse(str(e, "address"), a, &p) && ip6_contains(a, p, gw))
            return 1;
    }
    cJSON_ArrayForEach(e, h->routes)
    {
        if (streq(str(e, "dev"), dev) && !str(e, "gateway") && ip6_parse(str(e, "dst"), a, &p) && ip6_contains(a, p, gw))
            return 1;
    }
    return 0;
}

/* Whether gw is on a network directly connected to dev (a link-scope route or an address). */
static int reachable_on(const cm_host *h, const char *dev, uint32_t gw)
{
    const cJSON *e;
    uint32_t a;
    int p;
    cJSON_ArrayForEach(e, h->addresses)
    {
        if (streq(str(e, "dev"), dev) && cm_ip4_parse_cidr(str(e, "address"), &a, &p) &&
            ((a ^ gw) & cm_ip4_mask(p)) == 0)
            return 1;
    }
    cJSON_ArrayForEach(e, h->routes)
    {
        if (streq(str(e, "dev"), dev) && !str(e, "gateway") && cm_ip4_parse_cidr(str(e, "dst"), &a, &p) &&
            ((a ^ gw) & cm_ip4_mask(p)) == 0)
            return 1;
    }
    return 0;
}

/* The family (4 or 6) of a route given to add or delete: its dst's, or its "family" for "default". */
static int given_family(const char *family, const char *dst)
{
    return is_v6(dst) || (streq(dst, "default") && streq(family, "inet6")) ? 6 : 4;
}

/* Checks a route against the kernel's rules; fills dst with its canonical form. */
static int check_route(const cm_host *h, const cJSON *route, int fam, char *dst, size_t size)
{
    const char *dev = str(route, "dev"), *gw = str(route, "gateway");
    if (!canonical_dst(str(route, "dst"), dst, size))
        return -EINVAL;
    const cJSON *link = dev ? cm_host_link(h, dev) : NULL;
    if (!link)
        return -ENODEV;
    if (!is_up(link))
        return -ENETDOWN;
    uint32_t g;
    unsigned char g6[16];
    int len;
    if (gw && (fam == 6 ? !ip6_parse(gw, g6, &len) || strchr(gw, '/') : !cm_ip4_parse(gw, 0, &g)))
        return -EINVAL;
    if (gw && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(route, "onlink")) &&
        !(fam == 6 ? reachable6_on(h, dev, g6) : reachable_on(h, dev, g)))
        return fam == 6 ? -EHOSTUNREACH : -ENETUNREACH;
    return 0;
}

int cm_host_route_add(cm_host *h, const cJSON *route, int replace)
{
    char dst[64];
    int fam = given_family(str(route, "family"), str(route, "dst"));
    int rc = check_route(h, route, fam, dst, sizeof dst);
    if (rc)
        return rc;
    cJSON *old = find_route(h, fam, dst, NULL);
    if (old && !replace)
        return -EEXIST;
    cJSON *copy = cJSON_Duplicate(route, 1);
    if (!copy)
        return -ENOMEM;
    set_str(copy, "dst", dst);
    if (fam == 6)
        set_str(copy, "family", "inet6");
    if (!(copy = share(copy)))
        return -ENOMEM;
    if (old) {
        release(old);
        cJSON_ReplaceItemViaPointer(h->routes, old, copy);
        index_replaced(h, IX_ROUTES, old, copy);
    } else {
        cJSON_AddItemToArray(h->routes, copy);
        index_added(h, IX_ROUTES, copy);
    }
    return 0;
}

int cm_host_route_del(cm_host *h, const char *family, const char *dst, const char *dev)
{
    char canon[64];
    if (!canonical_dst(dst, canon, sizeof canon))
        return -EINVAL;
    cJSON *r = find_route(h, given_family(family, dst), canon, dev);
    if (!r)
        return -ESRCH;
    index_removing(h, IX_ROUTES, r);
    drop(cJSON_DetachItemViaPointer(h->routes, r));
    return 0;
}

/* ---- neighbours and FDB ---- */

/* Adds or replaces an entry of arr keyed by its dev and the given members. */
static int add_keyed(cm_host *h, int which, const cJSON *entry, const char *k2, const char *k3, int replace)
{
    cJSON *arr = section(h, which);
    const char *dev = str(entry, "dev");
    char key[256];
    if (!dev || !cm_host_link(h, dev))
        return -ENODEV;
    if (!str(entry, k2) || (k3 && !str(entry, k3)) || !entry_key(which, entry, key, sizeof key))
        return -EINVAL;
    cJSON *old = index_find(h, which, key);
    if (old && !replace)
        return -EEXIST;
    cJSON *copy = share(cJSON_Duplicate(entry, 1));
    if (!copy)
        return -ENOMEM;
    if (old) {
        release(old);
        cJSON_ReplaceItemViaPointer(arr, old, copy);
        index_replaced(h, which, old, copy);
    } else {
        cJSON_AddItemToArray(arr, copy);
        index_added(h, which, copy);
    }
    return 0;
}

/* A copy of entry with its IPv6 dst in the kernel's form (and family "inet6" for a neighbour). */
static cJSON *with_canonical_dst(const cJSON *entry, int neigh)
{
    char buf[64];
    cJSON *copy = cJSON_Duplicate(entry, 1);
    const char *dst = str(entry, "dst");
    if (!copy || !is_v6(dst))
        return copy;
    set_str(copy, "dst", canonical_addr(dst, buf, sizeof buf));
    if (neigh)
        set_str(copy, "family", "inet6");
    return copy;
}

int cm_host_neigh_add(cm_host *h, const cJSON *neigh, int replace)
{
    cJSON *e = with_canonical_dst(neigh, 1);
    int rc = e ? add_keyed(h, IX_NEIGH, e, "dst", NULL, replace) : -ENOMEM;
    cJSON_Delete(e);
    return rc;
}

int cm_host_neigh_del(cm_host *h, const char *dev, const char *dst)
{
    char buf[64], key[256];
    snprintf(key, sizeof key, "%s %s", dev, canonical_addr(dst, buf, sizeof buf));
    cJSON *e = index_find(h, IX_NEIGH, key);
    if (!e)
        return cm_host_link(h, dev) ? -ENOENT : -ENODEV;
    index_removing(h, IX_NEIGH, e);
    drop(cJSON_DetachItemViaPointer(h->neighbours, e));
    return 0;
}

int cm_host_fdb_add(cm_host *h, const cJSON *fdb, int replace)
{
    cJSON *e = with_canonical_dst(fdb, 0);
    int rc = e ? add_keyed(h, IX_FDB, e, "lladdr", "dst", replace) : -ENOMEM;
    cJSON_Delete(e);
    return rc;
}

int cm_host_fdb_del(cm_host *h, const char *dev, const char *lladdr, const char *dst)
{
    char buf[64], key[256];
    snprintf(key, sizeof key, "%s %s %s", dev, lladdr, canonical_addr(dst, buf, sizeof buf));
    cJSON *e = index_find(h, IX_FDB, key);
    if (!e)
        return cm_host_link(h, dev) ? -ENOENT : -ENODEV;
    index_removing(h, IX_FDB, e);
    drop(cJSON_DetachItemViaPointer(h->fdb, e));
    return 0;
}

/* ---- sysctls and files ---- */

const char *cm_host_sysctl_get(const cm_host *h, const char *key)
{
    return str(h->sysctls, key);
}

/*
 * A value as the kernel's integer sysctls take it (proc_dointvec): integers separated by
 * blanks, kept as the kernel prints them (tab-separated); "" changes nothing (1); else 0.
 */
static int sysctl_value(const char *value, char *buf, size_t size)
{
    size_t off = 0;
    int n = 0;
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || (*end && *end != ' ' && *end != '\t' && *end != '\n') || off + 24 > size)
            return 0;
        off += (size_t)snprintf(buf + off, size - off, "%s%lld", n++ ? "\t" : "", v);
        p = end;
    }
    return n ? 2 : 1;
}

int cm_host_sysctl_set(cm_host *h, const char *key, const char *value)
{
    if (!cm_host_sysctl_get(h, key))
        return -ENOENT;
    char buf[256];
    int rc = sysctl_value(value, buf, sizeof buf);
    if (!rc)
        return -EINVAL;
    if (rc == 2)
        set_str(h->sysctls, key, buf);
    return 0;
}

const char *cm_host_file_read(const cm_host *h, const char *path)
{
    return str(h->files, path);
}

int cm_host_file_write(cm_host *h, const char *path, const char *content)
{
    if (!path || path[0] != '/' || path[strlen(path) - 1] == '/')
        return -EINVAL;
    set_str(h->files, path, content);
    return 0;
}

int cm_host_file_remove(cm_host *h, const char *path)
{
    if (!cm_host_file_read(h, path))
        return -ENOENT;
    cJSON_DeleteItemFromObjectCaseSensitive(h->files, path);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

cJSON *cm_host_file_list(const cm_host *h, const char *dir)
{
    size_t n = (size_t)cJSON_GetArraySize(h->files), count = 0, dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    cJSON *out = cJSON_CreateArray();
    if (!names || !out) {
        free(names);
        cJSON_Delete(out);
        return NULL;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, h->files)
    {
        const char *p = f->string;
        if (strncmp(p, dir, dlen) == 0 && p[dlen] == '/' && !strchr(p + dlen + 1, '/'))
            names[count++] = p + dlen + 1;
    }
    qsort(names, count, sizeof *names, cmp_names);
    for (size_t i = 0; i < count; i++)
        cJSON_AddItemToArray(out, cJSON_CreateString(names[i]));
    free(names);
    return out;
}

/* ---- iptables ---- */

/* The builtin chains of a table, as iptables-save lists them. */
static const char *const *builtin_chains(const char *table)
{
    static const char *const NAT[] = {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", NULL};
    static const char *const FILTER[] = {"INPUT", "FORWARD", "OUTPUT", NULL};
    static const char *const MANGLE[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING", NULL};
    static const char *const RAW[] = {"PREROUTING", "OUTPUT", NULL};
    return streq(table, "nat") ? NAT : streq(table, "filter") ? FILTER : streq(table, "mangle") ? MANGLE
           : streq(table, "raw") ? RAW : NULL;
}

/* The section of a family: "iptables" (ipv4) or "ip6tables" (ipv6), created when create is set. */
static cJSON *ipt_section(const cm_host *h, const char *family, int create)
{
    const char *key = streq(family, "ipv6") ? "ip6tables" : "iptables";
    cJSON *s = cJSON_GetObjectItemCaseSensitive(h->doc, key);
    if (!s && create)
        s = cJSON_AddObjectToObject(h->doc, key);
    return s;
}

/* The backend the simulated rules live in: spec'd by the document, else "nft". */
static const char *ipt_backend(const cm_host *h)
{
    const char *b = str(h->doc, "iptablesBackend");
    return b ? b : "nft";
}

/* The chain a rule line ("-A CHAIN ...") or declaration (":CHAIN") belongs to, into buf. */
static int line_chain(const char *line, char *buf, size_t size)
{
    const char *p = strncmp(line, "-A ", 3) == 0 ? line + 3 : line[0] == ':' ? line + 1 : NULL;
    if (!p)
        return 0;
    size_t n = strcspn(p, " ");
    snprintf(buf, size, "%.*s", (int)n, p);
    return 1;
}

/* Whether a table (array of lines) has chain, implicitly (rules) or declared. */
static int has_chain(const cJSON *lines, const char *table, const char *chain)
{
    const char *const *b = builtin_chains(table);
    for (; b && *b; b++)
        if (streq(*b, chain))
            return 1;
    const cJSON *l;
    char c[64];
    cJSON_ArrayForEach(l, lines)
    {
        if (cJSON_IsString(l) && line_chain(l->valuestring, c, sizeof c) && streq(c, chain))
            return 1;
    }
    return 0;
}

char *cm_host_ipt_save(const cm_host *h, const char *family, const char *backend)
{
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    const cJSON *sec = streq(backend, ipt_backend(h)) ? ipt_section(h, family, 0) : NULL;
    const cJSON *t;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(NULL, 0, __VA_ARGS__);                                                   \
        while (len + (size_t)n_ + 1 > cap) {                                                       \
            char *m_ = realloc(out, cap *= 2);                                                     \
            if (!m_) {                                                                             \
                free(out);                                                                         \
                return NULL;                                                                       \
            }                                                                                      \
            out = m_;                                                                              \
        }                                                                                          \
        len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__);                                \
    } while (0)
    cJSON_ArrayForEach(t, sec)
    {
        PUT("*%s\n", t->string);
        for (const char *const *b = builtin_chains(t->string); b && *b; b++)
            PUT(":%s ACCEPT [0:0]\n", *b);
        const cJSON *l;
        char c[64];
        cJSON *seen = cJSON_CreateObject();
        cJSON_ArrayForEach(l, t)
        {
            if (!cJSON_IsString(l) || !line_chain(l->valuestring, c, sizeof c))
                continue;
            int builtin = 0;
            for (const char *const *b = builtin_chains(t->string); b && *b; b++)
                builtin |= streq(*b, c);
            if (!builtin && !cJSON_GetObjectItemCaseSensitive(seen, c)) {
                cJSON_AddTrueToObject(seen, c);
                PUT(":%s - [0:0]\n", c);
            }
        }
        cJSON_Delete(seen);
        cJSON_ArrayForEach(l, t)
        {
            if (cJSON_IsString(l) && l->valuestring[0] == '-')
                PUT("%s\n", l->valuestring);
        }
        PUT("COMMIT\n");
    }
#undef PUT
    return out;
}

/* Applies one restore command to the table's lines; 0, or -1 with why in err. */
static int ipt_apply(cJSON *lines, const char *table, const char *cmd, char *err, size_t errsize)
{
    char chain[64];
    const char *rest = cmd + 3;
    size_t n = strcspn(rest, " ");
    if (strlen(cmd) < 4 || cmd[0] != '-' || cmd[2] != ' ' || n == 0 || n >= sizeof chain) {
        snprintf(err, errsize, "bad command '%.200s'", cmd);
        return -1;
    }
    snprintf(chain, sizeof chain, "%.*s", (int)n, rest);
    const char *spec = rest + n;
    char rule[1024];
    snprintf(rule, sizeof rule, "-A %s%s", chain, spec);
    char decl[80];
    snprintf(decl, sizeof decl, ":%s", chain);
    int exists = has_chain(lines, table, chain);
    cJSON *l;
    switch (cmd[1]) {
    case 'N':
        if (exists) {
            snprintf(err, errsize, "%s: Chain already exists", chain);
            return -1;
        }
        cJSON_AddItemToArray(lines, cJSON_CreateString(decl));
        return 0;
    case 'A':
    case 'I':
        if (!exists) {
            snprintf(err, errsize, "%s: No chain/target/match by that name", chain);
            return -1;
        }
        if (cmd[1] == 'A')
            cJSON_AddItemToArray(lines, cJSON_CreateString(rule));
        else
            cJSON_InsertItemInArray(lines, 0, cJSON_CreateString(rule));
        return 0;
    case 'D':
        cJSON_ArrayForEach(l, lines)
        {
            if (cJSON_IsString(l) && streq(l->valuestring, rule)) {
                cJSON_Delete(cJSON_DetachItemViaPointer(lines, l));
                return 0;
            }
        }
        snprintf(err, errsize, "%s: Bad rule (does a matching rule exist in that chain?)", chain);
        return -1;
    case 'F':
    case 'X':
        if (!exists) {
            snprintf(err, errsize, "%s: No chain/target/match by that name", chain);
            return -1;
        }
        break;
    default:
        snprintf(err, errsize, "unknown command '%.200s'", cmd);
        return -1;
    }
    char target[80], c[64];
    snprintf(target, sizeof target, " -j %s", chain);
    int has_decl = 0, has_rules = 0, referenced = 0;
    cJSON_ArrayForEach(l, lines)
    {
        if (!cJSON_IsString(l) || !line_chain(l->valuestring, c, sizeof c))
            continue;
        const char *j = strstr(l->valuestring, target);
        if (j && (j[strlen(target)] == ' ' || j[strlen(target)] == '\0') && l->valuestring[0] == '-')
            referenced = 1;
        if (streq(c, chain))
        {
            if (l->valuestring[0] == ':')
                has_decl = 1;
            else
                has_rules = 1;
        }
    }
    if (cmd[1] == 'X' && (has_rules || referenced)) {
        snprintf(err, errsize, "%s: %s", chain, has_rules ? "Directory not empty" : "Too many links");
        return -1;
    }
    l = lines->child;
    while (l) { /* -F drops the chain's rules, -X its declaration */
        cJSON *next = l->next;
        if (cJSON_IsString(l) && line_chain(l->valuestring, c, sizeof c) && streq(c, chain) &&
            (cmd[1] == 'F' ? l->valuestring[0] == '-' : l->valuestring[0] == ':'))
            cJSON_Delete(cJSON_DetachItemViaPointer(lines, l));
        l = next;
    }
    if (cmd[1] == 'F' && !has_decl) {
        const char *const *b = builtin_chains(table);
        int builtin = 0;
        for (; b && *b; b++)
            builtin |= streq(*b, chain);
        if (!builtin)
            cJSON_AddItemToArray(lines, cJSON_CreateString(decl));
    }
    return 0;
}

int cm_host_ipt_restore(cm_host *h, const char *family, const char *backend, const char *text, char *err,
                        size_t errsize)
{
    if (!streq(backend, ipt_backend(h))) {
        snprintf(err, errsize, "the simulated host keeps its rules in the %s backend", ipt_backend(h));
        return -EOPNOTSUPP;
    }
    cJSON *sec = cJSON_Duplicate(ipt_section(h, family, 1), 1); /* all or nothing, as a commit */
    cJSON *lines = NULL;
    char table[32] = "";
    int lineno = 0;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        p += n + (p[n] == '\n');
        lineno++;
        if (!line[0] || line[0] == '#')
            continue;
        char why[256] = "";
        if (line[0] == '*') {
            snprintf(table, sizeof table, "%.31s", line + 1);
            if (!builtin_chains(table)) {
                snprintf(why, sizeof why, "unknown table '%s'", table);
            } else if (!(lines = cJSON_GetObjectItemCaseSensitive(sec, table))) {
                lines = cJSON_AddArrayToObject(sec, table);
            }
        } else if (strcmp(line, "COMMIT") == 0) {
            lines = NULL;
        } else if (!lines) {
            snprintf(why, sizeof why, "no table given");
        } else if (line[0] == ':') {
            char chain[64];
            size_t m = strcspn(line + 1, " ");
            snprintf(chain, sizeof chain, "%.*s", (int)(m < sizeof chain ? m : sizeof chain - 1), line + 1);
            if (!has_chain(lines, table, chain)) {
                char decl[80];
                snprintf(decl, sizeof decl, ":%s", chain);
                cJSON_AddItemToArray(lines, cJSON_CreateString(decl));
            }
        } else {
            ipt_apply(lines, table, line, why, sizeof why);
        }
        if (why[0]) {
            snprintf(err, errsize, "line %d failed: %s", lineno, why);
            cJSON_Delete(sec);
            return -EINVAL;
        }
    }
    const char *key = streq(family, "ipv6") ? "ip6tables" : "iptables";
    cJSON_ReplaceItemInObjectCaseSensitive(h->doc, key, sec);
    return 0;
}

/*
 * A bridge whose MTU was not set after its creation (mtuSetByUser) takes the smallest MTU of
 * its ports, 1500 without any, whenever a port comes or goes (the kernel's br_mtu_auto_adjust).
 */
static void bridge_mtu_adjust(cm_host *h, const char *bridge)
{
    cJSON *br = find(h->links, "name", bridge, NULL, NULL, NULL, NULL);
    if (!br || !streq(str(br, "kind"), "bridge") || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(br, "mtuSetByUser")))
        return;
    int mtu = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, h->links)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(l, "mtu");
        if (streq(str(l, "master"), bridge) && cJSON_IsNumber(m) && (!mtu || m->valueint < mtu))
            mtu = m->valueint;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(br, "mtu", cJSON_CreateNumber(mtu ? mtu : 1500));
}

int cm_host_link_set_master(cm_host *h, const char *name, const char *master)
{
    cJSON *link = find(h->links, "name", name, NULL, NULL, NULL, NULL);
    if (!link || (master && *master && !cm_host_link(h, master)))
        return -ENODEV;
    char *old = str(link, "master") ? strdup(str(link, "master")) : NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(link, "master");
    if (master && *master)
        cJSON_AddStringToObject(link, "master", master);
    if (old)
        bridge_mtu_adjust(h, old);
    if (master && *master)
        bridge_mtu_adjust(h, master);
    free(old);
    return 0;
}
