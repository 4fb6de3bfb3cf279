/*
 * lhost.h - what the host bindings (lnetlink.c, lsysctl.c, lcni.c, liptables.c) share: the
 * run's host (hostops.h) and a call on it bounded by the run's deadline.
 */
#ifndef CM_LHOST_H
#define CM_LHOST_H

#include "cmlua.h"
#include "hostops.h"

/*
 * Prepares a call on the run's host: the simulated one when the run has one, else the real
 * one; the call's timeout is what is left of the run's deadline (at most 10 s a request).
 * netns_idx: a stack index of an options table whose "netns" field names a network namespace
 * file (0: none). Raises when the deadline has passed or the run was cancelled.
 */
const cm_hostops *cm_lua_host(lua_State *L, cm_hostcall *c, int netns_idx);

/* Returns the call's failure as nil, message, code. */
int cm_lua_host_fail(lua_State *L, const cm_hostcall *c);

#endif
