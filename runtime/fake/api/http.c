/* http.c - libmicrohttpd in external epoll mode on the runtime's loop (see http.h). */
#include "http.h"


#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define STREAM_POKE_NS (2 * CM_NS_PER_S) /* how often (real time) an idle watch checks for a gone client */

struct cm_http {
    cm_fake *f;
    cm_loop *loop;
    struct MHD_Daemon *d;
    int epoll_fd;
    int port;
    cm_timer *timer;
    int resumed;              /* a connection resumed since MHD last ran */
    struct request *requests; /* every request in flight, for stop */
};

/* One request: its body as it arrives, then for a watch the queue of event lines. */
struct request {
    cm_http *h;
    struct MHD_Connection *conn;
    struct request *next;
    char *body;
    size_t len, cap;
    cm_fake_watch *watch;
    char *out;          /* queued event bytes not yet sent */
    size_t out_len, out_cap, out_pos;
    int ended, suspended;
    cm_timer *poke;
};

static void schedule(cm_http *h);
static void run_soon(cm_http *h);

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *p = realloc(*buf, c);
        if (!p)
            return -1;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static void resume(struct request *r)
{
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
        run_soon(r->h); /* MHD takes resumed connections back only inside MHD_run */
    }
}

/* A watch event (or the end of the watch) from the fake. */
static void on_watch(void *ud, const char *line, size_t len)
{
    struct request *r = ud;
    if (len == 0)
        r->ended = 1;
    else if (append(&r->out, &r->out_len, &r->out_cap, line, len) != 0)
        r->ended = 1;
    resume(r);
}

/* Whether the client of a suspended watch has closed its end (MHD does not look while suspended). */
static int peer_gone(const struct request *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Checks an idle watch now and then; a client that went away ends it, which frees it. */
static void poke(cm_loop *loop, void *ud)
{
    struct request *r = ud;
    r->poke = NULL;
    if (r->suspended && peer_gone(r)) {
        r->ended = 1;
        resume(r);
        return;
    }
    r->poke = cm_loop_timer(loop, cm_loop_after_real(loop, STREAM_POKE_NS), poke, r);
}

/* MHD asks for more of a watch response. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct request *r = cls;
    size_t avail = r->out_len - r->out_pos;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, r->out + r->out_pos, n);
        r->out_pos += n;
        if (r->out_pos == r->out_len)
            r->out_pos = r->out_len = 0;
        return (ssize_t)n;
    }
    if (r->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    return 0;
}

static void free_stream(void *cls)
{
    (void)cls; /* the request owns everything; on_completed frees it */
}

/* Rebuilds the query string from MHD's decoded arguments, encoding again. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    char **q = cls;
    size_t n = *q ? strlen(*q) : 0;
    size_t need = n + 3 * (strlen(key) + (value ? strlen(value) : 0)) + 3;
    char *p = realloc(*q, need);
    if (!p)
        return MHD_NO;
    *q = p;
    char *o = p + n;
    if (n)
        *o++ = '&';
    for (int part = 0; part < 2; part++) {
        const char *s = part ? (value ? value : "") : key;
        if (part)
            *o++ = '=';
        for (; *s; s++) {
            unsigned char c = (unsigned char)*s;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
                *o++ = (char)c;
            else
                o += sprintf(o, "%%%02X", c);
        }
    }
    *o = '\0';
    return MHD_YES;
}

/* One "Warning: 299 - \"text\"" header for each line of warnings (RFC 7234, as the API server sends them). */
static void add_warnings(struct MHD_Response *mr, const char *warnings)
{
    while (warnings && *warnings) {
        size_t n = strcspn(warnings, "\n");
        char v[1024] = "299 - \"";
        size_t o = strlen(v);
        for (size_t i = 0; i < n && o + 4 < sizeof v; i++) {
            if (warnings[i] == '"' || warnings[i] == '\\')
                v[o++] = '\\';
            v[o++] = warnings[i];
        }
        snprintf(v + o, sizeof v - o, "\"");
        MHD_add_response_header(mr, "Warning", v);
        warnings += n + (warnings[n] == '\n');
    }
}

static enum MHD_Result queue(struct MHD_Connection *conn, cm_fake_resp *resp, struct request *r)
{
    struct MHD_Response *mr;
    if (resp->watch) {
        r->watch = resp->watch;
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream, r, free_stream);
    } else {
        mr = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        resp->body = NULL;
    }
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(mr, "Cache-Control", "no-cache, private");
    if (resp->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", resp->retry_after);
        MHD_add_response_header(mr, "Retry-After", v);
    }
    add_warnings(mr, resp->warnings);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    if (resp->watch && rc == MHD_YES) {
        cm_fake_watch_start(r->watch, on_watch, r);
        r->poke = cm_loop_timer(r->h->loop, cm_loop_after_real(r->h->loop, STREAM_POKE_NS), poke, r);
    }
    return rc;
}

/* An injected reset: the connection closes at once, with an RST rather than a FIN. */
static enum MHD_Result reset(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (ci)
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    return MHD_NO;
}

/* Answers a request once its body is complete. */
static enum MHD_Result answer(struct request *r, struct MHD_Connection *conn, const char *url, const char *method)
{
    char *query = NULL;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &query);
    cm_fake_req req = {
        .method = method, .path = url, .query = query,
        .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
        .accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"),
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
        .user_agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent"),
        .body = r->body, .body_len = r->len};
    cm_fake_resp resp;
    cm_fake_handle(r->h->f, &req, &resp);
    free(query);
    if (resp.reset)
        return reset(conn);
    enum MHD_Result rc = queue(conn, &resp, r);
    cm_fake_resp_clear(&resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    cm_http *h = cls;
    struct request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->h = h;
        r->conn = conn;
        r->next = h->requests;
        h->requests = r;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (append(&r->body, &r->len, &r->cap, upload, *upload_size) != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return answer(r, conn, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    cm_http *h = cls;
    struct request *r = *con_cls;
    if (!r)
        return;
    for (struct request **p = &h->requests; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    if (r->poke)
        cm_loop_timer_cancel(h->loop, r->poke);
    cm_fake_watch_close(r->watch);
    free(r->body);
    free(r->out);
    free(r);
    *con_cls = NULL;
}

/* ---- driving MHD from the loop ---- */

static void run(cm_http *h)
{
    h->resumed = 0;
    MHD_run(h->d);
    schedule(h);
}

static void on_timer(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_http *h = ud;
    h->timer = NULL;
    run(h);
}

static void on_io(cm_loop *loop, int fd, short revents, void *ud)
{
    (void)loop;
    (void)fd;
    (void)revents;
    run(ud);
}

/* Arms the timer MHD asks for (0: run again at once, for work it left pending). */
static void schedule(cm_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (h->timer) {
        cm_loop_timer_cancel(h->loop, h->timer);
        h->timer = NULL;
    }
    /* a resume during MHD_run (a watch event from a request it was serving) needs one more run:
     * MHD's timeout does not say so, and a client keeping its other connection open idle
     * would otherwise wait for its events until some socket stirred */
    if (h->resumed)
        ms = 0;
    else if (MHD_get_timeout(h->d, &ms) != MHD_YES)
        return;
    if (ms > 1000)
        ms = 1000;
    /* MHD's milliseconds are real ones, whatever the speed of the loop's clock */
    h->timer = cm_loop_timer(h->loop, cm_loop_after_real(h->loop, (int64_t)ms * 1000000), on_timer, h);
}

/* Runs MHD at the loop's next turn (after a resume, which MHD notices only when run). */
static void run_soon(cm_http *h)
{
    h->resumed = 1;
    if (h->timer)
        cm_loop_timer_cancel(h->loop, h->timer);
    h->timer = cm_loop_timer(h->loop, cm_loop_now(h->loop), on_timer, h);
}

static int bind_addr(struct sockaddr_in *sa, const char *host, int port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

cm_http *cm_http_start(cm_fake *f, cm_loop *loop, const char *host, int port,
                       const char *cert_pem, const char *key_pem, char *err, size_t errsize)
{
    struct sockaddr_in sa;
    if (bind_addr(&sa, host, port) != 0) {
        snprintf(err, errsize, "'%s' is not an IPv4 address", host);
        return NULL;
    }
    if (cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errsize, "this libmicrohttpd was built without TLS");
        return NULL;
    }
    cm_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    h->f = f;
    h->loop = loop;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | (cert_pem ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert_pem},
        {MHD_OPTION_END, 0, NULL}};
    errno = 0;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
                            MHD_OPTION_ARRAY, cert_pem ? tls : tls + 2,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errsize, "cannot listen on %s:%d%s%s", host, port, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epoll_fd = info ? info->epoll_fd : -1;
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    if (h->epoll_fd < 0 || cm_loop_watch_fd(loop, h->epoll_fd, POLLIN, on_io, h) != 0) {
        snprintf(err, errsize, "cannot watch the server's descriptor");
        MHD_stop_daemon(h->d);
        free(h);
        return NULL;
    }
    schedule(h);
    return h;
}

int cm_http_port(const cm_http *h)
{
    return h->port;
}

void cm_http_stop(cm_http *h)
{
    if (!h)
        return;
    cm_loop_watch_fd(h->loop, h->epoll_fd, 0, NULL, NULL);
    if (h->timer)
        cm_loop_timer_cancel(h->loop, h->timer);
    for (struct request *r = h->requests; r; r = r->next) { /* suspended ones must resume to close */
        r->ended = 1;
        if (r->suspended) {
            r->suspended = 0;
            MHD_resume_connection(r->conn);
        }
    }
    MHD_stop_daemon(h->d); /* calls on_completed for each request */
    free(h);
}
