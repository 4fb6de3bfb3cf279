/* simrun.c - a run against the simulated cluster (see simrun.h). */
#include "simrun.h"

#include "fake.h"
#include "fakeint.h"
#include "fault.h"
#include "inproc.h"
#include "k8s_config.h"
#include "lfake.h"
#include "log.h"
#include "noderun.h"
#include "sim.h"
#include "status.h"
#include "store.h"
#include "yamldoc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cm_sim_run {
    cm_loop *loop;
    cm_fake *fake;
    cm_sim *sim;         /* the simulated controllers and kubelets; NULL when frozen */
    cm_faults *faults;   /* the injected faults */
    cm_fault_note_fn on_fault; /* also told of each fault (fake serve prints them) */
    void *on_fault_ud;
    struct cm_run *run;  /* set by cm_sim_run_install: its Lua state runs the agents */
    int agent_errors;
    uint64_t seed;
    char *fixture;
    cm_inproc_stats stats;
    FILE *trace;
    int sub; /* store subscription for the trace, or -1 */
    char *save;          /* --fake-save FILE, or NULL */
    long writes;         /* the script's API writes the cluster has answered */
    long crash_after;    /* --fault crash:afterWrites=N, 0 for none */
    int crashed;         /* the crash happened: the script is dead, its requests go nowhere */
    int saved;           /* the state was saved (at the crash) */
    cm_sim_watch_fn watch; /* told of every change (cm.fake.on_change), or NULL */
    void *watch_ud;
    int watch_sub;       /* its store subscription, or -1 */
    int watching;        /* inside watch: the cluster must not be written */
    long violations;     /* safety invariants broken (cm_sim_run_violation) */
    char *first_violation;
    cm_podproc *procs;   /* fake serve --run-image: that image's pods run as processes, or NULL */
};

/* An RFC 3339 time as ns since the Unix epoch, or -1. */
static int64_t rfc3339_ns(const char *text)
{
    long long ns;
    return text && cm_parse_rfc3339(text, &ns) == 0 ? (int64_t)ns : -1;
}

/* Writes a trace line: {"t": ..., then the rest (a JSON members text)}. */
static void trace_line(cm_sim_run *s, const char *rest)
{
    char ts[40];
    cm_log_format_time(ts, sizeof ts, cm_loop_wall(s->loop));
    fprintf(s->trace, "{\"t\":\"%s\",%s}\n", ts, rest);
}

static void crash(cm_sim_run *s);

static void trace_request(void *ud, int verb, const char *method, const char *path, int status)
{
    cm_sim_run *s = ud;
    int write = verb >= CM_VERB_CREATE && verb <= CM_VERB_DELETE;
    if (s->trace) {
    cJSON *p = cJSON_CreateString(path);
    char *q = cJSON_PrintUnformatted(p);
    char rest[4200];
    snprintf(rest, sizeof rest, "\"actor\":\"script\",\"verb\":\"%s\",\"method\":\"%s\",\"path\":%s,\"status\":%d",
             cm_verb_names[verb], method, q ? q : "\"\"", status);
    trace_line(s, rest);
    free(q);
    cJSON_Delete(p);
    }
    if (write && ++s->writes == s->crash_after && !s->crashed)
        crash(s); /* that write has reached the cluster; its answer never reaches the script */
}

/* A fault, as it happens: {"t":..., "actor":"fault", "fault": kind, ...what it hit}. */
static void trace_fault(cm_sim_run *s, enum cm_fault_kind kind, const cJSON *what)
{
    char *w = cJSON_PrintUnformatted(what);
    char rest[4400];
    size_t n = w ? strlen(w) : 0;
    snprintf(rest, sizeof rest, "\"actor\":\"fault\",\"fault\":\"%s\"%s%.*s", cm_fault_names[kind],
             n > 2 ? "," : "", n > 2 ? (int)(n - 2) : 0, n > 2 ? w + 1 : "");
    trace_line(s, rest);
    free(w);
}

/* Each injected fault: into the trace, then to whoever asked (cm_sim_run_on_fault). */
static void note_fault(void *ud, enum cm_fault_kind kind, const cJSON *what)
{
    cm_sim_run *s = ud;
    if (s->trace)
        trace_fault(s, kind, what);
    if (s->on_fault)
        s->on_fault(s->on_fault_ud, kind, what);
}

static void trace_event(void *ud, const cm_event *ev)
{
    static const char *const TYPES[] = {"ADDED", "MODIFIED", "DELETED"};
    cm_sim_run *s = ud;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ev->obj, "metadata");
    cJSON *name = cJSON_CreateString(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name")));
    char *n = cJSON_PrintUnformatted(name);
    char rest[1200];
    snprintf(rest, sizeof rest, "\"actor\":\"cluster\",\"event\":\"%s\",\"kind\":\"%s\",\"namespace\":\"%s\","
             "\"name\":%s,\"resourceVersion\":%lld", TYPES[ev->type], ev->kind->kind, ev->ns ? ev->ns : "",
             n ? n : "\"\"", (long long)ev->rv);
    trace_line(s, rest);
    free(n);
    cJSON_Delete(name);
}

/* The FakeCluster document's spec.startTime, or the default epoch; -1 with err when malformed. */
static int64_t start_time(const cJSON *settings, const char *fixture, char *err, size_t errsize)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(settings, "spec");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(spec, "startTime");
    int64_t t = rfc3339_ns(st ? cJSON_GetStringValue(st) : CM_SIM_DEFAULT_EPOCH);
    if (t < 0)
        snprintf(err, errsize, "%s: FakeCluster spec.startTime: expected a time like %s", fixture,
                 CM_SIM_DEFAULT_EPOCH);
    return t;
}

/* Fills resp with a Status error. */
static void reply_status(cm_fake_resp *resp, int code, const char *reason, const char *message)
{
    cJSON *st = cm_status_new(code, reason, message);
    *resp = (cm_fake_resp){.status = code, .content_type = "application/json",
                           .body = st ? cJSON_PrintUnformatted(st) : NULL};
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    cJSON_Delete(st);
}

/* The fake's own paths: GET /cni-migrate/v1alpha1/hosts/NODE is that node's simulated host. */
static void serve_ext(void *ud, const cm_fake_req *req, cm_fake_resp *resp)
{
    static const char PREFIX[] = "/cni-migrate/v1alpha1/hosts/";
    cm_sim_run *s = ud;
    const char *node = req->path + sizeof PREFIX - 1;
    char msg[400];
    if (strncmp(req->path, PREFIX, sizeof PREFIX - 1) != 0 || !*node || strchr(node, '/'))
        return reply_status(resp, 404, "NotFound", "the server could not find the requested resource");
    if (strcmp(req->method, "GET") != 0)
        return reply_status(resp, 405, "MethodNotAllowed", "a simulated host is read-only here: only GET");
    if (!s->sim)
        return reply_status(resp, 404, "NotFound", "no simulated hosts: the simulation is off (--no-sim)");
    cm_host *h = cm_sim_host(s->sim, node);
    if (!h) {
        snprintf(msg, sizeof msg, "node \"%.200s\" has no simulated host (no such node)", node);
        return reply_status(resp, 404, "NotFound", msg);
    }
    *resp = (cm_fake_resp){.status = 200, .content_type = "application/json",
                           .body = cJSON_PrintUnformatted(cm_host_json(h))};
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    if (!resp->body)
        reply_status(resp, 500, "InternalError", "out of memory");
}

/* A new loop on the clock o asks for, time 0 standing for the default epoch. */
static cm_loop *new_loop(const struct cm_sim_opts *o)
{
    int64_t epoch = rfc3339_ns(CM_SIM_DEFAULT_EPOCH);
    if (o->clock != CM_CLOCK_SCALED)
        return cm_loop_new(CM_CLOCK_VIRTUAL, epoch);
    cm_loop *loop = cm_loop_new(CM_CLOCK_SCALED, epoch);
    if (loop && cm_loop_set_speed(loop, o->speed > 0 ? o->speed : 1.0) != 0) {
        cm_loop_free(loop);
        return NULL;
    }
    return loop;
}

/* Attaches the simulation (unless frozen), the trace and the hosts' path. */
static int attach(cm_sim_run *s, const struct cm_sim_opts *o, char *err, size_t errsize)
{
    if (o->trace && !(s->trace = fopen(o->trace, "w"))) {
        snprintf(err, errsize, "--trace %s: %s", o->trace, strerror(errno));
        return -1;
    }
    if (s->trace)
        s->sub = cm_store_subscribe(cm_fake_store(s->fake), trace_event, s);
    s->faults = cm_faults_new(s->fake, s->fixture, o->faults, o->nfaults, o->seed, err, errsize);
    if (!s->faults)
        return -1;
    cm_faults_set_note(s->faults, note_fault, s);
    s->crash_after = cm_faults_crash_after(s->faults);
    if (o->save && !(s->save = strdup(o->save))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    cm_fake_set_extension(s->fake, serve_ext, s);
    if (o->frozen)
        return 0;
    char why[512];
    s->sim = cm_sim_new(s->fake, s->loop, o->seed, NULL, why, sizeof why);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm_fake_settings(s->fake),
                                                                                        "spec"), "randomState");
    if (s->sim && rs) { /* a saved cluster: its uids and sandbox ids are not handed out again (after the seeding) */
        unsigned long long st = 0;
        char tail;
        if (!cJSON_IsString(rs) || sscanf(rs->valuestring, "%llx%c", &st, &tail) != 1 || !st) {
            snprintf(err, errsize, "%s: FakeCluster spec.randomState: expected a non-zero hexadecimal number",
                     s->fixture);
            return -1;
        }
        cm_fake_set_random_state(s->fake, (uint64_t)st);
        cm_sim_reseed(s->sim, (uint64_t)st);
    }
    if (!s->sim)
        snprintf(err, errsize, "%s: %s", s->fixture, why);
    return s->sim ? 0 : -1;
}

cm_sim_run *cm_sim_run_new(const char *fixture, const struct cm_sim_opts *o, char *err, size_t errsize)
{
    size_t len;
    char *text = cm_read_file(fixture, &len);
    if (!text) {
        snprintf(err, errsize, "%s: %s", fixture, strerror(errno));
        return NULL;
    }
    cm_sim_run *s = calloc(1, sizeof *s);
    if (s) {
        *s = (cm_sim_run){.sub = -1, .watch_sub = -1, .fixture = strdup(fixture)};
        s->loop = new_loop(o);
        s->fake = s->loop ? cm_fake_new(s->loop) : NULL;
    }
    if (!s || !s->fake || !s->fixture) {
        snprintf(err, errsize, "out of memory");
        free(text);
        cm_sim_run_free(s);
        return NULL;
    }
    cm_fake_seed(s->fake, o->seed);
    s->seed = o->seed;
    int ok = cm_fake_load(s->fake, fixture, text, len, err, errsize) == 0;
    free(text);
    /* time 0 is startTime (objects the fixture gave without a creationTimestamp got the default) */
    int64_t epoch = ok ? start_time(cm_fake_settings(s->fake), fixture, err, errsize) : -1;
    if (epoch >= 0)
        cm_loop_set_epoch(s->loop, epoch);
    if (epoch < 0 || attach(s, o, err, errsize) != 0) {
        cm_sim_run_free(s);
        return NULL;
    }
    return s;
}

cm_loop *cm_sim_run_loop(const cm_sim_run *s)
{
    return s->loop;
}

cm_fake *cm_sim_run_fake(const cm_sim_run *s)
{
    return s->fake;
}

void cm_sim_run_on_fault(cm_sim_run *s, cm_fault_note_fn fn, void *ud)
{
    s->on_fault = fn;
    s->on_fault_ud = ud;
}

static cm_transport *new_transport(struct cm_run *run)
{
    cm_sim_run *s = run->sim;
    cm_transport *t = cm_inproc_transport_new(s->fake, s->loop, CM_NS_PER_S / 1000, &s->stats,
                                              s->trace || s->crash_after ? trace_request : NULL, s);
    if (t)
        cm_inproc_transport_set_dead(t, &s->crashed);
    return t;
}

static struct cm_k8s_config *new_config(struct cm_run *run, const char *namespace)
{
    char source[512];
    snprintf(source, sizeof source, "fake cluster %s", run->sim->fixture);
    return cm_k8s_config_fake(source, namespace);
}

/* The value of the container's environment variable name (a plain value), or NULL. */
static const char *container_env(const cJSON *container, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(container, "env")) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        if (n && !strcmp(n, name))
            return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "value"));
    }
    return NULL;
}

/*
 * A node-run pod: its first container runs `... cni-migrate node-run SCRIPT [--args JSON]`.
 * The simulated kubelet runs the script now, in process, against the node's simulated host
 * (noderun.h: a fresh Lua state, the same runner as the CLI), and the container ends with the
 * script's exit code and result line (cm_sim_pod_result). Returns whether pod was one.
 */
static int node_run_pod(cm_sim_run *s, cm_sim *sim, const char *node, const cJSON *pod)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "containers"), 0);
    const char *argv[64];
    int argc = 0;
    static const char *const PARTS[] = {"command", "args"};
    for (int k = 0; k < 2; k++) {
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(c0, PARTS[k]))
            if (cJSON_IsString(a) && argc < 64)
                argv[argc++] = a->valuestring;
    }
    int at = -1;
    for (int i = 1; i + 1 < argc && at < 0; i++) {
        size_t n = strlen(argv[i - 1]);
        if (strcmp(argv[i], "node-run") == 0 && n >= 11 && strcmp(argv[i - 1] + n - 11, "cni-migrate") == 0)
            at = i;
    }
    if (at < 0)
        return 0;
    const char *script = argv[at + 1], *args = "{}", *source = NULL;
    for (int i = at + 2; i < argc; i++) {
        if (strcmp(argv[i], "--args") == 0 && i + 1 < argc)
            args = argv[i + 1];
        else if (strncmp(argv[i], "--args=", 7) == 0)
            args = argv[i] + 7;
        else if (strcmp(argv[i], "--script-env") == 0 && i + 1 < argc)
            source = container_env(c0, argv[i + 1]);
    }
    struct cm_node_run_opts o = {.ops = &cm_hostops_sim, .ud = cm_sim_host(sim, node), .lua_dir = s->run->lua_dir,
                                 .log = s->run->log, .loop = s->loop, .source = source};
    char *line = NULL;
    int code = o.ud ? cm_node_run(&o, script, args, &line) : 1;
    const char *out = line ? line : "{\"error\":\"no simulated host\",\"code\":\"ENODEV\"}";
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "uid"));
    /* what node-run prints: the line on stdout (and, failed, on stderr), the message in its file */
    cm_fake_log_append(s->fake, uid, out, strlen(out));
    cm_fake_log_append(s->fake, uid, "\n", 1);
    if (code != 0) {
        char head[300];
        int n = snprintf(head, sizeof head, "cni-migrate: node-run %.200s: ", script);
        cm_fake_log_append(s->fake, uid, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
        cm_fake_log_append(s->fake, uid, out, strlen(out));
        cm_fake_log_append(s->fake, uid, "\n", 1);
    }
    char *msg = cm_node_run_message(out);
    cm_sim_pod_result(sim, uid, code, msg ? msg : out);
    free(msg);
    free(line);
    return 1;
}

/* What the simulated containers of a pod (not a process, not a node-run script) print, so that
 * `kubectl logs` shows when and where they ran: a line per container as they start and as the
 * kubelet stops them; the log goes with the pod when they have stopped. */
static void container_log(cm_sim_run *s, const cJSON *pod, const char *node, enum cm_sim_pod_event ev)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "uid"));
    if (!uid || ev == CM_SIM_POD_RESYNC)
        return;
    if (ev == CM_SIM_POD_STOPPED) {
        cm_fake_log_forget(s->fake, uid);
        return;
    }
    char now[40], line[1200];
    cm_log_format_time(now, sizeof now, cm_loop_wall(s->loop));
    long long grace = 30;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(meta, "deletionGracePeriodSeconds");
    if (cJSON_IsNumber(g))
        grace = (long long)g->valuedouble;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "spec"), "containers")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        const char *image = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "image"));
        int n = ev == CM_SIM_POD_STARTED
                    ? snprintf(line, sizeof line, "%s simulated container %.250s (image %.400s) started on node %.250s\n",
                               now, name ? name : "", image ? image : "", node)
                    : snprintf(line, sizeof line, "%s simulated container %.250s stopping: SIGTERM from the kubelet, "
                               "grace period %llds\n", now, name ? name : "", grace);
        cm_fake_log_append(s->fake, uid, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
}

/*
 * The simulation's agent hook: a pod started or stopped on a node. What that
 * does to the node's host is add-on knowledge, so it is Lua's:
 * require("cm.agents").on_pod(node, pod, "started"|"stopped"|"resync", host). Runs on
 * the main thread's stack, which is inside a wait whenever the loop runs.
 */
static void run_agent(void *ud, cm_sim *sim, const char *node, const cJSON *pod, enum cm_sim_pod_event ev)
{
    cm_sim_run *s = ud;
    if (ev == CM_SIM_POD_STARTED && node_run_pod(s, sim, node, pod))
        return; /* otherwise the handle finds the node's host through the run, at each call */
    if (s->procs && cm_podproc_matches(s->procs, pod)) {
        if (ev == CM_SIM_POD_STARTED || ev == CM_SIM_POD_RESTARTED)
            cm_podproc_start(s->procs, node, pod);
        else if (ev != CM_SIM_POD_RESYNC)
            cm_podproc_stop(s->procs, pod, ev == CM_SIM_POD_STOPPED);
        return;
    }
    container_log(s, pod, node, ev == CM_SIM_POD_RESTARTED ? CM_SIM_POD_STARTED : ev);
    if (ev == CM_SIM_POD_STOPPING || ev == CM_SIM_POD_RESTARTED || !cm_sim_network_agent(pod))
        return; /* the network agents are told when their pods have stopped; other pods change no host */
    const char *event = ev == CM_SIM_POD_STARTED ? "started" : ev == CM_SIM_POD_STOPPED ? "stopped" : "resync";
    char *err = cm_fake_agent_on_pod(s->run->L, node, pod, event);
    if (err) {
        cm_sim_run_agent_failed(s, node, err);
        free(err);
    }
}

void cm_sim_run_install(cm_sim_run *s, struct cm_run *run)
{
    s->run = run;
    run->sim = s;
    run->k8s_transport_new = new_transport;
    run->k8s_config_new = new_config;
    if (s->sim)
        cm_sim_set_agent(s->sim, run_agent, s);
}

void cm_sim_run_set_podproc(cm_sim_run *s, cm_podproc *pp)
{
    s->procs = pp;
}

cm_sim *cm_sim_run_sim(const cm_sim_run *s)
{
    return s->sim;
}

int cm_sim_run_agent_errors(const cm_sim_run *s)
{
    return s->agent_errors;
}

void cm_sim_run_agent_failed(cm_sim_run *s, const char *node, const char *err)
{
    s->agent_errors++;
    cm_log_field f = {.key = "node", .value = node};
    cm_log_write(&s->run->log, CM_LOG_ERROR, cm_loop_wall(s->loop), err, &f, node ? 1 : 0);
}

/* The store's subscriber while a watch is set: hands the change on, flagged as a read-only moment. */
static void watch_event(void *ud, const cm_event *ev)
{
    cm_sim_run *s = ud;
    if (!s->watch || s->watching)
        return; /* a change made inside the watch (it must make none) is not handed back to it */
    s->watching = 1;
    s->watch(s->watch_ud, ev);
    s->watching = 0;
}

void cm_sim_run_watch(cm_sim_run *s, cm_sim_watch_fn fn, void *ud)
{
    s->watch = fn;
    s->watch_ud = ud;
    if (fn && s->watch_sub < 0)
        s->watch_sub = cm_store_subscribe(cm_fake_store(s->fake), watch_event, s);
}

int cm_sim_run_watching(const cm_sim_run *s)
{
    return s->watching;
}

void cm_sim_run_violation(cm_sim_run *s, const char *message)
{
    char at[80], ts[40];
    cm_log_format_time(ts, sizeof ts, cm_loop_wall(s->loop));
    snprintf(at, sizeof at, "at %s (+%.1fs)", ts, (double)cm_loop_now(s->loop) / 1e9);
    cm_log_field f = {.key = "at", .value = at};
    size_t n = strlen(message) + 40;
    char *msg = malloc(n);
    if (msg)
        snprintf(msg, n, "safety invariant broken: %s", message);
    if (s->run)
        cm_log_write(&s->run->log, CM_LOG_ERROR, cm_loop_wall(s->loop), msg ? msg : message, &f, 1);
    free(msg);
    if (s->violations++ == 0) {
        n = strlen(message) + strlen(at) + 4;
        if ((s->first_violation = malloc(n)))
            snprintf(s->first_violation, n, "%s: %s", at, message);
    }
}

long cm_sim_run_violations(const cm_sim_run *s, const char **first)
{
    if (first)
        *first = s->first_violation ? s->first_violation : "(out of memory)";
    return s->violations;
}

uint64_t cm_sim_run_lost(const cm_sim_run *s)
{
    return s->sim ? cm_sim_lost(s->sim) : 0;
}

cm_host *cm_sim_run_host(cm_sim_run *s, const char *node)
{
    return s->sim ? cm_sim_host(s->sim, node) : NULL;
}

int cm_sim_run_request(cm_sim_run *s, const char *method, const char *path, const char *query,
                       const char *body, cm_fake_resp *resp)
{
    cm_fake_req req = {.method = method, .path = path, .query = query, .body = body,
                       .body_len = body ? strlen(body) : 0, .internal = 1,
                       .content_type = body ? "application/merge-patch+json" : NULL};
    cm_fake_handle(s->fake, &req, resp);
    return resp->status;
}

/* "faults injected: 12" with the count of each kind. */
static void fault_summary(const cm_sim_run *s, const cm_logger *log, const cm_loop *loop)
{
    char vals[CM_FAULT_KINDS][32];
    cm_log_field f[CM_FAULT_KINDS];
    long total = 0;
    for (int i = 0; i < CM_FAULT_KINDS; i++) {
        long n = cm_faults_count(s->faults, (enum cm_fault_kind)i);
        snprintf(vals[i], sizeof vals[i], "%ld", n);
        f[i] = (cm_log_field){.key = cm_fault_names[i], .value = vals[i], .is_json = 1};
        total += n;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "faults injected: %ld", total);
    cm_log_write(log, CM_LOG_INFO, cm_loop_wall(loop), msg, f, CM_FAULT_KINDS);
}

void cm_sim_run_summary(const cm_sim_run *s, const cm_logger *log, const cm_loop *loop)
{
    char vals[CM_VERB_COUNT + 1][32];
    cm_log_field f[CM_VERB_COUNT + 1];
    long total = 0;
    for (int i = 0; i < CM_VERB_COUNT; i++) {
        snprintf(vals[i], sizeof vals[i], "%ld", s->stats.counts[i]);
        f[i] = (cm_log_field){.key = cm_verb_names[i], .value = vals[i], .is_json = 1};
        total += s->stats.counts[i];
    }
    snprintf(vals[CM_VERB_COUNT], sizeof vals[CM_VERB_COUNT], "%.3f", (double)cm_loop_now(loop) / 1e9);
    f[CM_VERB_COUNT] = (cm_log_field){.key = "virtual_seconds", .value = vals[CM_VERB_COUNT], .is_json = 1};
    char msg[96];
    snprintf(msg, sizeof msg, "simulation done: %ld requests from the script, %llu from the cluster's actors",
             total, (unsigned long long)(s->sim ? cm_sim_requests(s->sim) : 0));
    cm_log_write(log, CM_LOG_INFO, cm_loop_wall(loop), msg, f, CM_VERB_COUNT + 1);
    if (cm_faults_any(s->faults))
        fault_summary(s, log, loop);
    if (cm_sim_run_lost(s)) {
        snprintf(msg, sizeof msg, "the simulation lost %llu work item(s) for want of memory",
                 (unsigned long long)cm_sim_run_lost(s));
        cm_log_write(log, CM_LOG_ERROR, cm_loop_wall(loop), msg, NULL, 0);
    }
}

/* Compares two objects by resourceVersion (the order they were last written in). */
static int by_rv(const void *a, const void *b)
{
    int64_t x = (*(cm_obj *const *)a)->rv, y = (*(cm_obj *const *)b)->rv;
    return x < y ? -1 : x > y;
}

/* A Secret as a saved cluster holds it: every value of data (base64 of "[redacted]", still valid
 * base64) and stringData replaced, and kubectl's last-applied copy dropped; the keys stay. A saved
 * cluster is a file an operator keeps and shares: no Secret's payload reaches it. */
static cJSON *redacted(const cm_obj *o)
{
    cJSON *copy = cJSON_Duplicate(o->json, 1);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(copy, "kind"));
    if (!copy || !kind || strcmp(kind, "Secret") != 0)
        return copy;
    static const char *const FIELDS[][2] = {{"data", "W3JlZGFjdGVkXQ=="}, {"stringData", "[redacted]"}};
    for (size_t f = 0; f < 2; f++) {
        cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(copy, FIELDS[f][0]))
            cJSON_SetValuestring(v, FIELDS[f][1]);
    }
    cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(copy, "metadata"), "annotations");
    cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubectl.kubernetes.io/last-applied-configuration");
    return copy;
}

cJSON *cm_sim_run_snapshot(cm_sim_run *s)
{
    cm_store *st = cm_fake_store(s->fake);
    const cm_kinds *kinds = s->fake->kinds;
    size_t n = 0, cap = 0;
    cm_obj **all = NULL;
    for (size_t i = 0; i < cm_kinds_count(kinds); i++) {
        cm_obj *const *objs;
        size_t m = cm_store_list(st, cm_kinds_at(kinds, i), NULL, &objs);
        if (n + m > cap) {
            cap = 2 * (n + m);
            cm_obj **grown = realloc(all, cap * sizeof *grown);
            if (!grown) {
                free(all);
                return NULL;
            }
            all = grown;
        }
        if (m) /* an empty kind gives no list at all */
            memcpy(all + n, objs, m * sizeof *objs);
        n += m;
    }
    if (n)
        qsort(all, n, sizeof *all, by_rv);
    cJSON *list = cJSON_CreateObject(), *items = NULL;
    if (list) {
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddStringToObject(list, "kind", "List");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(list, "metadata"), "resourceVersion", "");
        items = cJSON_AddArrayToObject(list, "items");
    }
    for (size_t i = 0; items && i < n; i++)
        cJSON_AddItemToArray(items, redacted(all[i]));
    /* the FakeCluster document: the fixture's settings, the clock now, the uid generator, the hosts */
    const cJSON *old = cm_fake_settings(s->fake);
    cJSON *fc = old ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
    if (fc && !old) {
        cJSON_AddStringToObject(fc, "apiVersion", "cni-migrate.dev/v1alpha1");
        cJSON_AddStringToObject(fc, "kind", "FakeCluster");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(fc, "metadata"), "name", "saved");
    }
    cJSON *spec = fc ? cJSON_GetObjectItemCaseSensitive(fc, "spec") : NULL;
    if (fc && !cJSON_IsObject(spec)) {
        cJSON_DeleteItemFromObjectCaseSensitive(fc, "spec");
        spec = cJSON_AddObjectToObject(fc, "spec");
    }
    if (spec) {
        char now[40], rs[32];
        cm_log_format_time(now, sizeof now, cm_loop_wall(s->loop));
        snprintf(rs, sizeof rs, "%llx", (unsigned long long)cm_fake_random_state(s->fake));
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "startTime");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "randomState");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "hosts");
        cJSON_AddStringToObject(spec, "startTime", now);
        cJSON_AddStringToObject(spec, "randomState", rs);
        cJSON *hosts = cJSON_AddObjectToObject(spec, "hosts");
        cm_obj *const *nodes;
        size_t nn = s->sim ? cm_store_list(st, cm_kinds_by_kind(kinds, "v1", "Node"), NULL, &nodes) : 0;
        for (size_t i = 0; hosts && i < nn; i++) {
            cm_host *h = cm_sim_host(s->sim, nodes[i]->name);
            if (h)
                cJSON_AddItemToObject(hosts, nodes[i]->name, cJSON_Duplicate(cm_host_json(h), 1));
        }
    }
    free(all);
    cJSON *docs = cJSON_CreateArray();
    if (!docs || !list || !fc) {
        cJSON_Delete(docs);
        cJSON_Delete(list);
        cJSON_Delete(fc);
        return NULL;
    }
    cJSON_AddItemToArray(docs, list);
    cJSON_AddItemToArray(docs, fc);
    return docs;
}

int cm_sim_run_save(cm_sim_run *s, const char *path, char *err, size_t errsize)
{
    cJSON *docs = cm_sim_run_snapshot(s);
    if (!docs) {
        snprintf(err, errsize, "--fake-save %s: out of memory", path);
        return -1;
    }
    const cJSON *two[2] = {cJSON_GetArrayItem(docs, 0), cJSON_GetArrayItem(docs, 1)};
    cm_yaml_error yerr;
    size_t len;
    char *text = cm_yaml_emit(two, 2, &len, &yerr);
    cJSON_Delete(docs);
    if (!text) {
        snprintf(err, errsize, "--fake-save %s: %s", path, yerr.message);
        return -1;
    }
    /* written whole or not at all: a temporary file beside it, then renamed */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    ok = (f && fclose(f) == 0) && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errsize, "--fake-save %s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* The crash fault: the script is dead from now on. Its later requests never reach the
 * cluster, its run is stopped as a cancel stops it, and the state is saved as it is now. */
static void crash(cm_sim_run *s)
{
    s->crashed = 1;
    char msg[160];
    snprintf(msg, sizeof msg, "killed: --fault crash:afterWrites=%ld (the script's API write %ld reached the cluster)",
             s->crash_after, s->writes);
    if (s->run) {
        cm_log_write(&s->run->log, CM_LOG_ERROR, cm_loop_wall(s->loop), msg, NULL, 0);
        if (s->run->cancel)
            *s->run->cancel = 1;
    }
    if (s->save) {
        char err[4400];
        if (cm_sim_run_save(s, s->save, err, sizeof err) == 0)
            s->saved = 1;
        else if (s->run)
            cm_log_write(&s->run->log, CM_LOG_ERROR, cm_loop_wall(s->loop), err, NULL, 0);
    }
}

int cm_sim_run_crashed(const cm_sim_run *s)
{
    return s->crashed;
}

long cm_sim_run_crash_after(const cm_sim_run *s)
{
    return s->crash_after;
}

int cm_sim_run_finish_save(cm_sim_run *s, char *err, size_t errsize)
{
    if (!s->save || s->crashed) /* at a crash the state was saved then (or its failure logged) */
        return s->crashed && s->save && !s->saved ? (snprintf(err, errsize, "--fake-save %s: not written", s->save), -1) : 0;
    return cm_sim_run_save(s, s->save, err, errsize);
}

void cm_sim_run_free(cm_sim_run *s)
{
    if (!s)
        return;
    cm_sim_free(s->sim);
    cm_faults_free(s->faults);
    if (s->sub >= 0)
        cm_store_unsubscribe(cm_fake_store(s->fake), s->sub);
    if (s->watch_sub >= 0)
        cm_store_unsubscribe(cm_fake_store(s->fake), s->watch_sub);
    free(s->first_violation);
    if (s->trace)
        fclose(s->trace);
    cm_fake_free(s->fake);
    cm_loop_free(s->loop);
    free(s->fixture);
    free(s->save);
    free(s);
}

const char *cm_sim_run_fixture(const cm_sim_run *s)
{
    return s->fixture;
}

uint64_t cm_sim_run_seed(const cm_sim_run *s)
{
    return s->seed;
}
