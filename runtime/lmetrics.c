/*
 * lmetrics.c - cm.metrics: the run's Prometheus metrics (over metrics.c).
 *
 *   metrics.counter(name, help) / metrics.gauge(name, help)
 *   metrics.histogram(name, help [, bounds])   bounds: upper bounds (default: step durations, s)
 *   metrics.add(name, v [, labels])            a counter or gauge; labels: {key = value}
 *   metrics.set(name, v [, labels])            a gauge
 *   metrics.observe(name, v [, labels])        a histogram
 *   metrics.serve(port [, address]) -> port | nil, message, "Listen"
 *       serves GET /metrics on address (default every interface) from a thread of its own;
 *       port 0 takes any free one; the port bound is returned
 *   metrics.text() -> the exposition text (what a scrape gets)
 *
 * Using an undeclared name, or one with another type, raises. Every cm.k8s client of the run
 * counts its requests here too (cni_migrate_api_requests_total, ..._errors_total, ..._retries_total).
 */
#include "cmlua.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* The run's registry. */
static cm_metrics *registry(lua_State *L)
{
    struct cm_run *run = cm_run_get(L);
    if (!run->metrics)
        luaL_error(L, "this run has no metrics");
    return run->metrics;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Formats the labels table at idx (or none) into buf, keys sorted. */
static void labels_at(lua_State *L, int idx, char *buf, size_t size)
{
    buf[0] = '\0';
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    const char *keys[32];
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && n < 32, idx, "labels: at most 32, named by strings");
        keys[n++] = lua_tostring(L, -2); /* anchored in the table */
    }
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        const char *v = luaL_tolstring(L, -1, NULL);
        if (cm_metrics_label(buf, size, keys[i], v) != 0)
            luaL_argerror(L, idx, "labels too long");
        lua_pop(L, 2);
    }
}

/* metrics.<counter|gauge|histogram>(name, help [, bounds]) with the type as upvalue 1. */
static int m_declare(lua_State *L)
{
    enum cm_metric_type type = (enum cm_metric_type)lua_tointeger(L, lua_upvalueindex(1));
    const char *name = luaL_checkstring(L, 1), *help = luaL_checkstring(L, 2);
    double bounds[64];
    size_t n = 0;
    if (type == CM_HISTOGRAM && !lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        n = (size_t)luaL_len(L, 3);
        luaL_argcheck(L, n <= 64, 3, "at most 64 bounds");
        for (size_t i = 0; i < n; i++) {
            lua_geti(L, 3, (lua_Integer)i + 1);
            bounds[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
    if (cm_metrics_declare(registry(L), name, type, help, bounds, n) != 0)
        return luaL_error(L, "metric %s: declared with another type (or out of memory)", name);
    return 0;
}

/* metrics.<add|set|observe>(name, v [, labels]) with the operation as upvalue 1. */
static int m_update(lua_State *L)
{
    int op = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *name = luaL_checkstring(L, 1);
    double v = luaL_checknumber(L, 2);
    char labels[1024];
    labels_at(L, 3, labels, sizeof labels);
    cm_metrics *m = registry(L);
    int rc = op == 'a' ? cm_metrics_add(m, name, labels, v) : op == 's' ? cm_metrics_set(m, name, labels, v)
                                                                    : cm_metrics_observe(m, name, labels, v);
    if (rc != 0)
        return luaL_error(L, "metric %s: not declared, or not of a type that takes this", name);
    return 0;
}

static int m_serve(lua_State *L)
{
    lua_Integer port = luaL_checkinteger(L, 1);
    luaL_argcheck(L, port >= 0 && port <= 65535, 1, "expected a port from 0 to 65535");
    const char *address = luaL_optstring(L, 2, NULL);
    char err[256];
    int got = cm_metrics_serve(registry(L), address, (int)port, err, sizeof err);
    if (got < 0)
        return cm_fail(L, "Listen", "%s", err);
    lua_pushinteger(L, got);
    return 1;
}

static int m_text(lua_State *L)
{
    char *text = cm_metrics_render(registry(L));
    if (!text)
        return luaL_error(L, "not enough memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"serve", m_serve},
    {"text", m_text},
    {NULL, NULL},
};

int luaopen_cm_metrics(lua_State *L)
{
    luaL_newlib(L, funcs); /* [metrics] */
    static const struct { const char *name; int v; lua_CFunction fn; } UP[] = {
        {"counter", CM_COUNTER, m_declare}, {"gauge", CM_GAUGE, m_declare}, {"histogram", CM_HISTOGRAM, m_declare},
        {"add", 'a', m_update}, {"set", 's', m_update}, {"observe", 'o', m_update}};
    for (size_t i = 0; i < sizeof UP / sizeof UP[0]; i++) {
        lua_pushinteger(L, UP[i].v);
        lua_pushcclosure(L, UP[i].fn, 1);
        lua_setfield(L, -2, UP[i].name);
    }
    return 1;
}
