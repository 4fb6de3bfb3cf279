/* test_sim.c - the simulated scheduler, controllers and kubelets on the virtual clock, over the
 * fixtures of examples/clusters/: DaemonSets come up, follow node labels (Calico's migration),
 * evicted and deleted pods come back, cordon taints, the kubelet's CNI rule, determinism. */
#include "check.h"
#include "strbuf.h"
#include "cni.h"
#include "fake.h"
#include "fakeint.h"
#include "host.h"
#include "sim.h"
#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_NS (INT64_C(1793520000) * CM_NS_PER_S) /* 2026-11-01T08:00:00Z */

struct world {
    cm_loop *loop;
    cm_fake *f;
    cm_sim *sim;
    int started, stopped; /* agent calls */
    int resync_flannel, resync_calico; /* resyncs told to flannel's and calico-node's pods */
};

/* A fixture of examples/clusters/, read whole. */
static char *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("CM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/clusters/%s", dir ? dir : ".", name);
    return cm_read_file(path, len);
}

static const char *pod_node(const cJSON *pod)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "nodeName"));
}

static int prefixed(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* What flanneld and calico-node's install-cni do to a host, as the Lua agents will (test only). */
static void agent(void *ud, cm_sim *sim, const char *node, const cJSON *pod, enum cm_sim_pod_event ev)
{
    struct world *w = ud;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "name"));
    cm_host *h = cm_sim_host(sim, node);
    CHECK(h != NULL);
    if (ev == CM_SIM_POD_STOPPED) {
        w->stopped++;
        return;
    }
    if (ev == CM_SIM_POD_RESYNC) {
        w->resync_flannel += prefixed(name, "kube-flannel-ds-");
        w->resync_calico += prefixed(name, "calico-node-");
        return;
    }
    w->started++;
    if (!h)
        return;
    if (prefixed(name, "kube-flannel-ds-")) {
        cm_host_file_write(h, "/run/flannel/subnet.env",
                           "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
        cm_host_file_write(h, "/opt/cni/bin/flannel", "");
        cm_host_file_write(h, "/etc/cni/net.d/10-flannel.conflist",
                           "{\"name\":\"cbr0\",\"cniVersion\":\"0.3.1\",\"plugins\":[{\"type\":\"flannel\","
                           "\"delegate\":{\"hairpinMode\":true,\"isDefaultGateway\":true}},"
                           "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
    } else if (prefixed(name, "calico-node-")) {
        cm_host_file_write(h, "/opt/cni/bin/calico", "");
        cm_host_file_write(h, "/opt/cni/bin/calico-ipam", "");
        cm_host_file_write(h, "/var/lib/calico/nodename", node);
        cm_host_file_write(h, "/etc/cni/net.d/10-calico.conflist",
                           "{\"name\":\"k8s-pod-network\",\"cniVersion\":\"0.3.1\",\"plugins\":[{\"type\":\"calico\","
                           "\"ipam\":{\"type\":\"calico-ipam\"}},{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
    }
}

static void world_new(struct world *w, const char *fixture, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->loop = cm_loop_new(CM_CLOCK_VIRTUAL, EPOCH_NS);
    w->f = cm_fake_new(w->loop);
    size_t len = 0;
    char *text = read_fixture(fixture, &len);
    CHECK(text != NULL);
    char err[512] = "";
    int rc = text ? cm_fake_load(w->f, fixture, text, len, err, sizeof err) : -1;
    if (rc)
        fprintf(stderr, "%s: %s\n", fixture, err);
    CHECK_INT(rc, 0);
    free(text);
    w->sim = cm_sim_new(w->f, w->loop, seed, NULL, err, sizeof err);
    if (!w->sim)
        fprintf(stderr, "cm_sim_new: %s\n", err);
    CHECK(w->sim != NULL);
    cm_sim_set_agent(w->sim, agent, w);
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

/* One request; returns the status and, when out is given, the parsed body. */
static int req(struct world *w, const char *method, const char *path, const char *ctype, const char *body, cJSON **out)
{
    cm_fake_req r = {.method = method, .path = path, .content_type = ctype ? ctype : "application/json",
                     .body = body, .body_len = body ? strlen(body) : 0};
    cm_fake_resp resp;
    cm_fake_handle(w->f, &r, &resp);
    if (out)
        *out = resp.body ? cJSON_Parse(resp.body) : NULL;
    int status = resp.status;
    cm_fake_resp_clear(&resp);
    return status;
}

static const cm_kind *pod_kind(const struct world *w)
{
    return cm_kinds_by_kind(w->f->kinds, "v1", "Pod");
}

static cm_obj *pod(struct world *w, const char *ns, const char *name)
{
    cm_store *st = cm_fake_store(w->f);
    cm_obj *const *items;
    size_t n = cm_store_list(st, pod_kind(w), ns, &items);
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i]->name, name) == 0)
            return items[i];
    return NULL;
}

static const char *phase(const cJSON *p)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "status"), "phase"));
}

static int ready(const cJSON *p)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "status"), "conditions"))
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), "Ready") == 0)
            return strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "True") == 0;
    return 0;
}

/* Counts the pods of namespace ns named prefix* (on node, when given) by state. */
static int count_pods(struct world *w, const char *ns, const char *prefix, const char *node, int *running_ready)
{
    cm_obj *const *items;
    size_t n = cm_store_list(cm_fake_store(w->f), pod_kind(w), ns, &items);
    int count = 0, rr = 0;
    for (size_t i = 0; i < n; i++) {
        if (!prefixed(items[i]->name, prefix) || (node && !(pod_node(items[i]->json) && strcmp(pod_node(items[i]->json), node) == 0)))
            continue;
        count++;
        rr += phase(items[i]->json) && strcmp(phase(items[i]->json), "Running") == 0 && ready(items[i]->json);
    }
    if (running_ready)
        *running_ready = rr;
    return count;
}

static int64_t status_int(struct world *w, const char *path, const char *field)
{
    cJSON *o = NULL;
    req(w, "GET", path, NULL, NULL, &o);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), field);
    int64_t n = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
    cJSON_Delete(o);
    return n;
}

static void test_daemonsets_come_up(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 1);
    run_for(&w, 300);
    int rr = 0;
    CHECK_INT(count_pods(&w, "kube-flannel", "kube-flannel-ds-", NULL, &rr), 3);
    CHECK_INT(rr, 3);
    CHECK_INT(count_pods(&w, "kube-system", "kube-proxy-", NULL, &rr), 3);
    CHECK_INT(rr, 3);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "numberReady"), 3);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "desiredNumberScheduled"), 3);
    /* the agent saw flannel running on every node: its files are on the hosts */
    CHECK(cm_host_file_read(cm_sim_host(w.sim, "worker-2"), "/run/flannel/subnet.env") != NULL);
    const cJSON *eth0 = cm_host_link(cm_sim_host(w.sim, "worker-1"), "eth0");
    CHECK(eth0 != NULL);
    CHECK_STR(cm_host_sysctl_get(cm_sim_host(w.sim, "worker-1"), "net/ipv4/ip_forward"), "1");
    CHECK(cm_host_file_read(cm_sim_host(w.sim, "worker-1"), "/opt/cni/bin/host-local") != NULL);
    CHECK(cm_sim_host(w.sim, "no-such-node") == NULL);

    /* a new pod is scheduled, started with an address from its node's podCIDR, then Ready */
    CHECK_INT(req(&w, "POST", "/api/v1/namespaces/default/pods", NULL,
                  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hello\"},"
                  "\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"worker-2\"},"
                  "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}", NULL), 201);
    run_for(&w, 60);
    cm_obj *p = pod(&w, "default", "hello");
    CHECK(p != NULL);
    if (p) {
        CHECK_STR(pod_node(p->json), "worker-2");
        CHECK_STR(phase(p->json), "Running");
        CHECK(ready(p->json));
        const char *ip = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(p->json, "status"), "podIP"));
        CHECK(prefixed(ip, "10.244.2."));
        CHECK(ip && strcmp(ip, "10.244.2.0") != 0 && strcmp(ip, "10.244.2.1") != 0);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(p->json, "status"), "hostIP")), "192.168.1.13");
    }
    world_free(&w);
}

/* A node's taints and a DaemonSet's pods, as NodeShouldRunDaemonPod decides: an untolerated
 * NoSchedule taint stops new pods but the running one stays (misscheduled); NoExecute removes it. */
static void test_daemonset_taints(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 1);
    const char *ds = "/apis/apps/v1/namespaces/default/daemonsets/plain";
    CHECK_INT(req(&w, "POST", "/apis/apps/v1/namespaces/default/daemonsets", NULL,
                  "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"plain\"},"
                  "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"plain\"}},\"template\":{\"metadata\":"
                  "{\"labels\":{\"app\":\"plain\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}",
                  NULL), 201);
    run_for(&w, 120);
    int rr = 0;
    CHECK_INT(count_pods(&w, "default", "plain-", NULL, &rr), 2); /* not on the tainted control plane */
    CHECK_INT(rr, 2);
    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-1", "application/merge-patch+json",
                  "{\"spec\":{\"taints\":[{\"key\":\"example.com/maintenance\",\"effect\":\"NoSchedule\"}]}}", NULL), 200);
    run_for(&w, 120);
    CHECK_INT(count_pods(&w, "default", "plain-", "worker-1", &rr), 1);
    CHECK_INT(rr, 1);
    CHECK_INT(status_int(&w, ds, "desiredNumberScheduled"), 1);
    CHECK_INT(status_int(&w, ds, "numberMisscheduled"), 1);
    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-2", "application/merge-patch+json",
                  "{\"spec\":{\"taints\":[{\"key\":\"example.com/gone\",\"effect\":\"NoExecute\"}]}}", NULL), 200);
    run_for(&w, 120);
    CHECK_INT(count_pods(&w, "default", "plain-", "worker-2", NULL), 0);
    CHECK_INT(count_pods(&w, "default", "plain-", "worker-1", NULL), 1);
    CHECK_INT(status_int(&w, ds, "desiredNumberScheduled"), 0);
    world_free(&w);
}

/* Calico's migration: nodes labelled flannel, the flannel DS selecting them; one node moves to calico. */
static void test_relabel_moves_daemonsets(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 7);
    run_for(&w, 60);
    const char *nodes[] = {"control-plane-1", "worker-1", "worker-2", "worker-3"};
    char path[256];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/api/v1/nodes/%s", nodes[i]);
        CHECK_INT(req(&w, "PATCH", path, "application/merge-patch+json",
                      "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"flannel\"}}}", NULL), 200);
    }
    CHECK_INT(req(&w, "PATCH", "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "application/merge-patch+json",
                  "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"projectcalico.org/node-network-during-migration\":\"flannel\"}}}}}", NULL), 200);
    run_for(&w, 60);
    int rr = 0;
    CHECK_INT(count_pods(&w, "kube-flannel", "kube-flannel-ds-", NULL, &rr), 4);
    CHECK_INT(rr, 4);
    CHECK_INT(count_pods(&w, "kube-system", "calico-node-", NULL, NULL), 0);

    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-1", "application/merge-patch+json",
                  "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"calico\"}}}", NULL), 200);
    int before = w.stopped;
    run_for(&w, 120);
    CHECK_INT(count_pods(&w, "kube-flannel", "kube-flannel-ds-", "worker-1", NULL), 0);
    CHECK_INT(count_pods(&w, "kube-flannel", "kube-flannel-ds-", NULL, &rr), 3);
    CHECK_INT(rr, 3);
    CHECK_INT(count_pods(&w, "kube-system", "calico-node-", "worker-1", &rr), 1);
    CHECK_INT(rr, 1);
    CHECK_INT(count_pods(&w, "kube-system", "calico-node-", NULL, NULL), 1);
    CHECK(w.stopped > before); /* the agent saw flannel stop */
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node", "numberReady"), 1);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "desiredNumberScheduled"), 3);
    /* calico-node's config now comes first on that node: a new pod there gets a Calico sandbox */
    char active[256] = "";
    CHECK(cm_cni_active(cm_sim_host(w.sim, "worker-1"), CM_CNI_DIR, active, sizeof active));
    CHECK_STR(active, "/etc/cni/net.d/10-calico.conflist");
    world_free(&w);
}

static cm_obj *first_pod_on(struct world *w, const char *ns, const char *prefix, const char *node)
{
    cm_obj *const *items;
    size_t n = cm_store_list(cm_fake_store(w->f), pod_kind(w), ns, &items);
    for (size_t i = 0; i < n; i++)
        if (prefixed(items[i]->name, prefix) && pod_node(items[i]->json) && strcmp(pod_node(items[i]->json), node) == 0)
            return items[i];
    return NULL;
}

static void test_eviction_replaced_elsewhere(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 3);
    run_for(&w, 30);
    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-1", "application/merge-patch+json",
                  "{\"spec\":{\"unschedulable\":true}}", NULL), 200);
    cm_obj *victim = first_pod_on(&w, "apps", "web-", "worker-1");
    CHECK(victim != NULL);
    if (!victim) {
        world_free(&w);
        return;
    }
    char name[256], path[512], body[512];
    snprintf(name, sizeof name, "%s", victim->name);
    snprintf(path, sizeof path, "/api/v1/namespaces/apps/pods/%s/eviction", name);
    snprintf(body, sizeof body, "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"apps\"}}", name);
    int before = count_pods(&w, "apps", "web-", "worker-1", NULL);
    CHECK_INT(req(&w, "POST", path, NULL, body, NULL), 201);
    run_for(&w, 120);
    CHECK(pod(&w, "apps", name) == NULL);
    int rr = 0;
    CHECK_INT(count_pods(&w, "apps", "web-", NULL, &rr), 6);
    CHECK_INT(rr, 6);
    CHECK_INT(count_pods(&w, "apps", "web-", "worker-1", NULL), before - 1);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/apps/replicasets/web-25lf9c8f6", "readyReplicas"), 6);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/apps/deployments/web", "readyReplicas"), 6);
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/web", "currentHealthy"), 6);
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/web", "desiredHealthy"), 3);
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/web", "disruptionsAllowed"), 3);
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/web", "expectedPods"), 6);

    /* a StatefulSet pod comes back with its name and a new uid */
    cm_obj *db = pod(&w, "apps", "db-0");
    CHECK(db != NULL);
    char uid[64] = "";
    if (db)
        snprintf(uid, sizeof uid, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(db->json, "metadata"), "uid")));
    CHECK_INT(req(&w, "DELETE", "/api/v1/namespaces/apps/pods/db-0", NULL, NULL, NULL), 200);
    run_for(&w, 1); /* terminating: not healthy, so the budget allows nothing */
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/db", "currentHealthy"), 1);
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/db", "disruptionsAllowed"), 0);
    run_for(&w, 120);
    db = pod(&w, "apps", "db-0");
    CHECK(db != NULL);
    if (db) {
        CHECK(strcmp(uid, cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(db->json, "metadata"), "uid"))) != 0);
        CHECK(ready(db->json));
        CHECK(strcmp(pod_node(db->json), "worker-1") != 0); /* cordoned */
    }
    CHECK_INT(status_int(&w, "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/db", "disruptionsAllowed"), 1);
    world_free(&w);
}

static int has_taint(struct world *w, const char *node, const char *key)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/nodes/%s", node);
    cJSON *n = NULL;
    req(w, "GET", path, NULL, NULL, &n);
    const cJSON *t;
    int found = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(cJSON_GetObjectItem(n, "spec"), "taints"))
        found |= strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "key")), key) == 0;
    cJSON_Delete(n);
    return found;
}

static const char *cond_message(const cJSON *p, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "status"), "conditions"))
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type) == 0)
            return cJSON_GetStringValue(cJSON_GetObjectItem(c, "message"));
    return NULL;
}

static void test_cordon_taint_and_unschedulable(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 5);
    run_for(&w, 30);
    CHECK(!has_taint(&w, "worker-2", "node.kubernetes.io/unschedulable"));
    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-2", "application/merge-patch+json", "{\"spec\":{\"unschedulable\":true}}", NULL), 200);
    run_for(&w, 5);
    CHECK(has_taint(&w, "worker-2", "node.kubernetes.io/unschedulable"));
    CHECK_INT(req(&w, "POST", "/api/v1/namespaces/default/pods", NULL,
                  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pinned\"},"
                  "\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"worker-2\"},"
                  "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}", NULL), 201);
    run_for(&w, 60);
    cm_obj *p = pod(&w, "default", "pinned");
    CHECK(p && !pod_node(p->json));
    CHECK_STR(p ? phase(p->json) : NULL, "Pending");
    CHECK_STR(p ? cond_message(p->json, "PodScheduled") : NULL,
              "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
              "1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
              "1 node(s) were unschedulable. preemption: 0/3 nodes are available: "
              "3 Preemption is not helpful for scheduling.");
    /* the DaemonSet pods stay: they tolerate the cordon */
    CHECK_INT(count_pods(&w, "kube-flannel", "kube-flannel-ds-", "worker-2", NULL), 1);
    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-2", "application/merge-patch+json", "{\"spec\":{\"unschedulable\":null}}", NULL), 200);
    run_for(&w, 60);
    CHECK(!has_taint(&w, "worker-2", "node.kubernetes.io/unschedulable"));
    p = pod(&w, "default", "pinned");
    CHECK_STR(p ? pod_node(p->json) : NULL, "worker-2");
    CHECK(p && ready(p->json));
    world_free(&w);
}

static int sandbox_events(struct world *w, const char *pod_name, char *msg, size_t size)
{
    cJSON *list = NULL;
    req(w, "GET", "/api/v1/namespaces/default/events", NULL, NULL, &list);
    const cJSON *e;
    int count = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(list, "items")) {
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason"));
        const char *inv = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "involvedObject"), "name"));
        if (reason && strcmp(reason, "FailedCreatePodSandBox") == 0 && inv && strcmp(inv, pod_name) == 0) {
            count += (int)cJSON_GetObjectItem(e, "count")->valuedouble;
            snprintf(msg, size, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")));
        }
    }
    cJSON_Delete(list);
    return count;
}

static void test_migration_placeholder_blocks_sandbox(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 9);
    run_for(&w, 30);
    static const char DUMMY[] = "{ \"name\": \"dummy\", \"plugins\": [{ \"type\": \"flannel-migration-in-progress\" }]}";
    cm_host *h = cm_sim_host(w.sim, "worker-1");
    CHECK_INT(cm_host_file_write(h, "/etc/cni/net.d/10-calico.conflist", DUMMY), 0);
    CHECK_INT(req(&w, "POST", "/api/v1/namespaces/default/pods", NULL,
                  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"blocked\"},"
                  "\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"worker-1\"},"
                  "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}", NULL), 201);
    run_for(&w, 60);
    cm_obj *p = pod(&w, "default", "blocked");
    CHECK_STR(p ? phase(p->json) : NULL, "Pending");
    CHECK_STR(p ? pod_node(p->json) : NULL, "worker-1");
    const cJSON *cs = p ? cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(p->json, "status"), "containerStatuses"), 0) : NULL;
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cs, "state"), "waiting"), "reason")),
              "ContainerCreating");
    char msg[2048] = "", want[2048];
    int ok_ready = 1;
    cm_cni_sandbox_ok(h, "x", &ok_ready, want, sizeof want);
    int n = sandbox_events(&w, "blocked", msg, sizeof msg);
    CHECK(n >= 2); /* retried */
    CHECK(strstr(msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"") == msg);
    CHECK(strstr(msg, "plugin type=\"flannel-migration-in-progress\"") != NULL);
    /* the placeholder goes (calico-node's install-cni replaces it): the next retry starts the pod */
    CHECK_INT(cm_host_file_remove(h, "/etc/cni/net.d/10-calico.conflist"), 0);
    run_for(&w, 60);
    p = pod(&w, "default", "blocked");
    CHECK_STR(p ? phase(p->json) : NULL, "Running");
    CHECK(p && ready(p->json));
    world_free(&w);
}

static const char *label(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "labels"), key));
}

/* A template change rolls the DaemonSet's pods node by node, never more than maxUnavailable (1) down. */
static void test_daemonset_rolling_update(void)
{
    struct world w;
    world_new(&w, "flannel-3node.yaml", 4);
    run_for(&w, 30);
    cm_obj *p0 = first_pod_on(&w, "kube-flannel", "kube-flannel-ds-", "worker-1");
    char old_name[256] = "", old_rev[64] = "";
    if (p0) {
        snprintf(old_name, sizeof old_name, "%s", p0->name);
        snprintf(old_rev, sizeof old_rev, "%s", label(p0->json, "controller-revision-hash"));
    }
    CHECK(old_name[0] && old_rev[0]);
    CHECK_INT(req(&w, "PATCH", "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "application/merge-patch+json",
                  "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"restartedAt\":\"now\"}}}}}", NULL), 200);
    int worst = 3;
    for (int i = 0; i < 120; i++) {
        run_for(&w, 1);
        int rr = 0;
        count_pods(&w, "kube-flannel", "kube-flannel-ds-", NULL, &rr);
        if (rr < worst)
            worst = rr;
    }
    CHECK_INT(worst, 2); /* one node at a time */
    int rr = 0;
    CHECK_INT(count_pods(&w, "kube-flannel", "kube-flannel-ds-", NULL, &rr), 3);
    CHECK_INT(rr, 3);
    CHECK(pod(&w, "kube-flannel", old_name) == NULL);
    cm_obj *p1 = first_pod_on(&w, "kube-flannel", "kube-flannel-ds-", "worker-1");
    CHECK(p1 && strcmp(label(p1->json, "controller-revision-hash"), old_rev) != 0);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "updatedNumberScheduled"), 3);
    CHECK_INT(status_int(&w, "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds", "numberReady"), 3);
    world_free(&w);
}

/* Records every store event as "rv type kind ns/name". */
static void record(void *ud, const cm_event *ev)
{
    char **log = ud;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ev->obj, "metadata"), "name"));
    char line[600];
    int n = snprintf(line, sizeof line, "%lld %d %s %s/%s\n", (long long)ev->rv, (int)ev->type, ev->kind->kind,
                     ev->ns ? ev->ns : "", name ? name : "");
    size_t old = *log ? strlen(*log) : 0;
    char *next = realloc(*log, old + (size_t)n + 1);
    if (!next)
        return;
    memcpy(next + old, line, (size_t)n + 1);
    *log = next;
}

/* A scenario: come up, relabel two nodes to calico, evict a web pod, delete db-1; the event log. */
static char *scenario(uint64_t seed)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", seed);
    char *log = NULL;
    int sub = cm_store_subscribe(cm_fake_store(w.f), record, &log);
    run_for(&w, 30);
    req(&w, "PATCH", "/api/v1/nodes/worker-2", "application/merge-patch+json",
        "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"calico\"}}}", NULL);
    req(&w, "PATCH", "/api/v1/nodes/worker-3", "application/merge-patch+json",
        "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"calico\"}}}", NULL);
    run_for(&w, 30);
    cm_obj *victim = first_pod_on(&w, "apps", "web-", "worker-2");
    if (victim) {
        char path[512];
        snprintf(path, sizeof path, "/api/v1/namespaces/apps/pods/%s/eviction", victim->name);
        req(&w, "POST", path, NULL, "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\"}", NULL);
    }
    req(&w, "DELETE", "/api/v1/namespaces/apps/pods/db-1", NULL, NULL, NULL);
    req(&w, "POST", "/api/v1/namespaces/default/pods", NULL,
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"x-\"},"
        "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}", NULL);
    run_for(&w, 600);
    cm_store_unsubscribe(cm_fake_store(w.f), sub);
    world_free(&w);
    return log;
}

static void test_same_seed_same_run(void)
{
    char *a = scenario(11), *b = scenario(11), *c = scenario(12);
    CHECK(a && b && c);
    if (a && getenv("SIM_DUMP")) /* SIM_DUMP=1 prints the event log of the run */
        fputs(a, stdout);
    if (a && b && c) {
        CHECK(strcmp(a, b) == 0);
        CHECK(strcmp(a, c) != 0);
        CHECK(strlen(a) > 1000);
    }
    free(a);
    free(b);
    free(c);
}

/* Once everything has happened, the simulation writes nothing more than the kubelets' Lease
 * renewals: no controller fights another. */
static void test_settles(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 2);
    run_for(&w, 300);
    int64_t rv = cm_store_rv(cm_fake_store(w.f));
    uint64_t requests = cm_sim_requests(w.sim);
    CHECK_INT(cm_loop_pending(w.loop), 1); /* only the renewals' background timer: the clock would stall */
    run_for(&w, 3600);
    /* the 4 nodes' Leases renewed (those nothing could see skipped: the last is at most 10 s old) */
    int64_t more = cm_store_rv(cm_fake_store(w.f)) - rv;
    CHECK(more > 0 && more % 4 == 0 && more <= 4 * 360);
    CHECK_INT((int64_t)(cm_sim_requests(w.sim) - requests), more);
    const cm_obj *lease = cm_store_get(cm_fake_store(w.f), cm_kinds_by_kind(w.f->kinds, "coordination.k8s.io/v1", "Lease"),
                                       "kube-node-lease", "worker-1");
    const char *renew = lease ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetObjectItemCaseSensitive(lease->json, "spec"), "renewTime")) : NULL;
    CHECK(renew && strcmp(renew, "2026-11-01T09:04:50") >= 0 && /* 3900 s after 08:00 is 09:05:00 */
          strcmp(renew, "2026-11-01T09:05:00.000000Z") <= 0);
    /* the fixture's DaemonSet pods are current: nothing rolled them */
    CHECK(pod(&w, "kube-flannel", "kube-flannel-ds-vvwk7") != NULL);
    CHECK(pod(&w, "kube-system", "kube-proxy-46cfq") != NULL);
    /* the fixture's pods were found running: their agents were told */
    CHECK(w.started >= 23);
    world_free(&w);
}

/* A merge patch (or with path ending in "s", a POST), then how many flannel and calico-node pods
 * the resync it causes tells. */
static void resync_after(struct world *w, const char *path, const char *body, int flannel, int calico)
{
    w->resync_flannel = w->resync_calico = 0;
    if (path[strlen(path) - 1] == 's')
        CHECK_INT(req(w, "POST", path, NULL, body, NULL), 201);
    else
        CHECK_INT(req(w, "PATCH", path, "application/merge-patch+json", body, NULL), 200);
    run_for(w, 5);
    CHECK_INT(w->resync_flannel, flannel);
    CHECK_INT(w->resync_calico, calico);
}

/* A change wakes the agents that read it: flanneld its annotations, calico-node Calico's; the
 * migration's own annotations and a Node's labels wake none (a resync of every agent per node
 * step made a rehearsal's time grow with the cube of its nodes). */
static void test_resync_wakes_readers(void)
{
    struct world w;
    world_new(&w, "flannel-calico-installed-4node.yaml", 4);
    run_for(&w, 60);
    /* calico-node on worker-1 (the migration's label), the other nodes flannel only */
    CHECK_INT(req(&w, "PATCH", "/api/v1/nodes/worker-1", "application/merge-patch+json",
                  "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"calico\"}}}", NULL), 200);
    run_for(&w, 120);
    CHECK_INT(count_pods(&w, "kube-system", "calico-node-", "worker-1", NULL), 1);
    int flannels = count_pods(&w, "kube-flannel", "kube-flannel-ds-", NULL, NULL);
    CHECK(flannels >= 3);
    const char *node = "/api/v1/nodes/worker-2";
    resync_after(&w, node, "{\"metadata\":{\"annotations\":{\"cni-migrate.dev/step\":\"drain\"}}}", 0, 0);
    resync_after(&w, node, "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}", 0, 0);
    resync_after(&w, node, "{\"metadata\":{\"annotations\":{\"projectcalico.org/IPv4VXLANTunnelAddr\":\"10.244.2.0\"}}}", 0, 1);
    resync_after(&w, node, "{\"metadata\":{\"annotations\":{\"flannel.alpha.coreos.com/public-ip\":\"10.0.0.99\"}}}",
                 flannels, 0);
    resync_after(&w, node, "{\"spec\":{\"podCIDR\":\"10.244.99.0/24\"}}", flannels, 1);
    resync_after(&w, "/apis/crd.projectcalico.org/v1/ippools", "{\"apiVersion\":\"crd.projectcalico.org/v1\","
                 "\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"10.99.0.0/16\"}}", 0, 1);
    world_free(&w);
}

static void test_bad_settings(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, EPOCH_NS);
    cm_fake *f = cm_fake_new(loop);
    cJSON *doc = cJSON_Parse("{\"spec\":{\"simulation\":{\"podStartDelay\":\"soon\"}}}");
    char err[256] = "";
    cm_sim *s = cm_sim_new(f, loop, 1, doc, err, sizeof err);
    CHECK(s == NULL);
    CHECK_STR(err, "FakeCluster spec.simulation.podStartDelay: not a duration");
    cJSON_Delete(doc);
    doc = cJSON_Parse("{\"spec\":{\"simulation\":{\"podStartDelay\":\"1m\",\"pods\":[{\"selector\":\"app=web\",\"startDelay\":30}]}}}");
    s = cm_sim_new(f, loop, 1, doc, err, sizeof err);
    CHECK(s != NULL);
    cm_sim_free(s);
    cJSON_Delete(doc);
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
    RUN(test_daemonsets_come_up);
    RUN(test_relabel_moves_daemonsets);
    RUN(test_eviction_replaced_elsewhere);
    RUN(test_cordon_taint_and_unschedulable);
    RUN(test_daemonset_taints);
    RUN(test_migration_placeholder_blocks_sandbox);
    RUN(test_same_seed_same_run);
    RUN(test_daemonset_rolling_update);
    RUN(test_settles);
    RUN(test_resync_wakes_readers);
    RUN(test_bad_settings);
    return CHECK_DONE();
}
