/*
 * sim_bench.c - prints figures for the simulation on a large cluster (a program, not a test).
 *
 * usage: sim-bench FIXTURE [VIRTUAL_SECONDS] [--digest]
 *
 * Loads FIXTURE (e.g. from `cni-migrate run examples/clusters/generate.lua --nodes 1000
 * --pods-per-node 30 --calico-installed`), attaches the simulation on a virtual clock, lets it
 * settle, then moves the DaemonSets through every node the way Calico's migration does: each
 * node in turn is labelled projectcalico.org/node-network-during-migration=calico, so its
 * flannel pod stops and a calico-node pod starts there (the flannel DaemonSet selects
 * ...=flannel), spread evenly over VIRTUAL_SECONDS (default 3600). Prints wall and CPU time
 * (on a shared machine the CPU time is the steadier figure), peak RSS,
 * store events, events per wall second, the virtual/wall ratio and the simulation's requests.
 * With --digest it also prints an FNV-1a digest of every store event (type, kind, namespace and
 * the object as JSON), so two builds can be shown to run the same simulation byte for byte.
 */
#include "fake.h"
#include "strbuf.h"
#include "fakeint.h"
#include "sim.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* CPU seconds (user + system) this process has used. */
static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct tally {
    uint64_t events;
    int digest;    /* --digest given */
    uint64_t hash; /* FNV-1a over every event */
};

static void fnv(uint64_t *h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ (unsigned char)p[i]) * UINT64_C(0x100000001b3);
}

static void count(void *ud, const cm_event *ev)
{
    struct tally *t = ud;
    t->events++;
    if (!t->digest)
        return;
    char head[256];
    int n = snprintf(head, sizeof head, "%d %s/%s %s\n", (int)ev->type, ev->kind->group, ev->kind->kind,
                     ev->ns ? ev->ns : "");
    fnv(&t->hash, head, (size_t)n);
    char *text = cJSON_PrintUnformatted(ev->obj);
    if (text)
        fnv(&t->hash, text, strlen(text));
    free(text);
}

static int patch(cm_fake *f, const char *path, const char *body)
{
    cm_fake_req r = {.method = "PATCH", .path = path, .content_type = "application/merge-patch+json",
                     .body = body, .body_len = strlen(body)};
    cm_fake_resp resp;
    cm_fake_handle(f, &r, &resp);
    int status = resp.status;
    cm_fake_resp_clear(&resp);
    return status;
}

/* The names of the nodes, sorted (the store's order). */
static char **node_names(cm_fake *f, size_t *n)
{
    cm_obj *const *items;
    *n = cm_store_list(cm_fake_store(f), cm_kinds_by_kind(f->kinds, "v1", "Node"), NULL, &items);
    char **names = calloc(*n ? *n : 1, sizeof *names);
    for (size_t i = 0; names && i < *n; i++)
        names[i] = strdup(items[i]->name);
    return names;
}

int main(int argc, char **argv)
{
    struct tally tally = {0, 0, UINT64_C(0xcbf29ce484222325)};
    if (argc > 1 && strcmp(argv[argc - 1], "--digest") == 0) {
        tally.digest = 1;
        argc--;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: sim-bench FIXTURE [VIRTUAL_SECONDS] [--digest]\n");
        return 2;
    }
    int64_t span = argc > 2 ? strtoll(argv[2], NULL, 10) : 3600;
    size_t len;
    char *text = cm_read_file(argv[1], &len);
    if (!text) {
        perror(argv[1]);
        return 1;
    }
    double t0 = wall();
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1793520000) * CM_NS_PER_S);
    cm_fake *f = cm_fake_new(loop);
    char err[512];
    if (cm_fake_load(f, argv[1], text, len, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    free(text);
    cm_sim *sim = cm_sim_new(f, loop, 1, NULL, err, sizeof err);
    if (!sim) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int sub = cm_store_subscribe(cm_fake_store(f), count, &tally);
    size_t nnodes;
    char **names = node_names(f, &nnodes);
    size_t npods = cm_store_list(cm_fake_store(f), cm_kinds_by_kind(f->kinds, "v1", "Pod"), NULL, &(cm_obj *const *){0});
    double t1 = wall(), c1 = cpu();
    printf("fixture: %zu nodes, %zu pods, loaded in %.2f s\n", nnodes, npods, t1 - t0);

    char path[512];
    for (size_t i = 0; i < nnodes; i++) { /* the migration's first step: every node runs flannel */
        snprintf(path, sizeof path, "/api/v1/nodes/%s", names[i]);
        patch(f, path, "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"flannel\"}}}");
    }
    patch(f, "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds",
          "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"projectcalico.org/node-network-during-migration\":\"flannel\"}}}}}");
    int64_t start = cm_loop_now(loop);
    int64_t step = nnodes ? span * CM_NS_PER_S / (int64_t)nnodes : span * CM_NS_PER_S;
    for (size_t i = 0; i < nnodes; i++) {
        cm_loop_run_until(loop, start + (int64_t)i * step, NULL);
        snprintf(path, sizeof path, "/api/v1/nodes/%s", names[i]);
        patch(f, path, "{\"metadata\":{\"labels\":{\"projectcalico.org/node-network-during-migration\":\"calico\"}}}");
    }
    cm_loop_run_until(loop, start + span * CM_NS_PER_S, NULL);
    double t2 = wall();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double secs = t2 - t1;
    printf("virtual time:      %lld s\n", (long long)(span));
    printf("wall time:         %.2f s (simulation), %.2f s (with loading)\n", secs, t2 - t0);
    printf("CPU time:          %.2f s (simulation), %.2f s (with loading)\n", cpu() - c1, cpu());
    printf("peak RSS:          %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    printf("store events:      %llu (%.0f per wall second)\n", (unsigned long long)tally.events,
           (double)tally.events / secs);
    printf("virtual/wall:      %.1f\n", (double)span / secs);
    printf("sim requests:      %llu, reconciles: %llu\n", (unsigned long long)cm_sim_requests(sim),
           (unsigned long long)cm_sim_reconciles(sim));
    if (tally.digest)
        printf("event digest:      %016llx\n", (unsigned long long)tally.hash);
    cm_store_unsubscribe(cm_fake_store(f), sub);
    for (size_t i = 0; i < nnodes; i++)
        free(names[i]);
    free(names);
    cm_sim_free(sim);
    cm_fake_free(f);
    cm_loop_free(loop);
    return 0;
}
