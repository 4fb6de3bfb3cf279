/*
 * hostops.h - the host seam: what cm.netlink, cm.sysctl, cm.cni and cm.iptables act on.
 *
 * One table of operations, two implementations: the real host (the kernel through netlink
 * on libmnl, /proc/sys, the filesystem, the iptables tools: hostops_real.c, nl.c) and a
 * simulated node's host (runtime/fake/host.h: hostops_sim.c). A run's context (struct
 * cm_run) names the host of its bindings; NULL means the real one. Node scripts therefore run
 * unchanged on a node (cni-migrate node-run) and inside the fake cluster's kubelet.
 *
 * Objects cross the seam as cJSON in the simulated host's shape (host.h), which the real side
 * produces from netlink:
 *   link   {name, index?, kind ("device" | "loopback" | "vxlan" | "bridge" | "veth" | ...),
 *           mtu, mac, up, master?, vxlan?: {id, port, local, dev, learning}}
 *   addr   {dev, address: "10.244.1.0/32", family: "inet" | "inet6"}
 *   route  {family, dst: "default" | CIDR, gateway?, dev?, onlink?, scope, protocol, src?,
 *           table ("main", "local" or a number), type ("unicast", "blackhole", ...), metric?}
 *   neigh  {family, dst, lladdr?, dev, state ("permanent", "reachable", ...)}
 *   fdb    {lladdr, dev, dst?, self?, master?, permanent?, vlan?}
 *
 * Every operation returns 0, or -1 with c->err filled: errno (positive) and a message that
 * names the operation and, for netlink, carries the kernel's extended-ack text; code, when
 * set, overrides the errno name ("Timeout", "ToolFailed", "InvalidConfig").
 */
#ifndef CM_HOSTOPS_H
#define CM_HOSTOPS_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* One call on a host: where (netns), how long (timeout_ms), and how it failed. */
typedef struct cm_hostcall {
    void *ud;           /* the implementation's (the simulated host) */
    const char *netns;  /* real host only: a network namespace file (/run/netns/x); NULL: ours */
    int timeout_ms;     /* bound of each netlink answer or tool run */
    int err;            /* on failure: the errno */
    const char *code;   /* on failure: a code other than the errno's name, or NULL */
    char msg[1024];     /* on failure: one line */
} cm_hostcall;

/* File types of file_list. */
enum { CM_FT_FILE, CM_FT_DIR, CM_FT_LINK, CM_FT_OTHER };

typedef struct cm_hostops {
    const char *name; /* "real" or "simulated" */
    /* network; the list operations return a new array */
    int (*links)(cm_hostcall *c, cJSON **out);
    int (*link_add)(cm_hostcall *c, const cJSON *link);       /* + {peer = "name"} for a veth */
    int (*link_del)(cm_hostcall *c, const char *name);
    int (*link_set)(cm_hostcall *c, const char *name, const cJSON *set); /* {up, mtu, master} */
    int (*addrs)(cm_hostcall *c, cJSON **out);
    int (*addr_add)(cm_hostcall *c, const char *dev, const char *cidr);
    int (*addr_del)(cm_hostcall *c, const char *dev, const char *cidr);
    int (*routes)(cm_hostcall *c, cJSON **out);                /* every table and family */
    int (*route_add)(cm_hostcall *c, const cJSON *route, int replace);
    int (*route_del)(cm_hostcall *c, const cJSON *route);      /* a route as routes() gave it */
    int (*neighs)(cm_hostcall *c, int fdb, cJSON **out);       /* fdb: the bridge FDB */
    int (*neigh_add)(cm_hostcall *c, int fdb, const cJSON *entry, int replace);
    int (*neigh_del)(cm_hostcall *c, int fdb, const cJSON *entry);
    /* sysctls by slash path below /proc/sys ("net/ipv4/conf/flannel.1/rp_filter") */
    int (*sysctl_get)(cm_hostcall *c, const char *key, char **out);
    int (*sysctl_set)(cm_hostcall *c, const char *key, const char *value);
    /* files: list gives [{name, type}] sorted by name; read never follows a symlink (ELOOP)
     * and refuses more than max bytes (EFBIG); write is atomic (temporary file in the same
     * directory, fsync, rename, fsync of the directory, mode 0644) and refuses to replace a
     * symlink or a directory; resolve gives the symlink-free absolute path */
    int (*file_list)(cm_hostcall *c, const char *dir, cJSON **out);
    int (*file_read)(cm_hostcall *c, const char *path, size_t max, char **out, size_t *len);
    int (*file_write)(cm_hostcall *c, const char *path, const char *data, size_t len);
    int (*file_remove)(cm_hostcall *c, const char *path);
    int (*file_resolve)(cm_hostcall *c, const char *path, char **out);
    /* iptables: family "ipv4"/"ipv6", backend "legacy"/"nft"; save gives iptables-save's text
     * (ENOENT: this backend's tools are not there), restore applies a text with --noflush */
    int (*ipt_save)(cm_hostcall *c, const char *family, const char *backend, char **out);
    int (*ipt_restore)(cm_hostcall *c, const char *family, const char *backend, const char *text);
    /* nftables tables (flannel's nftables mode keeps its own): [{family, name}] through `nft -j
     * list tables` (ENOENT: no nft), and the deletion of one table with everything in it */
    int (*nft_tables)(cm_hostcall *c, cJSON **out);
    int (*nft_delete_table)(cm_hostcall *c, const char *family, const char *name);
} cm_hostops;

/* The real host. */
extern const cm_hostops cm_hostops_real;
/* A simulated host (runtime/fake/host.h); the call's ud is its cm_host. */
extern const cm_hostops cm_hostops_sim;

/* Fills c's failure (printf-style message); returns -1. */
int cm_hostcall_fail(cm_hostcall *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The name of an errno ("ENODEV"); "EIO"-like names for all that the seam returns, else "E<number>". */
const char *cm_errno_name(int err);

/* The failure's code: c->code, else the errno's name. */
const char *cm_hostcall_code(const cm_hostcall *c);

#endif
