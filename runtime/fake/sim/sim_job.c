/*
 * sim_job.c - the Job controller (batch/v1), and the kubelet's part that ends containers.
 *
 * Containers end as the FakeCluster's pod rules say (spec.simulation.pods, first match wins):
 *   runFor: 30     its containers exit this long after the pod is Ready (absent: they run on)
 *   exitCode: 0    the exit code of each run (default 0)
 *   failures: 2    the first 2 runs (counted per owning controller, or per pod) exit with
 *                  exitCode, or 1 when exitCode is 0; later runs exit 0
 * A container that exits restarts (restartCount + 1, CrashLoopBackOff in between: 10 s,
 * doubling to 5 min, the first restart at once) under restartPolicy Always, and OnFailure
 * when it failed; otherwise the pod ends Succeeded (every exit 0) or Failed.
 *
 * The Job controller follows pkg/controller/job: pods carry the batch.kubernetes.io/job-tracking
 * finalizer until they are counted; parallelism and completions decide how many run; a failed
 * pod (restartPolicy Never) is replaced after a back-off (10 s doubling, at most 10 min);
 * backoffLimit (failed pods, or container restarts under OnFailure) and activeDeadlineSeconds
 * end the Job: FailureTarget, its active pods deleted, then Failed once none is terminating;
 * success is SuccessCriteriaMet, then Complete with completionTime. The end is an Event on the Job
 * (job-controller): Normal Completed "Job completed", or Warning with the failure's reason and
 * message. podFailurePolicy (restartPolicy
 * Never) is read for each failed pod, its rules in order: FailJob ends the Job at once
 * (FailureTarget and Failed, reason PodFailurePolicy, the rule's message), Ignore does not count
 * the pod, Count (or no rule matching) counts it; onExitCodes looks at the terminated containers
 * with a non-zero code, onPodConditions at the pod's conditions (an evicted pod's DisruptionTarget
 * among them, which the eviction sets). Indexed Jobs (and FailIndex) and suspend are not simulated.
 *
 * A node-run pod's container (cni-migrate node-run SCRIPT) has its result set at start by the
 * run (cm_sim_pod_result, simrun.c): it exits with that code and termination message once the
 * pod is Ready.
 */
#include "simint.h"

#include "duration.h"
#include "map.h"
#include "noderun.h"
#include "select.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACKING "batch.kubernetes.io/job-tracking"

/* What a pod rule says about the end of its containers (only rules that say so matter). */
struct runrule {
    char *image_prefix;
    cm_selector *sel;
    int64_t run_for; /* ns; -1: runs on */
    int64_t exit_code, failures;
};

/* A pending wake-up: a pod's container ends or restarts, or a Job is looked at again. */
struct wake {
    cm_sim *s;
    struct sim_job *j;
    cm_timer *timer;
    int64_t at;        /* loop time it fires at */
    int what;          /* W_EXIT, W_RESTART, W_READY, W_JOB */
    enum sim_ctl ctl;  /* W_JOB: the controller to queue key for; a pod's: SIM_KUBELET */
    char key[520];
    char uid[64];
    struct wake *next;
};

enum { W_EXIT, W_RESTART, W_READY, W_JOB };

/* How a node-run pod's container ends. */
struct result {
    int64_t code;
    char *message;
};

/* A Job's back-off record: failures since the last success, and the last one's time. */
struct backoff {
    int64_t fails, last;
};

struct sim_job {
    struct runrule *rules;
    size_t nrules;
    cm_map *runs;     /* "rule|owner" -> int64_t* runs so far */
    cm_map *backoffs; /* Job uid -> struct backoff */
    cm_map *results;  /* pod uid -> struct result: node-run pods' ends */
    struct wake *wakes;
    const cm_kind *k_job, *k_pod, *k_event;
};

/* ---- settings ---- */

static int64_t dur(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return cJSON_GetNumberValue(v) >= 0 ? (int64_t)(cJSON_GetNumberValue(v) * (double)CM_NS_PER_S) : -2;
    if (cJSON_IsString(v)) {
        int64_t ns = cm_parse_duration(v->valuestring);
        return ns >= 0 ? ns : -2;
    }
    return -2;
}

static int read_rules(struct sim_job *j, const cJSON *settings, char *err, size_t errsize)
{
    const cJSON *rules = sim_get(sim_get(sim_get(settings, "spec"), "simulation"), "pods");
    size_t n = (size_t)cJSON_GetArraySize(rules);
    j->rules = n ? calloc(n, sizeof *j->rules) : NULL;
    if (n && !j->rules)
        return -1;
    const cJSON *r;
    cJSON_ArrayForEach(r, rules) {
        struct runrule *ru = &j->rules[j->nrules++];
        const char *prefix = sim_gets(r, "imagePrefix"), *sel = sim_gets(r, "selector");
        char e[256];
        ru->run_for = -1;
        if (prefix)
            ru->image_prefix = strdup(prefix);
        else if (sel && !(ru->sel = cm_label_selector_parse(sel, e, sizeof e)))
            return -1; /* sim.c has said why */
        if (sim_get(r, "runFor") && (ru->run_for = dur(sim_get(r, "runFor"))) < 0) {
            snprintf(err, errsize, "FakeCluster spec.simulation.pods[%zu].runFor: not a duration", j->nrules - 1);
            return -1;
        }
        ru->exit_code = sim_geti(r, "exitCode", 0);
        ru->failures = sim_geti(r, "failures", 0);
        if ((sim_get(r, "exitCode") && (!cJSON_IsNumber(sim_get(r, "exitCode")) || ru->exit_code < 0 || ru->exit_code > 255)) ||
            (sim_get(r, "failures") && (!cJSON_IsNumber(sim_get(r, "failures")) || ru->failures < 0))) {
            snprintf(err, errsize, "FakeCluster spec.simulation.pods[%zu]: %s", j->nrules - 1,
                     ru->failures < 0 || (sim_get(r, "failures") && !cJSON_IsNumber(sim_get(r, "failures")))
                         ? "failures: not a count >= 0" : "exitCode: not an exit code (0-255)");
            return -1;
        }
    }
    return 0;
}

struct sim_job *sim_job_new(const cJSON *settings, char *err, size_t errsize)
{
    struct sim_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->runs = cm_map_new();
    j->backoffs = cm_map_new();
    j->results = cm_map_new();
    if (!j->runs || !j->backoffs || !j->results || read_rules(j, settings, err, errsize) != 0) {
        sim_job_free(NULL, j);
        return NULL;
    }
    return j;
}

static void free_value(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    free(value);
}

static void free_result(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    struct result *r = value;
    free(r->message);
    free(r);
}

void sim_job_free(cm_sim *s, struct sim_job *j)
{
    if (!j)
        return;
    while (j->wakes) {
        struct wake *w = j->wakes;
        j->wakes = w->next;
        if (s && w->timer)
            cm_loop_timer_cancel(sim_loop(s), w->timer);
        free(w);
    }
    for (size_t i = 0; i < j->nrules; i++) {
        free(j->rules[i].image_prefix);
        cm_selector_free(j->rules[i].sel);
    }
    free(j->rules);
    if (j->runs)
        cm_map_each(j->runs, free_value, NULL);
    if (j->backoffs)
        cm_map_each(j->backoffs, free_value, NULL);
    cm_map_free(j->runs);
    cm_map_free(j->backoffs);
    if (j->results)
        cm_map_each(j->results, free_result, NULL);
    cm_map_free(j->results);
    free(j);
}

static struct sim_job *J(cm_sim *s)
{
    struct sim_job *j = sim_ext(s)->job;
    if (!j->k_job) {
        j->k_job = cm_kinds_by_kind(sim_fake(s)->kinds, "batch/v1", "Job");
        j->k_pod = cm_kinds_by_kind(sim_fake(s)->kinds, "v1", "Pod");
        j->k_event = cm_kinds_by_kind(sim_fake(s)->kinds, "v1", "Event");
    }
    return j;
}

/* ---- wake-ups ---- */

static void wake_fire(cm_loop *loop, void *ud);

static void unlink_wake(struct sim_job *j, struct wake *w)
{
    for (struct wake **p = &j->wakes; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

/* Arms a wake-up at delay from now. A pod has one (the new one replaces it); a Job has its
 * earliest. */
static void wake_ctl(cm_sim *s, int what, enum sim_ctl ctl, const char *key, const char *uid, int64_t delay)
{
    struct sim_job *j = J(s);
    int64_t at = cm_loop_now(sim_loop(s)) + (delay > 0 ? delay : 0);
    for (struct wake *w = j->wakes; w; w = w->next)
        if ((w->what == W_JOB) == (what == W_JOB) && w->ctl == ctl && strcmp(w->key, key) == 0) {
            if (what == W_JOB && w->at <= at)
                return;
            cm_loop_timer_cancel(sim_loop(s), w->timer);
            unlink_wake(j, w);
            free(w);
            break;
        }
    struct wake *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->s = s;
    w->j = j;
    w->what = what;
    w->ctl = ctl;
    snprintf(w->key, sizeof w->key, "%s", key);
    snprintf(w->uid, sizeof w->uid, "%s", uid ? uid : "");
    w->at = at;
    w->timer = cm_loop_timer(sim_loop(s), at, wake_fire, w);
    if (!w->timer) {
        free(w);
        return;
    }
    w->next = j->wakes;
    j->wakes = w;
}

static void wake_at(cm_sim *s, int what, const char *key, const char *uid, int64_t delay)
{
    wake_ctl(s, what, what == W_JOB ? SIM_JOB : SIM_KUBELET, key, uid, delay);
}

void sim_later(cm_sim *s, enum sim_ctl ctl, const char *key, int64_t delay)
{
    wake_ctl(s, W_JOB, ctl, key, NULL, delay);
}

/* ---- the kubelet's part: containers that end ---- */

static const struct runrule *rule_of(struct sim_job *j, const cJSON *pod, size_t *index)
{
    const cJSON *labels = sim_get(sim_get(pod, "metadata"), "labels");
    const char *image = sim_gets(cJSON_GetArrayItem(sim_get(sim_get(pod, "spec"), "containers"), 0), "image");
    for (size_t i = 0; i < j->nrules; i++) {
        const struct runrule *r = &j->rules[i];
        int hit = r->image_prefix ? image && strncmp(image, r->image_prefix, strlen(r->image_prefix)) == 0
                : r->sel ? cm_selector_match_labels(r->sel, labels) : 0;
        if (hit) {
            *index = i;
            return r;
        }
    }
    return NULL;
}

static const char *pod_uid(const cJSON *pod)
{
    return cm_meta_str(pod, "uid");
}

static void pod_key(const cm_obj *pod, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", pod->ns, pod->name);
}

void cm_sim_pod_result(cm_sim *s, const char *uid, int exit_code, const char *message)
{
    struct result *r = calloc(1, sizeof *r);
    if (!r || !uid || (message && !(r->message = strdup(message)))) {
        free(r);
        return;
    }
    r->code = exit_code;
    struct result *old = cm_map_del(J(s)->results, uid);
    if (old)
        free_result(NULL, NULL, old);
    if (cm_map_set(J(s)->results, uid, r) != 0)
        free_result(NULL, NULL, r);
}

void cm_sim_pod_running(cm_sim *s, const char *uid)
{
    cm_sim_pod_result(s, uid, -1, NULL); /* -1: no end yet */
}

void cm_sim_pod_exit(cm_sim *s, const char *uid, int exit_code, const char *message)
{
    struct result *r = uid ? cm_map_get(J(s)->results, uid) : NULL;
    int waiting = r && r->code < 0;
    cm_sim_pod_result(s, uid, exit_code, message);
    cm_obj *const *items;
    size_t n = waiting && J(s)->k_pod ? cm_store_list(sim_store(s), J(s)->k_pod, NULL, &items) : 0;
    for (size_t i = 0; i < n; i++)
        if (sim_is(pod_uid(items[i]->json), uid)) {
            char k[520];
            pod_key(items[i], k, sizeof k);
            wake_at(s, W_EXIT, k, uid, 0); /* it ends now, Ready or not */
            return;
        }
}

void sim_job_pod_ready(cm_sim *s, const cm_obj *pod)
{
    struct result *res = pod_uid(pod->json) ? cm_map_get(J(s)->results, pod_uid(pod->json)) : NULL;
    if (res && res->code < 0)
        return; /* a process: it ends when it exits */
    if (res) {
        char k[520];
        pod_key(pod, k, sizeof k);
        wake_at(s, W_EXIT, k, pod_uid(pod->json), 0); /* a node-run pod ends once Ready */
        return;
    }
    size_t i;
    const struct runrule *r = rule_of(J(s), pod->json, &i);
    if (!r || r->run_for < 0)
        return;
    char key[520];
    pod_key(pod, key, sizeof key);
    wake_at(s, W_EXIT, key, pod_uid(pod->json), r->run_for);
}

/* The exit code of this run: the rule's failures come first, counted per owner. */
static int64_t next_exit(cm_sim *s, const cm_obj *pod, size_t rule, const struct runrule *r)
{
    const cJSON *ref = NULL, *x;
    cJSON_ArrayForEach(x, sim_get(sim_get(pod->json, "metadata"), "ownerReferences"))
        if (cJSON_IsTrue(sim_get(x, "controller")))
            ref = x;
    char key[600];
    snprintf(key, sizeof key, "%zu|%s", rule, ref ? sim_gets(ref, "uid") : pod_uid(pod->json));
    int64_t *n = cm_map_get(J(s)->runs, key);
    if (!n && (n = calloc(1, sizeof *n)) && cm_map_set(J(s)->runs, key, n) != 0) {
        free(n);
        n = NULL;
    }
    int64_t run = n ? (*n)++ : 0;
    if (r->failures > 0)
        return run < r->failures ? (r->exit_code ? r->exit_code : 1) : 0;
    return r->exit_code;
}

static cJSON *cond(const char *type, const char *status, const char *reason, const char *message, const char *now)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNullToObject(c, "lastProbeTime");
    cJSON_AddStringToObject(c, "lastTransitionTime", now);
    if (message)
        cJSON_AddStringToObject(c, "message", message);
    if (reason)
        cJSON_AddStringToObject(c, "reason", reason);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "type", type);
    return c;
}

/* Replaces the pod's condition of type (keeping its time when its status is unchanged). */
static void set_pod_cond(cJSON *st, const char *type, const char *status, const char *reason, const char *message,
                         const char *now)
{
    cJSON *conds = sim_get(st, "conditions");
    if (!cJSON_IsArray(conds))
        conds = cJSON_AddArrayToObject(st, "conditions");
    int i = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, conds) {
        if (sim_is(sim_gets(c, "type"), type)) {
            const char *when = sim_is(sim_gets(c, "status"), status) ? sim_gets(c, "lastTransitionTime") : NULL;
            cJSON *n = cond(type, status, reason, message, when ? when : now);
            cJSON_ReplaceItemInArray(conds, i, n);
            return;
        }
        i++;
    }
    cJSON_AddItemToArray(conds, cond(type, status, reason, message, now));
}

/* Go's time.Duration text for whole seconds ("10s", "1m20s", "5m0s"). */
static void go_duration(int64_t secs, char *buf, size_t size)
{
    if (secs < 60)
        snprintf(buf, size, "%llds", (long long)secs);
    else
        snprintf(buf, size, "%lldm%llds", (long long)(secs / 60), (long long)(secs % 60));
}

/* The kubelet's restart back-off before restart number n (1-based): at once, then 10 s doubling to 5 min. */
static int64_t restart_delay(int64_t n)
{
    if (n <= 1)
        return CM_NS_PER_S;
    int64_t d = 10;
    for (int64_t i = 2; i < n && d < 300; i++)
        d *= 2;
    return (d < 300 ? d : 300) * CM_NS_PER_S;
}

static cJSON *terminated(const char *cid, int64_t code, const char *started, const char *now, const char *message)
{
    cJSON *t = cJSON_CreateObject();
    if (cid)
        cJSON_AddStringToObject(t, "containerID", cid);
    sim_seti(t, "exitCode", code);
    cJSON_AddStringToObject(t, "finishedAt", now);
    size_t n = message ? strlen(message) : 0;
    if (message) /* the kubelet keeps the file's last 4096 bytes */
        cJSON_AddStringToObject(t, "message", message + (n > CM_TERMINATION_MESSAGE_MAX ? n - CM_TERMINATION_MESSAGE_MAX : 0));
    cJSON_AddStringToObject(t, "reason", code ? "Error" : "Completed");
    cJSON_AddStringToObject(t, "startedAt", started ? started : now);
    return t;
}

/* The containers of a Running pod exit with code: the pod ends, or they restart after a back-off. */
static void container_exit(cm_sim *s, cm_obj *pod, int64_t code, const char *message)
{
    const char *policy = sim_gets(sim_get(pod->json, "spec"), "restartPolicy");
    int restart = !policy || sim_is(policy, "Always") || (sim_is(policy, "OnFailure") && code != 0);
    char now[40];
    sim_now(s, now, sizeof now);
    cJSON *st = cJSON_Duplicate(sim_get(pod->json, "status"), 1);
    int64_t restarts = 0;
    cJSON *cs;
    cJSON_ArrayForEach(cs, sim_get(st, "containerStatuses")) {
        const char *cid = sim_gets(cs, "containerID");
        const char *started = sim_gets(sim_get(sim_get(cs, "state"), "running"), "startedAt");
        cJSON *t = terminated(cid, code, started, now, message);
        restarts = sim_geti(cs, "restartCount", 0);
        cJSON_ReplaceItemInObjectCaseSensitive(cs, "ready", cJSON_CreateFalse());
        cJSON_ReplaceItemInObjectCaseSensitive(cs, "started", cJSON_CreateFalse());
        cJSON *state = cJSON_CreateObject();
        if (restart) {
            cJSON_ReplaceItemInObjectCaseSensitive(cs, "lastState", cJSON_CreateObject());
            cJSON_AddItemToObject(sim_get(cs, "lastState"), "terminated", t);
            char d[32], msg[700];
            go_duration(restart_delay(restarts + 1) / CM_NS_PER_S, d, sizeof d);
            snprintf(msg, sizeof msg, "back-off %s restarting failed container=%s pod=%s_%s(%s)", d,
                     sim_gets(cs, "name") ? sim_gets(cs, "name") : "", pod->name, pod->ns,
                     pod_uid(pod->json) ? pod_uid(pod->json) : "");
            cJSON *w = cJSON_AddObjectToObject(state, "waiting");
            cJSON_AddStringToObject(w, "message", msg);
            cJSON_AddStringToObject(w, "reason", "CrashLoopBackOff");
        } else {
            cJSON_AddItemToObject(state, "terminated", t);
        }
        cJSON_ReplaceItemInObjectCaseSensitive(cs, "state", state);
    }
    char names[600] = "";
    cJSON_ArrayForEach(cs, sim_get(st, "containerStatuses"))
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? " " : "",
                 sim_gets(cs, "name") ? sim_gets(cs, "name") : "");
    char why[700];
    snprintf(why, sizeof why, "containers with unready status: [%s]", names);
    if (restart) {
        set_pod_cond(st, "Ready", "False", "ContainersNotReady", why, now);
        set_pod_cond(st, "ContainersReady", "False", "ContainersNotReady", why, now);
    } else {
        const char *reason = code ? "PodFailed" : "PodCompleted";
        set_pod_cond(st, "PodReadyToStartContainers", "False", NULL, NULL, now);
        if (!code)
            set_pod_cond(st, "Initialized", "True", "PodCompleted", NULL, now);
        set_pod_cond(st, "Ready", "False", reason, NULL, now);
        set_pod_cond(st, "ContainersReady", "False", reason, NULL, now);
        cm_set_str(st, "phase", code ? "Failed" : "Succeeded");
    }
    char key[520], uid[64];
    pod_key(pod, key, sizeof key);
    snprintf(uid, sizeof uid, "%s", pod_uid(pod->json) ? pod_uid(pod->json) : "");
    sim_put_status(s, pod, st);
    if (restart)
        wake_at(s, W_RESTART, key, uid, restart_delay(restarts + 1));
}

/* The back-off is over: the containers run again (restartCount + 1), Ready after the ready delay. */
static void container_restart(cm_sim *s, cm_obj *pod)
{
    char now[40];
    sim_now(s, now, sizeof now);
    cJSON *st = cJSON_Duplicate(sim_get(pod->json, "status"), 1);
    cJSON *cs;
    cJSON_ArrayForEach(cs, sim_get(st, "containerStatuses")) {
        sim_seti(cs, "restartCount", sim_geti(cs, "restartCount", 0) + 1);
        cJSON_ReplaceItemInObjectCaseSensitive(cs, "started", cJSON_CreateTrue());
        cJSON *state = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(state, "running"), "startedAt", now);
        cJSON_ReplaceItemInObjectCaseSensitive(cs, "state", state);
    }
    char key[520], uid[64];
    pod_key(pod, key, sizeof key);
    snprintf(uid, sizeof uid, "%s", pod_uid(pod->json) ? pod_uid(pod->json) : "");
    sim_put_status(s, pod, st);
    sim_tell_agent(s, pod, CM_SIM_POD_RESTARTED);
    wake_at(s, W_READY, key, uid, sim_jittered(s, CM_NS_PER_S));
}

static void container_ready(cm_sim *s, cm_obj *pod)
{
    char now[40];
    sim_now(s, now, sizeof now);
    cJSON *st = cJSON_Duplicate(sim_get(pod->json, "status"), 1);
    cJSON *cs;
    cJSON_ArrayForEach(cs, sim_get(st, "containerStatuses"))
        cJSON_ReplaceItemInObjectCaseSensitive(cs, "ready", cJSON_CreateTrue());
    set_pod_cond(st, "Ready", "True", NULL, NULL, now);
    set_pod_cond(st, "ContainersReady", "True", NULL, NULL, now);
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", pod->ns);
    snprintf(name, sizeof name, "%s", pod->name);
    sim_put_status(s, pod, st);
    pod = cm_store_get(sim_store(s), J(s)->k_pod, ns, name);
    if (pod)
        sim_job_pod_ready(s, pod);
}

static void pod_wake(cm_sim *s, struct wake *w)
{
    char ns[256], name[256];
    const char *slash = strchr(w->key, '/');
    if (!slash)
        return;
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - w->key), w->key);
    snprintf(name, sizeof name, "%s", slash + 1);
    cm_obj *pod = cm_store_get(sim_store(s), J(s)->k_pod, ns, name);
    if (!pod || !sim_is(pod_uid(pod->json), w->uid) || cm_meta_str(pod->json, "deletionTimestamp") ||
        !sim_is(sim_gets(sim_get(pod->json, "status"), "phase"), "Running"))
        return;
    size_t i;
    const struct runrule *r = rule_of(J(s), pod->json, &i);
    struct result *res = w->what == W_EXIT ? cm_map_del(J(s)->results, w->uid) : NULL;
    if (res) {
        container_exit(s, pod, res->code, res->message);
        free_result(NULL, NULL, res);
    } else if (w->what == W_EXIT && r)
        container_exit(s, pod, next_exit(s, pod, i, r), NULL);
    else if (w->what == W_RESTART)
        container_restart(s, pod);
    else if (w->what == W_READY)
        container_ready(s, pod);
}

static void wake_fire(cm_loop *loop, void *ud)
{
    (void)loop;
    struct wake *w = ud;
    struct sim_job *j = w->j;
    unlink_wake(j, w);
    if (w->what == W_JOB)
        sim_enqueue_key(w->s, w->ctl, w->key);
    else
        pod_wake(w->s, w);
    free(w);
}

/* ---- the Job controller ---- */

static const cJSON *job_ref(const cJSON *pod)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, sim_get(sim_get(pod, "metadata"), "ownerReferences"))
        if (cJSON_IsTrue(sim_get(r, "controller")) && sim_is(sim_gets(r, "kind"), "Job") &&
            sim_is(sim_gets(r, "apiVersion"), "batch/v1"))
            return r;
    return NULL;
}

/* Whether a pod with the tracking finalizer has no Job to count it (it was orphaned, or its Job went). */
static int orphaned(cm_sim *s, const cJSON *pod, const char *ns)
{
    const cJSON *r = job_ref(pod);
    cm_obj *job = r && J(s)->k_job ? cm_store_get(sim_store(s), J(s)->k_job, ns, sim_gets(r, "name")) : NULL;
    return !job || !sim_is(cm_meta_str(job->json, "uid"), sim_gets(r, "uid"));
}

static void drop_tracking(cm_sim *s, const cm_obj *pod);

/* syncOrphanPod: the finalizer of a pod no Job counts goes, so the pod can be deleted. */
static void orphan_pod(cm_sim *s, const char *key)
{
    char ns[256], name[256];
    const char *slash = strchr(key, '/');
    if (!slash)
        return;
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - key), key);
    snprintf(name, sizeof name, "%s", slash + 1);
    cm_obj *pod = cm_store_get(sim_store(s), J(s)->k_pod, ns, name);
    if (pod && sim_has_finalizer(pod->json, TRACKING) && orphaned(s, pod->json, ns))
        drop_tracking(s, pod);
}

void sim_job_on_change(cm_sim *s, const cm_event *ev)
{
    struct sim_job *j = J(s);
    char key[520];
    if (ev->kind == j->k_job) {
        snprintf(key, sizeof key, "%s/%s", ev->ns, cm_meta_str(ev->obj, "name"));
        if (ev->type == CM_EV_DELETED) {
            struct backoff *b = cm_map_del(j->backoffs, cm_meta_str(ev->obj, "uid") ? cm_meta_str(ev->obj, "uid") : "");
            free(b);
        }
        sim_enqueue_key(s, SIM_JOB, key);
    } else if (ev->kind == j->k_pod) {
        const cJSON *r = job_ref(ev->obj);
        if (!r && ev->prev)
            r = job_ref(ev->prev);
        if (r) {
            snprintf(key, sizeof key, "%s/%s", ev->ns, sim_gets(r, "name"));
            sim_enqueue_key(s, SIM_JOB, key);
        }
        if (ev->type != CM_EV_DELETED && sim_has_finalizer(ev->obj, TRACKING) && orphaned(s, ev->obj, ev->ns)) {
            snprintf(key, sizeof key, "pod:%s/%s", ev->ns, cm_meta_str(ev->obj, "name"));
            sim_enqueue_key(s, SIM_JOB, key);
        }
    }
}

void sim_job_attach(cm_sim *s)
{
    struct sim_job *j = J(s);
    cm_obj *const *items;
    size_t n = j->k_job ? cm_store_list(sim_store(s), j->k_job, NULL, &items) : 0;
    for (size_t i = 0; i < n; i++) {
        char key[520];
        snprintf(key, sizeof key, "%s/%s", items[i]->ns, items[i]->name);
        sim_enqueue_key(s, SIM_JOB, key);
    }
}

static const cJSON *job_cond(const cJSON *job, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(job, "status"), "conditions"))
        if (sim_is(sim_gets(c, "type"), type) && sim_is(sim_gets(c, "status"), "True"))
            return c;
    return NULL;
}

/* isPodFailed: Failed, or deleted before it succeeded. */
static int pod_failed(const cJSON *pod)
{
    return sim_is(sim_gets(sim_get(pod, "status"), "phase"), "Failed") ||
           (sim_deleting(pod) && !sim_is(sim_gets(sim_get(pod, "status"), "phase"), "Succeeded"));
}

static void drop_tracking(cm_sim *s, const cm_obj *pod)
{
    cJSON *next = cJSON_Duplicate(pod->json, 1);
    cJSON *meta = cm_meta(next), *fins = sim_get(meta, "finalizers");
    for (int i = cJSON_GetArraySize(fins) - 1; i >= 0; i--)
        if (sim_is(cJSON_GetStringValue(cJSON_GetArrayItem(fins, i)), TRACKING))
            cJSON_DeleteItemFromArray(fins, i);
    if (cJSON_GetArraySize(fins) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
    sim_put(s, J(s)->k_pod, next, NULL);
}

/* What one look at a Job's pods found. */
struct jobpods {
    char (*names)[256];     /* every pod of the Job */
    size_t n;
    char (*active)[256];
    size_t nactive;
    int64_t ready, terminating, new_succeeded, new_failed, restarts;
    char fail_job[700]; /* a failed pod matched a FailJob rule of the podFailurePolicy: its message */
};

static int holds_code(const cJSON *values, int64_t code)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, values)
        if (cJSON_IsNumber(v) && (int64_t)cJSON_GetNumberValue(v) == code)
            return 1;
    return 0;
}

/* The action of the first podFailurePolicy rule a failed pod matches ("FailJob", "Ignore", "Count",
 * or NULL for none), with the API's message for it in msg. */
static const char *failure_action(const cJSON *policy, const cJSON *pod, const char *ns, const char *name,
                                  char *msg, size_t size)
{
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, sim_get(policy, "rules")) {
        const char *action = sim_gets(r, "action");
        const cJSON *codes = sim_get(r, "onExitCodes"), *cs;
        if (codes) {
            const char *only = sim_gets(codes, "containerName");
            int in = !sim_is(sim_gets(codes, "operator"), "NotIn");
            cJSON_ArrayForEach(cs, sim_get(sim_get(pod, "status"), "containerStatuses")) {
                const cJSON *t = sim_get(sim_get(cs, "state"), "terminated");
                int64_t code = sim_geti(t, "exitCode", 0);
                if (!t || !code || (only && !sim_is(only, sim_gets(cs, "name"))) ||
                    holds_code(sim_get(codes, "values"), code) != in)
                    continue;
                snprintf(msg, size, "Container %s for pod %s/%s failed with exit code %lld matching %s rule at index %d",
                         sim_gets(cs, "name") ? sim_gets(cs, "name") : "", ns, name, (long long)code, action, i);
                return action;
            }
        }
        const cJSON *want;
        cJSON_ArrayForEach(want, sim_get(r, "onPodConditions")) {
            const char *status = sim_gets(want, "status") ? sim_gets(want, "status") : "True";
            const cJSON *c;
            cJSON_ArrayForEach(c, sim_get(sim_get(pod, "status"), "conditions"))
                if (sim_is(sim_gets(c, "type"), sim_gets(want, "type")) && sim_is(sim_gets(c, "status"), status)) {
                    snprintf(msg, size, "Pod %s/%s has condition %s matching %s rule at index %d", ns, name,
                             sim_gets(want, "type"), action, i);
                    return action;
                }
        }
        i++;
    }
    return NULL;
}

static void look(cm_sim *s, const cm_obj *job, struct jobpods *jp)
{
    cm_obj **pods;
    size_t n = sim_owned_pods(s, job, &pods);
    jp->names = malloc((n ? n : 1) * sizeof *jp->names);
    jp->active = malloc((n ? n : 1) * sizeof *jp->active);
    if (!pods || !jp->names || !jp->active) {
        free(pods);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *p = pods[i]->json;
        snprintf(jp->names[jp->n++], sizeof *jp->names, "%s", pods[i]->name);
        if (!sim_terminal(p) && !sim_deleting(p)) {
            snprintf(jp->active[jp->nactive++], sizeof *jp->active, "%s", pods[i]->name);
            jp->ready += sim_pod_ready(p);
        }
        jp->terminating += sim_deleting(p) && !sim_terminal(p);
        if (sim_has_finalizer(p, TRACKING)) {
            const cJSON *policy = sim_get(sim_get(job->json, "spec"), "podFailurePolicy");
            char msg[700];
            const char *action = policy && sim_is(sim_gets(sim_get(p, "status"), "phase"), "Failed")
                                     ? failure_action(policy, p, pods[i]->ns, pods[i]->name, msg, sizeof msg) : NULL;
            if (sim_is(sim_gets(sim_get(p, "status"), "phase"), "Succeeded"))
                jp->new_succeeded++;
            else if (pod_failed(p) && !sim_is(action, "Ignore"))
                jp->new_failed++;
            if (sim_is(action, "FailJob") && !jp->fail_job[0])
                snprintf(jp->fail_job, sizeof jp->fail_job, "%s", msg);
        }
        const char *phase = sim_gets(sim_get(p, "status"), "phase");
        if (sim_is(phase, "Running") || sim_is(phase, "Pending")) {
            const cJSON *cs;
            cJSON_ArrayForEach(cs, sim_get(sim_get(p, "status"), "containerStatuses"))
                jp->restarts += sim_geti(cs, "restartCount", 0);
        }
    }
    free(pods);
}

static void free_look(struct jobpods *jp)
{
    free(jp->names);
    free(jp->active);
}

/* Removes the tracking finalizer of the pods that are counted now (all of them once the Job ends). */
static void count_pods(cm_sim *s, const char *ns, const struct jobpods *jp, int all)
{
    for (size_t i = 0; i < jp->n; i++) {
        cm_obj *p = cm_store_get(sim_store(s), J(s)->k_pod, ns, jp->names[i]);
        if (p && sim_has_finalizer(p->json, TRACKING) &&
            (all || sim_is(sim_gets(sim_get(p->json, "status"), "phase"), "Succeeded") || pod_failed(p->json)))
            drop_tracking(s, p);
    }
}

static void create_pod(cm_sim *s, const char *ns, const char *name)
{
    cm_obj *job = cm_store_get(sim_store(s), J(s)->k_job, ns, name);
    if (!job)
        return;
    char gen[300];
    snprintf(gen, sizeof gen, "%.250s-", name);
    cJSON *pod = sim_pod_from_template(job, NULL, gen);
    cJSON *fins = cJSON_CreateArray();
    cJSON_AddItemToArray(fins, cJSON_CreateString(TRACKING));
    cJSON_AddItemToObject(sim_get(pod, "metadata"), "finalizers", fins);
    sim_call(s, "POST", J(s)->k_pod, ns, NULL, NULL, NULL, pod);
}

/* The back-off before the next pod, after failures since the last success (0: none). */
static int64_t backoff_left(cm_sim *s, const char *uid, int64_t new_succeeded, int64_t new_failed)
{
    struct sim_job *j = J(s);
    struct backoff *b = cm_map_get(j->backoffs, uid);
    if (!b && (b = calloc(1, sizeof *b)) && cm_map_set(j->backoffs, uid, b) != 0) {
        free(b);
        return 0;
    }
    if (!b)
        return 0;
    int64_t now = cm_loop_now(sim_loop(s));
    if (new_succeeded)
        b->fails = 0;
    if (new_failed) {
        b->fails += new_failed;
        b->last = now;
    }
    if (!b->fails)
        return 0;
    int64_t d = 10 * CM_NS_PER_S;
    for (int64_t i = 1; i < b->fails && d < 600 * CM_NS_PER_S; i++)
        d *= 2;
    if (d > 600 * CM_NS_PER_S)
        d = 600 * CM_NS_PER_S;
    return b->last + d > now ? b->last + d - now : 0;
}

/* manageJob: as many active pods as parallelism and the remaining completions ask. */
static int64_t manage(cm_sim *s, const cm_obj *job, const struct jobpods *jp, int64_t succeeded, int64_t wait,
                      const char *key)
{
    const cJSON *spec = sim_get(job->json, "spec");
    int64_t parallelism = sim_geti(spec, "parallelism", 1), active = (int64_t)jp->nactive;
    int64_t want = sim_get(spec, "completions")
                       ? sim_geti(spec, "completions", 1) - succeeded
                       : (succeeded > 0 ? active : parallelism);
    if (want > parallelism)
        want = parallelism;
    if (want < 0)
        want = 0;
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", job->ns);
    snprintf(name, sizeof name, "%s", job->name);
    for (int64_t i = active; i > want; i--) {
        cm_obj *p = cm_store_get(sim_store(s), J(s)->k_pod, ns, jp->active[i - 1]);
        if (p)
            sim_delete_pod(s, p, -1);
    }
    if (active < want && wait > 0) {
        wake_at(s, W_JOB, key, NULL, wait);
        return active;
    }
    for (int64_t i = active; i < want; i++)
        create_pod(s, ns, name);
    return active < want ? want : (active > want ? want : active);
}

/* The Job controller's Event when a Job ends: Warning with the failure's reason and message, or
 * Normal Completed "Job completed". */
static void job_event(cm_sim *s, const char *ns, const char *name, const cJSON *finished, const char *now)
{
    cm_obj *job = cm_store_get(sim_store(s), J(s)->k_job, ns, name);
    if (!job || !J(s)->k_event)
        return;
    int failed = sim_is(sim_gets(finished, "type"), "Failed");
    char ev_name[300];
    snprintf(ev_name, sizeof ev_name, "%.250s.%016llx", name, (unsigned long long)sim_rand(s));
    const struct cm_evspec e = {"Job", failed ? "Warning" : "Normal", failed ? sim_gets(finished, "reason") : "Completed",
                                failed ? sim_gets(finished, "message") : "Job completed", "job-controller", NULL, NULL};
    sim_call(s, "POST", J(s)->k_event, ns, NULL, NULL, NULL, cm_fake_event_new(ns, ev_name, job->json, &e, now));
}

static void job_status(cm_sim *s, const char *ns, const char *name, int64_t active, const struct jobpods *jp,
                       int64_t succeeded, int64_t failed, const char *start, cJSON *conds, int finished)
{
    cm_obj *job = cm_store_get(sim_store(s), J(s)->k_job, ns, name);
    if (!job) {
        cJSON_Delete(conds);
        return;
    }
    const cJSON *old = sim_get(job->json, "status");
    cJSON *st = cJSON_CreateObject();
    if (active)
        sim_seti(st, "active", active);
    if (finished && sim_is(sim_gets(cJSON_GetArrayItem(conds, cJSON_GetArraySize(conds) - 1), "type"), "Complete"))
        cJSON_AddStringToObject(st, "completionTime",
                                sim_gets(cJSON_GetArrayItem(conds, cJSON_GetArraySize(conds) - 1), "lastTransitionTime"));
    else if (sim_gets(old, "completionTime"))
        cJSON_AddStringToObject(st, "completionTime", sim_gets(old, "completionTime"));
    if (cJSON_GetArraySize(conds))
        cJSON_AddItemToObject(st, "conditions", conds);
    else
        cJSON_Delete(conds);
    if (failed)
        sim_seti(st, "failed", failed);
    sim_seti(st, "ready", finished ? 0 : jp->ready);
    if (start)
        cJSON_AddStringToObject(st, "startTime", start);
    if (succeeded)
        sim_seti(st, "succeeded", succeeded);
    sim_seti(st, "terminating", jp->terminating);
    cJSON_AddObjectToObject(st, "uncountedTerminatedPods");
    sim_put_status(s, job, st);
}

void sim_job_reconcile(cm_sim *s, const char *key)
{
    struct sim_job *j = J(s);
    char ns[256], name[256];
    const char *slash = strchr(key, '/');
    if (!slash || !j->k_job)
        return;
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - key), key);
    snprintf(name, sizeof name, "%s", slash + 1);
    if (strncmp(key, "pod:", 4) == 0) {
        orphan_pod(s, key + 4);
        return;
    }
    cm_obj *job = cm_store_get(sim_store(s), j->k_job, ns, name);
    if (!job)
        return;
    struct jobpods jp = {0};
    look(s, job, &jp);
    if (job_cond(job->json, "Complete") || job_cond(job->json, "Failed") || sim_deleting(job->json)) {
        count_pods(s, ns, &jp, 1); /* a finished or deleted Job lets go of its pods */
        free_look(&jp);
        return;
    }
    char uid[64], now[40];
    snprintf(uid, sizeof uid, "%s", cm_meta_str(job->json, "uid"));
    sim_now(s, now, sizeof now);
    const cJSON *spec = sim_get(job->json, "spec"), *old = sim_get(job->json, "status");
    int64_t succeeded = sim_geti(old, "succeeded", 0) + jp.new_succeeded;
    int64_t failed = sim_geti(old, "failed", 0) + jp.new_failed;
    char start[40];
    snprintf(start, sizeof start, "%s", sim_gets(old, "startTime") ? sim_gets(old, "startTime") : now);
    int64_t limit = sim_geti(spec, "backoffLimit", 6), deadline = sim_geti(spec, "activeDeadlineSeconds", -1);
    int on_failure = sim_is(sim_gets(sim_get(sim_get(spec, "template"), "spec"), "restartPolicy"), "OnFailure");
    cJSON *conds = cJSON_Duplicate(sim_get(old, "conditions"), 1);
    if (!conds)
        conds = cJSON_CreateArray();
    const cJSON *target = job_cond(job->json, "FailureTarget");
    const cJSON *met = job_cond(job->json, "SuccessCriteriaMet");
    int64_t wait = backoff_left(s, uid, jp.new_succeeded, jp.new_failed);
    int64_t elapsed = cm_loop_wall(sim_loop(s)) / CM_NS_PER_S - cm_parse_time(start);
    if (!target && !met) {
        const char *reason = NULL, *msg = NULL;
        if (jp.fail_job[0]) {
            reason = "PodFailurePolicy";
            msg = jp.fail_job;
        } else if (failed > limit || (on_failure && (limit == 0 ? jp.restarts > 0 : jp.restarts >= limit))) {
            reason = "BackoffLimitExceeded";
            msg = "Job has reached the specified backoff limit";
        } else if (deadline >= 0 && elapsed >= deadline) {
            reason = "DeadlineExceeded";
            msg = "Job was active longer than specified deadline";
        } else if (deadline >= 0) {
            wake_at(s, W_JOB, key, NULL, (deadline - elapsed) * CM_NS_PER_S);
        }
        if (reason) {
            cJSON_AddItemToArray(conds, cond("FailureTarget", "True", reason, msg, now));
            target = cJSON_GetArrayItem(conds, cJSON_GetArraySize(conds) - 1);
        }
    }
    int64_t active = (int64_t)jp.nactive;
    if (target) {
        for (size_t i = 0; i < jp.nactive; i++) { /* deleteActivePods */
            cm_obj *p = cm_store_get(sim_store(s), j->k_pod, ns, jp.active[i]);
            if (p)
                sim_delete_pod(s, p, -1);
        }
        failed += active; /* a finished Job counts its unfinished pods as failed */
        jp.terminating += active;
        active = 0;
        count_pods(s, ns, &jp, 1);
    } else if (!met) {
        job = cm_store_get(sim_store(s), j->k_job, ns, name);
        if (job)
            active = manage(s, job, &jp, succeeded, wait, key);
        int done = sim_get(spec, "completions") ? succeeded >= sim_geti(spec, "completions", 1) && active == 0
                                                : succeeded > 0 && active == 0;
        if (done) {
            cJSON_AddItemToArray(conds, cond("SuccessCriteriaMet", "True", "CompletionsReached",
                                             "Reached expected number of succeeded pods", now));
            met = cJSON_GetArrayItem(conds, cJSON_GetArraySize(conds) - 1);
        }
        count_pods(s, ns, &jp, met != NULL);
    } else {
        count_pods(s, ns, &jp, 1);
    }
    int finished = 0;
    if ((target || met) && jp.terminating == 0) {
        const cJSON *interim = target ? target : met;
        cJSON_AddItemToArray(conds, cond(target ? "Failed" : "Complete", "True", sim_gets(interim, "reason"),
                                         sim_gets(interim, "message"), now));
        finished = 1;
        job_event(s, ns, name, cJSON_GetArrayItem(conds, cJSON_GetArraySize(conds) - 1), now);
    }
    job_status(s, ns, name, active, &jp, succeeded, failed, start, conds, finished);
    free_look(&jp);
}
