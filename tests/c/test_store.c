/* test_store.c - the fake cluster's store and REST core where they were made fast: pages that
 * resume where the continue token points (also across namespaces whose names prefix one
 * another, and with changes between pages), lists that stay sorted as objects come, the
 * history kept as text and replayed to a watch, request bodies given as trees, and no-op
 * updates that leave the stored object as it was. */
#include "check.h"
#include "fake.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static cm_loop *g_loop;

/* Pods in namespaces "a" and "a-b": "a-b/..." sorts before "a/..." as text, after as
 * (namespace, name), the store's order. */
static const char FIXTURE[] =
    "apiVersion: v1\nkind: List\nitems:\n"
    "- {apiVersion: v1, kind: Node, metadata: {name: n1}}\n"
    "- {apiVersion: v1, kind: Pod, metadata: {name: pz, namespace: a, labels: {app: web}},\n"
    "   spec: {nodeName: n1, containers: [{name: c, image: i}]}}\n"
    "- {apiVersion: v1, kind: Pod, metadata: {name: py, namespace: a, labels: {app: db}},\n"
    "   spec: {nodeName: n1, containers: [{name: c, image: i}]}}\n"
    "- {apiVersion: v1, kind: Pod, metadata: {name: px, namespace: a-b, labels: {app: web}},\n"
    "   spec: {nodeName: n1, containers: [{name: c, image: i}]}}\n"
    "- {apiVersion: v1, kind: Pod, metadata: {name: pw, namespace: a-b, labels: {app: db}},\n"
    "   spec: {containers: [{name: c, image: i}]}}\n"
    "- {apiVersion: v1, kind: Pod, metadata: {name: pv, namespace: default, labels: {app: web}},\n"
    "   spec: {containers: [{name: c, image: i}]}}\n";

static cm_fake *new_fake(void)
{
    cm_fake *f = cm_fake_new(g_loop);
    char err[512];
    int rc = cm_fake_load(f, "fixture.yaml", FIXTURE, strlen(FIXTURE), err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "fixture: %s\n", err);
    CHECK_INT(rc, 0);
    cm_fake_seed(f, 7);
    return f;
}

static cm_fake_resp call(cm_fake *f, const char *method, const char *path, const char *query,
                         const char *body)
{
    cm_fake_req req = {.method = method, .path = path, .query = query,
                       .content_type = body && method[0] == 'P' && method[1] == 'A' ? "application/merge-patch+json"
                                                                                   : "application/json",
                       .body = body, .body_len = body ? strlen(body) : 0};
    cm_fake_resp resp;
    cm_fake_handle(f, &req, &resp);
    return resp;
}

/* A member of a JSON body at a dotted path, printed (strings bare); "(none)" when absent. */
static char *field(const char *body, const char *path)
{
    cJSON *doc = cJSON_Parse(body ? body : "{}"), *cur = doc;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *s = strtok_r(buf, ".", &save); s && cur; s = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, s);
    char *out = cur ? (cJSON_IsString(cur) ? strdup(cur->valuestring) : cJSON_PrintUnformatted(cur)) : strdup("(none)");
    cJSON_Delete(doc);
    return out;
}

/* Pages through path?query with limit 1; appends "ns/name " of each item to out, and the
 * remainingItemCount of each page (or "-") to counts. Returns the pages fetched. */
static int page_all(cm_fake *f, const char *path, const char *query, char *out, size_t size, char *counts,
                    size_t csize, int change_between)
{
    char q[2048], cont[1024] = "";
    int pages = 0;
    out[0] = counts[0] = '\0';
    do {
        snprintf(q, sizeof q, "limit=1%s%s%s%s", query ? "&" : "", query ? query : "", cont[0] ? "&continue=" : "", cont);
        cm_fake_resp r = call(f, "GET", path, q, NULL);
        CHECK_INT(r.status, 200);
        cJSON *doc = cJSON_Parse(r.body ? r.body : "{}");
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "items")) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metadata");
            size_t len = strlen(out);
            snprintf(out + len, size - len, "%s/%s ", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "namespace")),
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "name")));
        }
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
        const cJSON *rem = cJSON_GetObjectItemCaseSensitive(meta, "remainingItemCount");
        size_t len = strlen(counts);
        if (rem)
            snprintf(counts + len, csize - len, "%d ", rem->valueint);
        else
            snprintf(counts + len, csize - len, "- ");
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
        snprintf(cont, sizeof cont, "%s", next ? next : "");
        cJSON_Delete(doc);
        cm_fake_resp_clear(&r);
        if (change_between && cont[0]) { /* the cluster moves on between pages */
            cm_fake_resp w = call(f, "PATCH", "/api/v1/nodes/n1", NULL, pages % 2 ? "{\"metadata\":{\"labels\":{\"t\":\"1\"}}}"
                                                                                   : "{\"metadata\":{\"labels\":{\"t\":\"2\"}}}");
            CHECK_INT(w.status, 200);
            cm_fake_resp_clear(&w);
        }
        pages++;
    } while (cont[0] && pages < 50);
    return pages;
}

static void test_pages_resume_in_store_order(void)
{
    cm_fake *f = new_fake();
    char got[1024], counts[256];
    CHECK_INT(page_all(f, "/api/v1/pods", NULL, got, sizeof got, counts, sizeof counts, 0), 5);
    CHECK_STR(got, "a/py a/pz a-b/pw a-b/px default/pv ");
    CHECK_STR(counts, "4 3 2 1 - ");
    /* the store changes between pages: the token still resumes (the history has the version) */
    CHECK_INT(page_all(f, "/api/v1/pods", NULL, got, sizeof got, counts, sizeof counts, 1), 5);
    CHECK_STR(got, "a/py a/pz a-b/pw a-b/px default/pv ");
    /* one namespace */
    CHECK_INT(page_all(f, "/api/v1/namespaces/a-b/pods", NULL, got, sizeof got, counts, sizeof counts, 0), 2);
    CHECK_STR(got, "a-b/pw a-b/px ");
    CHECK_STR(counts, "1 - ");
    /* with a selector the server cannot know how many remain: no remainingItemCount */
    CHECK_INT(page_all(f, "/api/v1/pods", "labelSelector=app%3Dweb", got, sizeof got, counts, sizeof counts, 0), 3);
    CHECK_STR(got, "a/pz a-b/px default/pv ");
    CHECK_STR(counts, "- - - ");
    /* the node index, which spans namespaces */
    CHECK_INT(page_all(f, "/api/v1/pods", "fieldSelector=spec.nodeName%3Dn1", got, sizeof got, counts, sizeof counts, 0), 3);
    CHECK_STR(got, "a/py a/pz a-b/px ");
    cm_fake_free(f);
}

static void test_lists_stay_sorted(void)
{
    cm_fake *f = new_fake();
    const char *names[] = {"m", "c", "x", "a", "q", "b"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}", names[i]);
        cm_fake_resp r = call(f, "POST", "/api/v1/namespaces/a/pods", NULL, body);
        CHECK_INT(r.status, 201);
        cm_fake_resp_clear(&r);
    }
    cm_fake_resp r = call(f, "DELETE", "/api/v1/namespaces/a/pods/q", "gracePeriodSeconds=0", NULL);
    CHECK_INT(r.status, 200);
    cm_fake_resp_clear(&r);
    char got[1024], counts[256];
    page_all(f, "/api/v1/namespaces/a/pods", NULL, got, sizeof got, counts, sizeof counts, 0);
    CHECK_STR(got, "a/a a/b a/c a/m a/py a/pz a/x ");
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

static void test_history_replays_what_was_stored(void)
{
    cm_fake *f = new_fake();
    cm_fake_resp r = call(f, "PATCH", "/api/v1/nodes/n1", NULL, "{\"metadata\":{\"labels\":{\"first\":\"1\"}}}");
    char *from = field(r.body, "metadata.resourceVersion"); /* the fixture itself is not history */
    cm_fake_resp_clear(&r);
    r = call(f, "PATCH", "/api/v1/nodes/n1", NULL, "{\"metadata\":{\"labels\":{\"big\":\"x\"}},\"spec\":{\"podCIDR\":\"10.0.0.0/24\"}}");
    CHECK_INT(r.status, 200);
    char *stored = field(r.body, "metadata");
    cm_fake_resp_clear(&r);
    char q[256];
    snprintf(q, sizeof q, "watch=1&resourceVersion=%s", from);
    cm_fake_resp w = call(f, "GET", "/api/v1/nodes", q, NULL);
    struct sink s = {"", 0};
    cm_fake_watch_start(w.watch, on_line, &s);
    char *line_end = strchr(s.buf, '\n');
    CHECK(line_end != NULL);
    if (line_end)
        *line_end = '\0';
    char *type = field(s.buf, "type"), *meta = field(s.buf, "object.metadata");
    CHECK_STR(type, "MODIFIED");
    CHECK_STR(meta, stored); /* the object as it was written, metadata for metadata */
    free(type);
    free(meta);
    cm_fake_watch_close(w.watch);
    free(from);
    free(stored);
    cm_fake_free(f);
}

static void test_tree_bodies_and_status_only(void)
{
    cm_fake *f = new_fake();
    /* a tree body: the same object as the text body gives, and no response body */
    cm_fake_req req = {.method = "POST", .path = "/api/v1/namespaces/a/pods", .content_type = "application/json",
                       .json = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"t\","
                                           "\"labels\":{\"n\":\"1764240000123456789\"}},\"spec\":{\"priority\":3,\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}"),
                       .status_only = 1};
    cm_fake_resp resp;
    cm_fake_handle(f, &req, &resp);
    CHECK_INT(resp.status, 201);
    CHECK(resp.body == NULL);
    cm_fake_resp_clear(&resp);
    cm_fake_resp r = call(f, "POST", "/api/v1/namespaces/a/pods", NULL,
                          "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"u\","
                          "\"labels\":{\"n\":\"1764240000123456789\"}},\"spec\":{\"priority\":3,\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
    CHECK_INT(r.status, 201);
    cm_fake_resp_clear(&r);
    r = call(f, "GET", "/api/v1/namespaces/a/pods/t", NULL, NULL);
    char *t_spec = field(r.body, "spec"), *t_labels = field(r.body, "metadata.labels");
    cm_fake_resp_clear(&r);
    r = call(f, "GET", "/api/v1/namespaces/a/pods/u", NULL, NULL);
    char *u_spec = field(r.body, "spec"), *u_labels = field(r.body, "metadata.labels");
    cm_fake_resp_clear(&r);
    CHECK_STR(t_spec, u_spec);
    CHECK_STR(t_labels, u_labels);
    free(t_spec);
    free(u_spec);
    free(t_labels);
    free(u_labels);
    /* a tree body the handler never reads (an error before it) is freed all the same (valgrind, ASan) */
    cm_fake_req bad = {.method = "PUT", .path = "/api/v1/namespaces/a/nothings/x", .json = cJSON_CreateObject(),
                       .status_only = 1};
    cm_fake_handle(f, &bad, &resp);
    CHECK_INT(resp.status, 404);
    cm_fake_resp_clear(&resp);
    cm_fake_free(f);
}

static void test_noop_update_changes_nothing(void)
{
    cm_fake *f = new_fake();
    cm_fake_resp r = call(f, "GET", "/api/v1/namespaces/a/pods/pz", NULL, NULL);
    char *before = strdup(r.body);
    cm_fake_resp_clear(&r);
    /* the same object back: no write, no new version, and the stored object's members keep
     * their order (the no-op check sets members aside and puts them back) */
    r = call(f, "PUT", "/api/v1/namespaces/a/pods/pz", NULL, before);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, before);
    cm_fake_resp_clear(&r);
    r = call(f, "GET", "/api/v1/namespaces/a/pods/pz", NULL, NULL);
    CHECK_STR(r.body, before);
    cm_fake_resp_clear(&r);
    /* a DaemonSet's spec change bumps its generation, a label change does not */
    const char *ds = "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"d\"},"
                     "\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":"
                     "{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}";
    r = call(f, "POST", "/apis/apps/v1/namespaces/a/daemonsets", NULL, ds);
    CHECK_INT(r.status, 201);
    cm_fake_resp_clear(&r);
    r = call(f, "PATCH", "/apis/apps/v1/namespaces/a/daemonsets/d", NULL, "{\"metadata\":{\"labels\":{\"l\":\"1\"}}}");
    char *gen = field(r.body, "metadata.generation");
    CHECK_STR(gen, "1");
    free(gen);
    cm_fake_resp_clear(&r);
    r = call(f, "PATCH", "/apis/apps/v1/namespaces/a/daemonsets/d", NULL,
             "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"j\"}]}}}}");
    gen = field(r.body, "metadata.generation");
    CHECK_STR(gen, "2");
    free(gen);
    cm_fake_resp_clear(&r);
    free(before);
    cm_fake_free(f);
}

int main(void)
{
    g_loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1764403200) * CM_NS_PER_S);
    RUN(test_pages_resume_in_store_order);
    RUN(test_lists_stay_sorted);
    RUN(test_history_replays_what_was_stored);
    RUN(test_tree_bodies_and_status_only);
    RUN(test_noop_update_changes_nothing);
    cm_loop_free(g_loop);
    return CHECK_DONE();
}
