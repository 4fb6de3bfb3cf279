/*
 * k8s_bench.c - figures for the Kubernetes client (a program that prints, not a test).
 *
 * It serves a minimal API itself with libmicrohttpd on loopback (its own
 * thread), or, with BENCH_KUBECONFIG set (scripts/bench.sh points it at
 * `cni-migrate fake serve --tls`), talks to that server; then it measures:
 *   1. GETs per second and client CPU per request over one reused connection
 *      (the client's full path: rate limit off, URL, JSON parse);
 *   2. the same with a new connection per request (a new curl handle and
 *      connection each time, as kubernetes-client/c does);
 *   3. paging N pods at 500 a page through the client, one page held at a
 *      time: peak RSS growth against the size of one page.
 *
 * Usage: k8s-bench [GETS [PODS [CERT KEY]]]   (defaults 20000 and 150000)
 * With CERT and KEY (PEM files; the certificate for 127.0.0.1 is also the CA
 * the client trusts) the server speaks HTTPS, as an API server does, so a
 * new connection costs a TLS handshake. scripts/bench.sh makes them.
 */
#include "k8s_client.h"

#include "k8s_config.h"

#include <malloc.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long total_pods = 150000;

static const char DISCOVERY[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
    "{\"name\":\"nodes\",\"kind\":\"Node\",\"namespaced\":false},"
    "{\"name\":\"pods\",\"kind\":\"Pod\",\"namespaced\":true}]}";

static const char NODE[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"worker-1\",\"uid\":"
    "\"6a3f0d4e-0000-4000-8000-000000000001\",\"resourceVersion\":\"12345\",\"labels\":{"
    "\"kubernetes.io/hostname\":\"worker-1\",\"kubernetes.io/os\":\"linux\"}},\"spec\":{\"podCIDR\":"
    "\"10.244.1.0/24\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}";

/* One pod of about 1 KB, as a real list would carry. */
static int pod_json(char *buf, size_t size, long i)
{
    return snprintf(buf, size,
                    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod-%06ld\",\"namespace\":"
                    "\"ns-%ld\",\"uid\":\"00000000-0000-4000-8000-%012ld\",\"resourceVersion\":\"%ld\","
                    "\"labels\":{\"app\":\"app-%ld\",\"pod-template-hash\":\"5d8f7c9b6\"},\"ownerReferences\":"
                    "[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"app-%ld-5d8f7c9b6\","
                    "\"uid\":\"11111111-0000-4000-8000-%012ld\",\"controller\":true}]},\"spec\":{\"nodeName\":"
                    "\"worker-%ld\",\"containers\":[{\"name\":\"main\",\"image\":\"registry.example/app:1.2.3\","
                    "\"ports\":[{\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":"
                    "{\"cpu\":\"100m\",\"memory\":\"128Mi\"}}}],\"terminationGracePeriodSeconds\":30},"
                    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.%ld.%ld\",\"hostIP\":\"192.168.0.%ld\","
                    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"startTime\":"
                    "\"2026-11-29T05:00:00Z\"}}",
                    i, i % 50, i, 1000 + i, i % 300, i % 300, i % 300, i % 500, (i / 250) % 250, i % 250,
                    i % 250);
}

/* A page of pods from offset `start`, with the continue token for the next. */
static char *pod_page(long start, long limit, size_t *len)
{
    size_t cap = (size_t)limit * 1200 + 256, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    long end = start + limit < total_pods ? start + limit : total_pods;
    n += (size_t)snprintf(buf, cap, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
                                   "\"99\"%s", end < total_pods ? ",\"continue\":\"" : "");
    if (end < total_pods)
        n += (size_t)snprintf(buf + n, cap - n, "%ld\"", end);
    n += (size_t)snprintf(buf + n, cap - n, "},\"items\":[");
    for (long i = start; i < end; i++) {
        if (i > start)
            buf[n++] = ',';
        n += (size_t)pod_json(buf + n, cap - n, i);
    }
    n += (size_t)snprintf(buf + n, cap - n, "]}");
    *len = n;
    return buf;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                             const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)upload;
    static int seen;
    if (!*state) { /* answer on the second call: a response queued on the first closes the connection */
        *state = &seen;
        return MHD_YES;
    }
    (void)upload_size;
    struct MHD_Response *r;
    if (strcmp(url, "/api/v1") == 0) {
        r = MHD_create_response_from_buffer(strlen(DISCOVERY), (void *)DISCOVERY, MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, "/api/v1/pods") == 0) {
        const char *cont = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "continue");
        const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
        size_t len = 0;
        char *page = pod_page(cont ? atol(cont) : 0, limit ? atol(limit) : 500, &len);
        r = MHD_create_response_from_buffer(len, page, MHD_RESPMEM_MUST_FREE);
    } else {
        r = MHD_create_response_from_buffer(strlen(NODE), (void *)NODE, MHD_RESPMEM_PERSISTENT);
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The resident set size in KiB (VmRSS). */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static char *ca_pem;
static size_t ca_len;

/* Bytes of heap in use (glibc). */
static size_t heap_used(void)
{
    return mallinfo2().uordblks;
}

static cm_k8s_client *new_client(cm_loop *loop, const char *server)
{
    cm_k8s_config *cfg = calloc(1, sizeof *cfg);
    cfg->server = strdup(server);
    if (ca_pem) {
        cfg->ca = malloc(ca_len);
        memcpy(cfg->ca, ca_pem, ca_len);
        cfg->ca_len = ca_len;
    }
    cfg->namespace = strdup("default");
    cm_k8s_client_opts o = {.qps = -1};
    cm_k8s_error err;
    cm_k8s_client *c = cm_k8s_client_new(loop, NULL, cfg, NULL, &o, &err);
    if (!c)
        fprintf(stderr, "k8s-bench: %s\n", err.message);
    return c;
}

/* GET url on a transport of its own, then close it: a connection per request. */
static int get_fresh(cm_loop *loop, const char *url)
{
    cm_transport *t = cm_curl_transport_new(loop);
    const char *h[] = {"Accept: application/json"};
    cm_tls tls = {.ca = ca_pem, .ca_len = ca_len};
    cm_http_call call = {.method = "GET", .url = url, .headers = h, .nheaders = 1, .tls = &tls};
    int ok = t->ops->start(t, &call) == 0 && cm_loop_run_until(loop, CM_TIME_NEVER, &call.done) == CM_LOOP_DONE &&
             call.status == 200;
    cJSON *doc = ok ? cJSON_ParseWithLength(call.body_in.p, call.body_in.n) : NULL;
    ok = ok && doc;
    cJSON_Delete(doc);
    cm_buf_free(&call.headers_in);
    cm_buf_free(&call.body_in);
    t->ops->free(t);
    return ok;
}

/* Sections 1 and 2 against the server of a kubeconfig (fake serve); 0, or 1 on failure. */
static int bench_external(const char *kubeconfig, long gets);
static void bench_gets(cm_loop *loop, cm_k8s_client *c, const char *url, long gets);
static void bench_paging(cm_k8s_client *c, int own_server);

int main(int argc, char **argv)
{
    long gets = argc > 1 ? atol(argv[1]) : 20000;
    if (getenv("BENCH_KUBECONFIG"))
        return bench_external(getenv("BENCH_KUBECONFIG"), gets);
    if (argc > 2)
        total_pods = atol(argv[2]);
    char *key = NULL;
    if (argc > 4) {
        ca_pem = cm_read_file(argv[3], &ca_len);
        key = cm_read_file(argv[4], NULL);
        if (!ca_pem || !key) {
            fprintf(stderr, "k8s-bench: cannot read %s or %s\n", argv[3], argv[4]);
            return 1;
        }
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | (key ? MHD_USE_TLS : 0);
    struct MHD_Daemon *d = key ? MHD_start_daemon(flags, 0, NULL, NULL, serve, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                                  60u, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT,
                                                  ca_pem, MHD_OPTION_END)
                               : MHD_start_daemon(flags, 0, NULL, NULL, serve, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                                  60u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "k8s-bench: cannot start the HTTP server\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char server[64], url[128];
    snprintf(server, sizeof server, "%s://127.0.0.1:%u", key ? "https" : "http", (unsigned)info->port);
    snprintf(url, sizeof url, "%s/api/v1/nodes/worker-1", server);
    if (getenv("BENCH_SERVE_ONLY")) {
        printf("%s\n", server);
        fflush(stdout);
        struct timespec ts = {30, 0};
        nanosleep(&ts, NULL);
        return 0;
    }
    cm_loop *loop = cm_loop_new(CM_CLOCK_REAL, 0);
    cm_k8s_client *c = new_client(loop, server);
    if (!c)
        return 1;
    printf("k8s-bench: loopback %s server (libmicrohttpd, its own thread), client on one thread\n",
           key ? "HTTPS (TLS, HTTP/1.1)" : "plain HTTP/1.1");

    /* 1. one reused connection, the client's whole path; 2. a new connection per request */
    bench_gets(loop, c, url, gets);

    /* 3. paging: one page held at a time */
    bench_paging(c, 1);
    cm_k8s_client_free(c);
    cm_loop_free(loop);
    MHD_stop_daemon(d);
    free(ca_pem);
    free(key);
    return 0;
}

/* The GET rate over one reused connection and over a connection each, against c's server. */
static void bench_gets(cm_loop *loop, cm_k8s_client *c, const char *url, long gets)
{
    cm_k8s_ref node = {.api_version = "v1", .kind = "Node", .name = "worker-1"};
    cm_k8s_result res;
    cm_k8s_call(c, "GET", &node, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res); /* discovery, warm up */
    cm_k8s_result_free(&res);
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    long fails = 0;
    for (long i = 0; i < gets; i++) {
        fails += cm_k8s_call(c, "GET", &node, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res) != 0;
        cm_k8s_result_free(&res);
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0, cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    double reused = (double)gets / wall;
    printf("reused connection:      %8.0f GET/s  %6.1f us CPU/request  (%ld GETs, %ld failed)\n", reused,
           cpu / (double)gets * 1e6, gets, fails);
    long fresh_n = gets / 10 > 0 ? gets / 10 : 1;
    fails = 0;
    t0 = now_s(CLOCK_MONOTONIC);
    c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < fresh_n; i++)
        fails += !get_fresh(loop, url);
    wall = now_s(CLOCK_MONOTONIC) - t0;
    cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    double fresh = (double)fresh_n / wall;
    printf("connection per request: %8.0f GET/s  %6.1f us CPU/request  (%ld GETs, %ld failed)\n", fresh,
           cpu / (double)fresh_n * 1e6, fresh_n, fails);
    printf("reuse speed-up:         %8.1fx\n", reused / fresh);
}

/* The peak resident set size in KiB (VmHWM) since the last reset_peak(). */
static long peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

/* Starts the peak RSS over from the current RSS (proc(5) clear_refs 5); 0 when the kernel did. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f && fputs("5", f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

/*
 * Pages every pod at 500 a page, one page held at a time, as a caller of the client does: peak RSS
 * (the kernel's high-water mark, so the moments inside a request count) and heap growth against
 * the largest page as the client holds it (its parsed tree: heap after the page came less heap
 * before it was asked for). own_server: the server runs in this process.
 */
static void bench_paging(cm_k8s_client *c, int own_server)
{
    cm_k8s_result res;
    cm_k8s_ref pods = {.api_version = "v1", .kind = "Pod"};
    cm_k8s_param p1[] = {{"limit", "1"}};
    cm_k8s_call(c, "GET", &pods, p1, 1, NULL, NULL, 0, CM_TIME_NEVER, &res); /* discovery, connection */
    cm_k8s_result_free(&res);
    long before = rss_kib();
    int hwm = reset_peak() == 0;
    size_t heap0 = heap_used(), heap_peak = heap0, tree = 0, page_bytes = 0;
    long peak = before, items = 0, pages = 0;
    char cont[1024] = ""; /* the API server's tokens are base64 JSON: long */
    double t0 = now_s(CLOCK_MONOTONIC);
    for (;;) {
        cm_k8s_param p[] = {{"limit", "500"}, {"continue", cont[0] ? cont : NULL}};
        size_t hb = heap_used();
        if (cm_k8s_call(c, "GET", &pods, p, 2, NULL, NULL, 0, CM_TIME_NEVER, &res) != 0) {
            fprintf(stderr, "k8s-bench: page %ld: %s\n", pages, res.err.message);
            cm_k8s_result_free(&res);
            break;
        }
        size_t h = heap_used();
        tree = h - hb > tree ? h - hb : tree;
        heap_peak = h > heap_peak ? h : heap_peak;
        page_bytes = res.len > page_bytes ? res.len : page_bytes;
        items += cJSON_GetArraySize(cJSON_GetObjectItem(res.json, "items"));
        pages++;
        long rss = rss_kib();
        peak = rss > peak ? rss : peak;
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(res.json, "metadata"), "continue"));
        if (next && strlen(next) >= sizeof cont) {
            fprintf(stderr, "k8s-bench: a continue token of %zu bytes\n", strlen(next));
            cm_k8s_result_free(&res);
            break;
        }
        snprintf(cont, sizeof cont, "%s", next ? next : "");
        cm_k8s_result_free(&res);
        if (!cont[0])
            break;
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0;
    if (hwm)
        peak = peak_kib();
    printf("paging:                 %ld pods in %ld pages of 500 in %.2f s; the largest page is %.0f KiB of JSON\n",
           items, pages, wall, (double)page_bytes / 1024);
    printf("largest page held by the client (parsed tree): %.0f KiB\n", (double)tree / 1024);
    printf("paging peak RSS growth: %ld KiB = %.2f parsed pages (%.1f pages of JSON; %s)%s\n", peak - before,
           (double)(peak - before) * 1024 / (double)tree, (double)(peak - before) * 1024 / (double)page_bytes,
           hwm ? "the kernel's high-water mark" : "sampled between pages",
           own_server ? "; the server's\n                        page buffer in the same process is included" : "");
    printf("paging peak heap:       %.0f KiB above the start = %.2f parsed pages (sampled with a page held)\n",
           (double)(heap_peak - heap0) / 1024, (double)(heap_peak - heap0) / (double)tree);
}

static int bench_external(const char *kubeconfig, long gets)
{
    cm_k8s_config_opts co = {.kubeconfig = kubeconfig};
    cm_k8s_error err = {0};
    cm_k8s_config *cfg = cm_k8s_config_load(&co, &err);
    if (!cfg) {
        fprintf(stderr, "k8s-bench: %s: %s\n", kubeconfig, err.message);
        return 1;
    }
    ca_pem = cfg->ca ? malloc(cfg->ca_len) : NULL;
    if (ca_pem) {
        memcpy(ca_pem, cfg->ca, cfg->ca_len);
        ca_len = cfg->ca_len;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/api/v1/nodes/worker-1", cfg->server);
    cm_loop *loop = cm_loop_new(CM_CLOCK_REAL, 0);
    cm_k8s_client_opts o = {.qps = -1};
    cm_k8s_client *c = cm_k8s_client_new(loop, NULL, cfg, NULL, &o, &err); /* takes cfg */
    if (!c) {
        fprintf(stderr, "k8s-bench: %s\n", err.message);
        return 1;
    }
    printf("k8s-bench: against %s (cni-migrate fake serve), client on one thread\n", url);
    bench_gets(loop, c, url, gets);
    bench_paging(c, 0);
    cm_k8s_client_free(c);
    cm_loop_free(loop);
    free(ca_pem);
    return 0;
}
