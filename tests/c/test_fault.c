/* test_fault.c - injected faults through the REST core (fault.c): rates drawn from the seed,
 * the Status bodies of each error, watches ended early, a node going NotReady, a PDB that never
 * allows a disruption, a pod stuck terminating, and the errors of spec.faults with their lines. */
#include "check.h"
#include "fake.h"
#include "fault.h"

#include <stdlib.h>
#include <string.h>

static const char OBJECTS[] =
    "apiVersion: v1\nkind: List\nitems:\n"
    "- apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n"
    "  status: {conditions: [{type: Ready, status: 'True', reason: KubeletReady}]}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p1, namespace: default, labels: {app: web}}\n"
    "  spec: {nodeName: n1, containers: [{name: c, image: i}]}\n"
    "  status: {phase: Running, conditions: [{type: Ready, status: 'True'}]}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p2, namespace: default, labels: {app: web}}\n"
    "  spec: {nodeName: n1, containers: [{name: c, image: i}]}\n"
    "  status: {phase: Running, conditions: [{type: Ready, status: 'True'}]}\n"
    "- apiVersion: policy/v1\n  kind: PodDisruptionBudget\n  metadata: {name: web, namespace: default, generation: 1}\n"
    "  spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n"
    "  status: {observedGeneration: 1, disruptionsAllowed: 1, currentHealthy: 2, desiredHealthy: 1, expectedPods: 2}\n"
    "---\n"
    "apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nmetadata: {name: f}\nspec:\n  faults:\n";

struct world {
    cm_loop *loop;
    cm_fake *f;
    cm_faults *fl;
};

/* A cluster of OBJECTS with these spec.faults lines and flags; w->fl NULL (err set) when they are bad. */
static void world_new(struct world *w, const char *faults, const char *const *flags, size_t n, uint64_t seed,
                      char *err, size_t errsize)
{
    size_t len = strlen(OBJECTS) + strlen(faults);
    char *text = malloc(len + 1);
    snprintf(text, len + 1, "%s%s", OBJECTS, faults);
    w->loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1764403200) * CM_NS_PER_S);
    w->f = cm_fake_new(w->loop);
    int rc = cm_fake_load(w->f, "fixture.yaml", text, len, err, errsize);
    if (rc != 0)
        fprintf(stderr, "fixture: %s\n", err);
    CHECK_INT(rc, 0);
    free(text);
    err[0] = '\0';
    w->fl = cm_faults_new(w->f, "fixture.yaml", flags, n, seed, err, errsize);
}

static void world_free(struct world *w)
{
    cm_faults_free(w->fl);
    cm_fake_free(w->f);
    cm_loop_free(w->loop);
}

/* Sends a client's request through the faults; returns the response (caller clears). */
static cm_fake_resp send_req(cm_fake *f, const char *method, const char *path, const char *query, const char *body)
{
    cm_fake_req req = {.method = method, .path = path, .query = query, .body = body,
                       .body_len = body ? strlen(body) : 0,
                       .content_type = body ? "application/merge-patch+json" : NULL};
    cm_fake_resp resp;
    cm_fake_handle(f, &req, &resp);
    return resp;
}

/* Which of 1000 reads of n1 failed, as a string of 0 and 1, and how many. */
static int outcomes(uint64_t seed, char *out)
{
    struct world w;
    char err[512];
    world_new(&w, "    requests:\n    - {error: 500, rate: 0.3, verbs: [get], resources: [nodes]}\n", NULL, 0, seed,
              err, sizeof err);
    int failed = 0;
    for (int i = 0; i < 1000; i++) {
        cm_fake_resp r = send_req(w.f, "GET", "/api/v1/nodes/n1", NULL, NULL);
        out[i] = r.status == 500 ? '1' : '0';
        failed += r.status == 500;
        cm_fake_resp_clear(&r);
    }
    out[1000] = '\0';
    CHECK_INT(cm_faults_count(w.fl, CM_FAULT_ERROR), failed);
    cm_fake_resp r = send_req(w.f, "GET", "/api/v1/pods", NULL, NULL); /* not the rule's resource */
    CHECK_INT(r.status, 200);
    cm_fake_resp_clear(&r);
    world_free(&w);
    return failed;
}

static void test_rate(void)
{
    char a[1001], b[1001], c[1001];
    int na = outcomes(1, a), nb = outcomes(1, b), nc = outcomes(2, c);
    CHECK_INT(nb, na);
    CHECK(na >= 228 && na <= 372); /* 1000 draws at 0.3: mean 300, sd 14.5, five sd each side */
    CHECK(nc >= 228 && nc <= 372);
    CHECK_STR(a, b);                /* the same seed, the same faults */
    CHECK(strcmp(a, c) != 0);       /* another seed, others */
}

/* The response's body and Retry-After for one faulted request. */
static void expect_body(const char *rule, const char *method, const char *path, int status, int retry,
                        const char *want)
{
    struct world w;
    char err[512];
    world_new(&w, rule, NULL, 0, 1, err, sizeof err);
    cm_fake_resp r = send_req(w.f, method, path, NULL, strcmp(method, "PATCH") == 0 ? "{}" : NULL);
    CHECK_INT(r.status, status);
    CHECK_INT(r.retry_after, retry);
    CHECK_STR(r.body, want);
    cm_fake_resp_clear(&r);
    world_free(&w);
}

static void test_bodies(void)
{
    expect_body("    requests: [{error: 500}]\n", "GET", "/api/v1/nodes/n1", 500, 0,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                "\"message\":\"Internal error occurred: etcdserver: request timed out\",\"reason\":\"InternalError\","
                "\"details\":{\"causes\":[{\"message\":\"etcdserver: request timed out\"}]},\"code\":500}");
    expect_body("    requests: [{error: 429, retryAfter: 4}]\n", "GET", "/api/v1/pods", 429, 4,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                "\"message\":\"Too many requests, please try again later.\",\"reason\":\"TooManyRequests\","
                "\"details\":{\"retryAfterSeconds\":4},\"code\":429}");
    expect_body("    requests: [{error: 429, message: slow down}]\n", "GET", "/api/v1/pods", 429, 0,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                "\"message\":\"Too many requests: slow down\",\"reason\":\"TooManyRequests\",\"code\":429}");
    expect_body("    requests: [{error: 409}]\n", "PATCH", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web",
                409, 0,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                "\"message\":\"Operation cannot be fulfilled on poddisruptionbudgets.policy \\\"web\\\": the object has "
                "been modified; please apply your changes to the latest version and try again\",\"reason\":\"Conflict\","
                "\"details\":{\"name\":\"web\",\"group\":\"policy\",\"kind\":\"poddisruptionbudgets\"},\"code\":409}");
}

static int g_events, g_ended;

static void on_line(void *ud, const char *line, size_t len)
{
    (void)ud;
    (void)line;
    if (len)
        g_events++;
    else
        g_ended = 1;
}

static void test_watch_drop(void)
{
    struct world w;
    char err[512];
    const char *flags[] = {"watchDrops:resources=pods,within=5s,times=1"};
    world_new(&w, "    {}\n", flags, 1, 3, err, sizeof err);
    cm_fake_resp r = send_req(w.f, "GET", "/api/v1/pods", "watch=1", NULL);
    CHECK(r.watch != NULL);
    g_events = g_ended = 0;
    cm_fake_watch_start(r.watch, on_line, NULL);
    CHECK_INT(g_events, 2); /* the current pods */
    cm_loop_run_until(w.loop, cm_loop_now(w.loop) + 6 * CM_NS_PER_S, NULL);
    CHECK_INT(g_ended, 1);
    CHECK_INT(cm_faults_count(w.fl, CM_FAULT_WATCH_DROP), 1);
    cm_fake_watch_close(r.watch);
    cm_fake_resp_clear(&r);
    r = send_req(w.f, "GET", "/api/v1/pods", "watch=1", NULL); /* times=1: this one runs its course */
    g_ended = 0;
    cm_fake_watch_start(r.watch, on_line, NULL);
    cm_loop_run_until(w.loop, cm_loop_now(w.loop) + 60 * CM_NS_PER_S, NULL);
    CHECK_INT(g_ended, 0);
    cm_fake_watch_close(r.watch);
    cm_fake_resp_clear(&r);
    world_free(&w);
}

/* The compact JSON at a dotted path of the object at path. */
static char *field_of(cm_fake *f, const char *path, const char *dotted)
{
    cm_fake_resp r = send_req(f, "GET", path, NULL, NULL);
    cJSON *doc = cJSON_Parse(r.body), *cur = doc;
    cm_fake_resp_clear(&r);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    for (char *save = NULL, *s = strtok_r(buf, ".", &save); s && cur; s = strtok_r(NULL, ".", &save))
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(s)) : cJSON_GetObjectItemCaseSensitive(cur, s);
    char *out = cur ? cJSON_PrintUnformatted(cur) : strdup("(none)");
    cJSON_Delete(doc);
    return out;
}

#define CHECK_FIELD(f, path, dotted, want)          \
    do {                                            \
        char *v_ = field_of((f), (path), (dotted)); \
        CHECK_STR(v_, (want));                      \
        free(v_);                                   \
    } while (0)

static void test_cluster_faults(void)
{
    struct world w;
    char err[512];
    world_new(&w, "    nodes: [{name: n1, notReadyAt: 10s}]\n    pdbs: [{name: web}]\n"
                  "    terminating: [{name: p2}]\n", NULL, 0, 5, err, sizeof err);
    CHECK(w.fl != NULL);
    /* the PDB's status says no disruption from the start, and evictions are refused */
    CHECK_FIELD(w.f, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "status.disruptionsAllowed", "0");
    CHECK_FIELD(w.f, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "status.desiredHealthy", "2");
    cm_fake_resp r = send_req(w.f, "POST", "/api/v1/namespaces/default/pods/p1/eviction", NULL,
                              "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"p1\"}}");
    CHECK_INT(r.status, 429);
    cm_fake_resp_clear(&r);
    CHECK_INT(cm_faults_count(w.fl, CM_FAULT_PDB_BLOCKED), 1);
    /* p2 stays terminating long after its grace period */
    r = send_req(w.f, "DELETE", "/api/v1/namespaces/default/pods/p2", "gracePeriodSeconds=2", NULL);
    CHECK_INT(r.status, 200);
    cm_fake_resp_clear(&r);
    CHECK_INT(cm_faults_count(w.fl, CM_FAULT_STUCK_TERMINATING), 1);
    /* n1 goes NotReady at 10 s */
    CHECK(!cm_fault_node_down(w.f, "n1"));
    cm_loop_run_until(w.loop, cm_loop_now(w.loop) + 30 * CM_NS_PER_S, NULL);
    CHECK(cm_fault_node_down(w.f, "n1"));
    CHECK_FIELD(w.f, "/api/v1/namespaces/default/pods/p2", "metadata.name", "\"p2\"");
    CHECK_FIELD(w.f, "/api/v1/nodes/n1", "status.conditions.0",
                "{\"type\":\"Ready\",\"status\":\"Unknown\",\"reason\":\"NodeStatusUnknown\","
                "\"lastTransitionTime\":\"2025-11-29T08:00:10Z\",\"message\":\"Kubelet stopped posting node status.\"}");
    CHECK_FIELD(w.f, "/api/v1/nodes/n1", "spec.taints",
                "[{\"effect\":\"NoSchedule\",\"key\":\"node.kubernetes.io/unreachable\"},"
                "{\"effect\":\"NoExecute\",\"key\":\"node.kubernetes.io/unreachable\",\"timeAdded\":\"2025-11-29T08:00:10Z\"}]");
    CHECK_FIELD(w.f, "/api/v1/namespaces/default/pods/p1", "status.conditions.0.status", "\"False\"");
    CHECK_INT(cm_faults_count(w.fl, CM_FAULT_NODE_NOT_READY), 1);
    world_free(&w);
}

/* Bad faults: one line naming the file, the line and the field. */
static void expect_error(const char *faults, const char *want)
{
    struct world w;
    char err[512];
    world_new(&w, faults, NULL, 0, 1, err, sizeof err);
    CHECK(w.fl == NULL);
    CHECK_STR(err, want);
    world_free(&w);
}

static void test_errors(void)
{
    /* OBJECTS has 28 lines: the faults start on line 29 */
    expect_error("    requests:\n    - error: 500\n      rate: -1\n",
                 "fixture.yaml:31: FakeCluster spec.faults.requests[0].rate: expected a probability from 0 to 1");
    expect_error("    pdbs:\n    - {namespace: x}\n",
                 "fixture.yaml:30: FakeCluster spec.faults.pdbs[0].name: missing (the PodDisruptionBudget's name)");
    expect_error("    pods:\n    - selector: 'app in (a'\n      fail: ErrImagePull\n",
                 "fixture.yaml:30: FakeCluster spec.faults.pods[0].selector: unable to parse requirement: found '', "
                 "expected: ',' or ')'");
    expect_error("    requests: {error: 500}\n",
                 "fixture.yaml:29: FakeCluster spec.faults.requests: expected a list");
    char err[256];
    CHECK_INT(cm_fault_flag_check("requests:error=reset,retryAfter=2", err, sizeof err), -1);
    CHECK_STR(err, "--fault 'requests:error=reset,retryAfter=2': retryAfter: only a 500 or 429 carries Retry-After");
    CHECK_INT(cm_fault_flag_check("terminating:selector=app=web,tier in (a,b),rate=0.5", err, sizeof err), 0);
    CHECK_INT(cm_fault_flag_check("requests:error=500,error=429", err, sizeof err), -1);
    CHECK_STR(err, "--fault 'requests:error=500,error=429': error: given twice");
}

int main(void)
{
    RUN(test_rate);
    RUN(test_bodies);
    RUN(test_watch_drop);
    RUN(test_cluster_faults);
    RUN(test_errors);
    return CHECK_DONE();
}
