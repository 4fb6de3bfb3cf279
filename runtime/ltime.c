/*
 * ltime.c - cm.time: the run's clock.
 *
 *   time.now()        -> seconds (float) on the run's monotonic clock
 *   time.wall()       -> seconds since the Unix epoch (float), virtual in a simulation
 *   time.rfc3339([t]) -> "2026-11-29T05:33:20.123Z" for wall time t (default: now)
 *   time.civil(t [, zone]) -> {year, month, day, hour, min, sec, wday (1 = Sunday)}: the
 *                     calendar date and clock time of wall time t in zone (an IANA name such as
 *                     "Europe/Berlin", read from the system's zoneinfo; default "UTC"), or
 *                     nil, message, "NotFound" for a zone the system does not know
 *   time.sleep(s)     waits s seconds through the run's loop (in a task, the other
 *                     tasks run meanwhile); raises when the run's deadline passes
 *                     or the run is cancelled meanwhile
 *
 * On a real run these follow the monotonic and real-time clocks; in a
 * simulation the same calls move virtual time, so scripts need no change.
 */
#include "cmlua.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>


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

/* Whether zone names a zoneinfo file (never a path outside the zoneinfo directory). */
static int zone_known(const char *zone)
{
    if (!*zone || zone[0] == '/' || strstr(zone, "..") || strlen(zone) > 200)
        return 0;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* localtime_r in zone: TZ set for the call and put back (the runtime has one thread). */
static void local_in(time_t t, const char *zone, struct tm *tm)
{
    const char *was = getenv("TZ");
    char *saved = was ? strdup(was) : NULL;
    setenv("TZ", zone, 1);
    tzset();
    localtime_r(&t, tm);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

static void set_int(lua_State *L, const char *k, int v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static int time_civil(lua_State *L)
{
    double t = luaL_checknumber(L, 1);
    const char *zone = luaL_optstring(L, 2, "UTC");
    luaL_argcheck(L, t >= 0 && t < 1e11, 1, "expected seconds since the Unix epoch");
    time_t secs = (time_t)floor(t);
    struct tm tm;
    if (strcmp(zone, "UTC") == 0)
        gmtime_r(&secs, &tm);
    else if (zone_known(zone))
        local_in(secs, zone, &tm);
    else
        return cm_fail(L, "NotFound", "unknown time zone \"%s\" (not in the system's zoneinfo)", zone);
    lua_createtable(L, 0, 7);
    set_int(L, "year", tm.tm_year + 1900);
    set_int(L, "month", tm.tm_mon + 1);
    set_int(L, "day", tm.tm_mday);
    set_int(L, "hour", tm.tm_hour);
    set_int(L, "min", tm.tm_min);
    set_int(L, "sec", tm.tm_sec);
    set_int(L, "wday", tm.tm_wday + 1);
    return 1;
}

static const luaL_Reg time_funcs[] = {
    {"civil", time_civil},
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
