/* serve.c - the fake serve and fake host commands (see serve.h). */
#include "serve.h"

#include "fake.h"
#include "fault.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "podproc.h"
#include "runtime_int.h"
#include "tls.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "host:port"; 0, or -1 when it is not one. */
static int parse_listen(const char *s, char *host, size_t size, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= size)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return -1;
    snprintf(host, size, "%.*s", (int)(colon - s), s);
    *port = (int)p;
    return 0;
}

static int is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0;
}

/* Writes PEM text base64-encoded (for *-data kubeconfig fields). */
static void put_base64(FILE *fp, const char *s)
{
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        fputc(B64[(v >> 18) & 63], fp);
        fputc(B64[(v >> 12) & 63], fp);
        fputc(i + 1 < n ? B64[(v >> 6) & 63] : '=', fp);
        fputc(i + 2 < n ? B64[v & 63] : '=', fp);
    }
}

/* Writes a kubeconfig with one cluster, user and context named "fake". */
static int write_kubeconfig(const char *path, const char *url, const char *ca_pem, const char *token,
                            char *err, size_t errsize)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        snprintf(err, errsize, "--kubeconfig-out %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(fp, "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n", url);
    if (ca_pem) {
        fputs("    certificate-authority-data: ", fp);
        put_base64(fp, ca_pem);
        fputc('\n', fp);
    }
    fputs("users:\n- name: fake\n  user:", fp);
    if (token)
        fprintf(fp, "\n    token: %s\n", token);
    else
        fputs(" {}\n", fp);
    fputs("contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n"
          "current-context: fake\n", fp);
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errsize, "--kubeconfig-out %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Each injected fault, told to the caller's on_fault as it happens: "fault reset {"verb":"get",...}". */
static void note_fault(void *ud, enum cm_fault_kind kind, const cJSON *what)
{
    const struct cm_serve_opts *o = ud;
    char *w = cJSON_PrintUnformatted(what);
    const char *name = cm_fault_names[kind], *text = w ? w : "{}";
    size_t n = strlen(name) + strlen(text) + 8;
    char *line = malloc(n);
    if (line) { /* no memory: the fault still happened, and the trace has it */
        snprintf(line, n, "fault %s %s", name, text);
        o->on_fault(o->on_fault_ud, line);
    }
    free(line);
    free(w);
}

struct server {
    const struct cm_serve_opts *o;
    char host[256];
    int port;
    cm_serve_ready_fn ready;
    void *ud;
    cm_http *http;
    struct cm_tls tls;
    const char *token;  /* the server's token (--token, or the admin's under --authorize) */
    char admin[64];
};

/* Everything from the loaded cluster to listening: token, TLS, socket, kubeconfig. */
static int start(struct server *s, cm_fake *f, cm_loop *loop, char *url, size_t urlsize, char *err,
                 size_t errsize)
{
    const struct cm_serve_opts *o = s->o;
    const char *token = o->token;
    if (o->authorize && !token) {
        if (cm_fake_random_token("cm-admin.", s->admin, sizeof s->admin) != 0)
            return snprintf(err, errsize, "getrandom: %s", strerror(errno)), CM_FAILED;
        token = s->admin;
    }
    s->token = token;
    if (token && cm_fake_set_token(f, token) != 0)
        return snprintf(err, errsize, "out of memory"), CM_FAILED;
    cm_fake_set_authorize(f, o->authorize);
    if (o->tls && cm_tls_generate(&s->tls, s->host, err, errsize) != 0)
        return CM_FAILED;
    s->http = cm_http_start(f, loop, s->host, s->port, o->tls ? s->tls.cert_pem : NULL,
                            o->tls ? s->tls.key_pem : NULL, err, errsize);
    if (!s->http)
        return CM_FAILED;
    snprintf(url, urlsize, "%s://%s:%d", o->tls ? "https" : "http", s->host, cm_http_port(s->http));
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", s->host, cm_http_port(s->http));
    cm_fake_set_address(f, addr);
    if (o->kubeconfig_out &&
        write_kubeconfig(o->kubeconfig_out, url, o->tls ? s->tls.ca_pem : NULL, token, err, errsize) != 0)
        return CM_FAILED;
    return CM_OK;
}

/* The run's body: serves until the run is cancelled (or its --timeout passes). */
static int serve_body(struct cm_run *run, cm_sim_run *sim, void *ud, char *err, size_t errsize)
{
    struct server *s = ud;
    char url[300];
    if (s->o->on_fault)
        cm_sim_run_on_fault(sim, note_fault, (void *)s->o);
    int rc = start(s, cm_sim_run_fake(sim), run->loop, url, sizeof url, err, errsize);
    cm_podproc *pp = NULL;
    if (rc == CM_OK && s->o->run_image && cm_sim_run_sim(sim)) {
        struct cm_podproc_opts po = {.image = s->o->run_image, .server_host = s->host,
                                     .server_port = cm_http_port(s->http), .ca_pem = s->tls.ca_pem,
                                     .token = s->token, .authorize = s->o->authorize};
        if (!(pp = cm_podproc_new(cm_sim_run_sim(sim), cm_sim_run_fake(sim), run->loop, &po, err, errsize)))
            rc = CM_FAILED;
        cm_sim_run_set_podproc(sim, pp);
    }
    if (rc == CM_OK) {
        if (s->ready)
            s->ready(s->ud, url);
        if (cm_loop_run_until(run->loop, run->deadline, NULL) == CM_LOOP_ERROR) {
            snprintf(err, errsize, "poll: %s", strerror(errno));
            rc = CM_FAILED;
        }
    }
    cm_sim_run_set_podproc(sim, NULL);
    cm_podproc_free(pp); /* no process outlives the server */
    cm_http_stop(s->http);
    cm_tls_free(&s->tls);
    return rc;
}

int cm_fake_serve(cm_runtime *rt, const struct cm_serve_opts *o, cm_serve_ready_fn ready, void *ud,
                  char *err, size_t errsize)
{
    struct server s = {.o = o, .ready = ready, .ud = ud};
    const char *listen = o->listen ? o->listen : "127.0.0.1:0";
    if (parse_listen(listen, s.host, sizeof s.host, &s.port) != 0)
        return snprintf(err, errsize, "--listen: '%s' is not HOST:PORT (e.g. 127.0.0.1:0)", listen), CM_USAGE;
    if (!is_loopback(s.host) && !o->allow_remote)
        return snprintf(err, errsize, "--listen: %s is not a loopback address; the fake cluster "
                        "has no authorization, so serving it beyond this host needs --allow-remote", s.host),
               CM_USAGE;
    struct cm_sim_opts so = {.clock = CM_CLOCK_SCALED, .speed = o->speed, .frozen = o->frozen};
    int rc = cm_runtime_run_sim(rt, o->fixture, &so, serve_body, &s);
    if (rc != CM_OK)
        snprintf(err, errsize, "%s", cm_runtime_last_error(rt));
    return rc;
}

/* fake host: the run's body. */
struct host_cmd {
    const char *node;
    int64_t at;
    int reach; /* --reach: the dataplane model's verdicts instead of the host */
    FILE *out;
};

/* --reach: writes require("cm.dataplane").report(node)'s lines to out. */
static int reach_lines(struct cm_run *run, const struct host_cmd *c, char *err, size_t errsize)
{
    lua_State *L = run->L;
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cm.dataplane");
    int rc = cm_pcall(L, 1, 1);
    if (rc == LUA_OK) {
        lua_getfield(L, -1, "report"); /* [dataplane, report] */
        lua_pushstring(L, c->node);
        rc = cm_pcall(L, 1, 1); /* [dataplane, lines] */
    }
    if (rc != LUA_OK) {
        snprintf(err, errsize, "fake host --reach: %s", lua_tostring(L, -1));
        lua_settop(L, top);
        return CM_FAILED;
    }
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        fprintf(c->out, "%s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return fflush(c->out) == 0 ? CM_OK : (snprintf(err, errsize, "writing: %s", strerror(errno)), CM_FAILED);
}

static int host_body(struct cm_run *run, cm_sim_run *sim, void *ud, char *err, size_t errsize)
{
    struct host_cmd *c = ud;
    if (!cm_sim_run_host(sim, c->node))
        return snprintf(err, errsize, "fake host: no node '%s' in the fixture", c->node), CM_USAGE;
    enum cm_loop_result why = cm_loop_run_until(run->loop, c->at, NULL);
    if (why == CM_LOOP_CANCELLED)
        return snprintf(err, errsize, "fake host: stopped by a signal"), CM_FAILED;
    int failed = cm_sim_run_agent_errors(sim);
    if (failed)
        return snprintf(err, errsize, "fake host: the simulation's node agents failed %d time%s (logged above)",
                        failed, failed == 1 ? "" : "s"), CM_FAILED;
    cm_host *h = cm_sim_run_host(sim, c->node);
    if (!h)
        return snprintf(err, errsize, "fake host: node '%s' was deleted in the simulation", c->node), CM_FAILED;
    if (c->reach)
        return reach_lines(run, c, err, errsize);
    char *text = cm_json_print_pretty(cm_host_json(h));
    if (!text)
        return snprintf(err, errsize, "out of memory"), CM_FAILED;
    int ok = fprintf(c->out, "%s\n", text) >= 0 && fflush(c->out) == 0;
    free(text);
    return ok ? CM_OK : (snprintf(err, errsize, "writing the host: %s", strerror(errno)), CM_FAILED);
}

int cm_fake_host(cm_runtime *rt, const char *fixture, const char *node, int64_t at, int reach, FILE *out,
                 char *err, size_t errsize)
{
    struct host_cmd c = {.node = node, .at = at, .reach = reach, .out = out};
    struct cm_sim_opts so = {.clock = CM_CLOCK_VIRTUAL};
    int rc = cm_runtime_run_sim(rt, fixture, &so, host_body, &c);
    if (rc != CM_OK)
        snprintf(err, errsize, "%s", cm_runtime_last_error(rt));
    return rc;
}
