/*
 * sim_ipam.c - pod addresses from Calico IPAM, as calico-ipam hands them out.
 *
 * When the node's active CNI config (cni.h) runs the calico plugin with "ipam": {"type":
 * "calico-ipam"}, a new pod's address comes from the node's blocks: the confirmed,
 * not-deleted BlockAffinity objects (crd.projectcalico.org/v1) naming the node, in name
 * order, each IPAMBlock's first free ordinal (the head of unallocated). When they are
 * full (or there are none), the node claims the next block of an enabled IPv4 IPPool
 * (its cidr cut into blocks of blockSize, default 26, in address order, skipping blocks
 * that exist): a BlockAffinity created pending, the IPAMBlock created with
 * affinity host:<node>, then the affinity confirmed (datamodel.md A.3, A.4). Each
 * address also counts in the IPAMHandle k8s-pod-network.<sandbox id>. A deleted pod's
 * address goes back to the end of its block's unallocated list, and its handle counts one less
 * there (deleted when it counts none).
 * Any other CNI config (flannel, Canal's host-local) leaves the address to the podCIDR.
 */
#include "simint.h"

#include "cni.h"
#include "ip4.h"
#include "map.h"
#include "json.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP "crd.projectcalico.org/v1"

/* A node's blocks by the BlockAffinities naming it (from_affine): their IPAMBlocks' names. */
struct affine {
    size_t n, cap;
    char (*names)[128];
};

struct sim_ipam {
    uint64_t released; /* addresses given back so far */
    cm_map *affine;    /* node -> struct affine, in the store's order; NULL until needed and after
                          any BlockAffinity changes (so a pod's address does not list them all) */
};

struct sim_ipam *sim_ipam_new(void)
{
    return calloc(1, sizeof(struct sim_ipam));
}

static void free_affine(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    struct affine *a = value;
    free(a->names);
    free(a);
}

static void forget_affine(struct sim_ipam *p)
{
    if (p->affine) {
        cm_map_each(p->affine, free_affine, NULL);
        cm_map_free(p->affine);
        p->affine = NULL;
    }
}

void sim_ipam_free(struct sim_ipam *p)
{
    if (p)
        forget_affine(p);
    free(p);
}

static const cm_kind *ckind(cm_sim *s, const char *k)
{
    return cm_kinds_by_kind(sim_fake(s)->kinds, GROUP, k);
}

/* ---- addresses ---- */

/* A CIDR's network (host bits cleared) and prefix length. */
static int parse_cidr(const char *t, uint32_t *net, int *bits)
{
    if (!cm_ip4_parse_cidr(t, net, bits))
        return 0;
    *net &= cm_ip4_mask(*bits);
    return 1;
}

/* CIDRToName: "10.244.1.0/26" -> "10-244-1-0-26". */
static void cidr_name(const char *cidr, char *buf, size_t size)
{
    snprintf(buf, size, "%s", cidr);
    for (char *p = buf; *p; p++)
        if (*p == '.' || *p == '/')
            *p = '-';
}

/* Whether the active CNI config runs the calico plugin with calico-ipam. */
static int calico_ipam(const cm_host *h)
{
    char path[512];
    if (!cm_cni_active(h, CM_CNI_DIR, path, sizeof path))
        return 0;
    const char *text = cm_host_file_read(h, path);
    cJSON *conf = text ? cJSON_Parse(text) : NULL;
    const cJSON *plugins = sim_get(conf, "plugins"), *p;
    int yes = 0;
    if (!plugins)
        yes = sim_is(sim_gets(conf, "type"), "calico") && sim_is(sim_gets(sim_get(conf, "ipam"), "type"), "calico-ipam");
    cJSON_ArrayForEach(p, plugins)
        yes |= sim_is(sim_gets(p, "type"), "calico") && sim_is(sim_gets(sim_get(p, "ipam"), "type"), "calico-ipam");
    cJSON_Delete(conf);
    return yes;
}

/* ---- the objects ---- */

/* projectcalico.org/hostname-hash: base32 (no padding) of SHA3-256 of the node name. */
static void hostname_hash(const char *node, char *buf, size_t size)
{
    static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char d[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA3_256, node, strlen(node), d) != 0) {
        snprintf(buf, size, "%s", "");
        return;
    }
    size_t o = 0;
    uint32_t acc = 0;
    int nbits = 0;
    for (size_t i = 0; i < sizeof d; i++) {
        acc = (acc << 8) | d[i];
        nbits += 8;
        while (nbits >= 5 && o + 1 < size) {
            buf[o++] = B32[(acc >> (nbits - 5)) & 31];
            nbits -= 5;
        }
    }
    if (nbits > 0 && o + 1 < size)
        buf[o++] = B32[(acc << (5 - nbits)) & 31];
    buf[o] = '\0';
}

static cJSON *new_object(const char *kind, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", GROUP);
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", name);
    return o;
}

static cJSON *new_affinity(const char *node, const char *cidr, const char *name)
{
    cJSON *a = new_object("BlockAffinity", name);
    cJSON *meta = sim_get(a, "metadata"), *labels = cJSON_AddObjectToObject(meta, "labels");
    char hash[64];
    hostname_hash(node, hash, sizeof hash);
    cJSON_AddStringToObject(labels, "projectcalico.org/affinity-type", "host");
    cJSON_AddStringToObject(labels, "projectcalico.org/hostname-hash", hash);
    cJSON_AddStringToObject(labels, "projectcalico.org/ip-version", "4");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNullToObject(m, "creationTimestamp");
    cJSON_AddItemToObject(m, "labels", cJSON_Duplicate(labels, 1));
    char *text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"), "projectcalico.org/metadata", text ? text : "");
    free(text);
    cJSON *spec = cJSON_AddObjectToObject(a, "spec");
    cJSON_AddStringToObject(spec, "cidr", cidr);
    cJSON_AddStringToObject(spec, "deleted", "false");
    cJSON_AddStringToObject(spec, "node", node);
    cJSON_AddStringToObject(spec, "state", "pending");
    cJSON_AddStringToObject(spec, "type", "host");
    return a;
}

static cJSON *new_block(cm_sim *s, const char *node, const char *cidr, const char *name, unsigned size)
{
    cJSON *b = new_object("IPAMBlock", name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(sim_get(b, "metadata"), "annotations"), "projectcalico.org/metadata",
                            "{\"creationTimestamp\":null}");
    cJSON *spec = cJSON_AddObjectToObject(b, "spec");
    char aff[300], now[40];
    snprintf(aff, sizeof aff, "host:%s", node);
    sim_now(s, now, sizeof now);
    cJSON_AddStringToObject(spec, "affinity", aff);
    cJSON_AddStringToObject(spec, "affinityClaimTime", now);
    cJSON *alloc = cJSON_AddArrayToObject(spec, "allocations"), *free_ = cJSON_CreateArray();
    for (unsigned i = 0; i < size; i++) {
        cJSON_AddItemToArray(alloc, cJSON_CreateNull());
        cJSON_AddItemToArray(free_, cm_json_new_int64(i));
    }
    cJSON_AddArrayToObject(spec, "attributes");
    cJSON_AddStringToObject(spec, "cidr", cidr);
    cJSON_AddFalseToObject(spec, "deleted");
    /* sequenceNumber starts at the creation time in nanoseconds, as newBlock does */
    sim_seti(spec, "sequenceNumber", cm_loop_wall(sim_loop(s)));
    cJSON_AddItemToObject(spec, "sequenceNumberForAllocation", cJSON_CreateObject());
    cJSON_AddFalseToObject(spec, "strictAffinity");
    cJSON_AddItemToObject(spec, "unallocated", free_);
    return b;
}

/* Adds one address to the handle of a sandbox (creates it). */
static void handle_add(cm_sim *s, const char *handle, const char *cidr)
{
    const cm_kind *k = ckind(s, "IPAMHandle");
    if (!k)
        return;
    char name[300];
    snprintf(name, sizeof name, "%s", handle);
    for (char *p = name; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    cm_obj *o = cm_store_get(sim_store(s), k, "", name);
    if (o) {
        cJSON *next = cJSON_Duplicate(o->json, 1);
        cJSON *blk = sim_get(sim_get(next, "spec"), "block");
        sim_seti(blk, cidr, sim_geti(blk, cidr, 0) + 1);
        sim_put(s, k, next, NULL);
        return;
    }
    cJSON *h = new_object("IPAMHandle", name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(sim_get(h, "metadata"), "annotations"), "projectcalico.org/metadata",
                            "{\"creationTimestamp\":null}");
    cJSON *spec = cJSON_AddObjectToObject(h, "spec");
    sim_seti(cJSON_AddObjectToObject(spec, "block"), cidr, 1);
    cJSON_AddFalseToObject(spec, "deleted");
    cJSON_AddStringToObject(spec, "handleID", handle);
    sim_call(s, "POST", k, "", NULL, NULL, NULL, h);
}

/* Takes one address in block cidr off a handle; the handle goes when it holds none (A.5). */
static void handle_release(cm_sim *s, const char *handle, const char *cidr)
{
    const cm_kind *k = ckind(s, "IPAMHandle");
    char name[300];
    snprintf(name, sizeof name, "%s", handle ? handle : "");
    for (char *p = name; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    cm_obj *o = k && handle ? cm_store_get(sim_store(s), k, "", name) : NULL;
    if (!o)
        return;
    cJSON *next = cJSON_Duplicate(o->json, 1), *blk = sim_get(sim_get(next, "spec"), "block"), *c;
    int64_t left = sim_geti(blk, cidr, 0) - 1, held = 0;
    if (left > 0)
        sim_seti(blk, cidr, left);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(blk, cidr);
    cJSON_ArrayForEach(c, blk) held += cJSON_IsNumber(c) && c->valuedouble > 0;
    if (held) {
        sim_put(s, k, next, NULL);
        return;
    }
    cJSON_Delete(next);
    sim_call(s, "DELETE", k, "", name, NULL, NULL, NULL);
}

/* The ordinal a pod already holds in block (a kubelet retry), or -1. */
static int held(const cJSON *spec, const char *ns, const char *pod)
{
    const cJSON *a;
    int ord = 0;
    cJSON_ArrayForEach(a, sim_get(spec, "allocations")) {
        if (cJSON_IsNumber(a)) {
            const cJSON *sec = sim_get(cJSON_GetArrayItem(sim_get(spec, "attributes"), (int)a->valuedouble), "secondary");
            if (sim_is(sim_gets(sec, "namespace"), ns) && sim_is(sim_gets(sec, "pod"), pod))
                return ord;
        }
        ord++;
    }
    return -1;
}

/* Assigns the block's next free address to the pod (a write of the block); 1 with ip, or 0. */
static int assign_in(cm_sim *s, cm_obj *block, const cm_obj *pod, const char *node, const char *handle, char *ip,
                     size_t size)
{
    const cJSON *spec = sim_get(block->json, "spec");
    uint32_t net;
    int bits;
    if (!parse_cidr(sim_gets(spec, "cidr"), &net, &bits))
        return 0;
    int have = held(spec, pod->ns, pod->name);
    if (have >= 0) {
        cm_ip4_format(net + (uint32_t)have, ip, size);
        return 1;
    }
    const cJSON *head = cJSON_GetArrayItem(sim_get(spec, "unallocated"), 0);
    if (!cJSON_IsNumber(head))
        return 0;
    int ord = (int)head->valuedouble;
    char cidr[64];
    snprintf(cidr, sizeof cidr, "%s", sim_gets(spec, "cidr"));
    handle_add(s, handle, cidr); /* the handle first, as AssignIP writes it */
    cJSON *next = cJSON_Duplicate(block->json, 1);
    cJSON *ns = sim_get(next, "spec");
    cJSON_DeleteItemFromArray(sim_get(ns, "unallocated"), 0);
    cJSON *attr = cJSON_CreateObject(), *sec;
    cJSON_AddStringToObject(attr, "handle_id", handle);
    sec = cJSON_AddObjectToObject(attr, "secondary");
    char now[40], stamp[64];
    sim_now(s, now, sizeof now);
    snprintf(stamp, sizeof stamp, "%.10s %.8s +0000 UTC", now, now + 11); /* Go's time.Time.String() */
    cJSON_AddStringToObject(sec, "namespace", pod->ns);
    cJSON_AddStringToObject(sec, "node", node);
    cJSON_AddStringToObject(sec, "pod", pod->name);
    cJSON_AddStringToObject(sec, "timestamp", stamp);
    cJSON *attrs = sim_get(ns, "attributes");
    if (!cJSON_IsArray(attrs))
        attrs = cJSON_AddArrayToObject(ns, "attributes");
    int idx = cJSON_GetArraySize(attrs);
    cJSON_AddItemToArray(attrs, attr);
    cJSON_ReplaceItemInArray(sim_get(ns, "allocations"), ord, cm_json_new_int64(idx));
    int64_t seq = sim_geti(ns, "sequenceNumber", 0);
    char key[16];
    snprintf(key, sizeof key, "%d", ord);
    cJSON *sfa = sim_get(ns, "sequenceNumberForAllocation");
    if (!cJSON_IsObject(sfa))
        sfa = cJSON_AddObjectToObject(ns, "sequenceNumberForAllocation");
    sim_seti(sfa, key, seq);
    sim_seti(ns, "sequenceNumber", seq + 1);
    if (sim_put(s, block->kind, next, NULL) != 200)
        return 0;
    cm_ip4_format(net + (uint32_t)ord, ip, size);
    return 1;
}

/* The node's confirmed blocks, tried in affinity name order. */
/* The node -> struct affine index of the confirmed, not-deleted BlockAffinities with a cidr, made
 * when needed; NULL when out of memory. */
static cm_map *affine_index(cm_sim *s)
{
    struct sim_ipam *p = sim_ext(s)->ipam;
    if (p->affine)
        return p->affine;
    const cm_kind *ka = ckind(s, "BlockAffinity");
    cm_obj *const *items;
    size_t n = ka ? cm_store_list(sim_store(s), ka, NULL, &items) : 0;
    if (!(p->affine = cm_map_new()))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const cJSON *spec = sim_get(items[i]->json, "spec");
        const char *node = sim_gets(spec, "node");
        if (!node || !sim_is(sim_gets(spec, "state"), "confirmed") || sim_is(sim_gets(spec, "deleted"), "true") ||
            !sim_gets(spec, "cidr"))
            continue;
        struct affine *a = cm_map_get(p->affine, node);
        if (!a && (!(a = calloc(1, sizeof *a)) || cm_map_set(p->affine, node, a) != 0)) {
            free(a);
            forget_affine(p);
            return NULL;
        }
        if (a->n == a->cap) {
            size_t cap = a->cap ? 2 * a->cap : 4;
            void *more = realloc(a->names, cap * sizeof *a->names);
            if (!more) {
                forget_affine(p);
                return NULL;
            }
            a->names = more;
            a->cap = cap;
        }
        cidr_name(sim_gets(spec, "cidr"), a->names[a->n++], sizeof *a->names);
    }
    return p->affine;
}

/* An address for the pod from the node's blocks (the BlockAffinities naming it, in the store's
 * order): 1 and the address, or 0. */
static int from_affine(cm_sim *s, const cm_obj *pod, const char *node, const char *handle, char *ip, size_t size)
{
    const cm_kind *kb = ckind(s, "IPAMBlock");
    cm_map *ix = kb ? affine_index(s) : NULL;
    const struct affine *a = ix ? cm_map_get(ix, node) : NULL;
    size_t k = a ? a->n : 0;
    char (*names)[128] = malloc((k ? k : 1) * sizeof *names); /* copied: the writes below may change the index */
    if (names && k)
        memcpy(names, a->names, k * sizeof *names);
    int ok = 0;
    for (size_t i = 0; names && i < k && !ok; i++) {
        cm_obj *b = cm_store_get(sim_store(s), kb, "", names[i]);
        ok = b && assign_in(s, b, pod, node, handle, ip, size);
    }
    free(names);
    return ok;
}

/* Claims the next free block of an enabled IPv4 pool for node; 1, or 0 with why in msg. */
static int claim(cm_sim *s, const char *node, char *msg, size_t msgsize)
{
    const cm_kind *kp = ckind(s, "IPPool"), *ka = ckind(s, "BlockAffinity"), *kb = ckind(s, "IPAMBlock");
    cm_obj *const *items;
    size_t np = kp && ka && kb ? cm_store_list(sim_store(s), kp, NULL, &items) : 0;
    struct pool {
        uint32_t net;
        int bits;
        int64_t bs;
    } *pools = malloc((np ? np : 1) * sizeof *pools); /* copied: the writes below change the store */
    size_t k = 0;
    for (size_t i = 0; pools && i < np; i++) {
        const cJSON *spec = sim_get(items[i]->json, "spec");
        struct pool *p = &pools[k];
        p->bs = sim_geti(spec, "blockSize", 26);
        if (!cJSON_IsTrue(sim_get(spec, "disabled")) && parse_cidr(sim_gets(spec, "cidr"), &p->net, &p->bits) &&
            p->bs >= (int64_t)p->bits && p->bs <= 32)
            k++;
    }
    int any = k > 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t net = pools[i].net;
        int bits = pools[i].bits;
        int64_t bs = pools[i].bs;
        uint64_t nblocks = UINT64_C(1) << (bs - bits), size = UINT64_C(1) << (32 - bs);
        for (uint64_t b = 0; b < nblocks; b++) {
            char cidr[64], name[128], base[32], aname[400];
            cm_ip4_format(net + (uint32_t)(b * size), base, sizeof base);
            snprintf(cidr, sizeof cidr, "%s/%lld", base, (long long)bs);
            cidr_name(cidr, name, sizeof name);
            if (cm_store_get(sim_store(s), kb, "", name))
                continue;
            snprintf(aname, sizeof aname, "%s-%s", node, name);
            cm_obj *old = cm_store_get(sim_store(s), ka, "", aname);
            if (!old && sim_call(s, "POST", ka, "", NULL, NULL, NULL, new_affinity(node, cidr, aname)) != 201)
                continue;
            if (sim_call(s, "POST", kb, "", NULL, NULL, NULL, new_block(s, node, cidr, name, (unsigned)size)) != 201)
                continue;
            free(pools);
            cm_obj *a = cm_store_get(sim_store(s), ka, "", aname);
            if (!a)
                return 0;
            cJSON *next = cJSON_Duplicate(a->json, 1);
            cm_set_str(sim_get(next, "spec"), "state", "confirmed");
            return sim_put(s, ka, next, NULL) == 200;
        }
    }
    free(pools);
    snprintf(msg, msgsize, any ? "failed to request 1 IPv4 addresses. IPAM allocated only 0"
                               : "no configured Calico pools for node %s", node);
    return 0;
}

int sim_ipam_assign(cm_sim *s, const cm_obj *pod, const cJSON *node, const cm_host *host,
                    const char *sandbox, char *ip, size_t ipsize, char *msg, size_t msgsize)
{
    if (!host || !calico_ipam(host))
        return -1;
    char nodename[256], handle[128], why[512] = "";
    snprintf(nodename, sizeof nodename, "%s", cm_meta_str(node, "name") ? cm_meta_str(node, "name") : "");
    snprintf(handle, sizeof handle, "k8s-pod-network.%s", sandbox);
    if (from_affine(s, pod, nodename, handle, ip, ipsize))
        return 1;
    if (claim(s, nodename, why, sizeof why) && from_affine(s, pod, nodename, handle, ip, ipsize))
        return 1;
    snprintf(msg, msgsize,
             "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "
             "\"%s\": plugin type=\"calico\" failed (add): %s",
             sandbox, why[0] ? why : "failed to request 1 IPv4 addresses. IPAM allocated only 0");
    return 0;
}

/* ---- release ---- */

void sim_ipam_on_change(cm_sim *s, const cm_event *ev)
{
    if (ev->kind == ckind(s, "BlockAffinity"))
        forget_affine(sim_ext(s)->ipam);
    if (ev->type != CM_EV_DELETED || ev->kind->group[0] || !sim_is(ev->kind->kind, "Pod"))
        return;
    const char *ip = sim_gets(sim_get(ev->obj, "status"), "podIP");
    const cm_kind *kb = ckind(s, "IPAMBlock");
    cm_obj *const *items;
    if (!ip || cJSON_IsTrue(sim_get(sim_get(ev->obj, "spec"), "hostNetwork")) || !kb ||
        cm_store_list(sim_store(s), kb, NULL, &items) == 0)
        return;
    char key[700];
    snprintf(key, sizeof key, "%s|%s|%s", ip, ev->ns, cm_meta_str(ev->obj, "name"));
    sim_enqueue_key(s, SIM_IPAM, key);
}

/* At the start: an address whose pod is gone goes back too. A saved cluster (--fake-save) keeps no
 * work queue, so a pod deleted just before the save would keep its address for ever, where the
 * node's CNI DEL, which no crash of a migration stops, gives it back. At once, not queued: a
 * StatefulSet's pod made again under the same name must not find the old address held for it. */
void sim_ipam_resync(cm_sim *s)
{
    char **keys = NULL; /* released after the walk: a release rewrites the block walked */
    size_t nkeys = 0;
    const cm_kind *kb = ckind(s, "IPAMBlock"), *kp = cm_kinds_by_kind(sim_fake(s)->kinds, "v1", "Pod");
    cm_obj *const *items;
    size_t n = kb && kp ? cm_store_list(sim_store(s), kb, NULL, &items) : 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *spec = sim_get(items[i]->json, "spec"), *a;
        uint32_t net;
        int bits, ord = 0;
        if (!parse_cidr(sim_gets(spec, "cidr"), &net, &bits))
            continue;
        cJSON_ArrayForEach(a, sim_get(spec, "allocations")) {
            const cJSON *attr = cJSON_IsNumber(a) ? cJSON_GetArrayItem(sim_get(spec, "attributes"), (int)a->valuedouble)
                                                  : NULL;
            const char *pod = sim_gets(sim_get(attr, "secondary"), "pod"),
                       *ns = sim_gets(sim_get(attr, "secondary"), "namespace");
            if (pod && ns && !cm_store_get(sim_store(s), kp, ns, pod)) {
                char ip[16], key[700];
                cm_ip4_format(net + (uint32_t)ord, ip, sizeof ip);
                snprintf(key, sizeof key, "%s|%s|%s", ip, ns, pod);
                char **more = realloc(keys, (nkeys + 1) * sizeof *keys);
                if (more)
                    (keys = more)[nkeys++] = strdup(key);
            }
            ord++;
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i])
            sim_ipam_reconcile(s, keys[i]);
        free(keys[i]);
    }
    free(keys);
}

/* Gives ip (in block b, whose spec.cidr is net/bits) back when pod ns/pod holds it. */
static void release_in(cm_sim *s, const cm_kind *kb, const cm_obj *b, uint32_t ip, uint32_t net, const char *ns,
                       const char *pod)
{
    const cJSON *spec = sim_get(b->json, "spec");
    int ord = (int)(ip - net);
    const cJSON *a = cJSON_GetArrayItem(sim_get(spec, "allocations"), ord);
    const cJSON *attr = cJSON_IsNumber(a) ? cJSON_GetArrayItem(sim_get(spec, "attributes"), (int)a->valuedouble) : NULL;
    if (!attr || !sim_is(sim_gets(sim_get(attr, "secondary"), "pod"), pod) ||
        !sim_is(sim_gets(sim_get(attr, "secondary"), "namespace"), ns))
        return;
    char handle[128], cidr[64];
    snprintf(handle, sizeof handle, "%s", sim_gets(attr, "handle_id") ? sim_gets(attr, "handle_id") : "");
    snprintf(cidr, sizeof cidr, "%s", sim_gets(spec, "cidr"));
    int idx = (int)a->valuedouble, users = 0;
    cJSON *next = cJSON_Duplicate(b->json, 1), *nspec = sim_get(next, "spec");
    cJSON *allocs = sim_get(nspec, "allocations");
    cJSON_ReplaceItemInArray(allocs, ord, cJSON_CreateNull());
    cJSON_AddItemToArray(sim_get(nspec, "unallocated"), cm_json_new_int64(ord));
    cJSON *x;
    cJSON_ArrayForEach(x, allocs) users += cJSON_IsNumber(x) && (int)x->valuedouble == idx;
    if (!users) { /* the attribute goes; later indexes move down one */
        cJSON_DeleteItemFromArray(sim_get(nspec, "attributes"), idx);
        for (int j = 0; j < cJSON_GetArraySize(allocs); j++) {
            x = cJSON_GetArrayItem(allocs, j);
            if (cJSON_IsNumber(x) && (int)x->valuedouble > idx)
                cJSON_ReplaceItemInArray(allocs, j, cm_json_new_int64((int64_t)x->valuedouble - 1));
        }
    }
    char okey[16];
    snprintf(okey, sizeof okey, "%d", ord);
    cJSON_DeleteItemFromObjectCaseSensitive(sim_get(nspec, "sequenceNumberForAllocation"), okey);
    sim_seti(nspec, "sequenceNumber", sim_geti(nspec, "sequenceNumber", 0) + 1);
    sim_put(s, kb, next, NULL);
    handle_release(s, handle, cidr);
    sim_ext(s)->ipam->released++;
}

/* Gives a deleted pod's address back to its block (ReleaseIPs): the end of unallocated, its
 * attribute dropped when nothing else uses it, the sequence number moved on. The block is found
 * by the name Calico gives it (CIDRToName of each prefix holding the address), else by a walk of
 * every block (one named otherwise). */
void sim_ipam_reconcile(cm_sim *s, const char *key)
{
    char ipt[64], ns[256], pod[256];
    uint32_t ip;
    if (sscanf(key, "%63[^|]|%255[^|]|%255s", ipt, ns, pod) != 3 || !cm_ip4_parse(ipt, 0, &ip))
        return;
    const cm_kind *kb = ckind(s, "IPAMBlock");
    if (!kb)
        return;
    for (int bits = 32; bits >= 0; bits--) {
        char text[32], name[64];
        uint32_t net;
        int nb;
        cm_ip4_format(ip & cm_ip4_mask(bits), text, sizeof text);
        snprintf(text + strlen(text), sizeof text - strlen(text), "/%d", bits);
        cidr_name(text, name, sizeof name);
        const cm_obj *b = cm_store_get(sim_store(s), kb, "", name);
        if (b && parse_cidr(sim_gets(sim_get(b->json, "spec"), "cidr"), &net, &nb) && nb == bits &&
            net == (ip & cm_ip4_mask(bits))) {
            release_in(s, kb, b, ip, net, ns, pod);
            return;
        }
    }
    cm_obj *const *items;
    size_t n = cm_store_list(sim_store(s), kb, NULL, &items);
    for (size_t i = 0; i < n; i++) {
        uint32_t net;
        int bits;
        if (parse_cidr(sim_gets(sim_get(items[i]->json, "spec"), "cidr"), &net, &bits) && (ip & cm_ip4_mask(bits)) == net) {
            release_in(s, kb, items[i], ip, net, ns, pod);
            return;
        }
    }
}
