/* test_node.c - how the drain removes pods, as discovery of v1 says (kubectl's
 * CheckEvictionSupport): Eviction policy/v1, policy/v1beta1 where only that is served, DELETE
 * where pods/eviction is not served; each with the pod's uid as precondition. In process against
 * the fake cluster, on the virtual clock, through a transport that edits v1's discovery. */
#include "check.h"
#include "fake.h"
#include "inproc.h"
#include "k8s_client.h"
#include "node.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

enum mode { M_V1, M_V1BETA1, M_NONE };

/* A transport over another that logs each request and edits v1's discovery answer. */
struct wrap {
    cm_transport base;
    cm_transport *inner;
    enum mode mode;
    char log[64][400];
    int nlog;
    cm_http_call *discovery; /* the call whose answer is edited */
    void (*done)(cm_http_call *call);
};

static struct wrap g_wrap;

/* pods/eviction as the mode says: dropped, or served as policy/v1beta1. */
static void edit_discovery(cm_http_call *call)
{
    struct wrap *w = &g_wrap;
    cJSON *d = cJSON_ParseWithLength(call->body_in.p, call->body_in.n);
    cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "resources"), *r;
    int i = 0;
    cJSON_ArrayForEach(r, res) {
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name")), "pods/eviction"))
            break;
        i++;
    }
    CHECK(r != NULL);
    if (r && w->mode == M_NONE)
        cJSON_DeleteItemFromArray(res, i);
    else if (r && w->mode == M_V1BETA1)
        cJSON_ReplaceItemInObjectCaseSensitive(r, "version", cJSON_CreateString("v1beta1"));
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    call->body_in.n = 0;
    cm_buf_adds(&call->body_in, text);
    free(text);
    w->discovery = NULL;
    call->on_done = w->done;
    call->on_done(call);
}

static int wrap_start(cm_transport *t, cm_http_call *call)
{
    struct wrap *w = (struct wrap *)t;
    snprintf(w->log[w->nlog++ % 64], sizeof w->log[0], "%s %s %.*s", call->method, call->url,
             call->body ? (int)(call->body_len > 250 ? 250 : call->body_len) : 0, call->body ? call->body : "");
    size_t n = strlen(call->url);
    if (n >= 7 && !strcmp(call->url + n - 7, "/api/v1") && !w->discovery) {
        w->discovery = call;
        w->done = call->on_done;
        call->on_done = edit_discovery;
    }
    return w->inner->ops->start(w->inner, call);
}

static void wrap_cancel(cm_transport *t, cm_http_call *call)
{
    struct wrap *w = (struct wrap *)t;
    w->inner->ops->cancel(w->inner, call);
}

static void wrap_free(cm_transport *t)
{
    struct wrap *w = (struct wrap *)t;
    w->inner->ops->free(w->inner);
}

static const struct cm_transport_ops WRAP_OPS = {wrap_start, wrap_cancel, wrap_free};

static const char FIXTURE[] =
    "apiVersion: v1\nkind: List\nitems:\n"
    "- apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p1, namespace: default, uid: u-p1,\n"
    "    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u-rs, controller: true}]}\n"
    "  spec: {nodeName: n1, terminationGracePeriodSeconds: 2, containers: [{name: c, image: i}]}\n"
    "  status: {phase: Running}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p2, namespace: default, uid: u-p2,\n"
    "    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u-rs, controller: true}]}\n"
    "  spec: {nodeName: n1, terminationGracePeriodSeconds: 2, containers: [{name: c, image: i}]}\n"
    "  status: {phase: Running}\n";

static void notified(void *ud)
{
    (void)ud;
}

/* Drains n1 with discovery in mode; returns the result (the caller frees it). */
static cJSON *drain(enum mode mode)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_fake *f = cm_fake_new(loop);
    char err[512];
    CHECK_INT(cm_fake_load(f, "fixture.yaml", FIXTURE, strlen(FIXTURE), err, sizeof err), 0);
    g_wrap = (struct wrap){.base.ops = &WRAP_OPS, .mode = mode,
                           .inner = cm_inproc_transport_new(f, loop, CM_NS_PER_S / 1000, NULL, NULL, NULL)};
    cm_k8s_client_opts o = {.qps = -1};
    cm_k8s_error kerr;
    cm_k8s_client *c = cm_k8s_client_new(loop, NULL, cm_k8s_config_fake("test", "default"), &g_wrap.base, &o, &kerr);
    CHECK(c != NULL);
    cm_drain_opts d = {.grace_period = -1, .deadline = 60 * CM_NS_PER_S, .cordon = 1,
                       .retry_delay = 5 * CM_NS_PER_S, .parallel = 10, .blocked_after = -1, .relist = 1};
    cm_node_op *op = cm_node_drain_start(c, loop, "n1", &d, notified, NULL);
    while (!cm_node_op_done(op) && cm_loop_now(loop) < 61 * CM_NS_PER_S)
        cm_loop_run_until(loop, cm_loop_now(loop) + CM_NS_PER_S / 10, NULL);
    cJSON *result = NULL;
    int rc = cm_node_op_finish(op, &result, &kerr);
    if (rc != 0)
        fprintf(stderr, "drain: %s: %s\n", kerr.code, kerr.message);
    CHECK_INT(rc, 0);
    CHECK(cm_loop_now(loop) < 10 * CM_NS_PER_S); /* gone after their 2 s, seen on the watch */
    cm_k8s_client_free(c);
    cm_fake_free(f);
    cm_loop_free(loop);
    return result;
}

/* How many logged requests contain all of a, b. */
static int logged(const char *a, const char *b)
{
    int n = 0;
    for (int i = 0; i < g_wrap.nlog && i < 64; i++)
        n += strstr(g_wrap.log[i], a) && (!b || strstr(g_wrap.log[i], b));
    return n;
}

static int count(const cJSON *result, const char *list)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(result, list));
}

static void test_eviction_v1(void)
{
    cJSON *r = drain(M_V1);
    CHECK_INT(count(r, "evicted"), 2);
    CHECK_INT(logged("POST https://fake-cluster.invalid/api/v1/namespaces/default/pods/p1/eviction", "\"apiVersion\":\"policy/v1\""), 1);
    CHECK_INT(logged("/pods/p1/eviction", "\"preconditions\":{\"uid\":\"u-p1\"}"), 1);
    CHECK_INT(logged("DELETE ", NULL), 0);
    cJSON_Delete(r);
}

static void test_eviction_v1beta1(void)
{
    cJSON *r = drain(M_V1BETA1);
    CHECK_INT(count(r, "evicted"), 2);
    CHECK_INT(logged("/pods/p2/eviction", "\"apiVersion\":\"policy/v1beta1\""), 1);
    CHECK_INT(logged("\"apiVersion\":\"policy/v1\"", NULL), 0);
    cJSON_Delete(r);
}

static void test_no_eviction_deletes(void)
{
    cJSON *r = drain(M_NONE);
    CHECK_INT(count(r, "deleted"), 2);
    CHECK_INT(count(r, "evicted"), 0);
    CHECK_INT(logged("DELETE https://fake-cluster.invalid/api/v1/namespaces/default/pods/p1", "\"preconditions\":{\"uid\":\"u-p1\"}"), 1);
    CHECK_INT(logged("/eviction", NULL), 0);
    cJSON_Delete(r);
}

int main(void)
{
    RUN(test_eviction_v1);
    RUN(test_eviction_v1beta1);
    RUN(test_no_eviction_deletes);
    return CHECK_DONE();
}
