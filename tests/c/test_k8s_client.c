/*
 * test_k8s_client.c - the client core over an in-process transport on the
 * virtual clock: the seam the simulation plugs into. Rate limit and retry
 * waits in virtual time, no blind retry of writes, watch streams cut
 * mid-line and resumed.
 */
#include "check.h"
#include "k8s_client.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- a scripted in-process transport ---- */

struct answer {
    long status;
    const char *headers; /* "Name: value\r\n..." */
    const char *body;
    const char *error_code; /* a transport failure instead */
};

struct fake {
    cm_transport base;
    cm_loop *loop;
    char log[64][256]; /* "METHOD url" of each request */
    int nlog;
    struct answer (*route)(struct fake *f, const char *method, const char *url, int nth);
    cm_http_call *pending;
    cm_timer *timer;
    char auth[128]; /* the last Authorization header */
};

static void deliver(cm_loop *loop, void *ud)
{
    (void)loop;
    struct fake *f = ud;
    cm_http_call *call = f->pending;
    f->pending = NULL;
    f->timer = NULL;
    struct answer a = f->route(f, call->method, call->url, f->nlog);
    if (a.error_code) {
        call->error_code = a.error_code;
        snprintf(call->error, sizeof call->error, "injected %s", a.error_code);
    } else {
        call->status = a.status;
        if (a.headers)
            cm_buf_adds(&call->headers_in, a.headers);
        const char *body = a.body ? a.body : "";
        if (call->on_data) { /* a stream: deliver in 7-byte pieces, lines cut anywhere */
            for (size_t i = 0, n = strlen(body); i < n; i += 7)
                call->on_data(call, body + i, n - i < 7 ? n - i : 7);
        } else {
            cm_buf_adds(&call->body_in, body);
        }
    }
    call->done = 1;
    if (call->on_done)
        call->on_done(call);
}

static int fake_start(cm_transport *t, cm_http_call *call)
{
    struct fake *f = (struct fake *)t;
    snprintf(f->log[f->nlog++ % 64], 256, "%s %s", call->method, call->url);
    f->auth[0] = '\0';
    for (size_t i = 0; i < call->nheaders; i++)
        if (strncmp(call->headers[i], "Authorization: ", 15) == 0)
            snprintf(f->auth, sizeof f->auth, "%s", call->headers[i] + 15);
    f->pending = call;
    f->timer = cm_loop_timer(f->loop, cm_loop_now(f->loop) + CM_NS_PER_S / 100, deliver, f);
    return 0;
}

static void fake_cancel(cm_transport *t, cm_http_call *call)
{
    struct fake *f = (struct fake *)t;
    if (f->pending == call && f->timer)
        cm_loop_timer_cancel(f->loop, f->timer);
    f->pending = NULL;
    f->timer = NULL;
}

static void fake_free(cm_transport *t)
{
    (void)t; /* static in the tests */
}

static const struct cm_transport_ops FAKE_OPS = {fake_start, fake_cancel, fake_free};

static const char DISCOVERY[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
    "{\"name\":\"nodes\",\"kind\":\"Node\",\"namespaced\":false},"
    "{\"name\":\"pods\",\"kind\":\"Pod\",\"namespaced\":true},"
    "{\"name\":\"pods/eviction\",\"kind\":\"Eviction\",\"namespaced\":true,\"group\":\"policy\",\"version\":\"v1beta1\"}]}";

static int ends_with(const char *url, const char *tail)
{
    size_t n = strlen(url), m = strlen(tail);
    return n >= m && strcmp(url + n - m, tail) == 0;
}

static struct answer route_basic(struct fake *f, const char *method, const char *url, int nth)
{
    (void)f;
    (void)nth;
    if (ends_with(url, "/api/v1"))
        return (struct answer){200, NULL, DISCOVERY, NULL};
    if (strstr(url, "/nodes/busy")) {
        static int busy;
        if (busy++ == 0)
            return (struct answer){429, "Retry-After: 3\r\n",
                                   "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"wait\",\"code\":429}", NULL};
    }
    if (strstr(url, "/nodes/reset")) {
        static int resets;
        if (resets++ == 0)
            return (struct answer){0, NULL, NULL, "ConnectionReset"};
    }
    if (strcmp(method, "POST") == 0 && strstr(url, "/nodes"))
        return (struct answer){0, NULL, NULL, "ConnectionReset"};
    if (strstr(url, "/eviction"))
        return (struct answer){201, NULL, "{\"kind\":\"Status\",\"status\":\"Success\"}", NULL};
    return (struct answer){200, "Warning: 299 - \"deprecated\"\r\n",
                           "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"7\"}}", NULL};
}

static struct fake fake;

static cm_k8s_client *new_client(cm_loop *loop, double qps, int burst)
{
    fake = (struct fake){.base.ops = &FAKE_OPS, .loop = loop, .route = route_basic};
    cm_k8s_config *cfg = calloc(1, sizeof *cfg);
    cfg->server = strdup("https://fake");
    cfg->namespace = strdup("default");
    cfg->token = strdup("t0k");
    cm_k8s_client_opts o = {.qps = qps, .burst = burst};
    cm_k8s_error err;
    return cm_k8s_client_new(loop, NULL, cfg, &fake.base, &o, &err);
}

static const cm_k8s_ref NODE_N = {.api_version = "v1", .kind = "Node", .name = "n"};

static void test_virtual_time_rate_limit(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_k8s_client *c = new_client(loop, 1, 2);
    cm_k8s_result res;
    for (int i = 0; i < 4; i++) {
        CHECK_INT(cm_k8s_call(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res), 0);
        CHECK_STR(cJSON_GetObjectItem(res.json, "kind")->valuestring, "Node");
        cm_k8s_result_free(&res);
    }
    /* 5 requests (discovery + 4) at burst 2, 1/s: the last waits until t = 3 s */
    CHECK_INT(fake.nlog, 5);
    CHECK_STR(fake.log[1], "GET https://fake/api/v1/nodes/n");
    CHECK(cm_loop_now(loop) >= 3 * CM_NS_PER_S && cm_loop_now(loop) < 4 * CM_NS_PER_S);
    cm_k8s_client_free(c);
    cm_loop_free(loop);
}

static void test_retries(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_k8s_client *c = new_client(loop, -1, 0);
    cm_k8s_result res;
    cm_k8s_ref busy = {.api_version = "v1", .kind = "Node", .name = "busy"};
    CHECK_INT(cm_k8s_call(c, "GET", &busy, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res), 0);
    CHECK(cm_loop_now(loop) >= 3 * CM_NS_PER_S); /* waited Retry-After in virtual time */
    cm_k8s_result_free(&res);
    fake.nlog = 0;
    cm_k8s_ref reset = {.api_version = "v1", .kind = "Node", .name = "reset"};
    CHECK_INT(cm_k8s_call(c, "GET", &reset, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res), 0);
    CHECK_INT(fake.nlog, 2); /* a read is retried after a reset */
    cm_k8s_result_free(&res);
    fake.nlog = 0;
    cm_k8s_ref nodes = {.api_version = "v1", .kind = "Node"};
    CHECK_INT(cm_k8s_call(c, "POST", &nodes, NULL, 0, "application/json", "{}", 2, CM_TIME_NEVER, &res), -1);
    CHECK_STR(res.err.code, "ConnectionReset");
    CHECK_INT(res.status, 0);
    CHECK_INT(fake.nlog, 1); /* never a blind retry of a write */
    cm_k8s_result_free(&res);
    /* eviction: the version discovery advertises */
    fake.nlog = 0;
    CHECK_INT(cm_k8s_evict(c, NULL, "p", NULL, CM_TIME_NEVER, &res), 0);
    CHECK_STR(fake.log[0], "POST https://fake/api/v1/namespaces/default/pods/p/eviction");
    cm_k8s_result_free(&res);
    /* a deadline in virtual time */
    int64_t deadline = cm_loop_now(loop) + CM_NS_PER_S / 1000;
    CHECK_INT(cm_k8s_call(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, deadline, &res), -1);
    CHECK_STR(res.err.code, "Timeout");
    cm_k8s_result_free(&res);
    cm_k8s_client_free(c);
    cm_loop_free(loop);
}

/* Watch: the first stream ends after two events cut mid-line, the second resumes after them. */
static struct answer route_watch(struct fake *f, const char *method, const char *url, int nth)
{
    (void)f;
    (void)method;
    (void)nth;
    if (ends_with(url, "/api/v1"))
        return (struct answer){200, NULL, DISCOVERY, NULL};
    if (strstr(url, "resourceVersion=10&"))
        return (struct answer){200, NULL,
                               "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"11\"}}}\n"
                               "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"12\"}}}\n",
                               NULL};
    if (strstr(url, "resourceVersion=12&"))
        return (struct answer){200, NULL,
                               "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"15\"}}}\n"
                               "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"16\"}}}",
                               NULL};
    if (strstr(url, "resourceVersion=16&"))
        return (struct answer){200, NULL,
                               "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}\n", NULL};
    if (strstr(url, "limit=500"))
        return (struct answer){200, NULL, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"30\"},\"items\":[]}", NULL};
    return (struct answer){200, NULL, "", NULL};
}

static void test_watch_resume(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_k8s_client *c = new_client(loop, -1, 0);
    fake.route = route_watch;
    cm_k8s_ref pods = {.api_version = "v1", .kind = "Pod"};
    cm_k8s_watch *w = cm_k8s_watch_new(c, &pods, NULL, 0, "10", 0);
    const char *want[] = {"ADDED", "MODIFIED", "DELETED", "RELIST"};
    for (int i = 0; i < 4; i++) {
        cJSON *ev = NULL;
        cm_k8s_error err = {0};
        CHECK_INT(cm_k8s_watch_next(w, 100 * CM_NS_PER_S, &ev, &err), 1);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type")), want[i]);
        cJSON_Delete(ev);
    }
    CHECK_STR(cm_k8s_watch_resource_version(w), "30"); /* the relist's */
    cJSON *ev = NULL;
    cm_k8s_error err = {0};
    CHECK_INT(cm_k8s_watch_next(w, cm_loop_now(loop) + 5 * CM_NS_PER_S, &ev, &err), 0); /* deadline */
    cm_k8s_watch_free(w);
    /* the bookmark's resourceVersion (15) was skipped over by the DELETED one (16) */
    int saw12 = 0, saw16 = 0;
    for (int i = 0; i < fake.nlog && i < 64; i++) {
        saw12 |= strstr(fake.log[i], "resourceVersion=12&") != NULL;
        saw16 |= strstr(fake.log[i], "resourceVersion=16&") != NULL;
    }
    CHECK(saw12 && saw16);
    cm_k8s_client_free(c);
    cm_loop_free(loop);
}

/* The API server is away for two attempts: the watch backs off and reopens. */
static struct answer route_away(struct fake *f, const char *method, const char *url, int nth)
{
    (void)f;
    (void)method;
    if (ends_with(url, "/api/v1"))
        return (struct answer){200, NULL, DISCOVERY, NULL};
    if (nth <= 3)
        return (struct answer){0, NULL, NULL, "ConnectFailed"};
    return (struct answer){200, NULL,
                           "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"21\"}}}\n",
                           NULL};
}

static void test_watch_reconnects(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_k8s_client *c = new_client(loop, -1, 0);
    fake.route = route_away;
    cm_k8s_ref pods = {.api_version = "v1", .kind = "Pod"};
    cm_k8s_watch *w = cm_k8s_watch_new(c, &pods, NULL, 0, "20", 0);
    cJSON *ev = NULL;
    cm_k8s_error err = {0};
    CHECK_INT(cm_k8s_watch_next(w, 100 * CM_NS_PER_S, &ev, &err), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type")), "ADDED");
    CHECK(cm_loop_now(loop) >= 3 * CM_NS_PER_S / 10); /* backed off 0.1 s, then 0.2 s */
    CHECK_INT(fake.nlog, 4);
    cJSON_Delete(ev);
    cm_k8s_watch_free(w);
    cm_k8s_client_free(c);
    cm_loop_free(loop);
}

/* A token file is read again once a minute has passed (virtual time here). */
static void test_token_file_period(void)
{
    char path[] = "/tmp/cm-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "one\n", 4) == 4);
    close(fd);
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    fake = (struct fake){.base.ops = &FAKE_OPS, .loop = loop, .route = route_basic};
    cm_k8s_config *cfg = calloc(1, sizeof *cfg);
    cfg->server = strdup("https://fake");
    cfg->namespace = strdup("default");
    cfg->token_file = strdup(path);
    cm_k8s_client_opts o = {.qps = -1};
    cm_k8s_error err;
    cm_k8s_client *c = cm_k8s_client_new(loop, NULL, cfg, &fake.base, &o, &err);
    cm_k8s_result res;
    CHECK_INT(cm_k8s_call(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res), 0);
    cm_k8s_result_free(&res);
    CHECK_STR(fake.auth, "Bearer one");
    FILE *f = fopen(path, "w");
    fputs("two\n", f);
    fclose(f);
    CHECK_INT(cm_k8s_call(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res), 0);
    cm_k8s_result_free(&res);
    CHECK_STR(fake.auth, "Bearer one"); /* within the minute: the cached token */
    cm_loop_run_until(loop, cm_loop_now(loop) + 61 * CM_NS_PER_S, NULL);
    CHECK_INT(cm_k8s_call(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, &res), 0);
    cm_k8s_result_free(&res);
    CHECK_STR(fake.auth, "Bearer two");
    cm_k8s_client_free(c);
    cm_loop_free(loop);
    unlink(path);
}

static void test_patch_types(void)
{
    CHECK_STR(cm_k8s_patch_type("merge"), "application/merge-patch+json");
    CHECK_STR(cm_k8s_patch_type("strategic"), "application/strategic-merge-patch+json");
    CHECK_STR(cm_k8s_patch_type("json"), "application/json-patch+json");
    CHECK_STR(cm_k8s_patch_type("apply"), "application/apply-patch+yaml");
    CHECK(cm_k8s_patch_type("yaml") == NULL);
}

/* Counts calls of a request's done function. */
static void count_done(cm_k8s_req *r, void *ud)
{
    (void)r;
    ++*(int *)ud;
}

/* A request that does not wait: done from the loop, its deadline on the virtual clock, and a
 * client closed under it ends it with Cancelled. */
static void test_requests_in_flight(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_k8s_client *c = new_client(loop, -1, 0);
    int done = 0;
    cm_k8s_req *r = cm_k8s_call_start(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, count_done, &done);
    CHECK(r != NULL);
    CHECK(!cm_k8s_req_done(r));
    CHECK_INT(cm_loop_run_until(loop, CM_TIME_NEVER, &done), CM_LOOP_DONE);
    CHECK_INT(done, 1);
    cm_k8s_result res;
    CHECK_INT(cm_k8s_req_finish(r, &res), 0);
    CHECK_STR(cJSON_GetObjectItem(res.json, "kind")->valuestring, "Node");
    cm_k8s_result_free(&res);
    /* the transport answers after 10 ms: a deadline of 5 ms comes first */
    done = 0;
    r = cm_k8s_call_start(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, cm_loop_now(loop) + CM_NS_PER_S / 200,
                          count_done, &done);
    CHECK_INT(cm_loop_run_until(loop, CM_TIME_NEVER, &done), CM_LOOP_DONE);
    CHECK_INT(cm_k8s_req_finish(r, &res), -1);
    CHECK_STR(res.err.code, "Timeout");
    cm_k8s_result_free(&res);
    done = 0;
    r = cm_k8s_call_start(c, "GET", &NODE_N, NULL, 0, NULL, NULL, 0, CM_TIME_NEVER, count_done, &done);
    cm_k8s_client_free(c);
    CHECK_INT(done, 1);
    CHECK_INT(cm_k8s_req_finish(r, &res), -1);
    CHECK_STR(res.err.code, "Cancelled");
    cm_k8s_result_free(&res);
    cm_loop_free(loop);
}

int main(void)
{
    RUN(test_requests_in_flight);
    RUN(test_virtual_time_rate_limit);
    RUN(test_retries);
    RUN(test_watch_resume);
    RUN(test_watch_reconnects);
    RUN(test_token_file_period);
    RUN(test_patch_types);
    return CHECK_DONE();
}
