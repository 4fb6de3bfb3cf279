/* k8s_transport.c - the libcurl transport: one multi handle driven by the run's loop. */
#include "k8s_transport.h"

#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- buffers ---- */

/* ---- response headers ---- */

void cm_http_headers_each(const cm_http_call *call, const char *name,
                          void (*fn)(void *ud, const char *value, size_t len), void *ud)
{
    size_t nl = strlen(name);
    const char *p = call->headers_in.p;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = end;
            while (e > v && (e[-1] == '\r' || e[-1] == ' '))
                e--;
            fn(ud, v, (size_t)(e - v));
        }
        p = eol ? eol + 1 : end;
    }
}

struct first_header {
    char *buf;
    size_t size;
    int found;
};

/* Keeps the first value seen. */
static void keep_first(void *ud, const char *value, size_t len)
{
    struct first_header *f = ud;
    if (f->found++)
        return;
    if (len >= f->size)
        len = f->size - 1;
    memcpy(f->buf, value, len);
    f->buf[len] = '\0';
}

const char *cm_http_header(const cm_http_call *call, const char *name, char *buf, size_t size)
{
    struct first_header f = {buf, size, 0};
    if (size == 0)
        return NULL;
    cm_http_headers_each(call, name, keep_first, &f);
    return f.found ? buf : NULL;
}

/* ---- the curl transport ---- */

struct easy_private;

struct curl_transport {
    cm_transport base;
    cm_loop *loop;
    CURLM *multi;
    cm_timer *timer;
    int *fds; /* descriptors watched on the loop, unwatched when freed */
    size_t nfds, capfds;
    struct easy_private *pending; /* streams with data to hand on once curl has returned */
};

/* Per call: the easy handle and its header and connect-to lists. */
struct curl_call {
    CURL *easy;
    struct curl_slist *headers, *connect_to;
};

static void track_fd(struct curl_transport *t, int fd, int add)
{
    for (size_t i = 0; i < t->nfds; i++) {
        if (t->fds[i] == fd) {
            if (!add)
                t->fds[i] = t->fds[--t->nfds];
            return;
        }
    }
    if (!add)
        return;
    if (t->nfds == t->capfds) {
        size_t cap = t->capfds ? 2 * t->capfds : 8;
        int *p = realloc(t->fds, cap * sizeof *p);
        if (!p)
            return;
        t->fds = p;
        t->capfds = cap;
    }
    t->fds[t->nfds++] = fd;
}

/* Maps a curl failure to the client's stable codes. */
static const char *code_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "Timeout";
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "ConnectFailed";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
        return "TLS";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return "ConnectionReset";
    default:
        return "TransportError";
    }
}

/* Ends a call: unhooks its easy handle and tells the caller. */
static void finish(struct curl_transport *t, cm_http_call *call, CURLcode rc, const char *errbuf)
{
    struct curl_call *cc = call->priv;
    long status = 0;
    curl_easy_getinfo(cc->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        call->status = 0;
        call->error_code = code_of(rc);
        snprintf(call->error, sizeof call->error, "%s", errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
    } else {
        call->status = status;
    }
    curl_multi_remove_handle(t->multi, cc->easy);
    curl_easy_cleanup(cc->easy);
    curl_slist_free_all(cc->headers);
    curl_slist_free_all(cc->connect_to);
    free(cc);
    call->priv = NULL;
    call->done = 1;
    if (call->on_done)
        call->on_done(call);
}

/* What the transport keeps per easy handle: its call, curl's error text, and a stream's bytes
 * received inside curl and not yet handed to on_data (see deliver). */
struct easy_private {
    cm_http_call *call;
    struct curl_transport *t;
    cm_buf data;
    struct easy_private *next_pending;
    int queued;
    char errbuf[CURL_ERROR_SIZE];
};

/* Takes ep off the transport's pending list (a call cancelled before its data was handed on). */
static void unqueue(struct easy_private *ep)
{
    if (!ep->queued)
        return;
    for (struct easy_private **pp = &ep->t->pending; *pp; pp = &(*pp)->next_pending) {
        if (*pp == ep) {
            *pp = ep->next_pending;
            break;
        }
    }
    ep->queued = 0;
    ep->next_pending = NULL;
}

/* Frees an easy handle's private part, taking it off the pending list first. */
static void free_private(struct easy_private *ep)
{
    unqueue(ep);
    cm_buf_free(&ep->data);
    free(ep);
}

/* Hands the streams' data received during the last curl call to their on_data, now that curl
 * has returned: on_data may start or cancel requests (a watch's reader evicts, lists again, stops),
 * which libcurl refuses from inside its own callbacks (CURLM_RECURSIVE_API_CALL). Each call's
 * bytes are taken off it first, so a call cancelled by its own on_data frees nothing in use. */
static void deliver(struct curl_transport *t)
{
    while (t->pending) {
        struct easy_private *ep = t->pending;
        t->pending = ep->next_pending;
        ep->next_pending = NULL;
        ep->queued = 0;
        cm_buf data = ep->data;
        ep->data = (cm_buf){0};
        cm_http_call *call = ep->call;
        if (data.n && call->on_data)
            call->on_data(call, data.p, data.n);
        cm_buf_free(&data);
    }
}

/* Collects finished transfers. */
static void collect(struct curl_transport *t)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(t->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct easy_private *ep = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ep);
        CURLcode rc = msg->data.result;
        finish(t, ep->call, rc, ep->errbuf);
        free_private(ep);
    }
}

static void on_io(cm_loop *loop, int fd, short revents, void *ud)
{
    (void)loop;
    struct curl_transport *t = ud;
    int flags = 0, running;
    if (revents & (POLLIN | POLLHUP))
        flags |= CURL_CSELECT_IN;
    if (revents & POLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (revents & (POLLERR | POLLNVAL))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(t->multi, fd, flags, &running);
    deliver(t);
    collect(t);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct curl_transport *t = userp;
    short events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= POLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= POLLOUT;
    cm_loop_watch_fd(t->loop, s, events, on_io, t);
    track_fd(t, s, events != 0);
    return 0;
}

static void on_timer(cm_loop *loop, void *ud)
{
    (void)loop;
    struct curl_transport *t = ud;
    int running;
    t->timer = NULL; /* the loop frees it after this call */
    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    deliver(t);
    collect(t);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct curl_transport *t = userp;
    if (t->timer)
        cm_loop_timer_cancel(t->loop, t->timer);
    t->timer = NULL;
    if (timeout_ms >= 0)
        t->timer = cm_loop_timer(t->loop, cm_loop_now(t->loop) + (int64_t)timeout_ms * 1000000,
                                 on_timer, t);
    return t->timer || timeout_ms < 0 ? 0 : -1;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
    struct easy_private *ep = ud;
    cm_http_call *call = ep->call;
    size_t len = size * n;
    if (call->on_data) { /* kept for deliver(), which runs once curl has returned */
        struct curl_call *cc = call->priv;
        curl_easy_getinfo(cc->easy, CURLINFO_RESPONSE_CODE, &call->status);
        if (cm_buf_add(&ep->data, data, len) < 0)
            return 0;
        if (!ep->queued) {
            struct easy_private **pp = &ep->t->pending; /* appended: streams keep their order */
            while (*pp)
                pp = &(*pp)->next_pending;
            *pp = ep;
            ep->queued = 1;
        }
        return len;
    }
    return cm_buf_add(&call->body_in, data, len) == 0 ? len : 0;
}

static size_t header_cb(char *data, size_t size, size_t n, void *ud)
{
    struct easy_private *ep = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        ep->call->headers_in.n = 0; /* a new response (after 100 Continue or a proxy's) */
    return cm_buf_add(&ep->call->headers_in, data, len) == 0 ? len : 0;
}

/* Applies a call's TLS and proxy settings to its easy handle. */
static void set_tls(CURL *e, const cm_tls *tls)
{
    if (!tls)
        return;
    if (tls->ca) {
        struct curl_blob b = {(void *)tls->ca, tls->ca_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (tls->cert) {
        struct curl_blob b = {(void *)tls->cert, tls->cert_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (tls->key) {
        struct curl_blob b = {(void *)tls->key, tls->key_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (tls->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (tls->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, tls->proxy);
    if (tls->no_compression)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
}

/*
 * tls-server-name: the URL names that host (so curl sends it as SNI and checks
 * the certificate against it) while CONNECT_TO sends the connection to the
 * real host and port. Returns 0, or -1 when the URL cannot be parsed.
 */
static int set_server_name(CURL *e, struct curl_call *cc, const char *url, const char *name)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *out = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_HOST, name, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        char map[600];
        snprintf(map, sizeof map, "%s:%s:%s:%s", name, port, host, port);
        struct curl_slist *l = curl_slist_append(NULL, map);
        if (l) {
            cc->connect_to = l;
            curl_easy_setopt(e, CURLOPT_URL, out);
            curl_easy_setopt(e, CURLOPT_CONNECT_TO, l);
            rc = 0;
        }
    }
    curl_free(host);
    curl_free(port);
    curl_free(out);
    curl_url_cleanup(u);
    return rc;
}

/* Fails a call at start. */
static int fail_start(cm_http_call *call, const char *code, const char *msg)
{
    call->error_code = code;
    snprintf(call->error, sizeof call->error, "%s", msg);
    call->done = 1;
    return -1;
}

static int curl_start(cm_transport *base, cm_http_call *call)
{
    struct curl_transport *t = (struct curl_transport *)base;
    call->done = 0;
    call->status = 0;
    call->error_code = NULL;
    call->error[0] = '\0';
    struct curl_call *cc = calloc(1, sizeof *cc);
    struct easy_private *ep = calloc(1, sizeof *ep);
    CURL *e = cc && ep ? curl_easy_init() : NULL;
    if (!e) {
        free(cc);
        free(ep);
        return fail_start(call, "TransportError", "out of memory");
    }
    ep->call = call;
    ep->t = t;
    cc->easy = e;
    call->priv = cc;
    for (size_t i = 0; i < call->nheaders; i++) {
        struct curl_slist *h = curl_slist_append(cc->headers, call->headers[i]);
        if (h)
            cc->headers = h;
    }
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, ep);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ep->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* requests started together wait for the first connection to say whether it multiplexes
     * (HTTP/2 by ALPN) rather than each opening a connection of its own */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, cc->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, ep);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, ep);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
    if (strcmp(call->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (call->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    }
    set_tls(e, call->tls);
    int bad_url = call->tls && call->tls->server_name &&
                  set_server_name(e, cc, call->url, call->tls->server_name) < 0;
    CURLMcode mc = bad_url ? CURLM_OK : curl_multi_add_handle(t->multi, e);
    if (bad_url || mc != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(cc->headers);
        curl_slist_free_all(cc->connect_to);
        free(cc);
        free_private(ep);
        call->priv = NULL;
        return fail_start(call, "TransportError", bad_url ? "bad URL for the TLS server name" : curl_multi_strerror(mc));
    }
    return 0;
}

static void curl_cancel(cm_transport *base, cm_http_call *call)
{
    struct curl_transport *t = (struct curl_transport *)base;
    struct curl_call *cc = call->priv;
    if (!cc || call->done)
        return;
    struct easy_private *ep = NULL;
    curl_easy_getinfo(cc->easy, CURLINFO_PRIVATE, (char **)&ep);
    curl_easy_getinfo(cc->easy, CURLINFO_RESPONSE_CODE, &call->status); /* 0 until the headers came */
    curl_multi_remove_handle(t->multi, cc->easy);
    curl_easy_cleanup(cc->easy);
    curl_slist_free_all(cc->headers);
    curl_slist_free_all(cc->connect_to);
    free_private(ep);
    free(cc);
    call->priv = NULL;
}

static void curl_free_transport(cm_transport *base)
{
    struct curl_transport *t = (struct curl_transport *)base;
    if (!t)
        return;
    curl_multi_cleanup(t->multi);
    if (t->timer)
        cm_loop_timer_cancel(t->loop, t->timer);
    for (size_t i = 0; i < t->nfds; i++)
        cm_loop_watch_fd(t->loop, t->fds[i], 0, NULL, NULL);
    free(t->fds);
    free(t);
}

static const struct cm_transport_ops CURL_OPS = {curl_start, curl_cancel, curl_free_transport};

cm_transport *cm_curl_transport_new(cm_loop *loop)
{
    static int initialized;
    if (cm_loop_clock(loop) != CM_CLOCK_REAL)
        return NULL;
    if (!initialized && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        initialized = 1;
    struct curl_transport *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base.ops = &CURL_OPS;
    t->loop = loop;
    t->multi = curl_multi_init();
    if (!t->multi) {
        free(t);
        return NULL;
    }
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return &t->base;
}

int cm_http_fetch(cm_http_call *call, long timeout_ms)
{
    call->done = 0;
    call->status = 0;
    call->error_code = NULL;
    call->error[0] = '\0';
    static int initialized;
    if (!initialized && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        initialized = 1;
    struct easy_private ep = {.call = call};
    struct curl_slist *headers = NULL;
    CURL *e = curl_easy_init();
    if (!e)
        return fail_start(call, "TransportError", "out of memory");
    for (size_t i = 0; i < call->nheaders; i++) {
        struct curl_slist *h = curl_slist_append(headers, call->headers[i]);
        if (h)
            headers = h;
    }
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ep.errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &ep);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &ep);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
    if (call->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    }
    set_tls(e, call->tls);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        call->error_code = code_of(rc);
        snprintf(call->error, sizeof call->error, "%s", *ep.errbuf ? ep.errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &call->status);
    }
    curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    call->done = 1;
    return rc == CURLE_OK ? 0 : -1;
}
