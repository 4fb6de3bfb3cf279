/* test_fake.c - the fake cluster's REST core in process: Status bodies (golden), patches,
 * selectors, resourceVersion/409, watch and 410, graceful deletion, eviction with PDBs. */
#include "check.h"
#include "fake.h"
#include "patch.h"
#include "select.h"
#include "status.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static cm_loop *g_loop;

static const char FIXTURE[] =
    "apiVersion: v1\nkind: List\nitems:\n"
    "- apiVersion: v1\n  kind: Node\n  metadata: {name: n1, labels: {zone: a}}\n"
    "- apiVersion: v1\n  kind: Node\n  metadata: {name: n2, labels: {zone: b}}\n  spec: {unschedulable: true}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p1, namespace: default, labels: {app: web}}\n"
    "  spec: {nodeName: n1, terminationGracePeriodSeconds: 5, containers: [{name: c, image: i}]}\n"
    "  status: {phase: Running, conditions: [{type: Ready, status: 'True'}]}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p2, namespace: default, labels: {app: web}}\n"
    "  spec: {nodeName: n2, containers: [{name: c, image: i}]}\n"
    "  status: {phase: Running, conditions: [{type: Ready, status: 'True'}]}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: lone, namespace: default, labels: {app: db}}\n"
    "  spec: {nodeName: n1, containers: [{name: c, image: i}]}\n  status: {phase: Running}\n"
    "- apiVersion: policy/v1\n  kind: PodDisruptionBudget\n  metadata: {name: web, namespace: default, generation: 1}\n"
    "  spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n"
    "  status: {observedGeneration: 1, disruptionsAllowed: 1, currentHealthy: 2, desiredHealthy: 1}\n"
    "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: dying, deletionTimestamp: '2026-01-01T00:00:00Z'}\n"
    "  status: {phase: Terminating}\n"
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: d1, namespace: dying}\n"
    "  spec: {nodeName: n1, containers: [{name: c, image: i}]}\n  status: {phase: Running}\n";

static cm_fake *new_fake(void)
{
    cm_fake *f = cm_fake_new(g_loop);
    char err[512];
    int rc = cm_fake_load(f, "fixture.yaml", FIXTURE, strlen(FIXTURE), err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "fixture: %s\n", err);
    CHECK_INT(rc, 0);
    cm_fake_seed(f, 42);
    return f;
}

/* Sends one request; returns the response (caller clears). */
static cm_fake_resp call(cm_fake *f, const char *method, const char *path, const char *query,
                         const char *ctype, const char *body)
{
    cm_fake_req req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .body = body, .body_len = body ? strlen(body) : 0};
    cm_fake_resp resp;
    cm_fake_handle(f, &req, &resp);
    return resp;
}

/* Checks status and that the body is exactly the expected JSON. */
static void expect(cm_fake *f, const char *method, const char *path, const char *query,
                   const char *ctype, const char *body, int status, const char *want)
{
    cm_fake_resp r = call(f, method, path, query, ctype, body);
    CHECK_INT(r.status, status);
    if (want)
        CHECK_STR(r.body, want);
    cm_fake_resp_clear(&r);
}

/* The value at a dotted path of a JSON body, printed compactly. */
static char *field(const char *body, const char *path)
{
    cJSON *doc = cJSON_Parse(body), *cur = doc;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *s = strtok_r(buf, ".", &save); s && cur; s = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, s);
    char *out = cur ? (cJSON_IsString(cur) ? strdup(cur->valuestring) : cJSON_PrintUnformatted(cur)) : strdup("(none)");
    cJSON_Delete(doc);
    return out;
}

static void expect_field(cm_fake *f, const char *path, const char *jpath, const char *want)
{
    cm_fake_resp r = call(f, "GET", path, NULL, NULL, NULL);
    char *v = field(r.body ? r.body : "{}", jpath);
    CHECK_STR(v, want);
    free(v);
    cm_fake_resp_clear(&r);
}

static void test_status_golden(void)
{
    cm_fake *f = new_fake();
    expect(f, "GET", "/api/v1/namespaces/default/pods/nope", NULL, NULL, NULL, 404,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"pods \\\"nope\\\" not found\",\"reason\":\"NotFound\","
           "\"details\":{\"name\":\"nope\",\"kind\":\"pods\"},\"code\":404}");
    expect(f, "GET", "/apis/apps/v1/namespaces/default/deployments/x", NULL, NULL, NULL, 404,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"deployments.apps \\\"x\\\" not found\",\"reason\":\"NotFound\","
           "\"details\":{\"name\":\"x\",\"group\":\"apps\",\"kind\":\"deployments\"},\"code\":404}");
    expect(f, "GET", "/api/v2/whatever", NULL, NULL, NULL, 404,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"the server could not find the requested resource\",\"reason\":\"NotFound\","
           "\"details\":{},\"code\":404}");
    expect(f, "POST", "/api/v1/nodes", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}}", 409,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"nodes \\\"n1\\\" already exists\",\"reason\":\"AlreadyExists\","
           "\"details\":{\"name\":\"n1\",\"kind\":\"nodes\"},\"code\":409}");
    expect(f, "PUT", "/api/v1/nodes/n1", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"resourceVersion\":\"1\"}}", 409,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"Operation cannot be fulfilled on nodes \\\"n1\\\": the object has been modified; "
           "please apply your changes to the latest version and try again\",\"reason\":\"Conflict\","
           "\"details\":{\"name\":\"n1\",\"kind\":\"nodes\"},\"code\":409}");
    expect(f, "POST", "/api/v1/namespaces/default/pods", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{}}", 422,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"Pod \\\"Bad_Name\\\" is invalid: [metadata.name: Invalid value: \\\"Bad_Name\\\": a lowercase "
           "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
           "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.containers: Required value]\","
           "\"reason\":\"Invalid\",\"details\":{\"name\":\"Bad_Name\",\"kind\":\"Pod\",\"causes\":["
           "{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"Bad_Name\\\": a lowercase RFC 1123 "
           "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
           "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\",\"field\":\"metadata.name\"},"
           "{\"reason\":\"FieldValueRequired\",\"message\":\"Required value\",\"field\":\"spec.containers\"}]},\"code\":422}");
    expect(f, "GET", "/api/v1/pods", "fieldSelector=spec.foo%3Dbar", NULL, NULL, 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"field label not supported: spec.foo\",\"reason\":\"BadRequest\",\"code\":400}");
    expect(f, "GET", "/api/v1/configmaps", "fieldSelector=data.x%3D1", NULL, NULL, 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"\\\"data.x\\\" is not a known field selector: only \\\"metadata.name\\\", "
           "\\\"metadata.namespace\\\"\",\"reason\":\"BadRequest\",\"code\":400}");
    expect(f, "PATCH", "/api/v1/nodes/n1", NULL, "application/xml", "{}", 415,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"the body of the request was in an unknown format - accepted media types include: "
           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
           "application/strategic-merge-patch+json\",\"reason\":\"UnsupportedMediaType\",\"code\":415}");
    expect(f, "GET", "/api/v1/namespaces/default/events", "fieldSelector=involvedObject.name%3Dp1%2CinvolvedObject.kind%3DPod",
           NULL, NULL, 200, NULL);
    expect(f, "GET", "/api/v1/events", "fieldSelector=spec.x%3D1", NULL, NULL, 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"field label not supported: spec.x\",\"reason\":\"BadRequest\",\"code\":400}");
    cm_fake_set_token(f, "s3cret");
    expect(f, "GET", "/api/v1/nodes", NULL, NULL, NULL, 401,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
    cm_fake_free(f);
}

static void test_eviction(void)
{
    cm_fake *f = new_fake();
    const char *ev = "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"p1\",\"namespace\":\"default\"}}";
    const char *ev2 = "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"p2\",\"namespace\":\"default\"}}";
    expect(f, "POST", "/api/v1/namespaces/default/pods/p2/eviction", NULL, "application/json", ev, 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"name in URL does not match name in Eviction object\",\"reason\":\"BadRequest\",\"code\":400}");
    expect(f, "POST", "/api/v1/namespaces/default/pods/p1/eviction", NULL, "application/json", ev, 201,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":201}");
    expect_field(f, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "status.disruptionsAllowed", "0");
    /* graceful: p1 stays, terminating, for its 5 s grace period */
    expect_field(f, "/api/v1/namespaces/default/pods/p1", "metadata.deletionGracePeriodSeconds", "5");
    cm_fake_resp r = call(f, "POST", "/api/v1/namespaces/default/pods/p2/eviction", NULL, "application/json", ev2);
    CHECK_INT(r.status, 429);
    CHECK_INT(r.retry_after, 0);
    CHECK_STR(r.body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                      "\"message\":\"Cannot evict pod as it would violate the pod's disruption budget.\","
                      "\"reason\":\"TooManyRequests\",\"details\":{\"causes\":[{\"reason\":\"DisruptionBudget\","
                      "\"message\":\"The disruption budget web needs 1 healthy pods and has 2 currently\"}]},\"code\":429}");
    cm_fake_resp_clear(&r);
    /* a spec change the disruption controller has not seen yet: 429 with Retry-After 10 */
    expect(f, "PATCH", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", NULL,
           "application/merge-patch+json", "{\"status\":{\"observedGeneration\":0}}", 200, NULL);
    expect_field(f, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "status.observedGeneration", "1");
    expect(f, "PATCH", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web/status", NULL,
           "application/merge-patch+json", "{\"status\":{\"observedGeneration\":0}}", 200, NULL);
    r = call(f, "POST", "/api/v1/namespaces/default/pods/p2/eviction", NULL, "application/json", ev2);
    CHECK_INT(r.status, 429);
    CHECK_INT(r.retry_after, 10);
    cm_fake_resp_clear(&r);
    /* a second budget over the same pod: 500 */
    expect(f, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", NULL, "application/json",
           "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"web2\"},"
           "\"spec\":{\"minAvailable\":0,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}", 201, NULL);
    expect(f, "POST", "/api/v1/namespaces/default/pods/p2/eviction", NULL, "application/json", ev2, 500,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.\",\"code\":500}");
    /* uid precondition */
    expect(f, "POST", "/api/v1/namespaces/default/pods/lone/eviction", NULL, "application/json",
           "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"lone\"},"
           "\"deleteOptions\":{\"preconditions\":{\"uid\":\"x\"}}}", 409, NULL);
    /* terminating namespace: 403 with the NamespaceTerminating cause */
    expect(f, "POST", "/api/v1/namespaces/dying/pods/d1/eviction", NULL, "application/json",
           "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"d1\"}}", 403,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"pods \\\"d1\\\" is forbidden: unable to create new content in namespace dying because it is being terminated\","
           "\"reason\":\"Forbidden\",\"details\":{\"name\":\"d1\",\"kind\":\"pods\",\"causes\":[{\"reason\":"
           "\"NamespaceTerminating\",\"message\":\"namespace dying is being terminated\",\"field\":\"metadata.namespace\"}]},\"code\":403}");
    /* no PDB and no grace period given: the pod's 30 s default; a dry run changes nothing */
    expect(f, "POST", "/api/v1/namespaces/default/pods/lone/eviction", "dryRun=All", "application/json",
           "{\"apiVersion\":\"policy/v1beta1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"lone\"}}", 201, NULL);
    expect_field(f, "/api/v1/namespaces/default/pods/lone", "metadata.deletionTimestamp", "(none)");
    /* the grace period ends: p1 is gone */
    cm_loop_run_until(g_loop, cm_loop_now(g_loop) + 6 * CM_NS_PER_S, NULL);
    expect(f, "GET", "/api/v1/namespaces/default/pods/p1", NULL, NULL, NULL, 404, NULL);
    cm_fake_free(f);
}

struct sink {
    char buf[65536];
    int ended;
};

static void on_line(void *ud, const char *line, size_t len)
{
    struct sink *s = ud;
    if (!line) {
        s->ended = 1;
        return;
    }
    strncat(s->buf, line, sizeof s->buf - strlen(s->buf) - 1);
    (void)len;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_watch(void)
{
    cm_fake *f = new_fake();
    char rv[128];
    snprintf(rv, sizeof rv, "resourceVersion=%lld&watch=1&labelSelector=app%%3Dweb&timeoutSeconds=30",
             (long long)cm_store_rv(cm_fake_store(f)));
    cm_fake_resp w = call(f, "GET", "/api/v1/namespaces/default/pods", rv, NULL, NULL);
    CHECK(w.watch != NULL);
    struct sink s = {"", 0};
    cm_fake_watch_start(w.watch, on_line, &s);
    CHECK_STR(s.buf, "");
    expect(f, "PATCH", "/api/v1/namespaces/default/pods/p2", NULL, "application/merge-patch+json",
           "{\"metadata\":{\"labels\":{\"x\":\"1\"}}}", 200, NULL);
    CHECK_INT(count(s.buf, "\"type\":\"MODIFIED\""), 1);
    /* leaving the selection reads as DELETED */
    expect(f, "PATCH", "/api/v1/namespaces/default/pods/p2", NULL, "application/merge-patch+json",
           "{\"metadata\":{\"labels\":{\"app\":\"other\"}}}", 200, NULL);
    CHECK_INT(count(s.buf, "\"type\":\"DELETED\""), 1);
    expect(f, "PATCH", "/api/v1/namespaces/default/pods/lone", NULL, "application/merge-patch+json",
           "{\"metadata\":{\"labels\":{\"x\":\"1\"}}}", 200, NULL);
    CHECK_INT(count(s.buf, "\n"), 2);
    cm_loop_run_until(g_loop, cm_loop_now(g_loop) + 31 * CM_NS_PER_S, NULL);
    CHECK(s.ended);
    cm_fake_watch_close(w.watch);
    expect_field(f, "/api/v1/namespaces/kube-node-lease", "status.phase", "Active"); /* always there */
    /* without a version: the current objects first, as ADDED */
    w = call(f, "GET", "/api/v1/nodes", "watch=true", NULL, NULL);
    struct sink s2 = {"", 0};
    cm_fake_watch_start(w.watch, on_line, &s2);
    CHECK_INT(count(s2.buf, "\"type\":\"ADDED\""), 2);
    cm_fake_watch_close(w.watch);
    CHECK_INT(cm_fake_watch_count(f), 0);
    cm_fake_free(f);
}

static void test_bookmarks_and_lifecycle(void)
{
    cm_fake *f = new_fake();
    cm_fake_resp w = call(f, "GET", "/api/v1/nodes", "watch=1&allowWatchBookmarks=true&resourceVersion=0", NULL, NULL);
    struct sink s = {"", 0};
    cm_fake_watch_start(w.watch, on_line, &s);
    cm_loop_run_until(g_loop, cm_loop_now(g_loop) + 61 * CM_NS_PER_S, NULL);
    CHECK(strstr(s.buf, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\","
                        "\"metadata\":{\"resourceVersion\":\"") != NULL);
    cm_fake_watch_close(w.watch);
    /* finalizers hold a deleted object until the last one goes */
    expect(f, "POST", "/api/v1/namespaces/default/configmaps", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"held\","
           "\"finalizers\":[\"example.com/hold\"]}}", 201, NULL);
    expect(f, "DELETE", "/api/v1/namespaces/default/configmaps/held", NULL, NULL, NULL, 200, NULL);
    expect_field(f, "/api/v1/namespaces/default/configmaps/held", "metadata.finalizers", "[\"example.com/hold\"]");
    cm_fake_resp r = call(f, "GET", "/api/v1/namespaces/default/configmaps/held", NULL, NULL, NULL);
    char *ts = field(r.body, "metadata.deletionTimestamp");
    CHECK(strcmp(ts, "(none)") != 0);
    free(ts);
    cm_fake_resp_clear(&r);
    expect(f, "PATCH", "/api/v1/namespaces/default/configmaps/held", NULL, "application/json-patch+json",
           "[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]", 200, NULL);
    expect(f, "GET", "/api/v1/namespaces/default/configmaps/held", NULL, NULL, NULL, 404, NULL);
    /* deleting a namespace: Terminating, its content deleted, then gone */
    expect(f, "POST", "/api/v1/namespaces", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"tmp\"}}", 201, NULL);
    expect_field(f, "/api/v1/namespaces/tmp", "status.phase", "Active");
    expect(f, "POST", "/api/v1/namespaces/tmp/configmaps", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}", 201, NULL);
    expect(f, "DELETE", "/api/v1/namespaces/tmp", NULL, NULL, NULL, 200, NULL);
    expect_field(f, "/api/v1/namespaces/tmp", "status.phase", "Terminating");
    expect(f, "GET", "/api/v1/namespaces/tmp/configmaps/c", NULL, NULL, NULL, 404, NULL);
    expect(f, "POST", "/api/v1/namespaces/tmp/configmaps", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"late\"}}", 403, NULL);
    cm_loop_run_until(g_loop, cm_loop_now(g_loop) + 1, NULL);
    expect(f, "GET", "/api/v1/namespaces/tmp", NULL, NULL, NULL, 404, NULL);
    /* deletecollection by label, with the deleted objects in the answer */
    r = call(f, "DELETE", "/api/v1/namespaces/default/pods", "labelSelector=app%3Ddb&gracePeriodSeconds=0", NULL, NULL);
    CHECK_INT(r.status, 200);
    char *items = field(r.body, "items");
    CHECK_INT(count(items, "\"name\":\"lone\""), 1);
    CHECK_INT(count(items, "\"kind\":\"Pod\""), 1);
    free(items);
    cm_fake_resp_clear(&r);
    expect(f, "GET", "/api/v1/namespaces/default/pods/lone", NULL, NULL, NULL, 404, NULL);
    /* a review answers and stores nothing; pods/log is the fixture's text */
    r = call(f, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", NULL, "application/json",
             "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
             "\"spec\":{\"resourceAttributes\":{\"verb\":\"evict\",\"resource\":\"pods\"}}}");
    CHECK_INT(r.status, 201);
    char *allowed = field(r.body, "status.allowed");
    CHECK_STR(allowed, "true");
    free(allowed);
    cm_fake_resp_clear(&r);
    expect(f, "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", NULL, NULL, NULL, 405, NULL);
    expect(f, "PATCH", "/api/v1/namespaces/default/pods/p2", NULL, "application/merge-patch+json",
           "{\"metadata\":{\"annotations\":{\"fake.cni-migrate.dev/log\":\"line 1\\nline 2\\n\"}}}", 200, NULL);
    r = call(f, "GET", "/api/v1/namespaces/default/pods/p2/log", "container=c", NULL, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "line 1\nline 2\n");
    CHECK_STR(r.content_type, "text/plain; charset=utf-8");
    cm_fake_resp_clear(&r);
    /* dryRun create: the answer, with server fields, and nothing stored */
    r = call(f, "POST", "/api/v1/nodes", "dryRun=All", "application/json",
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n9\"}}");
    CHECK_INT(r.status, 201);
    char *uid = field(r.body, "metadata.uid");
    CHECK(strlen(uid) == 36);
    free(uid);
    cm_fake_resp_clear(&r);
    expect(f, "GET", "/api/v1/nodes/n9", NULL, NULL, NULL, 404, NULL);
    cm_fake_free(f);
}

static void test_watch_gone(void)
{
    cm_fake *f = new_fake();
    /* the fixture is not history: a watch from before it is 410 Gone */
    cm_fake_resp w = call(f, "GET", "/api/v1/pods", "watch=1&resourceVersion=1", NULL, NULL);
    struct sink s = {"", 0};
    cm_fake_watch_start(w.watch, on_line, &s);
    CHECK(strstr(s.buf, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                        "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (") != NULL);
    CHECK(strstr(s.buf, "\"reason\":\"Expired\",\"code\":410}}\n") != NULL);
    CHECK(s.ended);
    cm_fake_watch_close(w.watch);
    cm_fake_free(f);
}

static void test_list_paging(void)
{
    cm_fake *f = new_fake();
    cm_fake_resp r = call(f, "GET", "/api/v1/pods", "limit=2", NULL, NULL);
    char *cont = field(r.body, "metadata.continue");
    char *remaining = field(r.body, "metadata.remainingItemCount");
    CHECK_STR(remaining, "2");
    char q[1024];
    snprintf(q, sizeof q, "limit=2&continue=%s", cont);
    cm_fake_resp_clear(&r);
    r = call(f, "GET", "/api/v1/pods", q, NULL, NULL);
    char *first = field(r.body, "items");
    CHECK(strstr(first, "\"name\":\"p2\"") != NULL);
    CHECK(strstr(first, "\"name\":\"d1\"") != NULL);
    CHECK(strstr(first, "\"name\":\"p1\"") == NULL);
    cm_fake_resp_clear(&r);
    free(first);
    expect(f, "GET", "/api/v1/pods", "continue=bm90LWEtdG9rZW4", NULL, NULL, 400, NULL);
    /* once the token's version has left the history (10,000 changes), the token has expired */
    for (int i = 0; i < 10001; i++)
        expect(f, "PATCH", "/api/v1/nodes/n1", NULL, "application/merge-patch+json",
               i % 2 ? "{\"metadata\":{\"labels\":{\"t\":\"a\"}}}" : "{\"metadata\":{\"labels\":{\"t\":\"b\"}}}",
               200, NULL);
    r = call(f, "GET", "/api/v1/pods", q, NULL, NULL);
    CHECK_INT(r.status, 410);
    char *reason = field(r.body, "reason");
    CHECK_STR(reason, "Expired");
    free(reason);
    cm_fake_resp_clear(&r);
    /* spec.nodeName is served from the index */
    r = call(f, "GET", "/api/v1/pods", "fieldSelector=spec.nodeName%3Dn1", NULL, NULL);
    char *items = field(r.body, "items");
    CHECK_INT(count(items, "\"nodeName\":\"n1\""), 3);
    CHECK_INT(count(items, "\"nodeName\""), 3);
    free(items);
    cm_fake_resp_clear(&r);
    expect(f, "GET", "/api/v1/nodes", "resourceVersion=999999", NULL, NULL, 504, NULL);
    expect(f, "GET", "/api/v1/nodes", "resourceVersion=2&resourceVersionMatch=Exact", NULL, NULL, 410, NULL);
    expect(f, "GET", "/api/v1/nodes", "resourceVersion=2&resourceVersionMatch=NotOlderThan", NULL, NULL, 200, NULL);
    expect(f, "PATCH", "/api/v1/nodes/n1", NULL, "application/merge-patch+json",
           "{\"metadata\":{\"labels\":{\"ok\":\"bad value!\"}}}", 422,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"Node \\\"n1\\\" is invalid: metadata.labels: Invalid value: \\\"bad value!\\\": a valid label must be an "
           "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
           "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
           "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')\",\"reason\":\"Invalid\",\"details\":{\"name\":\"n1\","
           "\"kind\":\"Node\",\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: "
           "\\\"bad value!\\\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
           "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
           "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')\",\"field\":"
           "\"metadata.labels\"}]},\"code\":422}");
    expect(f, "PATCH", "/api/v1/nodes/n1", NULL, "application/merge-patch+json",
           "{\"metadata\":{\"labels\":{\"example.com/-x\":\"1\"}}}", 422, NULL);
    free(cont);
    free(remaining);
    cm_fake_free(f);
}

static void test_generation_and_conflict(void)
{
    cm_fake *f = new_fake();
    const char *pdb = "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web";
    expect(f, "PATCH", pdb, NULL, "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}", 200, NULL);
    expect_field(f, pdb, "metadata.generation", "1");
    cm_fake_resp r = call(f, "PATCH", pdb, NULL, "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"a\":\"c\"}}}");
    char *rv = field(r.body, "metadata.resourceVersion"), *want = NULL;
    cm_fake_resp_clear(&r);
    r = call(f, "GET", pdb, "watch=False", NULL, NULL); /* ParseBool's words: a get, not a watch */
    CHECK(r.watch == NULL);
    want = field(r.body, "metadata.resourceVersion");
    CHECK_STR(rv, want); /* a write answers with the version it stored */
    free(rv);
    free(want);
    cm_fake_resp_clear(&r);
    expect(f, "PATCH", pdb, NULL, "application/merge-patch+json", "{\"spec\":{\"maxUnavailable\":2}}", 200, NULL);
    expect_field(f, pdb, "metadata.generation", "2");
    expect_field(f, pdb, "status.observedGeneration", "2"); /* recomputed at write time */
    /* patch carrying a stale resourceVersion: 409 */
    expect(f, "PATCH", pdb, NULL, "application/merge-patch+json", "{\"metadata\":{\"resourceVersion\":\"3\"}}", 409, NULL);
    /* dryRun=All answers and stores nothing */
    expect(f, "DELETE", "/api/v1/nodes/n1", "dryRun=All", NULL, NULL, 200, NULL);
    expect_field(f, "/api/v1/nodes/n1", "metadata.name", "n1");
    /* SMP is for built-in kinds */
    expect(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", NULL, "application/json",
           "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
           "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\",\"scope\":\"Cluster\","
           "\"names\":{\"kind\":\"Widget\",\"plural\":\"widgets\"},\"versions\":[{\"name\":\"v1\",\"served\":true,"
           "\"storage\":true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{"
           "\"type\":\"object\",\"required\":[\"size\"],\"properties\":{\"size\":{\"type\":\"integer\"},"
           "\"color\":{\"type\":\"string\",\"enum\":[\"red\",\"blue\"]}}}}}}}]}}", 201, NULL);
    expect(f, "POST", "/apis/example.com/v1/widgets", NULL, "application/json",
           "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\"},"
           "\"spec\":{\"size\":\"big\",\"color\":\"green\"}}", 422,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"Widget.example.com \\\"w\\\" is invalid: [spec.size: Invalid value: \\\"string\\\": spec.size in body must be of "
           "type integer: \\\"string\\\", spec.color: Unsupported value: \\\"green\\\": supported values: \\\"red\\\", \\\"blue\\\"]\","
           "\"reason\":\"Invalid\",\"details\":{\"name\":\"w\",\"group\":\"example.com\",\"kind\":\"Widget\",\"causes\":["
           "{\"reason\":\"FieldValueTypeInvalid\",\"message\":\"Invalid value: \\\"string\\\": spec.size in body must be of "
           "type integer: \\\"string\\\"\",\"field\":\"spec.size\"},{\"reason\":\"FieldValueNotSupported\",\"message\":"
           "\"Unsupported value: \\\"green\\\": supported values: \\\"red\\\", \\\"blue\\\"\",\"field\":\"spec.color\"}]},\"code\":422}");
    expect(f, "POST", "/apis/example.com/v1/widgets", NULL, "application/json",
           "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\"},\"spec\":{\"size\":3}}", 201, NULL);
    expect(f, "PATCH", "/apis/example.com/v1/widgets/w", NULL, "application/strategic-merge-patch+json", "{}", 415,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"the body of the request was in an unknown format - accepted media types include: "
           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml\","
           "\"reason\":\"UnsupportedMediaType\",\"code\":415}");
    cm_fake_free(f);
}

static void test_server_side_apply(void)
{
    cm_fake *f = new_fake();
    const char *path = "/api/v1/namespaces/default/configmaps/cfg";
    const char *v1 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n  b: \"1\"\n";
    expect(f, "PATCH", path, NULL, "application/apply-patch+yaml", v1, 422, NULL); /* fieldManager is required */
    expect(f, "PATCH", path, "fieldManager=ops", "application/apply-patch+yaml", v1, 201, NULL);
    cm_fake_resp mf = call(f, "GET", path, NULL, NULL, NULL);
    char *fields = field(mf.body, "metadata.managedFields");
    CHECK(strstr(fields, "[{\"manager\":\"ops\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"time\":\"") == fields);
    CHECK(strstr(fields, "\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:a\":{},\"f:b\":{}}}}]") != NULL);
    free(fields);
    cm_fake_resp_clear(&mf);
    /* another writer takes data.a; applying another value for it is a conflict */
    cm_fake_req req = {.method = "PATCH", .path = path, .content_type = "application/merge-patch+json",
                       .user_agent = "kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd",
                       .body = "{\"data\":{\"a\":\"2\"}}", .body_len = strlen("{\"data\":{\"a\":\"2\"}}")};
    cm_fake_resp r;
    cm_fake_handle(f, &req, &r);
    CHECK_INT(r.status, 200);
    cm_fake_resp_clear(&r);
    expect(f, "PATCH", path, "fieldManager=ops", "application/apply-patch+yaml", v1, 409,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"Apply failed with 1 conflict: conflict with \\\"kubectl\\\" using v1: .data.a\",\"reason\":\"Conflict\","
           "\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with \\\"kubectl\\\" "
           "using v1\",\"field\":\".data.a\"}]},\"code\":409}");
    /* forced: ops owns data.a again; fields it stops applying go */
    expect(f, "PATCH", path, "fieldManager=ops&force=true", "application/apply-patch+yaml", v1, 200, NULL);
    expect_field(f, path, "data", "{\"a\":\"1\",\"b\":\"1\"}");
    expect(f, "PATCH", path, "fieldManager=ops", "application/apply-patch+yaml",
           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  b: \"1\"\n", 200, NULL);
    expect_field(f, path, "data", "{\"b\":\"1\"}");
    /* list items by merge key: a container another manager added stays when ops re-applies */
    const char *pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sa\nspec:\n  containers:\n  - name: a\n    image: x\n";
    const char *ppath = "/api/v1/namespaces/default/pods/sa";
    expect(f, "PATCH", ppath, "fieldManager=ops", "application/apply-patch+yaml", pod, 201, NULL);
    expect(f, "PATCH", ppath, "fieldManager=other", "application/strategic-merge-patch+json",
           "{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"y\"}]}}", 200, NULL);
    expect(f, "PATCH", ppath, "fieldManager=ops", "application/apply-patch+yaml", pod, 200, NULL);
    expect_field(f, ppath, "spec.containers", "[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\",\"image\":\"y\"}]");
    /* an update takes the fields it changes (a label); what it leaves as it was stays its owner's,
     * but for a list item its merge key does not find again (a port without containerPort): that
     * the updater takes at every update, unchanged or not */
    expect(f, "POST", "/api/v1/namespaces/default/pods", "fieldManager=first", "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"np\",\"labels\":{\"a\":\"1\"}},"
           "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"name\":\"http\"}]}]}}", 201, NULL);
    cm_fake_resp got = call(f, "GET", "/api/v1/namespaces/default/pods/np", NULL, NULL, NULL);
    cJSON *np = cJSON_Parse(got.body);
    cm_fake_resp_clear(&got);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(np, "metadata"), "labels"), "a",
                              cJSON_CreateString("2"));
    char *put = cJSON_PrintUnformatted(np);
    cJSON_Delete(np);
    expect(f, "PUT", "/api/v1/namespaces/default/pods/np", "fieldManager=second", "application/json", put, 200, NULL);
    free(put);
    got = call(f, "GET", "/api/v1/namespaces/default/pods/np", NULL, NULL, NULL);
    fields = field(got.body, "metadata.managedFields");
    cm_fake_resp_clear(&got);
    CHECK(strstr(fields, "\"manager\":\"first\"") && strstr(fields, "\"f:image\":{}"));
    CHECK(strstr(fields, "\"manager\":\"second\"") &&
          strstr(fields, "\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:a\":{}}},\"f:spec\":{\"f:containers\":{"
                         "\"k:{\\\"name\\\":\\\"c\\\"}\":{\"f:ports\":{\"k:{\\\"containerPort\\\":null}\":{\".\":{},"
                         "\"f:name\":{}}}}}}}"));
    if (!strstr(fields, "k:{\\\"containerPort\\\":null}\":{\".\":{},\"f:name\":{}}}}}}}"))
        fprintf(stderr, "managedFields: %s\n", fields);
    free(fields);
    cm_fake_free(f);
}

/* Applies a patch of the given kind to a JSON text and compares the result. */
static void check_patch(const char *type, const char *target, const char *patch, const char *want)
{
    cm_kinds *kinds = cm_kinds_new();
    const cm_kind *pod = cm_kinds_by_kind(kinds, "v1", "Pod");
    cJSON *t = cJSON_Parse(target), *p = cJSON_Parse(patch), *out = NULL;
    char err[512] = "";
    int bad = 0;
    if (strcmp(type, "merge") == 0)
        out = cm_merge_patch(t, p);
    else if (strcmp(type, "json") == 0)
        out = cm_json_patch(t, p, err, sizeof err, &bad);
    else
        out = cm_strategic_patch(pod, t, p, err, sizeof err);
    char *text = out ? cJSON_PrintUnformatted(out) : NULL;
    CHECK_STR(text ? text : err, want);
    free(text);
    cJSON_Delete(t);
    cJSON_Delete(p);
    cJSON_Delete(out);
    cm_kinds_free(kinds);
}

static void test_patches(void)
{
    /* RFC 7386: null deletes, lists are replaced, non-objects replace */
    check_patch("merge", "{\"a\":{\"b\":1,\"c\":2},\"l\":[1,2]}", "{\"a\":{\"b\":null,\"d\":3},\"l\":[3]}",
                "{\"a\":{\"c\":2,\"d\":3},\"l\":[3]}");
    check_patch("merge", "{\"a\":1}", "{\"a\":{\"b\":null}}", "{\"a\":{}}");
    /* RFC 6902: escapes, '-', move, copy, test */
    check_patch("json", "{\"m\":{\"a/b\":1,\"c~d\":2},\"l\":[1]}",
                "[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":2},{\"op\":\"remove\",\"path\":\"/m/a~1b\"},"
                "{\"op\":\"copy\",\"from\":\"/m/c~0d\",\"path\":\"/x\"},{\"op\":\"move\",\"from\":\"/l/0\",\"path\":\"/y\"},"
                "{\"op\":\"test\",\"path\":\"/x\",\"value\":2}]",
                "{\"m\":{\"c~d\":2},\"l\":[2],\"x\":2,\"y\":1}");
    /* inside an array, at its head, and moved inside it (libcjson's own insert refused these) */
    check_patch("json", "{\"a\":[1,2,3]}",
                "[{\"op\":\"add\",\"path\":\"/a/1\",\"value\":9},{\"op\":\"add\",\"path\":\"/a/0\",\"value\":0},"
                "{\"op\":\"move\",\"from\":\"/a/4\",\"path\":\"/a/2\"}]",
                "{\"a\":[0,1,3,9,2]}");
    check_patch("json", "{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]", "testing value /a failed: test failed");
    check_patch("json", "{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", "unable to remove nonexistent key: /b: missing value");
    check_patch("json", "{\"a\":1}", "[{\"op\":\"frob\",\"path\":\"/b\"}]", "Unexpected kind: frob");
    check_patch("json", "{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/5\",\"value\":1}]",
                "add operation does not apply: doc is missing path: \"/a/5\": missing value");
    /* strategic merge: containers by name, env by name, $patch: delete, null deletes, $retainKeys */
    check_patch("smp",
                "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]},"
                "{\"name\":\"b\",\"image\":\"1\"}],\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],\"tolerations\":[{\"key\":\"k\"}]}}",
                "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"2\",\"env\":[{\"name\":\"Y\",\"value\":\"2\"}]},"
                "{\"name\":\"b\",\"$patch\":\"delete\"},{\"name\":\"c\",\"image\":\"3\"}],\"volumes\":[{\"name\":\"w\"}],"
                "\"tolerations\":[{\"key\":\"t\"}]}}",
                "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"2\",\"env\":[{\"name\":\"X\",\"value\":\"1\"},"
                "{\"name\":\"Y\",\"value\":\"2\"}]},{\"name\":\"c\",\"image\":\"3\"}],\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}},"
                "{\"name\":\"w\"}],\"tolerations\":[{\"key\":\"t\"}]}}");
    check_patch("smp", "{\"spec\":{\"unschedulable\":true},\"metadata\":{\"finalizers\":[\"a\"]}}",
                "{\"spec\":{\"unschedulable\":null},\"metadata\":{\"finalizers\":[\"b\"],\"$deleteFromPrimitiveList/finalizers\":[\"a\"]}}",
                "{\"spec\":{},\"metadata\":{\"finalizers\":[\"b\"]}}");
    check_patch("smp", "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"X\"}]}}",
                "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}",
                "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"},{\"type\":\"X\"}]}}");
    check_patch("smp", "{\"spec\":{\"a\":1,\"b\":2}}", "{\"spec\":{\"$retainKeys\":[\"b\",\"c\"],\"c\":3}}",
                "{\"spec\":{\"b\":2,\"c\":3}}");
    check_patch("smp", "{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
                "{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}", "map: map[] does not contain declared merge key: name");
    check_patch("smp", "{\"spec\":{\"a\":{\"x\":1}}}", "{\"spec\":{\"a\":{\"$patch\":\"replace\",\"y\":2}}}",
                "{\"spec\":{\"a\":{\"y\":2}}}");
}

/* Parses a label selector and returns the error, or "ok". */
static void check_selector(const char *text, const char *want)
{
    char err[512] = "";
    cm_selector *s = cm_label_selector_parse(text, err, sizeof err);
    CHECK_STR(s ? "ok" : err, want);
    cm_selector_free(s);
}

static void test_selectors(void)
{
    check_selector("a=b,c!=d,e in (f,g),!h,i,j notin (k),l==m,n>1", "ok");
    check_selector("", "ok");
    check_selector("a in b", "unable to parse requirement: found 'b' expected: '('");
    check_selector("a in (b", "unable to parse requirement: found '', expected: ',' or ')'");
    check_selector("a=b,", "found '', expected: identifier after ','");
    check_selector("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
    check_selector("a=b c", "found 'c', expected: ',' or 'end of string'");
    check_selector("=a", "found '=', expected: !, identifier, or 'end of string'");
    check_selector("a=(b)", "unable to parse requirement: found '(', expected: identifier");
    check_selector("a>b", "unable to parse requirement: <nil>: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer");
    check_selector("-a=b", "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric "
                   "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
                   "or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
    cJSON *labels = cJSON_Parse("{\"app\":\"web\",\"tier\":\"3\"}");
    char err[256];
    cm_selector *s = cm_label_selector_parse("app in (web,db),tier>2,!gone,zone notin (a)", err, sizeof err);
    CHECK(s && cm_selector_match_labels(s, labels));
    cm_selector_free(s);
    s = cm_label_selector_parse("app!=web", err, sizeof err);
    CHECK(s && !cm_selector_match_labels(s, labels));
    cm_selector_free(s);
    cJSON_Delete(labels);
    cm_kinds *kinds = cm_kinds_new();
    const cm_kind *pod = cm_kinds_by_kind(kinds, "v1", "Pod");
    s = cm_field_selector_parse("a", pod, err, sizeof err);
    CHECK(!s);
    CHECK_STR(err, "invalid selector: 'a'; can't understand 'a'");
    s = cm_field_selector_parse("spec.nodeName=n\\,1,status.phase!=Failed", pod, err, sizeof err);
    CHECK(s != NULL);
    CHECK_STR(cm_selector_exact(s, "spec.nodeName"), "n,1");
    cm_selector_free(s);
    cm_kinds_free(kinds);
}

static void test_bad_fixture(void)
{
    cm_fake *f = cm_fake_new(g_loop);
    char err[512];
    const char *text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: a}\n"
                       "- apiVersion: v9\n  kind: Node\n  metadata: {name: b}\n";
    CHECK_INT(cm_fake_load(f, "c.yaml", text, strlen(text), err, sizeof err), -1);
    CHECK_STR(err, "c.yaml:7: unknown kind v9 Node (not a built-in kind, nor one a CustomResourceDefinition of the fixture serves)");
    const char *dup = "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: a\n";
    cm_fake *g = cm_fake_new(g_loop);
    CHECK_INT(cm_fake_load(g, "d.yaml", dup, strlen(dup), err, sizeof err), -1);
    CHECK_STR(err, "d.yaml:5: nodes a is defined twice");
    /* names longer than the API server takes are refused, not cut later by the simulation */
    char longname[600];
    snprintf(longname, sizeof longname, "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: default, name: \"x%0253d\"}\n", 0);
    cm_fake *h = cm_fake_new(g_loop);
    CHECK_INT(cm_fake_load(h, "e.yaml", longname, strlen(longname), err, sizeof err), -1);
    CHECK_STR(err, "e.yaml:1: ConfigMap metadata.name is 254 characters long: must be no more than 253");
    snprintf(longname, sizeof longname, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: \"n%063d\"}\n", 0);
    cm_fake *i = cm_fake_new(g_loop);
    CHECK_INT(cm_fake_load(i, "f.yaml", longname, strlen(longname), err, sizeof err), -1);
    CHECK_STR(err, "f.yaml:1: ConfigMap metadata.namespace is 64 characters long: must be no more than 63");
    cm_fake_free(f);
    cm_fake_free(g);
    cm_fake_free(h);
    cm_fake_free(i);
}

int main(void)
{
    g_loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1764403200) * CM_NS_PER_S);
    RUN(test_status_golden);
    RUN(test_eviction);
    RUN(test_watch);
    RUN(test_bookmarks_and_lifecycle);
    RUN(test_watch_gone);
    RUN(test_list_paging);
    RUN(test_generation_and_conflict);
    RUN(test_server_side_apply);
    RUN(test_patches);
    RUN(test_selectors);
    RUN(test_bad_fixture);
    cm_loop_free(g_loop);
    return CHECK_DONE();
}
