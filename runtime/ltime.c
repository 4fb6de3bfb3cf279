/*
 * ltime.c - cm.time: the run's clock.
 *
 *   time.now()        -> seconds (float) on the run's monotonic clock
 *   time.wall()       -> seconds since the Unix epoch (float), virtual in a simulation
 *   time.rfc3339([t]) -> "2026-11-29T05:33:20.123Z" for wall time t (default: now)
 *   time.sleep(s)     waits s seconds through the run's loop (in a task, the other
 *                     tasks run meanwhile); raises when the run's deadline passes
 *                     or the run is cancelled meanwhile
 *
 * On a real run these follow the monotonic and real-time clocks; in a
 * simulation the same calls move virtual time, so scripts need no change.
 */
#include "cmlua.h"


static int time_now(lua_State *L)
{
    lua_pushnumber(L, (double)cm_loop_now(cm_run_get(L)->loop) / 1e9);
    return 1;
}

static int time_wall(lua_State *L)
{
    lua_pushnumber(L, (double)cm_loop_wall(cm_run_get(L)->loop) / 1e9);
    return 1;
}

static int time_rfc3339(lua_State *L)
{
    double t = luaL_optnumber(L, 1, 0);
    luaL_argcheck(L, t >= 0 && t < 1e11, 1, "expected seconds since the Unix epoch");
    int64_t ns = lua_isnoneornil(L, 1) ? cm_loop_wall(cm_run_get(L)->loop) : (int64_t)(t * 1e9);
    char buf[40];
    cm_log_format_time(buf, sizeof buf, ns);
    lua_pushstring(L, buf);
    return 1;
}

/* Continues time.sleep once its time has come. */
static int sleep_done(lua_State *L, int status, lua_KContext ctx)
{
    (void)L, (void)status, (void)ctx;
    return 0;
}

static int time_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e9, 1, "expected a number of seconds from 0 to 1e9");
    struct cm_run *run = cm_run_get(L);
    cm_waiter *w = lua_newuserdatauv(L, sizeof *w, 0); /* nobody wakes it: only time ends it */
    *w = (cm_waiter){0};
    return cm_await(L, w, cm_loop_now(run->loop) + (int64_t)(s * 1e9), 0, sleep_done);
}

static const luaL_Reg time_funcs[] = {
    {"now", time_now},
    {"rfc3339", time_rfc3339},
    {"sleep", time_sleep},
    {"wall", time_wall},
    {NULL, NULL},
};

int luaopen_cm_time(lua_State *L)
{
    luaL_newlib(L, time_funcs);
    return 1;
}
