/*
 * lhttp.c - cm.http: one HTTP(S) request from a script, for site hooks (a webhook, a status page).
 * Not for the Kubernetes API, which has cm.k8s.
 *
 *   local http = require "cm.http"
 *   http.request{url = URL [, method = "GET" | "POST" | ... (default: POST with a body, else GET)]
 *                [, headers = {["Content-Type"] = "application/json", ...}] [, body = STRING]
 *                [, timeout = SECONDS (default 10)]}
 *     -> {status = 200, body = STRING, headers = {["content-type"] = ..., ...}}
 *        | nil, message, code (Timeout, ConnectFailed, TLS, ConnectionReset, TransportError)
 *
 * An HTTP error status is an answer, not a failure: the caller reads status. The request is made
 * with libcurl (cm_http_fetch) and waits for its answer, so the run stands still meanwhile, at most
 * timeout seconds; http and https only; the system's CA certificates and the proxy variables.
 * A malformed argument (no url, a header that is not a string) raises.
 */
#include "cmlua.h"
#include "k8s_transport.h"

#include <ctype.h>
#include <string.h>

/* The "Name: value" lines of opts.headers (their count in *count), left on the stack in a userdata
 * that also anchors the strings; NULL when there are none. */
static const char **header_lines(lua_State *L, int opts, size_t *count)
{
    *count = 0;
    lua_getfield(L, opts, "headers"); /* [headers] */
    if (lua_isnil(L, -1))
        return NULL;
    luaL_argexpected(L, lua_istable(L, -1), 1, "headers: a table of name = value");
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
        n++;
    const char **v = lua_newuserdatauv(L, (n ? n : 1) * sizeof *v, 1); /* [headers, lines] */
    lua_createtable(L, (int)n, 0); /* [headers, lines, anchor]: the strings lines points into */
    size_t i = 0;
    for (lua_pushnil(L); lua_next(L, -4); lua_pop(L, 1)) { /* [.., anchor, name, value] */
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "cm.http: headers: every name and value must be a string");
        v[i] = lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_rawseti(L, -4, (lua_Integer)++i);
    }
    lua_setiuservalue(L, -2, 1); /* [headers, lines] */
    lua_remove(L, -2);           /* [lines] */
    *count = n;
    return v;
}

/* Pushes the response's header lines as a table of lower-case name -> value (the last one wins). */
static void push_headers(lua_State *L, const cm_buf *b)
{
    lua_newtable(L);
    const char *p = b->p, *end = b->p ? b->p + b->n : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon) {
            luaL_Buffer name;
            luaL_buffinit(L, &name);
            for (const char *q = p; q < colon; q++)
                luaL_addchar(&name, (char)tolower((unsigned char)*q));
            luaL_pushresult(&name);
            const char *v = colon + 1, *ve = stop;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            lua_pushlstring(L, v, (size_t)(ve - v));
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : end;
    }
}

static int http_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    cm_http_call call = {0};
    lua_getfield(L, 1, "url");
    call.url = luaL_optstring(L, -1, NULL);
    luaL_argexpected(L, call.url != NULL, 1, "url");
    lua_getfield(L, 1, "body");
    call.body = luaL_optlstring(L, -1, NULL, &call.body_len);
    lua_getfield(L, 1, "method");
    call.method = luaL_optstring(L, -1, call.body ? "POST" : "GET");
    lua_getfield(L, 1, "timeout");
    lua_Number timeout = luaL_optnumber(L, -1, 10);
    luaL_argcheck(L, timeout > 0, 1, "timeout: seconds, more than 0");
    call.headers = header_lines(L, 1, &call.nheaders);
    cm_check_interrupt(L);
    int rc = cm_http_fetch(&call, (long)(timeout * 1000));
    if (rc != 0) {
        cm_buf_free(&call.headers_in);
        cm_buf_free(&call.body_in);
        return cm_fail(L, call.error_code ? call.error_code : "TransportError", "%s %s: %s", call.method,
                       call.url, call.error);
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, call.status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, call.body_in.p ? call.body_in.p : "", call.body_in.n);
    lua_setfield(L, -2, "body");
    push_headers(L, &call.headers_in);
    lua_setfield(L, -2, "headers");
    cm_buf_free(&call.headers_in);
    cm_buf_free(&call.body_in);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"request", http_request},
    {NULL, NULL},
};

int luaopen_cm_http(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
