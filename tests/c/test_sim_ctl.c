/* test_sim_ctl.c - the simulated garbage collector, Job and Deployment controllers (sim_gc.c,
 * sim_job.c, sim_deploy.c) on the virtual clock, over the fixtures of examples/clusters/:
 * deletion propagation (background, foreground, orphan, and the kinds' defaults), Jobs that
 * complete, fail by backoffLimit (restartPolicy Never and OnFailure) and by their deadline,
 * Deployment rollouts (RollingUpdate within maxSurge/maxUnavailable, Recreate, history). */
#include "check.h"
#include "strbuf.h"
#include "fake.h"
#include "fakeint.h"
#include "host.h"
#include "json.h"
#include "sim.h"
#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_NS (INT64_C(1793520000) * CM_NS_PER_S)

struct world {
    cm_loop *loop;
    cm_fake *f;
    cm_sim *sim;
};

static char *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("CM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/clusters/%s", dir ? dir : ".", name);
    return cm_read_file(path, len);
}

static int prefixed(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* What flanneld does to a host when its pod starts (enough for the kubelet's CNI rule). */
static void agent(void *ud, cm_sim *sim, const char *node, const cJSON *pod, enum cm_sim_pod_event ev)
{
    (void)ud;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "name"));
    cm_host *h = cm_sim_host(sim, node);
    if (ev != CM_SIM_POD_STARTED || !h || !prefixed(name, "kube-flannel-ds-"))
        return;
    cm_host_file_write(h, "/run/flannel/subnet.env",
                       "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
    cm_host_file_write(h, "/opt/cni/bin/flannel", "");
    cm_host_file_write(h, "/etc/cni/net.d/10-flannel.conflist",
                       "{\"name\":\"cbr0\",\"cniVersion\":\"0.3.1\",\"plugins\":[{\"type\":\"flannel\","
                       "\"delegate\":{\"hairpinMode\":true,\"isDefaultGateway\":true}}]}");
}

/* A world on fixture; settings is a FakeCluster document as JSON text, or NULL. */
static void world_new(struct world *w, const char *fixture, uint64_t seed, const char *settings)
{
    memset(w, 0, sizeof *w);
    w->loop = cm_loop_new(CM_CLOCK_VIRTUAL, EPOCH_NS);
    w->f = cm_fake_new(w->loop);
    size_t len = 0;
    char *text = read_fixture(fixture, &len);
    char err[512] = "";
    CHECK_INT(text ? cm_fake_load(w->f, fixture, text, len, err, sizeof err) : -1, 0);
    free(text);
    cJSON *doc = settings ? cJSON_Parse(settings) : NULL;
    w->sim = cm_sim_new(w->f, w->loop, seed, doc, err, sizeof err);
    if (!w->sim)
        fprintf(stderr, "cm_sim_new: %s\n", err);
    CHECK(w->sim != NULL);
    if (w->sim)
        cm_sim_set_agent(w->sim, agent, w);
    cJSON_Delete(doc);
}

static void world_free(struct world *w)
{
    cm_sim_free(w->sim);
    cm_fake_free(w->f);
    cm_loop_free(w->loop);
}

static void run_for(struct world *w, int seconds)
{
    cm_loop_run_until(w->loop, cm_loop_now(w->loop) + seconds * CM_NS_PER_S, NULL);
}

static int req(struct world *w, const char *method, const char *path, const char *query, const char *body, cJSON **out)
{
    cm_fake_req r = {.method = method, .path = path, .query = query,
                     .content_type = method[0] == 'P' && method[1] == 'A' ? "application/merge-patch+json" : "application/json",
                     .body = body, .body_len = body ? strlen(body) : 0};
    cm_fake_resp resp;
    cm_fake_handle(w->f, &r, &resp);
    cm_json_error jerr;
    if (out) /* integers exact past 2^53, as the server wrote them */
        *out = resp.body ? cm_json_parse(resp.body, resp.body_len, &jerr) : NULL;
    int status = resp.status;
    cm_fake_resp_clear(&resp);
    return status;
}

static cJSON *get_obj(struct world *w, const char *path)
{
    cJSON *o = NULL;
    if (req(w, "GET", path, NULL, NULL, &o) != 200) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *at(const cJSON *o, const char *a, const char *b, const char *c)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    return v;
}

static int64_t num(const cJSON *v)
{
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static int exists(struct world *w, const char *path)
{
    return req(w, "GET", path, NULL, NULL, NULL) == 200;
}

/* Counts the items of a list (a path, and a label selector or NULL). */
static int count(struct world *w, const char *path, const char *selector)
{
    char q[512];
    snprintf(q, sizeof q, "labelSelector=%s", selector ? selector : "");
    cJSON *l = NULL;
    req(w, "GET", path, selector ? q : NULL, NULL, &l);
    int n = cJSON_GetArraySize(at(l, "items", NULL, NULL));
    cJSON_Delete(l);
    return n;
}

static int has_str(const cJSON *arr, const char *s)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
        if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0)
            return 1;
    return 0;
}

#define WEB "/apis/apps/v1/namespaces/apps/deployments/web"
#define WEB_RS "/apis/apps/v1/namespaces/apps/replicasets/web-25lf9c8f6"
#define APP_PODS "/api/v1/namespaces/apps/pods"
#define APP_RS "/apis/apps/v1/namespaces/apps/replicasets"

/* ---- garbage collection ---- */

static void test_gc_background(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 1, NULL);
    run_for(&w, 30);
    CHECK_INT(count(&w, APP_PODS, "app=web"), 6);
    cJSON *st = NULL;
    CHECK_INT(req(&w, "DELETE", WEB, NULL, NULL, &st), 200); /* the default for Deployments: background */
    CHECK_STR(cJSON_GetStringValue(at(st, "status", NULL, NULL)), "Success");
    cJSON_Delete(st);
    CHECK(!exists(&w, WEB));
    run_for(&w, 1);
    CHECK(!exists(&w, WEB_RS)); /* its owner gone: collected */
    run_for(&w, 60);
    CHECK_INT(count(&w, APP_PODS, "app=web"), 0);
    CHECK_INT(count(&w, APP_PODS, "app=db"), 2); /* others' pods stay */
    world_free(&w);
}

static void test_gc_foreground(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 2, NULL);
    run_for(&w, 30);
    cJSON *d = NULL;
    CHECK_INT(req(&w, "DELETE", WEB, "propagationPolicy=Foreground", NULL, &d), 200);
    CHECK(cJSON_GetStringValue(at(d, "metadata", "deletionTimestamp", NULL)) != NULL);
    CHECK(has_str(at(d, "metadata", "finalizers", NULL), "foregroundDeletion"));
    cJSON_Delete(d);
    run_for(&w, 1);
    /* the ReplicaSet goes in the foreground too; the Deployment waits for it */
    cJSON *rs = get_obj(&w, WEB_RS);
    CHECK(rs && has_str(at(rs, "metadata", "finalizers", NULL), "foregroundDeletion"));
    cJSON_Delete(rs);
    CHECK(exists(&w, WEB));
    int saw_pods_with_owner_left = 0;
    for (int i = 0; i < 60 && exists(&w, WEB); i++) {
        saw_pods_with_owner_left |= count(&w, APP_PODS, "app=web") > 0;
        run_for(&w, 1);
    }
    CHECK(saw_pods_with_owner_left);
    CHECK(!exists(&w, WEB));
    CHECK(!exists(&w, WEB_RS));
    CHECK_INT(count(&w, APP_PODS, "app=web"), 0);
    world_free(&w);
}

static void test_gc_orphan(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 3, NULL);
    run_for(&w, 30);
    cJSON *d = NULL;
    CHECK_INT(req(&w, "DELETE", WEB, NULL, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Orphan\"}", &d), 200);
    CHECK(has_str(at(d, "metadata", "finalizers", NULL), "orphan"));
    cJSON_Delete(d);
    run_for(&w, 5);
    CHECK(!exists(&w, WEB));
    cJSON *rs = get_obj(&w, WEB_RS);
    CHECK(rs != NULL);
    CHECK(at(rs, "metadata", "ownerReferences", NULL) == NULL);
    cJSON_Delete(rs);
    run_for(&w, 60);
    CHECK_INT(count(&w, APP_PODS, "app=web"), 6); /* the ReplicaSet keeps its pods */
    world_free(&w);
}

static void test_delete_options(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 4, NULL);
    cJSON *st = NULL;
    CHECK_INT(req(&w, "DELETE", WEB, "propagationPolicy=Sideways", NULL, &st), 422);
    CHECK_STR(cJSON_GetStringValue(at(st, "message", NULL, NULL)),
              "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": "
              "supported values: \"Foreground\", \"Background\", \"Orphan\"");
    CHECK_STR(cJSON_GetStringValue(at(st, "reason", NULL, NULL)), "Invalid");
    cJSON_Delete(st);
    st = NULL;
    CHECK_INT(req(&w, "DELETE", WEB, NULL, "{\"propagationPolicy\":\"Orphan\",\"orphanDependents\":true}", &st), 422);
    CHECK_STR(cJSON_GetStringValue(at(st, "message", NULL, NULL)),
              "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Orphan\": "
              "orphanDependents and deletionPropagation cannot be both set");
    cJSON_Delete(st);
    CHECK(exists(&w, WEB));
    /* dryRun: no finalizer, nothing changes */
    CHECK_INT(req(&w, "DELETE", WEB, "propagationPolicy=Foreground&dryRun=All", NULL, NULL), 200);
    cJSON *d = get_obj(&w, WEB);
    CHECK(d && !at(d, "metadata", "finalizers", NULL) && !at(d, "metadata", "deletionTimestamp", NULL));
    cJSON_Delete(d);
    world_free(&w);
}

/* ---- Jobs ---- */

static const char *cond_field(const cJSON *obj, const char *type, const char *field)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, at(obj, "status", "conditions", NULL))
        if (strcmp(cJSON_GetStringValue(at(c, "type", NULL, NULL)), type) == 0)
            return cJSON_GetStringValue(at(c, field, NULL, NULL));
    return NULL;
}

static void create_job(struct world *w, const char *name, const char *spec_extra, const char *restart)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"%s\"},\"spec\":{%s%s"
             "\"template\":{\"spec\":{\"restartPolicy\":\"%s\",\"containers\":[{\"name\":\"work\",\"image\":\"busybox\"}]}}}}",
             name, spec_extra, spec_extra[0] ? "," : "", restart);
    CHECK_INT(req(w, "POST", "/apis/batch/v1/namespaces/default/jobs", NULL, body, NULL), 201);
}

static void test_job_completes(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 5, "{\"spec\":{\"simulation\":{\"pods\":[{\"selector\":\"job-name=batch\",\"runFor\":5}]}}}");
    run_for(&w, 10);
    create_job(&w, "batch", "\"completions\":3,\"parallelism\":2", "Never");
    cJSON *j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/batch");
    const char *uid = cJSON_GetStringValue(at(j, "metadata", "uid", NULL));
    /* the API server's defaults and generated selector */
    CHECK_INT(num(at(j, "spec", "backoffLimit", NULL)), 6);
    CHECK_STR(cJSON_GetStringValue(at(j, "spec", "completionMode", NULL)), "NonIndexed");
    CHECK_STR(cJSON_GetStringValue(at(at(j, "spec", "selector", "matchLabels"), "batch.kubernetes.io/controller-uid", NULL, NULL)), uid);
    CHECK_STR(cJSON_GetStringValue(at(at(j, "spec", "template", "metadata"), "labels", "job-name", NULL)), "batch");
    int most = 0, succeeded = 0;
    for (int i = 0; i < 60 && succeeded < 3; i++) {
        run_for(&w, 1);
        cJSON *l = NULL;
        req(&w, "GET", "/api/v1/namespaces/default/pods", "labelSelector=job-name%3Dbatch", NULL, &l);
        int running = 0;
        const cJSON *p;
        succeeded = 0;
        cJSON_ArrayForEach(p, at(l, "items", NULL, NULL)) {
            const char *ph = cJSON_GetStringValue(at(p, "status", "phase", NULL));
            running += strcmp(ph, "Succeeded") != 0 && strcmp(ph, "Failed") != 0;
            succeeded += strcmp(ph, "Succeeded") == 0;
        }
        most = running > most ? running : most;
        cJSON_Delete(l);
    }
    run_for(&w, 2); /* the Job controller counts them */
    CHECK_INT(most, 2); /* parallelism */
    cJSON *l = NULL;
    req(&w, "GET", "/api/v1/namespaces/default/pods", "labelSelector=job-name%3Dbatch", NULL, &l);
    CHECK_INT(cJSON_GetArraySize(at(l, "items", NULL, NULL)), 3);
    const cJSON *p;
    cJSON_ArrayForEach(p, at(l, "items", NULL, NULL)) {
        CHECK_STR(cJSON_GetStringValue(at(p, "status", "phase", NULL)), "Succeeded");
        CHECK(at(p, "metadata", "finalizers", NULL) == NULL); /* counted: the tracking finalizer is gone */
        CHECK_STR(cJSON_GetStringValue(at(at(p, "metadata", "labels", NULL), "batch.kubernetes.io/controller-uid", NULL, NULL)), uid);
        const cJSON *term = at(cJSON_GetArrayItem(at(p, "status", "containerStatuses", NULL), 0), "state", "terminated", NULL);
        CHECK_STR(cJSON_GetStringValue(at(term, "reason", NULL, NULL)), "Completed");
        CHECK_INT(num(at(term, "exitCode", NULL, NULL)), 0);
    }
    cJSON_Delete(l);
    cJSON_Delete(j);
    j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/batch");
    CHECK_INT(num(at(j, "status", "succeeded", NULL)), 3);
    CHECK(at(j, "status", "active", NULL) == NULL);
    CHECK_STR(cond_field(j, "SuccessCriteriaMet", "reason"), "CompletionsReached");
    CHECK_STR(cond_field(j, "Complete", "reason"), "CompletionsReached");
    CHECK_STR(cond_field(j, "Complete", "message"), "Reached expected number of succeeded pods");
    CHECK(cJSON_GetStringValue(at(j, "status", "completionTime", NULL)) != NULL);
    CHECK_STR(cJSON_GetStringValue(at(j, "status", "startTime", NULL)), "2026-11-01T08:00:10Z");
    cJSON_Delete(j);
    /* a Job's default deletion orphans its pods */
    CHECK_INT(req(&w, "DELETE", "/apis/batch/v1/namespaces/default/jobs/batch", NULL, NULL, NULL), 200);
    run_for(&w, 5);
    CHECK(!exists(&w, "/apis/batch/v1/namespaces/default/jobs/batch"));
    l = NULL;
    req(&w, "GET", "/api/v1/namespaces/default/pods", "labelSelector=job-name%3Dbatch", NULL, &l);
    CHECK_INT(cJSON_GetArraySize(at(l, "items", NULL, NULL)), 3);
    cJSON_ArrayForEach(p, at(l, "items", NULL, NULL))
        CHECK(at(p, "metadata", "ownerReferences", NULL) == NULL);
    cJSON_Delete(l);
    world_free(&w);
}

static void test_job_backoff_never(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 6, "{\"spec\":{\"simulation\":{\"pods\":[{\"selector\":\"job-name=flaky\",\"runFor\":2,\"exitCode\":3}]}}}");
    run_for(&w, 5);
    create_job(&w, "flaky", "\"backoffLimit\":2", "Never");
    run_for(&w, 300);
    cJSON *j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/flaky");
    CHECK_INT(num(at(j, "status", "failed", NULL)), 3); /* one more than the limit */
    CHECK_STR(cond_field(j, "FailureTarget", "reason"), "BackoffLimitExceeded");
    CHECK_STR(cond_field(j, "Failed", "reason"), "BackoffLimitExceeded");
    CHECK_STR(cond_field(j, "Failed", "message"), "Job has reached the specified backoff limit");
    CHECK(at(j, "status", "completionTime", NULL) == NULL);
    cJSON_Delete(j);
    cJSON *l = NULL;
    req(&w, "GET", "/api/v1/namespaces/default/pods", "labelSelector=job-name%3Dflaky", NULL, &l);
    CHECK_INT(cJSON_GetArraySize(at(l, "items", NULL, NULL)), 3); /* a new pod per failure */
    const cJSON *p;
    cJSON_ArrayForEach(p, at(l, "items", NULL, NULL)) {
        CHECK_STR(cJSON_GetStringValue(at(p, "status", "phase", NULL)), "Failed");
        const cJSON *term = at(cJSON_GetArrayItem(at(p, "status", "containerStatuses", NULL), 0), "state", "terminated", NULL);
        CHECK_INT(num(at(term, "exitCode", NULL, NULL)), 3);
        CHECK_STR(cJSON_GetStringValue(at(term, "reason", NULL, NULL)), "Error");
    }
    cJSON_Delete(l);
    world_free(&w);
}

static int64_t restarts_of(struct world *w, const char *selector)
{
    cJSON *l = NULL;
    char q[256];
    snprintf(q, sizeof q, "labelSelector=%s", selector);
    req(w, "GET", "/api/v1/namespaces/default/pods", q, NULL, &l);
    int64_t n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, at(l, "items", NULL, NULL))
        n += num(at(cJSON_GetArrayItem(at(p, "status", "containerStatuses", NULL), 0), "restartCount", NULL, NULL));
    cJSON_Delete(l);
    return n;
}

static void test_job_on_failure(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 7,
              "{\"spec\":{\"simulation\":{\"pods\":[{\"selector\":\"job-name=retry\",\"runFor\":2,\"failures\":2},"
              "{\"selector\":\"job-name=hopeless\",\"runFor\":2,\"exitCode\":1}]}}}");
    run_for(&w, 5);
    create_job(&w, "retry", "", "OnFailure");
    create_job(&w, "hopeless", "\"backoffLimit\":2", "OnFailure");
    int saw_crashloop = 0, left = 1;
    for (int i = 0; i < 120 && left; i++) {
        run_for(&w, 1);
        cJSON *l = NULL;
        req(&w, "GET", "/api/v1/namespaces/default/pods", "labelSelector=job-name%3Dhopeless", NULL, &l);
        left = cJSON_GetArraySize(at(l, "items", NULL, NULL)) > 0 || i < 10;
        const cJSON *p;
        cJSON_ArrayForEach(p, at(l, "items", NULL, NULL)) {
            const char *why = cJSON_GetStringValue(at(cJSON_GetArrayItem(at(p, "status", "containerStatuses", NULL), 0), "state", "waiting", "reason"));
            saw_crashloop |= why && strcmp(why, "CrashLoopBackOff") == 0;
        }
        cJSON_Delete(l);
    }
    CHECK(saw_crashloop);
    /* the first two runs fail, the third succeeds: one pod, restarted twice */
    CHECK_INT(count(&w, "/api/v1/namespaces/default/pods", "job-name=retry"), 1);
    CHECK_INT(restarts_of(&w, "job-name%3Dretry"), 2);
    cJSON *j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/retry");
    CHECK_STR(cond_field(j, "Complete", "status"), "True");
    CHECK_INT(num(at(j, "status", "succeeded", NULL)), 1);
    cJSON_Delete(j);
    /* restarts count against backoffLimit under OnFailure: the pod is deleted, the Job fails */
    j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/hopeless");
    CHECK_STR(cond_field(j, "Failed", "reason"), "BackoffLimitExceeded");
    CHECK_INT(num(at(j, "status", "failed", NULL)), 1);
    CHECK(at(j, "status", "active", NULL) == NULL);
    cJSON_Delete(j);
    CHECK_INT(count(&w, "/api/v1/namespaces/default/pods", "job-name=hopeless"), 0);
    world_free(&w);
}

static void test_job_deadline(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 8, NULL);
    run_for(&w, 5);
    create_job(&w, "slow", "\"activeDeadlineSeconds\":30,\"parallelism\":2,\"completions\":4", "Never");
    run_for(&w, 20);
    cJSON *j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/slow");
    CHECK_INT(num(at(j, "status", "active", NULL)), 2);
    CHECK_INT(num(at(j, "status", "ready", NULL)), 2);
    cJSON_Delete(j);
    run_for(&w, 11);
    j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/slow");
    CHECK_STR(cond_field(j, "FailureTarget", "reason"), "DeadlineExceeded");
    CHECK_STR(cond_field(j, "FailureTarget", "message"), "Job was active longer than specified deadline");
    cJSON_Delete(j);
    run_for(&w, 60);
    j = get_obj(&w, "/apis/batch/v1/namespaces/default/jobs/slow");
    CHECK_STR(cond_field(j, "Failed", "reason"), "DeadlineExceeded");
    CHECK_INT(num(at(j, "status", "failed", NULL)), 2);
    CHECK_INT(num(at(j, "status", "terminating", NULL)), 0);
    cJSON_Delete(j);
    CHECK_INT(count(&w, "/api/v1/namespaces/default/pods", "job-name=slow"), 0);
    world_free(&w);
}

/* kubectl delete job (background): the running pods go too, their tracking finalizer released */
static void test_job_deleted_in_background(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 13, NULL);
    run_for(&w, 5);
    create_job(&w, "forever", "\"parallelism\":2,\"completions\":2", "Never");
    run_for(&w, 20);
    CHECK_INT(count(&w, "/api/v1/namespaces/default/pods", "job-name=forever"), 2);
    CHECK_INT(req(&w, "DELETE", "/apis/batch/v1/namespaces/default/jobs/forever", "propagationPolicy=Background", NULL, NULL), 200);
    run_for(&w, 30);
    CHECK(!exists(&w, "/apis/batch/v1/namespaces/default/jobs/forever"));
    CHECK_INT(count(&w, "/api/v1/namespaces/default/pods", "job-name=forever"), 0);
    world_free(&w);
}

/* ---- Deployments ---- */

struct rsinfo {
    int n;
    char newest[256];
    int64_t newest_rev;
};

static struct rsinfo web_sets(struct world *w)
{
    struct rsinfo r = {0};
    cJSON *l = NULL;
    req(w, "GET", APP_RS, "labelSelector=app%3Dweb", NULL, &l);
    const cJSON *x;
    cJSON_ArrayForEach(x, at(l, "items", NULL, NULL)) {
        r.n++;
        const char *rev = cJSON_GetStringValue(at(at(x, "metadata", "annotations", NULL), "deployment.kubernetes.io/revision", NULL, NULL));
        if (rev && strtoll(rev, NULL, 10) > r.newest_rev) {
            r.newest_rev = strtoll(rev, NULL, 10);
            snprintf(r.newest, sizeof r.newest, "%s", cJSON_GetStringValue(at(x, "metadata", "name", NULL)));
        }
    }
    cJSON_Delete(l);
    return r;
}

/* Pods of web that exist (not terminating), that are ready, and that run image (when given). */
static void web_pods_of(struct world *w, int *live, int *ready, const char *image, int *fresh)
{
    cJSON *l = NULL;
    req(w, "GET", APP_PODS, "labelSelector=app%3Dweb", NULL, &l);
    *live = *ready = 0;
    if (fresh)
        *fresh = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, at(l, "items", NULL, NULL)) {
        if (at(p, "metadata", "deletionTimestamp", NULL))
            continue;
        (*live)++;
        const char *im = cJSON_GetStringValue(at(cJSON_GetArrayItem(at(p, "spec", "containers", NULL), 0), "image", NULL, NULL));
        if (fresh && image && im && strcmp(im, image) == 0)
            (*fresh)++;
        const cJSON *c;
        cJSON_ArrayForEach(c, at(p, "status", "conditions", NULL))
            if (strcmp(cJSON_GetStringValue(at(c, "type", NULL, NULL)), "Ready") == 0)
                *ready += strcmp(cJSON_GetStringValue(at(c, "status", NULL, NULL)), "True") == 0;
    }
    cJSON_Delete(l);
}

static void web_pods(struct world *w, int *live, int *ready)
{
    web_pods_of(w, live, ready, NULL, NULL);
}

static void test_deployment_rolling_update(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 9, NULL);
    run_for(&w, 30);
    cJSON *d = get_obj(&w, WEB);
    CHECK_STR(cond_field(d, "Available", "reason"), "MinimumReplicasAvailable");
    CHECK_STR(cond_field(d, "Progressing", "reason"), "NewReplicaSetAvailable");
    CHECK_STR(cond_field(d, "Progressing", "message"), "ReplicaSet \"web-25lf9c8f6\" has successfully progressed.");
    cJSON_Delete(d);
    CHECK_INT(req(&w, "PATCH", WEB, NULL, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.28\"}]}}}}", NULL), 200);
    /* 6 replicas, 25% each way: at most 8 pods (surge 2, rounded up), at least 5 ready (1 unavailable, rounded down) */
    int most = 0, least = 6, done = 0;
    for (int i = 0; i < 180 && !done; i++) {
        run_for(&w, 1);
        int live, ready, fresh;
        web_pods_of(&w, &live, &ready, "nginx:1.28", &fresh);
        most = live > most ? live : most;
        least = ready < least ? ready : least;
        done = live == 6 && ready == 6 && fresh == 6;
    }
    CHECK(done);
    run_for(&w, 3); /* the last statuses */
    CHECK(most <= 8);
    CHECK(most > 6);
    CHECK_INT(least, 5);
    struct rsinfo r = web_sets(&w);
    CHECK_INT(r.n, 2);
    CHECK_INT(r.newest_rev, 2);
    CHECK(strncmp(r.newest, "web-", 4) == 0 && strcmp(r.newest, "web-25lf9c8f6") != 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", APP_RS, r.newest);
    cJSON *rs = get_obj(&w, path);
    const char *hash = cJSON_GetStringValue(at(at(rs, "metadata", "labels", NULL), "pod-template-hash", NULL, NULL));
    CHECK(hash && strcmp(r.newest + 4, hash) == 0);
    CHECK_STR(cJSON_GetStringValue(at(at(rs, "spec", "selector", "matchLabels"), "pod-template-hash", NULL, NULL)), hash ? hash : "");
    CHECK_INT(num(at(rs, "status", "readyReplicas", NULL)), 6);
    CHECK_STR(cJSON_GetStringValue(at(at(rs, "metadata", "annotations", NULL), "deployment.kubernetes.io/max-replicas", NULL, NULL)), "8");
    cJSON_Delete(rs);
    rs = get_obj(&w, WEB_RS);
    CHECK_INT(num(at(rs, "spec", "replicas", NULL)), 0); /* the old set, kept as history */
    cJSON_Delete(rs);
    d = get_obj(&w, WEB);
    CHECK_INT(num(at(d, "status", "updatedReplicas", NULL)), 6);
    CHECK_INT(num(at(d, "status", "availableReplicas", NULL)), 6);
    CHECK_INT(num(at(d, "status", "replicas", NULL)), 6);
    CHECK(at(d, "status", "unavailableReplicas", NULL) == NULL);
    CHECK_INT(num(at(d, "status", "observedGeneration", NULL)), 2);
    CHECK_STR(cJSON_GetStringValue(at(at(d, "metadata", "annotations", NULL), "deployment.kubernetes.io/revision", NULL, NULL)), "2");
    char msg[400];
    snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.", r.newest);
    CHECK_STR(cond_field(d, "Progressing", "message"), msg);
    cJSON_Delete(d);
    world_free(&w);
}

static void test_deployment_recreate_and_history(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 10, NULL);
    run_for(&w, 30);
    CHECK_INT(req(&w, "PATCH", WEB, NULL, "{\"spec\":{\"revisionHistoryLimit\":1,\"strategy\":{\"type\":\"Recreate\",\"rollingUpdate\":null}}}", NULL), 200);
    run_for(&w, 5);
    for (int round = 0; round < 3; round++) {
        char patch[256];
        snprintf(patch, sizeof patch, "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"round\":\"%d\"}}}}}", round);
        CHECK_INT(req(&w, "PATCH", WEB, NULL, patch, NULL), 200);
        int mixed = 0, done = 0;
        for (int i = 0; i < 120 && !done; i++) {
            run_for(&w, 1);
            cJSON *l = NULL;
            req(&w, "GET", APP_PODS, "labelSelector=app%3Dweb", NULL, &l);
            int olds = 0, news = 0;
            const cJSON *p;
            cJSON_ArrayForEach(p, at(l, "items", NULL, NULL)) {
                const char *ann = cJSON_GetStringValue(at(at(p, "metadata", "annotations", NULL), "round", NULL, NULL));
                int is_new = ann && atoi(ann) == round;
                news += is_new;
                olds += !is_new;
            }
            mixed |= olds && news;
            cJSON_Delete(l);
            int live, ready;
            web_pods(&w, &live, &ready);
            done = !olds && news == 6 && ready == 6;
        }
        CHECK(done);
        run_for(&w, 3);
        CHECK(!mixed); /* Recreate: the old pods are gone before a new one starts */
        int live, ready;
        web_pods(&w, &live, &ready);
        CHECK_INT(ready, 6);
    }
    struct rsinfo r = web_sets(&w);
    CHECK_INT(r.n, 2); /* the new one and revisionHistoryLimit (1) old one */
    CHECK_INT(r.newest_rev, 4);
    cJSON *d = get_obj(&w, WEB);
    CHECK_STR(cond_field(d, "Available", "status"), "True");
    cJSON_Delete(d);
    world_free(&w);
}

/* kubectl rollout pause/resume; a rollout that cannot finish times out after progressDeadlineSeconds. */
static void test_deployment_paused_and_deadline(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 14, NULL);
    run_for(&w, 30);
    CHECK_INT(req(&w, "PATCH", WEB, NULL, "{\"spec\":{\"paused\":true,\"progressDeadlineSeconds\":60}}", NULL), 200);
    CHECK_INT(req(&w, "PATCH", WEB, NULL,
                  "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"no-such-label\":\"x\"}}}}}", NULL), 200);
    run_for(&w, 30);
    CHECK_INT(web_sets(&w).n, 1); /* paused: no new ReplicaSet */
    cJSON *d = get_obj(&w, WEB);
    CHECK_STR(cond_field(d, "Progressing", "status"), "Unknown");
    CHECK_STR(cond_field(d, "Progressing", "reason"), "DeploymentPaused");
    CHECK_STR(cond_field(d, "Progressing", "message"), "Deployment is paused");
    cJSON_Delete(d);
    CHECK_INT(req(&w, "PATCH", WEB, NULL, "{\"spec\":{\"paused\":null}}", NULL), 200);
    run_for(&w, 30);
    struct rsinfo r = web_sets(&w);
    CHECK_INT(r.n, 2);
    d = get_obj(&w, WEB);
    CHECK_STR(cond_field(d, "Progressing", "reason"), "ReplicaSetUpdated");
    cJSON_Delete(d);
    run_for(&w, 90); /* its pods can never be scheduled */
    d = get_obj(&w, WEB);
    char msg[400];
    snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has timed out progressing.", r.newest);
    CHECK_STR(cond_field(d, "Progressing", "status"), "False");
    CHECK_STR(cond_field(d, "Progressing", "reason"), "ProgressDeadlineExceeded");
    CHECK_STR(cond_field(d, "Progressing", "message"), msg);
    CHECK_INT(num(at(d, "status", "unavailableReplicas", NULL)), 1); /* 6 - 25%: 5 old pods kept available */
    cJSON_Delete(d);
    world_free(&w);
}

/* ---- pod addresses from Calico IPAM ---- */

/* What calico-node's install-cni leaves on a node: its CNI config (calico-ipam) comes first. */
static void calico_cni(struct world *w, const char *node)
{
    cm_host *h = cm_sim_host(w->sim, node);
    CHECK(h != NULL);
    cm_host_file_write(h, "/opt/cni/bin/calico", "");
    cm_host_file_write(h, "/opt/cni/bin/calico-ipam", "");
    cm_host_file_write(h, "/var/lib/calico/nodename", node);
    cm_host_file_write(h, "/etc/cni/net.d/10-calico.conflist",
                       "{\"name\":\"k8s-pod-network\",\"cniVersion\":\"0.3.1\",\"plugins\":[{\"type\":\"calico\","
                       "\"ipam\":{\"type\":\"calico-ipam\"}},{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
}

static void create_pod_on(struct world *w, const char *name, const char *node)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"nodeSelector\":"
             "{\"kubernetes.io/hostname\":\"%s\"},\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}", name, node);
    CHECK_INT(req(w, "POST", "/api/v1/namespaces/default/pods", NULL, body, NULL), 201);
}

static const char *pod_ip(const cJSON *p)
{
    return cJSON_GetStringValue(at(p, "status", "podIP", NULL));
}

#define CRD "/apis/crd.projectcalico.org/v1/"

static void test_ipam_claims_block_from_pool(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 11, NULL);
    run_for(&w, 10);
    CHECK_INT(req(&w, "POST", CRD "ippools", NULL,
                  "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"IPPool\",\"metadata\":{\"name\":\"default-ipv4-ippool\"},"
                  "\"spec\":{\"cidr\":\"10.245.0.0/16\",\"blockSize\":26,\"vxlanMode\":\"Always\",\"ipipMode\":\"Never\"}}", NULL), 201);
    calico_cni(&w, "worker-1");
    create_pod_on(&w, "a", "worker-1");
    run_for(&w, 10);
    create_pod_on(&w, "b", "worker-1");
    create_pod_on(&w, "flannel-side", "worker-2"); /* still flannel's: host-local from the podCIDR */
    run_for(&w, 30);
    cJSON *a = get_obj(&w, "/api/v1/namespaces/default/pods/a"), *b = get_obj(&w, "/api/v1/namespaces/default/pods/b");
    cJSON *f = get_obj(&w, "/api/v1/namespaces/default/pods/flannel-side");
    CHECK_STR(cJSON_GetStringValue(at(a, "status", "phase", NULL)), "Running");
    CHECK_STR(pod_ip(a), "10.245.0.0"); /* Calico blocks use every ordinal, the network address too */
    CHECK_STR(pod_ip(b), "10.245.0.1");
    CHECK(pod_ip(f) && strncmp(pod_ip(f), "10.244.", 7) == 0);
    cJSON *aff = get_obj(&w, CRD "blockaffinities/worker-1-10-245-0-0-26");
    CHECK_STR(cJSON_GetStringValue(at(aff, "spec", "state", NULL)), "confirmed");
    CHECK_STR(cJSON_GetStringValue(at(aff, "spec", "deleted", NULL)), "false");
    CHECK_STR(cJSON_GetStringValue(at(aff, "spec", "cidr", NULL)), "10.245.0.0/26");
    CHECK_STR(cJSON_GetStringValue(at(at(aff, "metadata", "labels", NULL), "projectcalico.org/hostname-hash", NULL, NULL)),
              "CPU5J3TPSNHFA66J45DG4Z5C3PSJAZ36LD46JZLYEGZSTAWBUCUA"); /* datamodel.md A.4.2's test vector */
    cJSON *blk = get_obj(&w, CRD "ipamblocks/10-245-0-0-26");
    CHECK_STR(cJSON_GetStringValue(at(blk, "spec", "affinity", NULL)), "host:worker-1");
    CHECK_INT(cJSON_GetArraySize(at(blk, "spec", "allocations", NULL)), 64);
    CHECK_INT(cJSON_GetArraySize(at(blk, "spec", "unallocated", NULL)), 62);
    CHECK_INT(num(cJSON_GetArrayItem(at(blk, "spec", "unallocated", NULL), 0)), 2);
    CHECK_INT(num(cJSON_GetArrayItem(at(blk, "spec", "allocations", NULL), 1)), 1);
    const cJSON *attr = cJSON_GetArrayItem(at(blk, "spec", "attributes", NULL), 1);
    CHECK_STR(cJSON_GetStringValue(at(attr, "secondary", "pod", NULL)), "b");
    CHECK_STR(cJSON_GetStringValue(at(attr, "secondary", "node", NULL)), "worker-1");
    const char *handle = cJSON_GetStringValue(at(attr, "handle_id", NULL, NULL));
    CHECK(handle && strncmp(handle, "k8s-pod-network.", 16) == 0);
    char path[512];
    snprintf(path, sizeof path, CRD "ipamhandles/%s", handle ? handle : "x");
    CHECK(exists(&w, path));
    /* the pod goes: its address goes back to the end of the free list, its handle goes */
    CHECK_INT(req(&w, "DELETE", "/api/v1/namespaces/default/pods/a", "gracePeriodSeconds=0", NULL, NULL), 200);
    run_for(&w, 5);
    cJSON_Delete(blk);
    blk = get_obj(&w, CRD "ipamblocks/10-245-0-0-26");
    const cJSON *un = at(blk, "spec", "unallocated", NULL);
    CHECK_INT(num(cJSON_GetArrayItem(un, cJSON_GetArraySize(un) - 1)), 0);
    CHECK(cJSON_IsNull(cJSON_GetArrayItem(at(blk, "spec", "allocations", NULL), 0)));
    CHECK_INT(num(cJSON_GetArrayItem(at(blk, "spec", "allocations", NULL), 1)), 0); /* b's attribute moved down */
    CHECK_INT(cJSON_GetArraySize(at(blk, "spec", "attributes", NULL)), 1);
    cJSON_Delete(blk);
    cJSON_Delete(aff);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(f);
    world_free(&w);
}

static void test_ipam_uses_existing_blocks(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 12, NULL);
    run_for(&w, 10);
    /* what the migration's IPAM pass leaves: the node's podCIDR as its blocks */
    CHECK_INT(req(&w, "POST", CRD "blockaffinities", NULL,
                  "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"BlockAffinity\",\"metadata\":{\"name\":\"worker-2-10-244-2-0-26\"},"
                  "\"spec\":{\"cidr\":\"10.244.2.0/26\",\"deleted\":\"false\",\"node\":\"worker-2\",\"state\":\"confirmed\"}}", NULL), 201);
    char body[4096];
    int n = snprintf(body, sizeof body,
                     "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"IPAMBlock\",\"metadata\":{\"name\":\"10-244-2-0-26\"},"
                     "\"spec\":{\"cidr\":\"10.244.2.0/26\",\"affinity\":\"host:worker-2\",\"strictAffinity\":false,\"deleted\":false,"
                     "\"sequenceNumber\":1787392800123456789,\"sequenceNumberForAllocation\":{},"
                     "\"attributes\":[{\"handle_id\":\"flannel-migration\",\"secondary\":{}}],\"allocations\":[0,0");
    for (int i = 2; i < 64; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, ",null");
    n += snprintf(body + n, sizeof body - (size_t)n, "],\"unallocated\":[");
    for (int i = 2; i < 64; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, "%s%d", i > 2 ? "," : "", i);
    snprintf(body + n, sizeof body - (size_t)n, "]}}");
    CHECK_INT(req(&w, "POST", CRD "ipamblocks", NULL, body, NULL), 201);
    calico_cni(&w, "worker-2");
    calico_cni(&w, "worker-3"); /* no block and no pool there */
    create_pod_on(&w, "c", "worker-2");
    create_pod_on(&w, "stuck", "worker-3");
    run_for(&w, 30);
    cJSON *c = get_obj(&w, "/api/v1/namespaces/default/pods/c");
    CHECK_STR(pod_ip(c), "10.244.2.2");
    cJSON *blk = get_obj(&w, CRD "ipamblocks/10-244-2-0-26");
    /* the sequence number, past what a double holds, moved on by exactly one */
    int64_t seq = 0;
    CHECK(cm_json_int64(at(blk, "spec", "sequenceNumber", NULL), &seq) && seq == INT64_C(1787392800123456790));
    cJSON *stuck = get_obj(&w, "/api/v1/namespaces/default/pods/stuck");
    CHECK_STR(cJSON_GetStringValue(at(stuck, "status", "phase", NULL)), "Pending");
    cJSON *ev = NULL;
    req(&w, "GET", "/api/v1/namespaces/default/events", "fieldSelector=involvedObject.name%3Dstuck,reason%3DFailedCreatePodSandBox", NULL, &ev);
    const char *msg = cJSON_GetStringValue(at(cJSON_GetArrayItem(at(ev, "items", NULL, NULL), 0), "message", NULL, NULL));
    CHECK(msg && strstr(msg, "plugin type=\"calico\" failed (add): no configured Calico pools for node worker-3"));
    cJSON_Delete(ev);
    cJSON_Delete(stuck);
    cJSON_Delete(blk);
    cJSON_Delete(c);
    world_free(&w);
}

static void test_bad_run_settings(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, EPOCH_NS);
    cm_fake *f = cm_fake_new(loop);
    static const struct { const char *doc, *err; } CASES[] = {
        {"{\"spec\":{\"simulation\":{\"pods\":[{\"selector\":\"a=b\",\"runFor\":\"later\"}]}}}",
         "FakeCluster spec.simulation.pods[0].runFor: not a duration"},
        {"{\"spec\":{\"simulation\":{\"pods\":[{\"selector\":\"a=b\"},{\"imagePrefix\":\"x\",\"exitCode\":300}]}}}",
         "FakeCluster spec.simulation.pods[1]: exitCode: not an exit code (0-255)"},
        {"{\"spec\":{\"simulation\":{\"pods\":[{\"selector\":\"a=b\",\"failures\":-1}]}}}",
         "FakeCluster spec.simulation.pods[0]: failures: not a count >= 0"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        cJSON *doc = cJSON_Parse(CASES[i].doc);
        char err[256] = "";
        cm_sim *s = cm_sim_new(f, loop, 1, doc, err, sizeof err);
        CHECK(s == NULL);
        CHECK_STR(err, CASES[i].err);
        cm_sim_free(s);
        cJSON_Delete(doc);
    }
    cm_fake_free(f);
    cm_loop_free(loop);
}

int main(void)
{
    size_t len;
    char *probe = read_fixture("flannel-3node.yaml", &len);
    if (!probe) {
        printf("SKIP: examples/clusters not found (CM_SOURCE_DIR unset?)\n");
        return 77;
    }
    free(probe);
    RUN(test_gc_background);
    RUN(test_gc_foreground);
    RUN(test_gc_orphan);
    RUN(test_delete_options);
    RUN(test_job_completes);
    RUN(test_job_backoff_never);
    RUN(test_job_on_failure);
    RUN(test_job_deadline);
    RUN(test_job_deleted_in_background);
    RUN(test_deployment_rolling_update);
    RUN(test_deployment_recreate_and_history);
    RUN(test_deployment_paused_and_deadline);
    RUN(test_ipam_claims_block_from_pool);
    RUN(test_ipam_uses_existing_blocks);
    RUN(test_bad_run_settings);
    return CHECK_DONE();
}
