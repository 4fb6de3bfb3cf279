/* lhost.c - the run's host for the host bindings (see lhost.h). */
#include "lhost.h"

#include <string.h>

const cm_hostops *cm_lua_host(lua_State *L, cm_hostcall *c, int netns_idx)
{
    struct cm_run *run = cm_run_get(L);
    cm_check_interrupt(L);
    memset(c, 0, sizeof *c);
    int64_t left = CM_TIME_NEVER;
    if (run->deadline != CM_TIME_NEVER)
        left = (run->deadline - cm_loop_now(run->loop)) / 1000000;
    c->timeout_ms = left == CM_TIME_NEVER || left > 10000 ? 10000 : left < 1 ? 1 : (int)left;
    if (netns_idx && lua_istable(L, netns_idx)) {
        lua_getfield(L, netns_idx, "netns");
        c->netns = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1); /* stays on the stack, alive */
    }
    c->ud = run->host_ud;
    return run->host_ops ? run->host_ops : &cm_hostops_real;
}

int cm_lua_host_fail(lua_State *L, const cm_hostcall *c)
{
    return cm_fail(L, cm_hostcall_code(c), "%s", c->msg);
}
