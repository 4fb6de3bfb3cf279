/*
 * nl_parse.h - internal to the runtime (not in include/): how nl.c reads the kernel's answers to
 * its dumps, open to tests/fuzz/fuzz_netlink.c, which feeds it what a broken or hostile kernel
 * answer could hold.
 */
#ifndef CM_NL_PARSE_H
#define CM_NL_PARSE_H

#include "hostops.h"

/* What a dump lists, in the shapes of hostops.h. */
enum cm_nl_dump { CM_NL_LINKS, CM_NL_ADDRS, CM_NL_ROUTES, CM_NL_NEIGHS, CM_NL_FDB };

/*
 * Reads one datagram of answers (buf, len bytes, as recvfrom gave it) to a dump of what, the
 * way the list calls of nl.h read them, without checking sequence numbers or port ids: appends
 * each object to out; links (may be NULL) names the devices of addresses, routes and neighbours;
 * a link list has its index members turned into names within out. Returns 1 at the end of the
 * answer (NLMSG_DONE, an ACK), 0 when more is to come, or -1 with c->err and c->msg: the
 * kernel's error with its extended-ack text, EINTR for an interrupted dump, EBADMSG for a message
 * shorter than its header or longer than what is left of the datagram.
 */
int cm_nl_read_dump(cm_hostcall *c, enum cm_nl_dump what, const void *buf, size_t len, const cJSON *links,
                    cJSON *out);

#endif
