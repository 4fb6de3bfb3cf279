/* metrics.c - a run's Prometheus metrics and their /metrics server (see metrics.h). */
#include "metrics.h"
#include "strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of step durations, seconds: a label patch takes ms, a drain minutes. */
static const double DEFAULT_BOUNDS[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};

struct series {
    char *labels;
    double value;   /* counter, gauge; a histogram's sum */
    double count;   /* histogram */
    double *bucket; /* histogram: observations <= bound[i] (not cumulative) */
};

struct metric {
    char *name, *help;
    enum cm_metric_type type;
    double *bound;
    size_t nbound;
    struct series *s;
    size_t ns, cap;
};

struct cm_metrics {
    pthread_mutex_t mu;
    struct metric *m;
    size_t nm, cap;
    struct MHD_Daemon *d;
};

cm_metrics *cm_metrics_new(void)
{
    cm_metrics *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void cm_metrics_free(cm_metrics *m)
{
    if (!m)
        return;
    if (m->d)
        MHD_stop_daemon(m->d); /* joins its thread: no scrape reads below */
    for (size_t i = 0; i < m->nm; i++) {
        struct metric *x = &m->m[i];
        for (size_t j = 0; j < x->ns; j++) {
            free(x->s[j].labels);
            free(x->s[j].bucket);
        }
        free(x->s);
        free(x->name);
        free(x->help);
        free(x->bound);
    }
    free(m->m);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The metric of this name, or NULL (mu held). */
static struct metric *find(cm_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nm; i++)
        if (strcmp(m->m[i].name, name) == 0)
            return &m->m[i];
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Fills a new metric (mu held); 0 or -1 when out of memory. */
static int add_metric(cm_metrics *m, const char *name, enum cm_metric_type type, const char *help,
                      const double *bounds, size_t nbounds)
{
    if (m->nm == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct metric *p = realloc(m->m, cap * sizeof *p);
        if (!p)
            return -1;
        m->m = p;
        m->cap = cap;
    }
    struct metric x = {.name = strdup(name), .help = strdup(help ? help : ""), .type = type};
    if (type == CM_HISTOGRAM) {
        if (!nbounds) {
            bounds = DEFAULT_BOUNDS;
            nbounds = sizeof DEFAULT_BOUNDS / sizeof DEFAULT_BOUNDS[0];
        }
        x.bound = malloc(nbounds * sizeof *x.bound);
        if (x.bound) {
            memcpy(x.bound, bounds, nbounds * sizeof *x.bound);
            qsort(x.bound, nbounds, sizeof *x.bound, cmp_double);
            x.nbound = nbounds;
        }
    }
    if (!x.name || !x.help || (type == CM_HISTOGRAM && !x.bound)) {
        free(x.name);
        free(x.help);
        free(x.bound);
        return -1;
    }
    m->m[m->nm++] = x;
    return 0;
}

int cm_metrics_declare(cm_metrics *m, const char *name, enum cm_metric_type type, const char *help,
                       const double *bounds, size_t nbounds)
{
    pthread_mutex_lock(&m->mu);
    struct metric *x = find(m, name);
    int rc = x ? (x->type == type ? 0 : -1) : add_metric(m, name, type, help, bounds, nbounds);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* The series of these labels, made when missing (mu held); NULL when out of memory. */
static struct series *series_of(struct metric *x, const char *labels)
{
    labels = labels ? labels : "";
    for (size_t i = 0; i < x->ns; i++)
        if (strcmp(x->s[i].labels, labels) == 0)
            return &x->s[i];
    if (x->ns == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        struct series *p = realloc(x->s, cap * sizeof *p);
        if (!p)
            return NULL;
        x->s = p;
        x->cap = cap;
    }
    struct series s = {.labels = strdup(labels)};
    if (x->type == CM_HISTOGRAM)
        s.bucket = calloc(x->nbound, sizeof *s.bucket);
    if (!s.labels || (x->type == CM_HISTOGRAM && !s.bucket)) {
        free(s.labels);
        free(s.bucket);
        return NULL;
    }
    x->s[x->ns] = s;
    return &x->s[x->ns++];
}

/* Applies v to a series of a metric of type want (op: 'a'dd, 's'et, 'o'bserve). */
static int update(cm_metrics *m, const char *name, const char *labels, double v, int op)
{
    pthread_mutex_lock(&m->mu);
    struct metric *x = find(m, name);
    int ok = x && (op == 'o' ? x->type == CM_HISTOGRAM : op == 's' ? x->type == CM_GAUGE : x->type != CM_HISTOGRAM);
    struct series *s = ok ? series_of(x, labels) : NULL;
    if (s && op == 'a') {
        s->value += v;
    } else if (s && op == 's') {
        s->value = v;
    } else if (s) {
        s->value += v;
        s->count += 1;
        for (size_t i = 0; i < x->nbound; i++)
            if (v <= x->bound[i]) {
                s->bucket[i] += 1;
                break;
            }
    }
    pthread_mutex_unlock(&m->mu);
    return s ? 0 : -1;
}

int cm_metrics_add(cm_metrics *m, const char *name, const char *labels, double v)
{
    return update(m, name, labels, v, 'a');
}

int cm_metrics_set(cm_metrics *m, const char *name, const char *labels, double v)
{
    return update(m, name, labels, v, 's');
}

int cm_metrics_observe(cm_metrics *m, const char *name, const char *labels, double v)
{
    return update(m, name, labels, v, 'o');
}

double cm_metrics_value(cm_metrics *m, const char *name, const char *labels)
{
    double v = 0;
    pthread_mutex_lock(&m->mu);
    struct metric *x = find(m, name);
    for (size_t i = 0; x && i < x->ns; i++)
        if (strcmp(x->s[i].labels, labels ? labels : "") == 0)
            v = x->s[i].value;
    pthread_mutex_unlock(&m->mu);
    return v;
}

int cm_metrics_label(char *buf, size_t size, const char *key, const char *value)
{
    size_t n = strlen(buf);
    int w = snprintf(buf + n, size - n, "%s%s=\"", n ? "," : "", key);
    if (w < 0 || (size_t)w >= size - n)
        return -1;
    n += (size_t)w;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t len = esc ? 2 : 1;
        if (n + len + 2 > size)
            return -1;
        memcpy(buf + n, esc ? esc : p, len);
        n += len;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return 0;
}

/* Appends printf-style text (a line of the exposition: labels are short). */
static void bprintf(cm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(cm_buf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->oom = 1; /* a label set this long is a caller's bug: the render fails rather than lies */
    else
        cm_buf_add(b, tmp, (size_t)n);
}

/* name{labels[,extra]} value */
static void line(cm_buf *b, const char *name, const char *suffix, const char *labels, const char *extra, double v)
{
    int any = *labels || extra;
    bprintf(b, "%s%s%s%s%s%s%s %.15g\n", name, suffix, any ? "{" : "", labels, *labels && extra ? "," : "",
                  extra ? extra : "", any ? "}" : "", v);
}

static const char *type_name(enum cm_metric_type t)
{
    return t == CM_COUNTER ? "counter" : t == CM_GAUGE ? "gauge" : "histogram";
}

char *cm_metrics_render(cm_metrics *m)
{
    cm_buf b = {0};
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nm; i++) {
        struct metric *x = &m->m[i];
        bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name, type_name(x->type));
        for (size_t j = 0; j < x->ns; j++) {
            struct series *s = &x->s[j];
            if (x->type != CM_HISTOGRAM) {
                line(&b, x->name, "", s->labels, NULL, s->value);
                continue;
            }
            double cum = 0;
            char le[48];
            for (size_t k = 0; k < x->nbound; k++) {
                cum += s->bucket[k];
                snprintf(le, sizeof le, "le=\"%.15g\"", x->bound[k]);
                line(&b, x->name, "_bucket", s->labels, le, cum);
            }
            line(&b, x->name, "_bucket", s->labels, "le=\"+Inf\"", s->count);
            line(&b, x->name, "_sum", s->labels, NULL, s->value);
            line(&b, x->name, "_count", s->labels, NULL, s->count);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        cm_buf_free(&b);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

/* GET /metrics: the exposition; anything else 404, another method 405 (MHD's thread). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    cm_metrics *m = cls;
    unsigned status = MHD_HTTP_OK;
    char *body = NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    else if (strcmp(url, "/metrics") != 0)
        status = MHD_HTTP_NOT_FOUND;
    else if (!(body = cm_metrics_render(m)))
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (!body)
        body = strdup(status == MHD_HTTP_NOT_FOUND ? "404 page not found: try /metrics\n" : "no\n");
    if (!body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
                                                                      : "text/plain; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

int cm_metrics_serve(cm_metrics *m, const char *address, int port, char *err, size_t errsize)
{
    if (m->d) {
        snprintf(err, errsize, "metrics are served already");
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (address && inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
        snprintf(err, errsize, "'%s' is not an IPv4 address", address);
        return -1;
    }
    if (!address)
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    errno = 0;
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, m,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!m->d) {
        snprintf(err, errsize, "cannot listen on %s:%d%s%s", address ? address : "0.0.0.0", port,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : port;
}
