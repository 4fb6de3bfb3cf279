/*
 * fake_bench.c - figures for the fake cluster at scale (a program, not a test):
 *   fake-bench [NODES [PODS_PER_NODE]]      (default 5000 nodes, 30 pods each = 150,000 pods)
 * Prints the fixture's load time and the RSS after it, the time of the request `kubectl get nodes`
 * makes (in process, and with the real kubectl over HTTP when one is on PATH or in $KUBECTL), and the
 * time of listing one node's pods by spec.nodeName on this cluster and on a 50-node one: served from
 * the index, the two should be about equal.
 */
#include "fake.h"
#include "http.h"
#include "loop.h"

#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VmRSS or VmHWM of this process, in MiB. */
static double mem_mib(const char *field)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, field, strlen(field)) == 0)
            kb = strtol(line + strlen(field) + 1, NULL, 10);
    if (fp)
        fclose(fp);
    return kb / 1024.0;
}

struct text {
    char *buf;
    size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap ? t->cap * 2 : 1 << 20;
        t->buf = realloc(t->buf, t->cap);
        if (!t->buf) {
            perror("realloc");
            exit(1);
        }
    }
}

/* A fixture as kubectl prints it, with pods of a realistic size (about 1.5 KB of YAML each). */
static struct text make_fixture(int nodes, int per_node)
{
    struct text t = {0};
    for (int n = 0; n < nodes; n++) {
        put(&t, "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-%05d\n  labels:\n"
                "    kubernetes.io/hostname: node-%05d\n    kubernetes.io/os: linux\n  annotations:\n"
                "    flannel.alpha.coreos.com/backend-type: vxlan\n    flannel.alpha.coreos.com/public-ip: 10.%d.%d.%d\n"
                "spec:\n  podCIDR: 10.%d.%d.0/24\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 10.%d.%d.%d\n"
                "  conditions:\n  - type: Ready\n    status: \"True\"\n  nodeInfo:\n    kubeletVersion: v1.32.0\n"
                "    osImage: Debian GNU/Linux 12 (bookworm)\n    kernelVersion: 6.1.0-28-amd64\n"
                "    containerRuntimeVersion: containerd://1.7.24\n",
            n, n, 100 + n / 65536, (n / 256) % 256, n % 256, 128 + n / 256, n % 256, 100 + n / 65536,
            (n / 256) % 256, n % 256);
        for (int p = 0; p < per_node; p++) {
            put(&t, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: app-%05d-%03d\n  namespace: ns-%d\n"
                    "  labels:\n    app: app-%d\n    pod-template-hash: 5d8f7c9b6\n  ownerReferences:\n"
                    "  - apiVersion: apps/v1\n    kind: ReplicaSet\n    name: app-%d-5d8f7c9b6\n"
                    "    uid: 6f1c2b3a-0000-4000-8000-%012d\n    controller: true\nspec:\n  nodeName: node-%05d\n"
                    "  containers:\n  - name: app\n    image: registry.example.com/app:1.%d\n    ports:\n"
                    "    - containerPort: 8080\n      protocol: TCP\n    resources:\n      requests: {cpu: 100m, memory: 128Mi}\n"
                    "  restartPolicy: Always\n  terminationGracePeriodSeconds: 30\nstatus:\n  phase: Running\n"
                    "  podIP: 10.%d.%d.%d\n  conditions:\n  - type: Ready\n    status: \"True\"\n"
                    "  containerStatuses:\n  - name: app\n    ready: true\n    restartCount: 0\n"
                    "    image: registry.example.com/app:1.%d\n    state:\n      running:\n"
                    "        startedAt: \"2026-11-01T08:00:00Z\"\n",
                n, p, p % 20, p, p, n * per_node + p, n, p, 128 + n / 256, n % 256, 2 + p, p);
        }
    }
    return t;
}

static cm_fake *load(cm_loop *loop, int nodes, int per_node, double *secs, size_t *bytes)
{
    struct text t = make_fixture(nodes, per_node);
    cm_fake *f = cm_fake_new(loop);
    char err[512];
    double t0 = now_s();
    if (cm_fake_load(f, "bench.yaml", t.buf, t.len, err, sizeof err) != 0) {
        fprintf(stderr, "fake-bench: %s\n", err);
        exit(1);
    }
    *secs = now_s() - t0;
    *bytes = t.len;
    free(t.buf);
    return f;
}

/* Average seconds of one in-process request over n tries. */
static double time_request(cm_fake *f, const char *path, const char *query, const char *accept, int n,
                           size_t *body_len)
{
    cm_fake_req req = {.method = "GET", .path = path, .query = query, .accept = accept};
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        cm_fake_resp resp;
        cm_fake_handle(f, &req, &resp);
        *body_len = resp.body_len;
        if (resp.status != 200) {
            fprintf(stderr, "fake-bench: %s?%s: %d %s\n", path, query ? query : "", resp.status, resp.body);
            exit(1);
        }
        cm_fake_resp_clear(&resp);
    }
    return (now_s() - t0) / n;
}

struct child {
    pid_t pid;
    int done, status;
};

static void poll_child(cm_loop *loop, void *ud)
{
    struct child *c = ud;
    if (waitpid(c->pid, &c->status, WNOHANG) == c->pid)
        c->done = 1;
    else
        cm_loop_timer(loop, cm_loop_now(loop) + 5 * 1000000, poll_child, c);
}

/* Runs kubectl ARGS against the server while the loop serves; returns wall seconds or -1. */
static double time_kubectl(cm_loop *loop, const char *kubectl, const char *kubeconfig, const char *const args[])
{
    const char *argv[16] = {kubectl, "--kubeconfig", kubeconfig};
    int i = 3;
    for (; args[i - 3] && i < 15; i++)
        argv[i] = args[i - 3];
    argv[i] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0); /* O_WRONLY */
    struct child c = {0};
    double t0 = now_s();
    if (posix_spawn(&c.pid, kubectl, &fa, NULL, (char *const *)argv, environ) != 0)
        return -1;
    posix_spawn_file_actions_destroy(&fa);
    cm_loop_timer(loop, cm_loop_now(loop), poll_child, &c);
    cm_loop_run_until(loop, CM_TIME_NEVER, &c.done);
    double secs = now_s() - t0;
    return WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0 ? secs : -1;
}

static const char *find_kubectl(void)
{
    const char *k = getenv("KUBECTL");
    if (k && *k)
        return k;
    return access("/usr/bin/kubectl", X_OK) == 0 ? "/usr/bin/kubectl" : NULL;
}

static void with_kubectl(cm_loop *loop, cm_fake *f, const char *node)
{
    const char *kubectl = find_kubectl();
    if (!kubectl) {
        printf("kubectl:                   not found (set KUBECTL), skipped\n");
        return;
    }
    char err[256], path[] = "/tmp/fake-bench-kubeconfig-XXXXXX";
    cm_http *h = cm_http_start(f, loop, "127.0.0.1", 0, NULL, NULL, err, sizeof err);
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!h || !fp) {
        fprintf(stderr, "fake-bench: %s\n", h ? "mkstemp failed" : err);
        exit(1);
    }
    fprintf(fp, "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: http://127.0.0.1:%d\n"
                "users:\n- name: b\n  user: {}\ncontexts:\n- name: b\n  context: {cluster: b, user: b}\ncurrent-context: b\n",
            cm_http_port(h));
    fclose(fp);
    char sel[64];
    snprintf(sel, sizeof sel, "spec.nodeName=%s", node);
    const char *const get_nodes[] = {"get", "nodes", NULL};
    const char *const node_pods[] = {"get", "pods", "-A", "--field-selector", sel, NULL};
    time_kubectl(loop, kubectl, path, get_nodes); /* warm the discovery cache */
    printf("kubectl get nodes:         %.3f s (%s, over HTTP)\n", time_kubectl(loop, kubectl, path, get_nodes), kubectl);
    printf("kubectl get pods -A --field-selector %s: %.3f s\n", sel, time_kubectl(loop, kubectl, path, node_pods));
    unlink(path);
    cm_http_stop(h);
}

int main(int argc, char **argv)
{
    int nodes = argc > 1 ? atoi(argv[1]) : 5000, per_node = argc > 2 ? atoi(argv[2]) : 30;
    signal(SIGPIPE, SIG_IGN);
    cm_loop *loop = cm_loop_new(CM_CLOCK_REAL, 0);
    double secs;
    size_t bytes, len;
    double rss0 = mem_mib("VmRSS:");
    cm_fake *f = load(loop, nodes, per_node, &secs, &bytes);
    printf("cluster:                   %d nodes, %d pods (fixture %.0f MiB of YAML)\n", nodes, nodes * per_node, bytes / 1048576.0);
    printf("load:                      %.2f s\n", secs);
    printf("RSS after load:            %.0f MiB (%.0f MiB before; peak %.0f MiB, with the fixture text)\n",
           mem_mib("VmRSS:"), rss0, mem_mib("VmHWM:"));
    const char *table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    double t = time_request(f, "/api/v1/nodes", "limit=500", table, 20, &len);
    printf("GET nodes as Table, 500:   %.2f ms (the first page kubectl get nodes asks for, %zu bytes)\n", t * 1e3, len);
    t = time_request(f, "/api/v1/nodes", NULL, table, 5, &len);
    printf("GET all nodes as Table:    %.2f ms (%zu bytes)\n", t * 1e3, len);
    char node[32], q[96];
    snprintf(node, sizeof node, "node-%05d", nodes / 2);
    snprintf(q, sizeof q, "fieldSelector=spec.nodeName%%3D%s&limit=500", node);
    double big = time_request(f, "/api/v1/pods", q, NULL, 200, &len);
    printf("one node's pods, %5d nodes: %.3f ms (%zu bytes)\n", nodes, big * 1e3, len);
    cm_fake *small = load(loop, 50, per_node, &secs, &bytes);
    snprintf(q, sizeof q, "fieldSelector=spec.nodeName%%3Dnode-00025&limit=500");
    double little = time_request(small, "/api/v1/pods", q, NULL, 200, &len);
    printf("one node's pods,    50 nodes: %.3f ms (%zu bytes): ratio %.2f\n", little * 1e3, len, big / little);
    snprintf(q, sizeof q, "fieldSelector=status.phase%%3DRunning&limit=500");
    t = time_request(f, "/api/v1/pods", q, NULL, 3, &len);
    printf("pods by status.phase (scan): %.2f ms (no index: the cost of a scan, for comparison)\n", t * 1e3);
    with_kubectl(loop, f, node);
    cm_fake_free(small);
    cm_fake_free(f);
    cm_loop_free(loop);
    return 0;
}
