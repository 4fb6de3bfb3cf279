/*
 * host.h - a simulated Linux host: the network state and files a node script
 * touches, with the kernel's rules for them.
 *
 * A host is a JSON document (the same shape cm.flannel.node_state() returns
 * and `cni-migrate fake host` prints):
 *
 *   links       [{name, kind, mtu, mac, up, master?, vxlan?: {id, port, local, dev, learning}}]
 *   addresses   [{dev, address: "10.244.1.1/24", family?: "inet6"}]
 *   routes      [{dst: "10.244.2.0/24" | "default", family?: "inet6", gateway?, dev, onlink?, scope?,
 *                 protocol?, src?}]
 *   neighbours  [{dst, lladdr, dev, state, family?: "inet6"}]
 *   fdb         [{lladdr, dev, dst, self?, permanent?}]
 *   sysctls     {"net/ipv4/conf/all/rp_filter": "1", ...}
 *   files       {"/etc/cni/net.d/10-flannel.conflist": "...", ...}
 *
 * IPv4 and IPv6 (an IPv6 address is stored in the kernel's form, "fd00::11/64"; routes are
 * keyed by family and dst). Operations follow the kernel where a migration can tell the
 * difference, and fail with the errno it would (returned negated;
 * tests/netns/test_host_kernel.sh and test_host_seam.sh run the same steps against the real
 * kernel): a name taken or a second VXLAN device of the same family with the same VNI and
 * port (-EEXIST), a device that does not exist (-ENODEV), a gateway that is not reachable
 * without onlink (-ENETUNREACH; IPv6: -EHOSTUNREACH), a route through a device that is down
 * (-ENETDOWN), a route or an address that is not there (-ESRCH, -EADDRNOTAVAIL), an unknown
 * sysctl or file (-ENOENT), a sysctl value that is not integers (-EINVAL). Side effects follow
 * too: an address on an up link brings its prefix route (IPv6: of any length); a link going
 * down takes its routes, neighbours and IPv6 addresses with it; a deleted link takes its
 * addresses, routes, neighbours, FDB entries, per-device sysctls, the VXLAN devices built on
 * it and a veth's peer; a VXLAN device without an MTU gets its lower device's less 50 (IPv4)
 * or 70 (IPv6), and learning unless told otherwise; a bridge whose MTU was not set after its
 * creation takes its ports' smallest (1500 without ports).
 *
 * Objects passed in are copied; documents returned are owned by the host and
 * valid until its next change.
 */
#ifndef CM_FAKE_HOST_H
#define CM_FAKE_HOST_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cm_host cm_host;

/* The name of an errno a host operation returns ("EEXIST"); "EIO" for one it never returns. */
const char *cm_host_errno_name(int err);

/* An empty host: a loopback link and the default sysctls. NULL when out of memory. */
cm_host *cm_host_new(void);

/*
 * The host a kubeadm Node (a Node object) has before any CNI, which the simulation gives every
 * Node without an explicit host (base.c): eth0 up with the InternalIP/24, its MAC made from that
 * address (52:54:...), a default route via .1 of that /24, ip_forward and
 * bridge-nf-call-iptables on, and the standard CNI plugins in /opt/cni/bin. A Node without an
 * IPv4 InternalIP gets only cm_host_new()'s. NULL when out of memory.
 */
cm_host *cm_host_new_node(const cJSON *node);

/* The Node's first IPv4 InternalIP (status.addresses), or NULL. */
const char *cm_host_node_ip(const cJSON *node);

/*
 * A host from a document in the shape above (missing sections are empty).
 * Returns NULL with a message in err ("links[2]: vxlan.dev: no link eth1")
 * when it is not a consistent host.
 */
cm_host *cm_host_from_json(const cJSON *doc, char *err, size_t errsize);

void cm_host_free(cm_host *h);

/* The whole state. */
const cJSON *cm_host_json(const cm_host *h);

/* The link called name, or NULL. */
const cJSON *cm_host_link(const cm_host *h, const char *name);

/*
 * Lookups for the dataplane model (lua/cm/dataplane.lua), without copying the sections:
 * route_to: the route to the IPv4 address addr, by the longest prefix among the routes whose dst
 * is an IPv4 CIDR, an IPv4 address (/32) or "default" (/0), the first of equal prefixes;
 * neigh_to: the first neighbour on dev for dst that has an lladdr;
 * fdb_to: the first FDB entry on dev for the MAC lladdr that has a dst. NULL when none.
 */
const cJSON *cm_host_route_to(const cm_host *h, uint32_t addr);
const cJSON *cm_host_neigh_to(cm_host *h, const char *dev, const char *dst);
const cJSON *cm_host_fdb_to(const cm_host *h, const char *dev, const char *lladdr);

/* Adds a link (-EEXIST, -ERANGE for a name over 15 bytes, -EINVAL for a bad name or VNI,
 * -ENODEV for a VXLAN's missing dev). */
int cm_host_link_add(cm_host *h, const cJSON *link);

/* Deletes a link and everything that hangs on it (-ENODEV). */
int cm_host_link_del(cm_host *h, const char *name);

/* Sets a link up or down (-ENODEV); down removes the routes and neighbours through it and
 * its IPv6 addresses. */
int cm_host_link_set_up(cm_host *h, const char *name, int up);

/* Enslaves a link to master, or frees it (master NULL or ""); -ENODEV for either missing. */
int cm_host_link_set_master(cm_host *h, const char *name, const char *master);

/* Sets a link's MTU (-ENODEV, -EINVAL below 68). */
int cm_host_link_set_mtu(cm_host *h, const char *name, int mtu);

/* Adds or removes an address "A.B.C.D/N" on dev (-ENODEV, -EEXIST, -EADDRNOTAVAIL, -EINVAL). */
int cm_host_addr_add(cm_host *h, const char *dev, const char *cidr);
int cm_host_addr_del(cm_host *h, const char *dev, const char *cidr);

/*
 * Adds (replace = 0) or adds-or-replaces (replace = 1) a route; routes are
 * keyed by dst. -EEXIST, -ENODEV, -ENETDOWN, -ENETUNREACH, -EINVAL.
 */
int cm_host_route_add(cm_host *h, const cJSON *route, int replace);

/* Deletes the route to dst ("default" or a CIDR) of family ("inet6" for an IPv6 default
 * route; NULL: the dst's own), through dev when given (NULL: any) (-ESRCH). */
int cm_host_route_del(cm_host *h, const char *family, const char *dst, const char *dev);

/* Neighbours, keyed by (dev, dst); FDB entries, keyed by (dev, lladdr, dst). */
int cm_host_neigh_add(cm_host *h, const cJSON *neigh, int replace);
int cm_host_neigh_del(cm_host *h, const char *dev, const char *dst);
int cm_host_fdb_add(cm_host *h, const cJSON *fdb, int replace);
int cm_host_fdb_del(cm_host *h, const char *dev, const char *lladdr, const char *dst);

/* Sysctls by slash path ("net/ipv4/ip_forward"); -ENOENT for one the host lacks. */
const char *cm_host_sysctl_get(const cm_host *h, const char *key);
int cm_host_sysctl_set(cm_host *h, const char *key, const char *value);

/* Files by absolute path; directories are implicit. */
const char *cm_host_file_read(const cm_host *h, const char *path);
int cm_host_file_write(cm_host *h, const char *path, const char *content);
int cm_host_file_remove(cm_host *h, const char *path);

/* The names of the files directly in dir, sorted, as a JSON array the caller owns. */
cJSON *cm_host_file_list(const cm_host *h, const char *dir);

/*
 * iptables: the rules of family "ipv4" (section "iptables") or "ipv6" ("ip6tables"), each a
 * table of iptables-save lines ({"nat": ["-A POSTROUTING ... -j FLANNEL-POSTRTG", ...]}, with
 * ":CHAIN" for a chain that has no rules). They live in one backend, the document's
 * "iptablesBackend" (default "nft"); the other backend is empty.
 * save: iptables-save's text (the caller frees it; NULL when out of memory).
 * restore: applies an iptables-restore --noflush text (*table, :CHAIN, -N -A -I -D -F -X,
 * COMMIT) all or nothing, failing as the kernel does (-X of a chain with rules or still
 * jumped to, -D of a rule that is not there): -EINVAL with "line N failed: why" in err;
 * -EOPNOTSUPP for the other backend.
 */
char *cm_host_ipt_save(const cm_host *h, const char *family, const char *backend);
int cm_host_ipt_restore(cm_host *h, const char *family, const char *backend, const char *text, char *err,
                        size_t errsize);

#endif
