/* inproc.c - the in-process transport over the fake cluster (see inproc.h). */
#include "inproc.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const cm_verb_names[CM_VERB_COUNT] = {"get", "list", "watch", "create", "update",
                                                  "patch", "delete"};

typedef struct inproc {
    cm_transport base;
    cm_fake *fake;
    cm_loop *loop;
    int64_t latency;
    cm_inproc_stats *stats;
    cm_inproc_trace_fn trace;
    void *trace_ud;
    const int *dead;
} inproc;

/* What the transport keeps for a call in flight (call->priv). */
typedef struct pending {
    inproc *t;
    cm_http_call *call;
    cm_fake_resp resp;
    cm_timer *timer;
} pending;

static int has_param(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0'))
            return strncmp(p + n, "=false", 6) != 0 && strncmp(p + n, "=0", 2) != 0;
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return 0;
}

int cm_inproc_verb(const char *method, const char *path, const char *query)
{
    if (strcmp(method, "POST") == 0)
        return CM_VERB_CREATE;
    if (strcmp(method, "PUT") == 0)
        return CM_VERB_UPDATE;
    if (strcmp(method, "PATCH") == 0)
        return CM_VERB_PATCH;
    if (strcmp(method, "DELETE") == 0)
        return CM_VERB_DELETE;
    if (has_param(query, "watch"))
        return CM_VERB_WATCH;
    /* a collection ends in a plural resource: /api/v1/pods, /api/v1/namespaces/x/pods */
    int segments = 0;
    for (const char *p = path; *p; p++)
        segments += *p == '/';
    int core = strncmp(path, "/api/", 5) == 0;
    int named_ns = strstr(path, "/namespaces/") != NULL;
    int collection_segments = (core ? 3 : 4) + (named_ns ? 2 : 0);
    return segments == collection_segments ? CM_VERB_LIST : CM_VERB_GET;
}

/* Copies the request header value of name ("Name: value" lines), or NULL. */
static const char *header(const cm_http_call *call, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < call->nheaders; i++) {
        const char *h = call->headers[i];
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            const char *v = h + n + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, size, "%s", v);
            return buf;
        }
    }
    return NULL;
}

static void finish(pending *p)
{
    cm_http_call *call = p->call;
    call->priv = NULL;
    cm_fake_resp_clear(&p->resp);
    free(p);
    call->done = 1;
    if (call->on_done)
        call->on_done(call);
}

/* A watch line or, with len 0, the end of the stream. */
static void on_watch(void *ud, const char *line, size_t len)
{
    pending *p = ud;
    if (len == 0) {
        cm_fake_watch_close(p->resp.watch);
        p->resp.watch = NULL;
        finish(p);
        return;
    }
    if (p->call->on_data)
        p->call->on_data(p->call, line, len);
    else
        cm_buf_add(&p->call->body_in, line, len);
}

/* The answer's time has come: deliver it, or open the stream. */
static void deliver(cm_loop *loop, void *ud)
{
    (void)loop;
    pending *p = ud;
    cm_http_call *call = p->call;
    p->timer = NULL;
    if (p->resp.reset) { /* an injected fault: the connection went without an answer */
        call->error_code = "ConnectionReset";
        snprintf(call->error, sizeof call->error, "Recv failure: Connection reset by peer");
        finish(p);
        return;
    }
    call->status = p->resp.status;
    char line[160];
    snprintf(line, sizeof line, "content-type: %s\r\n", p->resp.content_type ? p->resp.content_type : "application/json");
    cm_buf_adds(&call->headers_in, line);
    if (p->resp.retry_after > 0) {
        snprintf(line, sizeof line, "retry-after: %d\r\n", p->resp.retry_after);
        cm_buf_adds(&call->headers_in, line);
    }
    for (const char *w = p->resp.warnings; w && *w;) { /* unquoted: the client takes the text as it is */
        size_t n = strcspn(w, "\n");
        cm_buf_adds(&call->headers_in, "warning: 299 - \"");
        cm_buf_add(&call->headers_in, w, n);
        cm_buf_adds(&call->headers_in, "\"\r\n");
        w += n + (w[n] == '\n');
    }
    if (p->resp.watch) {
        cm_fake_watch_start(p->resp.watch, on_watch, p);
        return;
    }
    if (p->resp.body && p->resp.body_len) {
        if (call->on_data)
            call->on_data(call, p->resp.body, p->resp.body_len);
        else
            cm_buf_add(&call->body_in, p->resp.body, p->resp.body_len);
    }
    finish(p);
}

/* Splits a URL into its path and query (NUL-terminated copies in buf). */
static void split_url(const char *url, char *buf, size_t size, const char **path, const char **query)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : url;
    snprintf(buf, size, "%s", p ? p : "/");
    char *q = strchr(buf, '?');
    *query = NULL;
    if (q) {
        *q = '\0';
        *query = q + 1;
    }
    *path = buf;
}

static int inproc_start(cm_transport *base, cm_http_call *call)
{
    inproc *t = (inproc *)base;
    pending *p = calloc(1, sizeof *p);
    char url[4096], ctype[128], accept[256], auth[512];
    if (!p) {
        call->error_code = "TransportError";
        snprintf(call->error, sizeof call->error, "out of memory");
        call->done = 1;
        return -1;
    }
    if (t->dead && *t->dead) {
        free(p);
        call->error_code = "ConnectFailed";
        snprintf(call->error, sizeof call->error, "the process was killed (--fault crash)");
        call->done = 1;
        return -1;
    }
    const char *path, *query;
    split_url(call->url, url, sizeof url, &path, &query);
    cm_fake_req req = {
        .method = call->method, .path = path, .query = query,
        .content_type = header(call, "Content-Type", ctype, sizeof ctype),
        .accept = header(call, "Accept", accept, sizeof accept),
        .authorization = header(call, "Authorization", auth, sizeof auth),
        .body = call->body, .body_len = call->body_len,
    };
    cm_fake_handle(t->fake, &req, &p->resp); /* the cluster changes now; the answer comes later */
    int verb = cm_inproc_verb(call->method, path, query);
    if (t->stats)
        t->stats->counts[verb]++;
    if (t->trace)
        t->trace(t->trace_ud, verb, call->method, path, p->resp.status);
    p->t = t;
    p->call = call;
    call->priv = p;
    p->timer = cm_loop_timer(t->loop, cm_loop_now(t->loop) + t->latency, deliver, p);
    return 0;
}

static void inproc_cancel(cm_transport *base, cm_http_call *call)
{
    pending *p = call->priv;
    (void)base;
    if (!p)
        return;
    if (p->timer)
        cm_loop_timer_cancel(p->t->loop, p->timer);
    if (p->resp.watch)
        cm_fake_watch_close(p->resp.watch);
    p->resp.watch = NULL;
    cm_fake_resp_clear(&p->resp);
    call->priv = NULL;
    free(p);
}

void cm_inproc_transport_set_dead(cm_transport *base, const int *dead)
{
    ((inproc *)base)->dead = dead;
}

static void inproc_free(cm_transport *base)
{
    free(base);
}

static const struct cm_transport_ops INPROC_OPS = {inproc_start, inproc_cancel, inproc_free};

cm_transport *cm_inproc_transport_new(cm_fake *fake, cm_loop *loop, int64_t latency_ns,
                                      cm_inproc_stats *stats, cm_inproc_trace_fn trace, void *ud)
{
    inproc *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    *t = (inproc){.base = {&INPROC_OPS}, .fake = fake, .loop = loop, .latency = latency_ns,
                  .stats = stats, .trace = trace, .trace_ud = ud};
    return &t->base;
}
