/*
 * nl.h - rtnetlink on libmnl: the real host's network operations of the host seam
 * (hostops.h), in the objects' shapes described there.
 *
 * Each call opens its own NETLINK_ROUTE socket (in c->netns when set: the socket is opened by
 * a thread that joined that namespace, so the process stays where it is), asks for ACKs and
 * extended acks, matches every answer on sequence number and port id, and waits at most
 * c->timeout_ms for each (ETIMEDOUT, code "Timeout"). A dump that raced with a change
 * (NLM_F_DUMP_INTR) is asked again, up to 20 times (then EINTR). A kernel error fails with its errno and
 * a message such as "link add x: Operation not supported (kernel: Unknown device type)".
 */
#ifndef CM_NL_H
#define CM_NL_H

#include "hostops.h"

int cm_nl_links(cm_hostcall *c, cJSON **out);
int cm_nl_link_add(cm_hostcall *c, const cJSON *link);
int cm_nl_link_del(cm_hostcall *c, const char *name);
int cm_nl_link_set(cm_hostcall *c, const char *name, const cJSON *set);
int cm_nl_addrs(cm_hostcall *c, cJSON **out);
int cm_nl_addr_add(cm_hostcall *c, const char *dev, const char *cidr);
int cm_nl_addr_del(cm_hostcall *c, const char *dev, const char *cidr);
int cm_nl_routes(cm_hostcall *c, cJSON **out);
int cm_nl_route_add(cm_hostcall *c, const cJSON *route, int replace);
int cm_nl_route_del(cm_hostcall *c, const cJSON *route);
int cm_nl_neighs(cm_hostcall *c, int fdb, cJSON **out);
int cm_nl_neigh_add(cm_hostcall *c, int fdb, const cJSON *entry, int replace);
int cm_nl_neigh_del(cm_hostcall *c, int fdb, const cJSON *entry);

#endif
