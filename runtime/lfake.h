/*
 * lfake.h - what the simulation (runtime/fake/sim/simrun.c) asks of cm.fake's binding
 * (lfake.c): the Lua side of the simulated node agents stays beside the bindings.
 */
#ifndef CM_LFAKE_H
#define CM_LFAKE_H

#include <cJSON.h>
#include <lua.h>

/* Pushes a Host handle on node's simulated host: it finds the host again at each call. */
void cm_fake_push_node_host(lua_State *L, const char *node);

/*
 * Calls require("cm.agents").on_pod(node, pod, event, host) for a pod the simulation started,
 * stopped or resynced on node ("started", "stopped", "resync"), leaving L's stack as it was.
 * Returns NULL, or what went wrong (its message and traceback), malloc'd for the caller to free.
 */
char *cm_fake_agent_on_pod(lua_State *L, const char *node, const cJSON *pod, const char *event);

#endif
