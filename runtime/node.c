/*
 * node.c - node operations as state machines on the run's loop (node.h):
 * cordon, uncordon, labels and annotations, drain, waits on watches, run_on.
 *
 * An operation's requests are started with the client's _start functions and
 * each completion calls the operation's next step; watches notify it; timers
 * (PDB retries, the deadline, skip-wait) are loop timers. Nothing here waits.
 */
#include "node.h"

#include "json.h"
#include "kinds.h"
#include "log.h"
#include "podview.h"
#include "rand.h"
#include "select.h"
#include "status.h"
#include "strbuf.h"
#include "validate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op_kind { OP_CORDON, OP_UNCORDON, OP_META, OP_DRAIN, OP_WAIT, OP_RUN };

struct inflight;

/* A pod of a drain. */
enum pod_state { P_SKIP, P_QUEUED, P_SENDING, P_RETRY, P_WAITING, P_GONE, P_FAILED };

struct dpod {
    struct cm_node_op *op;
    size_t slot;        /* its index in op->pods */
    char *ns, *name, *uid, *key; /* key: "ns/name" */
    cJSON *obj;
    enum pod_state st;
    int use_delete;     /* the delete path (no eviction, disable_eviction, or escalated) */
    int in_flight;      /* its eviction or deletion is on its way (counted in op->sending) */
    int ds_owner;       /* a DaemonSet controller owns it (and it is not finished) */
    cm_timer *timer;    /* a retry, or the end of waiting (skip_wait) */
    int64_t blocked_since; /* loop time of the first PDB refusal; -1: none */
    char pdb[256], cause[160];
};

/* A DaemonSet a pod of the drain names: does it exist. */
struct dset {
    char *ns, *name;
    int state; /* 0: asking, 1: exists, 2: not found, 3: other error */
    char msg[256];
};

struct cm_node_op {
    enum op_kind kind;
    cm_k8s_client *c;
    cm_loop *loop;
    int64_t deadline;
    cm_node_notify notify;
    void *ud;
    int done, rc;
    cm_k8s_error err;
    cJSON *result;
    cJSON *events; /* an array: progress not yet taken */
    struct inflight *inflight;
    cm_timer *deadline_timer;
    char *name;
    /* cordon, uncordon, meta */
    int only_ours, attempts;
    char *field;
    cJSON *changes;
    /* drain */
    cm_drain_opts o;
    char **exclude;
    struct dpod **pods; /* each allocated alone: timers hold them while the array grows */
    size_t filter_from; /* pods [filter_from, npods) have not been through the filters */
    size_t npods, cappods;
    struct dset *dsets;
    size_t ndsets;
    cJSON *warnings; /* [{"message", "pods": [..]}] in first-seen order */
    int phase, rounds, sending, evict_mode; /* sending: requests in flight; evict_mode: 0 delete, 1 evict */
    uint64_t rng;
    uint64_t requests;
    cm_k8s_watch *watch;
    cm_pod_view *view; /* the node's pods, shared (podview.h): then sub stands for watch */
    cm_pod_sub *sub;
    int view_listed;   /* the drain: the view's initial RELIST was its list */
    cm_timer *poll_timer; /* the watch's news, taken from the loop (see soon_poll) */
    void (*poll)(cm_node_op *op);
    char *rv;
    int polling, repoll;
    /* wait */
    cm_node_wait w;
    char *w_ns, *w_sel, *w_node, *w_cond, *w_status;
    cm_selector *w_selector; /* w_sel parsed, to pick the view's pods */
    cJSON *matched; /* uid -> object */
    /* run_on */
    struct run_on *run;
};

/* A request in flight, and what to do with its answer. */
struct inflight {
    struct inflight *next;
    cm_node_op *op;
    cm_k8s_req *req;
    size_t slot;
    int starting, completed;
    void (*k)(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);
};

static const char *str(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *obj(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- the operation's life ---- */

static cm_node_op *op_new(enum op_kind kind, cm_k8s_client *c, cm_loop *loop, const char *name, int64_t deadline,
                          cm_node_notify fn, void *ud)
{
    cm_node_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    *op = (cm_node_op){.kind = kind, .c = c, .loop = loop, .deadline = deadline, .notify = fn, .ud = ud,
                       .events = cJSON_CreateArray(), .name = dup(name)};
    if (!op->events || (name && !op->name)) {
        cJSON_Delete(op->events);
        free(op->name);
        free(op);
        return NULL;
    }
    return op;
}

static void tell(cm_node_op *op)
{
    if (op->notify)
        op->notify(op->ud);
}

static void stop_pod_timers(cm_node_op *op)
{
    for (size_t i = 0; i < op->npods; i++) {
        if (op->pods[i]->timer)
            cm_loop_timer_cancel(op->loop, op->pods[i]->timer);
        op->pods[i]->timer = NULL;
    }
}

static void stop_run_timer(cm_node_op *op);

/* The watch (or the view's subscription) tells nobody any more. */
static void quiet(cm_node_op *op)
{
    if (op->watch)
        cm_k8s_watch_set_notify(op->watch, NULL, NULL);
    if (op->sub)
        cm_pod_sub_set_notify(op->sub, NULL, NULL);
}

/* Abandons every request in flight except those completing now. */
static void stop_requests(cm_node_op *op)
{
    struct inflight **p = &op->inflight;
    while (*p) {
        struct inflight *f = *p;
        if (f->starting || f->completed) { /* its own callback or _start frees it */
            p = &f->next;
            continue;
        }
        *p = f->next;
        cm_k8s_req_cancel(f->req);
        free(f);
    }
}

/* Ends the operation: rc 0 with result (taken), or -1 with op->err filled. */
static void op_end(cm_node_op *op, int rc)
{
    if (op->done)
        return;
    op->done = 1;
    op->rc = rc;
    stop_requests(op);
    stop_pod_timers(op);
    if (op->deadline_timer)
        cm_loop_timer_cancel(op->loop, op->deadline_timer);
    op->deadline_timer = NULL;
    stop_run_timer(op);
    if (op->poll_timer)
        cm_loop_timer_cancel(op->loop, op->poll_timer);
    op->poll_timer = NULL;
    quiet(op);
    tell(op);
}

static void op_fail(cm_node_op *op, cm_k8s_error *err)
{
    if (err != &op->err)
        op->err = *err;
    op_end(op, -1);
}

static void op_oom(cm_node_op *op)
{
    cm_k8s_errorf(&op->err, "ENOMEM", "out of memory");
    op_end(op, -1);
}

/*
 * Hands every event the operation's watch has now to fn(op, ev), until there is none, the
 * operation ends or fn returns 0; a failed watch fails the operation. Re-entered (fn's own
 * doings may poke the watch), it only asks the running call to look again.
 */
static void take_events(cm_node_op *op, int (*fn)(cm_node_op *op, const cJSON *ev))
{
    if (op->polling) {
        op->repoll = 1;
        return;
    }
    op->polling = 1;
    do {
        op->repoll = 0;
        for (int more = 1; more && !op->done;) {
            cJSON *ev = NULL;
            cm_k8s_error err = {0};
            int rc = op->sub ? cm_pod_sub_poll(op->sub, &ev, &err)
                             : cm_k8s_watch_poll(op->watch, op->deadline, &ev, &err);
            if (rc < 0 && !op->done) {
                op->polling = 0;
                op_fail(op, &err);
                return;
            }
            if (rc != 1)
                break;
            more = fn(op, ev);
            cJSON_Delete(ev);
        }
    } while (op->repoll && !op->done);
    op->polling = 0;
}

static void poll_due(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_node_op *op = ud;
    op->poll_timer = NULL;
    if (!op->done)
        op->poll(op);
}

/* A watch has news: poll(op) takes it at the loop's next turn. The watch may be telling from
 * inside the write that made the news (in simulation the fake cluster feeds its streams as its
 * store changes), and the requests the news leads to must not run inside that write. */
static void soon_poll(cm_node_op *op, void (*poll)(cm_node_op *op))
{
    op->poll = poll;
    if (op->poll_timer || op->done)
        return;
    op->poll_timer = cm_loop_timer(op->loop, cm_loop_now(op->loop), poll_due, op);
    if (!op->poll_timer)
        op_oom(op);
}

static void req_done(cm_k8s_req *req, void *ud)
{
    struct inflight *f = ud;
    cm_node_op *op = f->op;
    cm_k8s_result res;
    int rc = cm_k8s_req_finish(req, &res);
    f->req = NULL;
    int starting = f->starting;
    f->completed = 1;
    op->requests++;
    if (!op->done)
        f->k(op, f->slot, rc, &res);
    cm_k8s_result_free(&res);
    if (starting)
        return; /* issue() unlinks it */
    for (struct inflight **p = &op->inflight; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    free(f);
}

enum req_type { R_CALL, R_LIST };

/* Starts a request whose answer goes to k(op, slot, ...). Returns 0, or -1 (the op failed). */
static int issue(cm_node_op *op, enum req_type type, const char *method, const cm_k8s_ref *ref,
                 const cm_k8s_param *params, size_t nparams, const char *ctype, const char *body, size_t slot,
                 void (*k)(cm_node_op *, size_t, int, cm_k8s_result *))
{
    struct inflight *f = calloc(1, sizeof *f);
    if (!f) {
        op_oom(op);
        return -1;
    }
    *f = (struct inflight){.next = op->inflight, .op = op, .slot = slot, .starting = 1, .k = k};
    op->inflight = f;
    cm_k8s_req *r = type == R_LIST
                        ? cm_k8s_list_start(op->c, ref, params, nparams, 500, op->deadline, req_done, f)
                        : cm_k8s_call_start(op->c, method, ref, params, nparams, ctype, body,
                                            body ? strlen(body) : 0, op->deadline, req_done, f);
    f->starting = 0;
    if (f->completed || !r) {
        for (struct inflight **p = &op->inflight; *p; p = &(*p)->next) {
            if (*p == f) {
                *p = f->next;
                break;
            }
        }
        free(f);
        if (!r) {
            op_oom(op);
            return -1;
        }
        return 0;
    }
    f->req = r;
    return 0;
}

static void on_deadline(cm_loop *loop, void *ud);

/* Arms the operation's deadline timer. */
static void arm_deadline(cm_node_op *op)
{
    if (op->deadline != CM_TIME_NEVER)
        op->deadline_timer = cm_loop_timer(op->loop, op->deadline, on_deadline, op);
}

static void push_event(cm_node_op *op, const struct dpod *p, const char *event, const char *message)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "pod", p->key);
    if (p->uid)
        cJSON_AddStringToObject(ev, "uid", p->uid);
    cJSON_AddStringToObject(ev, "event", event);
    if (message)
        cJSON_AddStringToObject(ev, "message", message);
    if (p->pdb[0] && !strcmp(event, "blocked"))
        cJSON_AddStringToObject(ev, "pdb", p->pdb);
    cJSON_AddItemToArray(op->events, ev);
    tell(op);
}

int cm_node_op_done(const cm_node_op *op)
{
    return op->done;
}

cJSON *cm_node_op_event(cm_node_op *op)
{
    return cJSON_GetArraySize(op->events) ? cJSON_DetachItemFromArray(op->events, 0) : NULL;
}

static void drain_free(cm_node_op *op);
struct run_on;
static void run_free(struct run_on *r);

void cm_node_op_cancel(cm_node_op *op)
{
    if (!op)
        return;
    op->notify = NULL;
    op->done = 1;
    stop_requests(op);
    for (struct inflight *f = op->inflight, *n; f; f = n) { /* none is completing outside the loop */
        n = f->next;
        cm_k8s_req_cancel(f->req);
        free(f);
    }
    stop_pod_timers(op);
    stop_run_timer(op);
    if (op->poll_timer)
        cm_loop_timer_cancel(op->loop, op->poll_timer);
    if (op->deadline_timer)
        cm_loop_timer_cancel(op->loop, op->deadline_timer);
    cm_k8s_watch_free(op->watch);
    cm_pod_sub_free(op->sub);
    cm_selector_free(op->w_selector);
    drain_free(op);
    cJSON_Delete(op->events);
    cJSON_Delete(op->result);
    cJSON_Delete(op->changes);
    cJSON_Delete(op->matched);
    run_free(op->run);
    free(op->field);
    free(op->name);
    free(op->rv);
    free(op->w_ns), free(op->w_sel), free(op->w_node), free(op->w_cond), free(op->w_status);
    free(op);
}

int cm_node_op_finish(cm_node_op *op, cJSON **result, cm_k8s_error *err)
{
    int rc = op->done ? op->rc : -1;
    if (!op->done)
        cm_k8s_errorf(&op->err, "Cancelled", "the operation did not end");
    *result = op->result;
    op->result = NULL;
    if (rc < 0)
        *err = op->err;
    cm_node_op_cancel(op);
    return rc;
}

/* ---- validation (the API server's rules, validate.c) ---- */

int cm_node_validate_meta(const char *node, const char *field, const cJSON *changes, char *msg, size_t size)
{
    static const cm_kind NODE = {.group = "", .version = "v1", .kind = "Node", .plural = "nodes",
                                 .singular = "node", .short_names = "no", .flags = CM_KIND_BUILTIN};
    cJSON *o = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", node);
    cJSON *m = cJSON_AddObjectToObject(meta, field);
    const cJSON *ch;
    cJSON_ArrayForEach(ch, changes) {
        if (!cJSON_IsNull(ch))
            cJSON_AddItemToObject(m, ch->string, cJSON_Duplicate(ch, 1));
        else /* a removal: only the key is checked */
            cJSON_AddStringToObject(m, ch->string, "");
    }
    cJSON *st = cm_status_invalid(&NODE, node);
    cm_validate_meta(st, &NODE, o);
    int n = cJSON_GetArraySize(obj(obj(st, "details"), "causes"));
    if (n)
        cm_status_invalid_done(st, &NODE, node);
    snprintf(msg, size, "%s", n ? str(st, "message") : "");
    cJSON_Delete(st);
    cJSON_Delete(o);
    return n ? -1 : 0;
}

/* ---- cordon, uncordon ---- */

static const cm_k8s_ref *node_ref(const cm_node_op *op, cm_k8s_ref *ref)
{
    *ref = (cm_k8s_ref){.api_version = "v1", .kind = "Node", .name = op->name};
    return ref;
}

static void set_result_changed(cm_node_op *op, int changed, const char *why)
{
    cJSON_Delete(op->result);
    op->result = cJSON_CreateObject();
    cJSON_AddBoolToObject(op->result, "changed", changed);
    if (why)
        cJSON_AddStringToObject(op->result, "why", why);
}

static void cordon_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);

static void cordon_get(cm_node_op *op)
{
    cm_k8s_ref ref;
    issue(op, R_CALL, "GET", node_ref(op, &ref), NULL, 0, NULL, NULL, 0, cordon_got);
}

static void cordon_patched(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc == 0) {
        set_result_changed(op, 1, NULL);
        op_end(op, 0);
    } else if (res->err.code && !strcmp(res->err.code, "Conflict") && op->attempts < 5) {
        cordon_get(op); /* changed meanwhile: read it again */
    } else {
        op_fail(op, &res->err);
    }
}

/* The cordon/uncordon patch for node n, or NULL when there is nothing to do (why says so). */
static char *cordon_patch(cm_node_op *op, const cJSON *n, const char **why)
{
    const cJSON *meta = obj(n, "metadata");
    int unsched = cJSON_IsTrue(obj(obj(n, "spec"), "unschedulable"));
    int ours = str(obj(meta, "annotations"), CM_NODE_CORDONED_ANNOTATION) != NULL;
    cJSON *p = cJSON_CreateObject(), *pm = cJSON_AddObjectToObject(p, "metadata");
    cJSON *ann = cJSON_AddObjectToObject(pm, "annotations"), *spec = NULL;
    if (op->kind == OP_CORDON) {
        if (unsched) {
            *why = "Already";
            cJSON_Delete(p);
            return NULL;
        }
        char now[40];
        cm_log_format_time(now, sizeof now, cm_loop_wall(op->loop));
        cJSON_AddStringToObject(ann, CM_NODE_CORDONED_ANNOTATION, now);
        spec = cJSON_AddObjectToObject(p, "spec");
        cJSON_AddTrueToObject(spec, "unschedulable");
    } else {
        if (unsched && op->only_ours && !ours) {
            *why = "NotOurs";
            cJSON_Delete(p);
            return NULL;
        }
        if (!unsched && !ours) {
            *why = "Already";
            cJSON_Delete(p);
            return NULL;
        }
        if (!unsched)
            *why = "Already"; /* only a stale annotation of ours goes */
        cJSON_AddNullToObject(ann, CM_NODE_CORDONED_ANNOTATION);
        if (unsched)
            cJSON_AddNullToObject(cJSON_AddObjectToObject(p, "spec"), "unschedulable");
    }
    const char *rv = str(meta, "resourceVersion");
    if (rv) /* only over the state just read: a concurrent change is a Conflict, then read again */
        cJSON_AddStringToObject(pm, "resourceVersion", rv);
    char *body = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return body;
}

static void cordon_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    op->attempts++;
    const char *why = NULL;
    char *body = cordon_patch(op, res->json, &why);
    if (!body) {
        if (!why)
            op_oom(op);
        set_result_changed(op, 0, why);
        op_end(op, 0);
        return;
    }
    if (why) /* uncordon of a schedulable node: its stale annotation goes, still "Already" */
        op->only_ours = 2;
    cm_k8s_ref ref;
    issue(op, R_CALL, "PATCH", node_ref(op, &ref), NULL, 0, "application/strategic-merge-patch+json", body, 0,
          cordon_patched);
    free(body);
}

static void uncordon_patched(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    if (rc == 0 && op->only_ours == 2) {
        set_result_changed(op, 0, "Already");
        op_end(op, 0);
        return;
    }
    cordon_patched(op, slot, rc, res);
}

cm_node_op *cm_node_cordon_start(cm_k8s_client *c, cm_loop *loop, const char *name, int64_t deadline,
                                 cm_node_notify fn, void *ud)
{
    cm_node_op *op = op_new(OP_CORDON, c, loop, name, deadline, fn, ud);
    if (op)
        cordon_get(op);
    return op;
}

static void uncordon_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);

cm_node_op *cm_node_uncordon_start(cm_k8s_client *c, cm_loop *loop, const char *name, int only_ours,
                                   int64_t deadline, cm_node_notify fn, void *ud)
{
    cm_node_op *op = op_new(OP_UNCORDON, c, loop, name, deadline, fn, ud);
    if (!op)
        return NULL;
    op->only_ours = only_ours != 0;
    cm_k8s_ref ref;
    issue(op, R_CALL, "GET", node_ref(op, &ref), NULL, 0, NULL, NULL, 0, uncordon_got);
    return op;
}

static void uncordon_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    op->attempts++;
    const char *why = NULL;
    char *body = cordon_patch(op, res->json, &why);
    if (!body) {
        set_result_changed(op, 0, why);
        op_end(op, 0);
        return;
    }
    if (why)
        op->only_ours = 2;
    cm_k8s_ref ref;
    issue(op, R_CALL, "PATCH", node_ref(op, &ref), NULL, 0, "application/strategic-merge-patch+json", body, 0,
          uncordon_patched);
    free(body);
}

/* ---- labels and annotations ---- */

static void meta_patched(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    set_result_changed(op, 1, NULL);
    op_end(op, 0);
}

static void meta_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    const cJSON *have = obj(obj(res->json, "metadata"), op->field);
    cJSON *p = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(cJSON_AddObjectToObject(p, "metadata"), op->field);
    const cJSON *ch;
    int n = 0;
    cJSON_ArrayForEach(ch, op->changes) {
        const cJSON *cur = obj(have, ch->string);
        if (cJSON_IsNull(ch) ? cur == NULL : (cur && cJSON_IsString(cur) && !strcmp(cur->valuestring, ch->valuestring)))
            continue;
        cJSON_AddItemToObject(m, ch->string, cJSON_Duplicate(ch, 1));
        n++;
    }
    if (!n) {
        cJSON_Delete(p);
        set_result_changed(op, 0, NULL);
        op_end(op, 0);
        return;
    }
    /* a merge patch of these keys alone: other writers' keys are untouched, so no read-modify-write race */
    char *body = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    cm_k8s_ref ref;
    if (!body) {
        op_oom(op);
        return;
    }
    issue(op, R_CALL, "PATCH", node_ref(op, &ref), NULL, 0, "application/merge-patch+json", body, 0, meta_patched);
    free(body);
}

cm_node_op *cm_node_meta_start(cm_k8s_client *c, cm_loop *loop, const char *name, const char *field,
                               const cJSON *changes, int64_t deadline, cm_node_notify fn, void *ud)
{
    cm_node_op *op = op_new(OP_META, c, loop, name, deadline, fn, ud);
    if (!op)
        return NULL;
    op->field = dup(field);
    op->changes = cJSON_Duplicate(changes, 1);
    if (!op->field || !op->changes) {
        cm_node_op_cancel(op);
        return NULL;
    }
    cm_k8s_ref ref;
    issue(op, R_CALL, "GET", node_ref(op, &ref), NULL, 0, NULL, NULL, 0, meta_got);
    return op;
}

/* ---- drain ---- */

enum drain_phase { D_CORDON, D_LIST, D_DSETS, D_EVICT, D_RELIST, D_DONE };

static const char DS_FATAL[] = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)";
static const char DS_WARNING[] = "ignoring DaemonSet-managed Pods";
static const char LOCAL_FATAL[] = "Pods with local storage (use --delete-emptydir-data to override)";
static const char LOCAL_WARNING[] = "deleting Pods with local storage";
static const char UNMANAGED_FATAL[] = "cannot delete Pods that declare no controller (use --force to override)";
static const char UNMANAGED_WARNING[] = "deleting Pods that declare no controller";

static void drain_free(cm_node_op *op)
{
    for (size_t i = 0; i < op->npods; i++) {
        struct dpod *p = op->pods[i];
        free(p->ns), free(p->name), free(p->uid), free(p->key);
        cJSON_Delete(p->obj);
        free(p);
    }
    free(op->pods);
    for (size_t i = 0; i < op->ndsets; i++)
        free(op->dsets[i].ns), free(op->dsets[i].name);
    free(op->dsets);
    for (size_t i = 0; i < op->o.nexclude; i++)
        free(op->exclude[i]);
    free(op->exclude);
    cJSON_Delete(op->warnings);
}

static const char *phase_of(const cJSON *pod)
{
    return str(obj(pod, "status"), "phase");
}

static int finished(const cJSON *pod)
{
    const char *ph = phase_of(pod);
    return ph && (!strcmp(ph, "Succeeded") || !strcmp(ph, "Failed"));
}

/* The ownerReference with controller: true, or NULL. */
static const cJSON *controller_of(const cJSON *pod)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, obj(obj(pod, "metadata"), "ownerReferences"))
        if (cJSON_IsTrue(obj(r, "controller")))
            return r;
    return NULL;
}

static int has_local_storage(const cJSON *pod)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, obj(obj(pod, "spec"), "volumes"))
        if (obj(v, "emptyDir"))
            return 1;
    return 0;
}

static int excluded(const cm_node_op *op, const char *key)
{
    for (size_t i = 0; i < op->o.nexclude; i++)
        if (!strcmp(op->exclude[i], key))
            return 1;
    return 0;
}

/* Seconds since the pod's deletionTimestamp on the run's wall clock, or -1 when it has none. */
static int64_t deleting_for(const cm_node_op *op, const cJSON *pod)
{
    const char *dt = str(obj(pod, "metadata"), "deletionTimestamp");
    long long ns;
    if (!dt || cm_parse_rfc3339(dt, &ns) < 0)
        return -1;
    return (cm_loop_wall(op->loop) - ns) / CM_NS_PER_S;
}

static struct dset *dset_of(cm_node_op *op, const char *ns, const char *name)
{
    for (size_t i = 0; i < op->ndsets; i++)
        if (!strcmp(op->dsets[i].ns, ns) && !strcmp(op->dsets[i].name, name))
            return &op->dsets[i];
    return NULL;
}

/* Adds the pods of a list that are new to the drain (by uid). Returns the first new index. */
static size_t add_pods(cm_node_op *op, const cJSON *list)
{
    size_t first = op->npods;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj(list, "items")) {
        const cJSON *meta = obj(it, "metadata");
        const char *uid = str(meta, "uid"), *ns = str(meta, "namespace"), *name = str(meta, "name");
        if (!ns || !name)
            continue;
        int seen = 0;
        for (size_t i = 0; i < op->npods && uid && !seen; i++)
            seen = op->pods[i]->uid && !strcmp(op->pods[i]->uid, uid);
        if (seen)
            continue;
        if (op->npods == op->cappods) {
            size_t cap = op->cappods ? 2 * op->cappods : 32;
            struct dpod **np = realloc(op->pods, cap * sizeof *np);
            if (!np)
                return first;
            op->pods = np;
            op->cappods = cap;
        }
        struct dpod *p = calloc(1, sizeof *p);
        if (!p)
            return first;
        op->pods[op->npods] = p;
        *p = (struct dpod){.op = op, .slot = op->npods++, .ns = dup(ns), .name = dup(name), .uid = dup(uid), .obj = cJSON_Duplicate(it, 1),
                           .st = P_QUEUED, .blocked_since = -1};
        p->key = malloc(strlen(ns) + strlen(name) + 2);
        if (p->key)
            sprintf(p->key, "%s/%s", ns, name);
    }
    return first;
}

/* Pods of kind "ns/a, ns/b" with status message msg, in list order. */
static void join_pods(cm_buf *b, cJSON *names)
{
    const cJSON *n;
    int i = 0;
    cJSON_ArrayForEach(n, names) {
        if (i++)
            cm_buf_adds(b, ", ");
        cm_buf_adds(b, n->valuestring);
    }
}

/* Appends pod key to the group of message msg in groups ([{"message", "pods"}]). */
static void group_add(cJSON *groups, const char *msg, const char *key)
{
    cJSON *g;
    cJSON_ArrayForEach(g, groups)
        if (!strcmp(str(g, "message"), msg))
            break;
    if (!g) {
        g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "message", msg);
        cJSON_AddArrayToObject(g, "pods");
        cJSON_AddItemToArray(groups, g);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(g, "pods"), cJSON_CreateString(key));
}

enum verdict { V_DELETE, V_SKIP, V_IGNORED, V_ERROR };

/*
 * kubectl's filters in kubectl's order (skipDeleted, daemonSet, mirrorPod, localStorage,
 * unreplicated); the first that says "do not delete" ends the pod's run, and only the last
 * verdict's message is kept (so the emptyDir warning of a controlled pod is lost, as in kubectl).
 * Ours first: an excluded pod is never touched.
 */
static enum verdict filter(cm_node_op *op, struct dpod *p, const char **msg, const char **skip_reason)
{
    const cJSON *pod = p->obj;
    *msg = NULL;
    if (excluded(op, p->key)) {
        *skip_reason = "excluded";
        return V_SKIP;
    }
    int64_t age = deleting_for(op, pod);
    if (op->o.skip_wait_for_delete > 0 && age >= 0 && age > op->o.skip_wait_for_delete) {
        *skip_reason = "terminating";
        return V_SKIP;
    }
    const cJSON *ctl = controller_of(pod);
    const char *ctl_kind = str(ctl, "kind");
    if (ctl && ctl_kind && !strcmp(ctl_kind, "DaemonSet") && !finished(pod)) {
        struct dset *d = dset_of(op, p->ns, str(ctl, "name") ? str(ctl, "name") : "");
        if (!d || d->state == 3) {
            *msg = d ? d->msg : "unexpected error";
            return V_ERROR;
        }
        if (d->state == 2) {
            if (!op->o.force) {
                *msg = d->msg;
                return V_ERROR;
            }
            *msg = d->msg; /* warning, deleted */
        } else if (!op->o.ignore_daemonsets) {
            *msg = DS_FATAL;
            return V_ERROR;
        } else {
            *msg = DS_WARNING;
            *skip_reason = "DaemonSet";
            return V_IGNORED;
        }
    }
    if (obj(obj(obj(pod, "metadata"), "annotations"), "kubernetes.io/config.mirror")) {
        *msg = NULL;
        *skip_reason = "mirror";
        return V_SKIP;
    }
    if (has_local_storage(pod) && !finished(pod)) {
        if (!op->o.delete_emptydir_data) {
            *msg = LOCAL_FATAL;
            return V_ERROR;
        }
        *msg = LOCAL_WARNING;
    }
    if (!finished(pod)) {
        if (ctl) {
            *msg = NULL;
        } else if (op->o.force) {
            *msg = UNMANAGED_WARNING;
        } else {
            *msg = UNMANAGED_FATAL;
            return V_ERROR;
        }
    } else {
        *msg = NULL;
    }
    return V_DELETE;
}

static void drain_step(cm_node_op *op);
static void evict_next(cm_node_op *op);

static void result_add(cm_node_op *op, const char *list, cJSON *item)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(op->result, list);
    cJSON_AddItemToArray(a, item);
}

static cJSON *pod_reason(const struct dpod *p, const char *reason, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pod", p->key);
    cJSON_AddStringToObject(o, "reason", reason);
    if (message)
        cJSON_AddStringToObject(o, "message", message);
    return o;
}

/* Runs the filters over pods [first, npods): 0 when all may go on, -1 after failing the drain. */
static int apply_filters(cm_node_op *op, size_t first)
{
    cJSON *errors = cJSON_CreateArray(), *warns = op->warnings;
    for (size_t i = first; i < op->npods; i++) {
        struct dpod *p = op->pods[i];
        const char *msg, *skip = NULL;
        enum verdict v = filter(op, p, &msg, &skip);
        if (v == V_ERROR) {
            group_add(errors, msg, p->key);
            continue;
        }
        if (msg)
            group_add(warns, msg, p->key);
        if (v == V_SKIP || v == V_IGNORED) {
            p->st = P_SKIP;
            result_add(op, "skipped", pod_reason(p, skip, NULL));
            push_event(op, p, "skipped", skip);
        }
    }
    /* kubectl's warning text, "msg: ns/a, ns/b; msg2: ..." per group */
    cJSON *wl = cJSON_GetObjectItemCaseSensitive(op->result, "warnings");
    while (cJSON_GetArraySize(wl))
        cJSON_DeleteItemFromArray(wl, 0);
    const cJSON *g;
    cJSON_ArrayForEach(g, warns) {
        cm_buf b = {0};
        cm_buf_adds(&b, str(g, "message"));
        cm_buf_adds(&b, ": ");
        join_pods(&b, cJSON_GetObjectItemCaseSensitive(g, "pods"));
        cm_buf_add(&b, "", 1);
        cJSON_AddItemToArray(wl, cJSON_CreateString(b.oom ? "" : b.p));
        cm_buf_free(&b);
    }
    if (!cJSON_GetArraySize(errors)) {
        cJSON_Delete(errors);
        return 0;
    }
    /* nothing is evicted: "cannot delete MSG: ns/a, ns/b" per message, as kubectl's list.errors() */
    cm_buf b = {0};
    int n = cJSON_GetArraySize(errors), k = 0;
    if (n > 1)
        cm_buf_adds(&b, "[");
    cJSON_ArrayForEach(g, errors) {
        if (k++)
            cm_buf_adds(&b, ", ");
        const char *m = str(g, "message");
        cm_buf_adds(&b, "cannot delete "); /* kubectl's doubled "cannot delete cannot delete Pods that..." too */
        cm_buf_adds(&b, m);
        cm_buf_adds(&b, ": ");
        join_pods(&b, cJSON_GetObjectItemCaseSensitive(g, "pods"));
        const cJSON *pn;
        cJSON_ArrayForEach(pn, cJSON_GetObjectItemCaseSensitive(g, "pods")) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "pod", pn->valuestring);
            cJSON_AddStringToObject(f, "reason", "Refused");
            cJSON_AddStringToObject(f, "message", m);
            result_add(op, "failed", f);
        }
    }
    if (n > 1)
        cm_buf_adds(&b, "]");
    cm_buf_add(&b, "", 1);
    cm_k8s_errorf(&op->err, "Refused", "%s", b.oom ? "out of memory" : b.p);
    cm_buf_free(&b);
    cJSON_Delete(errors);
    op_end(op, -1);
    return -1;
}

static void dset_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    struct dset *d = &op->dsets[slot];
    if (rc == 0) {
        d->state = 1;
    } else {
        d->state = res->err.code && !strcmp(res->err.code, "NotFound") ? 2 : 3;
        const char *m = str(res->status_obj, "message");
        snprintf(d->msg, sizeof d->msg, "%.250s", m ? m : res->err.message);
    }
    for (size_t i = 0; i < op->ndsets; i++)
        if (!op->dsets[i].state)
            return;
    drain_step(op);
}

/* Asks for the DaemonSet of every DaemonSet pod of [first, npods) not yet known. Returns how many. */
static size_t ask_dsets(cm_node_op *op, size_t first)
{
    size_t asked = 0, start = op->ndsets;
    for (size_t i = first; i < op->npods; i++) {
        const cJSON *ctl = controller_of(op->pods[i]->obj);
        const char *k = str(ctl, "kind"), *name = str(ctl, "name");
        if (!k || strcmp(k, "DaemonSet") || !name || finished(op->pods[i]->obj) || excluded(op, op->pods[i]->key) ||
            dset_of(op, op->pods[i]->ns, name))
            continue;
        struct dset *nd = realloc(op->dsets, (op->ndsets + 1) * sizeof *nd);
        if (!nd)
            break;
        op->dsets = nd;
        op->dsets[op->ndsets++] = (struct dset){.ns = dup(op->pods[i]->ns), .name = dup(name)};
        asked++;
    }
    for (size_t i = start; i < op->ndsets && !op->done; i++) {
        cm_k8s_ref ref = {.api_version = "apps/v1", .kind = "DaemonSet", .namespace = op->dsets[i].ns,
                          .name = op->dsets[i].name};
        issue(op, R_CALL, "GET", &ref, NULL, 0, NULL, NULL, i, dset_got);
    }
    return asked;
}

/* A pod is done: gone (evicted, deleted, replaced) or failed. */
static void pod_settle(cm_node_op *op, struct dpod *p, enum pod_state st, const char *reason, const char *message)
{
    if (p->st == P_GONE || p->st == P_FAILED || p->st == P_SKIP)
        return;
    if (p->timer)
        cm_loop_timer_cancel(op->loop, p->timer);
    p->timer = NULL;
    p->st = st;
    if (st == P_GONE) {
        result_add(op, p->use_delete ? "deleted" : "evicted", cJSON_CreateString(p->key));
        push_event(op, p, p->use_delete ? "deleted" : "evicted", NULL);
    } else {
        result_add(op, "failed", pod_reason(p, reason, message));
        push_event(op, p, "failed", message);
    }
}

static struct dpod *pod_by_uid(cm_node_op *op, const char *uid)
{
    for (size_t i = 0; uid && i < op->npods; i++)
        if (op->pods[i]->uid && !strcmp(op->pods[i]->uid, uid))
            return op->pods[i];
    return NULL;
}

/* Whether the drain has nothing left in flight for its pods. */
static int all_settled(const cm_node_op *op)
{
    for (size_t i = 0; i < op->npods; i++) {
        enum pod_state s = op->pods[i]->st;
        if (s != P_GONE && s != P_FAILED && s != P_SKIP)
            return 0;
    }
    return 1;
}

static void retry_due(cm_loop *loop, void *ud);

/* The index of p in op->pods. */
static size_t slot_of(const cm_node_op *op, const struct dpod *p)
{
    (void)op;
    return p->slot;
}

static void skip_wait_due(cm_loop *loop, void *ud);

/* A waiting pod with a deletionTimestamp: stop waiting once it is older than skip_wait_for_delete. */
static void arm_skip_wait(cm_node_op *op, struct dpod *p, const cJSON *pod)
{
    if (op->o.skip_wait_for_delete <= 0 || p->timer || p->st != P_WAITING)
        return;
    const char *dt = str(obj(pod, "metadata"), "deletionTimestamp");
    long long ns;
    if (!dt || cm_parse_rfc3339(dt, &ns) < 0)
        return;
    int64_t due_wall = ns + (op->o.skip_wait_for_delete + 1) * CM_NS_PER_S;
    int64_t in = due_wall - cm_loop_wall(op->loop);
    p->timer = cm_loop_timer(op->loop, cm_loop_now(op->loop) + (in > 0 ? in : 0), skip_wait_due, p);
}

static void check_done(cm_node_op *op)
{
    if (!op->done && op->phase == D_EVICT && all_settled(op))
        drain_step(op);
}

/* kubectl's --skip-wait-for-delete-timeout: a pod terminating for longer is no longer waited for. */
static void skip_wait_due(cm_loop *loop, void *ud)
{
    (void)loop;
    struct dpod *p = ud;
    cm_node_op *op = p->op;
    p->timer = NULL;
    if (p->st != P_WAITING)
        return;
    p->st = P_SKIP;
    result_add(op, "skipped", pod_reason(p, "terminating", NULL));
    char m[600];
    snprintf(m, sizeof m, "pod \"%s\" has DeletionTimestamp older than %" PRId64 " seconds, skipping", p->name,
             op->o.skip_wait_for_delete);
    push_event(op, p, "skipped", m);
    check_done(op);
}

/* Parses the DisruptionBudget cause of a 429 into p->pdb and p->cause. */
static void note_budget(struct dpod *p, const cJSON *status)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj(obj(status, "details"), "causes")) {
        const char *r = str(c, "reason"), *m = str(c, "message");
        if (!r || strcmp(r, "DisruptionBudget") || !m)
            continue;
        char name[256];
        long long need, have;
        if (sscanf(m, "The disruption budget %255s needs %lld healthy pods and has %lld currently", name, &need,
                   &have) == 3) {
            snprintf(p->pdb, sizeof p->pdb, "%.120s/%.120s", p->ns, name);
            snprintf(p->cause, sizeof p->cause, "needs %lld healthy, has %lld", need, have);
        } else if (sscanf(m, "The disruption budget %255s is still being processed", name) == 1) {
            snprintf(p->pdb, sizeof p->pdb, "%.120s/%.120s", p->ns, name);
            snprintf(p->cause, sizeof p->cause, "still being processed by the server");
        }
    }
}

static void evicted_answer(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);

/* Sends p's eviction (or deletion) with its uid as precondition. */
static void send_pod(cm_node_op *op, struct dpod *p)
{
    cJSON *dopts = cJSON_CreateObject();
    if (op->o.grace_period >= 0)
        cJSON_AddItemToObject(dopts, "gracePeriodSeconds", cm_json_new_int64(op->o.grace_period));
    if (p->uid) /* never a same-named replacement (kured #1169) */
        cJSON_AddStringToObject(cJSON_AddObjectToObject(dopts, "preconditions"), "uid", p->uid);
    p->st = P_SENDING;
    p->in_flight = 1;
    op->sending++;
    push_event(op, p, p->use_delete ? "deleting" : "evicting", NULL);
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = p->ns, .name = p->name};
    if (p->use_delete) {
        if (op->o.dry_run)
            cJSON_AddItemToObject(dopts, "dryRun", cJSON_CreateStringArray((const char *[]){"All"}, 1));
        char *body = cJSON_PrintUnformatted(dopts);
        issue(op, R_CALL, "DELETE", &ref, NULL, 0, "application/json", body, slot_of(op, p), evicted_answer);
        free(body);
    } else {
        struct inflight *f = calloc(1, sizeof *f);
        if (!f) {
            cJSON_Delete(dopts);
            op_oom(op);
            return;
        }
        *f = (struct inflight){.next = op->inflight, .op = op, .slot = slot_of(op, p), .starting = 1,
                               .k = evicted_answer};
        op->inflight = f;
        cm_k8s_req *r = cm_k8s_evict_start(op->c, p->ns, p->name, dopts, op->deadline, req_done, f);
        f->starting = 0;
        if (f->completed || !r) {
            for (struct inflight **q = &op->inflight; *q; q = &(*q)->next) {
                if (*q == f) {
                    *q = f->next;
                    break;
                }
            }
            free(f);
            if (!r)
                op_oom(op);
        } else {
            f->req = r;
        }
    }
    cJSON_Delete(dopts);
}

/* Starts evictions while fewer than `parallel` are in flight. */
static void evict_next(cm_node_op *op)
{
    for (size_t i = 0; i < op->npods && op->sending < op->o.parallel && !op->done; i++)
        if (op->pods[i]->st == P_QUEUED)
            send_pod(op, op->pods[i]);
    check_done(op);
}

static void retry_due(cm_loop *loop, void *ud)
{
    (void)loop;
    struct dpod *p = ud;
    p->timer = NULL;
    if (p->st == P_RETRY) {
        p->st = P_QUEUED;
        evict_next(p->op);
    }
}

/* A duration as Go's time.Duration prints it (kubectl's messages): 5s, 2.5s, 250ms, 0s. */
static void go_duration(int64_t ns, char *buf, size_t size)
{
    if (ns >= CM_NS_PER_S)
        snprintf(buf, size, "%.9gs", (double)ns / 1e9);
    else if (ns >= 1000000)
        snprintf(buf, size, "%.9gms", (double)ns / 1e6);
    else
        snprintf(buf, size, ns > 0 ? "%.9gµs" : "0s", (double)ns / 1e3);
}

static void evicted_answer(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    struct dpod *p = op->pods[slot];
    if (p->in_flight) /* the bound is on requests in flight, whatever the watch saw meanwhile */
        op->sending--;
    p->in_flight = 0;
    if (p->st != P_SENDING) {
        evict_next(op); /* it went meanwhile (the watch saw it) */
        return;
    }
    p->st = P_WAITING;
    const char *code = res->err.code ? res->err.code : "";
    const char *smsg = str(res->status_obj, "message");
    if (rc == 0) {
        if (op->o.dry_run)
            pod_settle(op, p, P_GONE, NULL, NULL);
        else
            arm_skip_wait(op, p, p->obj); /* the watch may have shown its deletionTimestamp already */
    } else if (!strcmp(code, "NotFound") || !strcmp(code, "Conflict")) {
        pod_settle(op, p, P_GONE, NULL, NULL); /* gone, or replaced (the uid precondition failed) */
    } else if (!p->use_delete && (!strcmp(code, "TooManyRequests") ||
                                  (!strcmp(code, "Forbidden") && strstr(smsg ? smsg : "", "terminat")))) {
        int64_t now = cm_loop_now(op->loop);
        if (!strcmp(code, "Forbidden") && str(obj(p->obj, "metadata"), "deletionTimestamp")) {
            evict_next(op);
            return; /* terminating namespace, already deleting: wait for it */
        }
        note_budget(p, res->status_obj);
        if (p->blocked_since < 0)
            p->blocked_since = now;
        char m[1200], delay[32];
        go_duration(op->o.retry_delay, delay, sizeof delay);
        snprintf(m, sizeof m, "error when evicting pods/\"%s\" -n \"%s\" (will retry after %s): %.500s", p->name,
                 p->ns, delay, smsg ? smsg : res->err.message);
        p->st = P_RETRY;
        push_event(op, p, "blocked", m);
        if (op->o.blocked_after >= 0 && now - p->blocked_since >= op->o.blocked_after) {
            if (op->o.blocked_action == CM_BLOCKED_FAIL) {
                pod_settle(op, p, P_FAILED, "Blocked", m);
                cm_k8s_errorf(&op->err, "Blocked", "drain node %s: pods/\"%s\" -n \"%s\" blocked by "
                              "PodDisruptionBudget %s (%s) for %.0f s", op->name, p->name, p->ns,
                              p->pdb[0] ? p->pdb : "?", p->cause, (double)(now - p->blocked_since) / 1e9);
                op->phase = D_DONE;
                op_end(op, -1);
                return;
            }
            if (op->o.blocked_action == CM_BLOCKED_DELETE) {
                p->use_delete = 1;
                p->st = P_QUEUED;
                evict_next(op);
                return;
            }
        }
        double jitter = 0.75 + 0.5 * (double)(cm_splitmix64(&op->rng) >> 11) / 9007199254740992.0;
        p->timer = cm_loop_timer(op->loop, now + (int64_t)((double)op->o.retry_delay * jitter), retry_due, p);
    } else {
        char m[768];
        snprintf(m, sizeof m, "error when %s pods/\"%s\" -n \"%s\": %s", p->use_delete ? "deleting" : "evicting",
                 p->name, p->ns, smsg ? smsg : res->err.message);
        pod_settle(op, p, P_FAILED, code[0] ? code : "Unknown", m);
    }
    evict_next(op);
}

/* A watch event about the node's pods: the waited-for pods that are gone or replaced. */
static void drain_event(cm_node_op *op, const cJSON *ev)
{
    const char *type = str(ev, "type");
    const cJSON *o = obj(ev, "object");
    if (type && !strcmp(type, "RELIST")) {
        for (size_t i = 0; i < op->npods; i++) {
            struct dpod *p = op->pods[i];
            if (p->st != P_WAITING && p->st != P_RETRY && p->st != P_SENDING)
                continue;
            int present = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, obj(o, "items"))
                present |= p->uid && str(obj(it, "metadata"), "uid") && !strcmp(str(obj(it, "metadata"), "uid"), p->uid);
            if (!present)
                pod_settle(op, p, P_GONE, NULL, NULL);
        }
        return;
    }
    const cJSON *meta = obj(o, "metadata");
    const char *uid = str(meta, "uid"), *ns = str(meta, "namespace"), *name = str(meta, "name");
    if (!type || !uid)
        return;
    struct dpod *p = pod_by_uid(op, uid);
    if (p && !strcmp(type, "DELETED")) {
        if (p->st == P_WAITING || p->st == P_RETRY || p->st == P_SENDING || (p->st == P_QUEUED && op->phase == D_EVICT))
            pod_settle(op, p, P_GONE, NULL, NULL);
        return;
    }
    if (p && (p->st == P_WAITING || p->st == P_SENDING)) { /* its deletionTimestamp may come first */
        cJSON *copy = cJSON_Duplicate(o, 1);
        if (copy) {
            cJSON_Delete(p->obj);
            p->obj = copy;
        }
        arm_skip_wait(op, p, p->obj);
        return;
    }
    if (p || !ns || !name)
        return;
    for (size_t i = 0; i < op->npods; i++) { /* a same-named pod with a new uid replaced ours */
        struct dpod *q = op->pods[i];
        if ((q->st == P_WAITING || q->st == P_RETRY) && !strcmp(q->ns, ns) && !strcmp(q->name, name))
            pod_settle(op, q, P_GONE, NULL, NULL);
    }
}

static void watch_notified(void *ud);
static void drain_have(cm_node_op *op, const cJSON *list);

/* Takes every event the watch has now. */
static int drain_take(cm_node_op *op, const cJSON *ev)
{
    const char *type = str(ev, "type");
    if (op->sub && !op->view_listed && type && !strcmp(type, "RELIST")) { /* the view's pods: the list */
        op->view_listed = 1;
        drain_have(op, obj(ev, "object"));
        return 1;
    }
    drain_event(op, ev);
    return 1;
}

static void drain_poll(cm_node_op *op)
{
    take_events(op, drain_take);
    if (op->phase == D_EVICT && !op->polling)
        evict_next(op); /* pods gone before their answer came free their slots */
}

static void watch_notified(void *ud)
{
    soon_poll(ud, drain_poll);
}

/* The drain's result as it stands, with the pods left and the budgets that block them. */
static void result_left(cm_node_op *op, cm_buf *msg)
{
    cJSON *left = cJSON_GetObjectItemCaseSensitive(op->result, "left");
    cJSON *blocked = cJSON_GetObjectItemCaseSensitive(op->result, "blocked");
    int n = 0;
    for (size_t i = 0; i < op->npods; i++) {
        struct dpod *p = op->pods[i];
        if (p->st == P_GONE || p->st == P_FAILED || p->st == P_SKIP)
            continue;
        cJSON_AddItemToArray(left, cJSON_CreateString(p->key));
        if (msg)
            cm_buf_adds(msg, n++ ? ", " : "");
        if (msg)
            cm_buf_adds(msg, p->key);
        if (p->pdb[0]) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "pod", p->key);
            cJSON_AddStringToObject(b, "pdb", p->pdb);
            cJSON_AddStringToObject(b, "message", p->cause);
            cJSON_AddItemToArray(blocked, b);
            if (msg) {
                cm_buf_adds(msg, " (blocked by PodDisruptionBudget ");
                cm_buf_adds(msg, p->pdb);
                cm_buf_adds(msg, ": ");
                cm_buf_adds(msg, p->cause);
                cm_buf_adds(msg, ")");
            }
        } else if (msg) {
            cm_buf_adds(msg, p->st == P_WAITING ? " (terminating)" : "");
        }
    }
}

static void run_timed_out(cm_node_op *op);

static void on_deadline(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_node_op *op = ud;
    op->deadline_timer = NULL;
    if (op->done)
        return;
    if (op->kind == OP_RUN) {
        run_timed_out(op);
        return;
    }
    if (op->kind != OP_DRAIN) {
        cm_k8s_errorf(&op->err, "Timeout", "timed out waiting for %s %s", op->w.kind ? op->w.kind : "node",
                      op->name ? op->name : op->w_sel ? op->w_sel : "");
        op_end(op, -1);
        return;
    }
    cm_buf b = {0};
    result_left(op, &b);
    cm_buf_add(&b, "", 1);
    cJSON_AddNumberToObject(op->result, "requests", (double)op->requests);
    cm_k8s_errorf(&op->err, "Timeout", "drain node %s: timed out with %d pods left: %s", op->name,
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(op->result, "left")),
                  b.oom ? "out of memory" : b.p);
    cm_buf_free(&b);
    op->phase = D_DONE;
    op_end(op, -1);
}

static void drain_listed(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);

static void drain_list(cm_node_op *op)
{
    if (op->view && !op->rounds && !op->o.dry_run && !(op->o.pod_selector && *op->o.pod_selector)) {
        op->sub = cm_pod_view_subscribe(op->view, watch_notified, op); /* its initial RELIST: the list */
        if (!op->sub)
            op_oom(op);
        return;
    }
    char fs[300];
    snprintf(fs, sizeof fs, "spec.nodeName=%s", op->name);
    cm_k8s_param p[2] = {{"fieldSelector", fs}, {"labelSelector", op->o.pod_selector}};
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod"};
    issue(op, R_LIST, "GET", &ref, p, op->o.pod_selector && *op->o.pod_selector ? 2 : 1, NULL, NULL, 0,
          drain_listed);
}

/* Ends the drain: success, or EvictionFailed when some pod failed. */
static void drain_finish(cm_node_op *op)
{
    op->phase = D_DONE;
    result_left(op, NULL);
    cJSON_AddNumberToObject(op->result, "requests", (double)op->requests);
    cJSON *known = cJSON_AddArrayToObject(op->result, "daemonsets");
    char key[512];
    for (size_t i = 0; i < op->ndsets; i++)
        if (op->dsets[i].state == 1) {
            snprintf(key, sizeof key, "%s/%s", op->dsets[i].ns, op->dsets[i].name);
            cJSON_AddItemToArray(known, cJSON_CreateString(key));
        }
    cJSON *failed = cJSON_GetObjectItemCaseSensitive(op->result, "failed");
    if (!cJSON_GetArraySize(failed)) {
        op_end(op, 0);
        return;
    }
    cm_buf b = {0};
    const cJSON *f;
    int k = 0;
    cJSON_ArrayForEach(f, failed) {
        cm_buf_adds(&b, k++ ? "; " : "");
        cm_buf_adds(&b, str(f, "message") ? str(f, "message") : str(f, "pod"));
    }
    cm_buf_add(&b, "", 1);
    cm_k8s_errorf(&op->err, "EvictionFailed", "drain node %s: %s", op->name, b.oom ? "out of memory" : b.p);
    cm_buf_free(&b);
    op_end(op, -1);
}

/* The node's pods listed (by a request or the view): filter and evict the new ones. */
static void drain_have(cm_node_op *op, const cJSON *list)
{
    size_t first = add_pods(op, list);
    op->filter_from = first;
    if (!op->watch && !op->sub && !op->o.dry_run) { /* the pods' deletions, from the list's resourceVersion on */
        const char *rv = str(obj(list, "metadata"), "resourceVersion");
        char fs[300];
        snprintf(fs, sizeof fs, "spec.nodeName=%s", op->name);
        cm_k8s_param p = {"fieldSelector", fs};
        cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod"};
        op->watch = cm_k8s_watch_new(op->c, &ref, &p, 1, rv, 0);
        if (!op->watch) {
            op_oom(op);
            return;
        }
        cm_k8s_watch_set_notify(op->watch, watch_notified, op);
    }
    op->phase = D_DSETS;
    op->rounds++;
    if (first == op->npods) { /* nothing new */
        if (op->rounds > 1) {
            drain_finish(op);
            return;
        }
    }
    if (!ask_dsets(op, first))
        drain_step(op);
}

static void drain_listed(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0)
        op_fail(op, &res->err);
    else
        drain_have(op, res->json);
}

/* Moves the drain on to its next phase. */
static void drain_step(cm_node_op *op)
{
    if (op->done)
        return;
    switch (op->phase) {
    case D_CORDON:
        op->phase = D_LIST;
        drain_list(op);
        return;
    case D_DSETS: {
        size_t first = op->filter_from;
        op->filter_from = op->npods;
        if (apply_filters(op, first) < 0)
            return;
        if (op->evict_mode < 0) {
            int support = cm_k8s_eviction_support(op->c);
            op->evict_mode = op->o.disable_eviction || support == 0 ? 0 : 1;
        }
        for (size_t i = first; i < op->npods; i++)
            op->pods[i]->use_delete = op->evict_mode == 0;
        op->phase = D_EVICT;
        if (op->watch || op->sub)
            drain_poll(op);
        evict_next(op);
        return;
    }
    case D_EVICT:
        if (op->o.relist && op->rounds < 3) {
            op->phase = D_RELIST;
            drain_list(op);
        } else {
            drain_finish(op);
        }
        return;
    default:
        return;
    }
}

static void drain_cordoned(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);

static void drain_cordon_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    op->kind = OP_CORDON; /* cordon_patch's rules */
    const char *why = NULL;
    char *body = cordon_patch(op, res->json, &why);
    op->kind = OP_DRAIN;
    if (!body) {
        drain_step(op);
        return;
    }
    cm_k8s_ref ref;
    issue(op, R_CALL, "PATCH", node_ref(op, &ref), NULL, 0, "application/strategic-merge-patch+json", body, 0,
          drain_cordoned);
    free(body);
}

static void drain_cordoned(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0 && res->err.code && !strcmp(res->err.code, "Conflict") && ++op->attempts < 5) {
        cm_k8s_ref ref;
        issue(op, R_CALL, "GET", node_ref(op, &ref), NULL, 0, NULL, NULL, 0, drain_cordon_got);
        return;
    }
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    drain_step(op);
}

cm_node_op *cm_node_drain_start(cm_k8s_client *c, cm_loop *loop, const char *name, const cm_drain_opts *o,
                                cm_node_notify fn, void *ud)
{
    cm_node_op *op = op_new(OP_DRAIN, c, loop, name, o->deadline, fn, ud);
    if (!op)
        return NULL;
    op->o = *o;
    op->o.pod_selector = NULL;
    op->o.exclude = NULL;
    op->o.nexclude = 0;
    op->rng = o->seed;
    op->view = o->view;
    op->evict_mode = -1;
    if (op->o.parallel < 1)
        op->o.parallel = 1;
    op->result = cJSON_CreateObject();
    op->warnings = cJSON_CreateArray();
    op->exclude = calloc(o->nexclude + 1, sizeof *op->exclude);
    if (!op->result || !op->warnings || !op->exclude) {
        cm_node_op_cancel(op);
        return NULL;
    }
    for (size_t i = 0; i < o->nexclude; i++)
        if ((op->exclude[i] = dup(o->exclude[i])) != NULL)
            op->o.nexclude++;
    op->o.daemonsets = NULL;
    op->o.ndaemonsets = 0;
    op->dsets = calloc(o->ndaemonsets + 1, sizeof *op->dsets);
    if (!op->dsets) {
        cm_node_op_cancel(op);
        return NULL;
    }
    for (size_t i = 0; i < o->ndaemonsets; i++) { /* known to exist: state 1, never asked */
        const char *slash = strchr(o->daemonsets[i], '/');
        if (!slash)
            continue;
        struct dset *d = &op->dsets[op->ndsets];
        d->ns = strndup(o->daemonsets[i], (size_t)(slash - o->daemonsets[i]));
        d->name = dup(slash + 1);
        d->state = 1;
        if (d->ns && d->name)
            op->ndsets++;
        else
            free(d->ns), free(d->name);
    }
    op->field = dup(o->pod_selector); /* kept here; o.pod_selector points at it */
    op->o.pod_selector = op->field;
    cJSON_AddStringToObject(op->result, "node", name);
    static const char *const LISTS[] = {"evicted", "deleted", "skipped", "warnings", "failed", "left", "blocked"};
    for (size_t i = 0; i < sizeof LISTS / sizeof *LISTS; i++)
        cJSON_AddArrayToObject(op->result, LISTS[i]);
    arm_deadline(op);
    if (o->cordon) {
        op->phase = D_CORDON;
        cm_k8s_ref ref;
        issue(op, R_CALL, "GET", node_ref(op, &ref), NULL, 0, NULL, NULL, 0, drain_cordon_got);
    } else {
        op->phase = D_LIST;
        drain_list(op);
    }
    return op;
}

/* ---- waits ---- */

static int pod_ready(const cJSON *pod)
{
    if (str(obj(pod, "metadata"), "deletionTimestamp"))
        return 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, obj(obj(pod, "status"), "conditions"))
        if (str(c, "type") && !strcmp(str(c, "type"), "Ready"))
            return str(c, "status") && !strcmp(str(c, "status"), "True");
    return 0;
}

static int node_holds(const cm_node_op *op, const cJSON *n)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj(obj(n, "status"), "conditions"))
        if (str(c, "type") && !strcmp(str(c, "type"), op->w_cond))
            return str(c, "status") && !strcmp(str(c, "status"), op->w_status);
    return 0;
}

/* Checks the wait's condition over what matches now; ends the op when it holds. */
static void wait_check(cm_node_op *op)
{
    if (op->done)
        return;
    if (op->w.gone) {
        if (cJSON_GetArraySize(op->matched) == 0) {
            op->result = cJSON_CreateObject();
            cJSON_AddTrueToObject(op->result, "gone");
            op_end(op, 0);
        }
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, op->matched) {
        if (op->kind == OP_WAIT && (!strcmp(op->w.kind, "Pod") ? pod_ready(it) : node_holds(op, it))) {
            op->result = cJSON_Duplicate(it, 1);
            op_end(op, 0);
            return;
        }
    }
}

/* Whether a pod of the view is one the wait is about (a watch of its own selects them). */
static int wait_wants(const cm_node_op *op, const cJSON *o)
{
    const cJSON *md = obj(o, "metadata");
    if (!op->sub)
        return 1;
    if (op->w_ns && (!str(md, "namespace") || strcmp(str(md, "namespace"), op->w_ns)))
        return 0;
    return !op->w_selector || cm_selector_match_labels(op->w_selector, obj(md, "labels"));
}

static void wait_put(cm_node_op *op, const cJSON *o, int gone)
{
    const char *uid = str(obj(o, "metadata"), "uid");
    if (!uid)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(op->matched, uid);
    if (!gone && wait_wants(op, o))
        cJSON_AddItemToObject(op->matched, uid, cJSON_Duplicate(o, 1));
}

static void wait_list_into(cm_node_op *op, const cJSON *list)
{
    cJSON_Delete(op->matched);
    op->matched = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, obj(list, "items"))
        wait_put(op, it, 0);
}

static int wait_take(cm_node_op *op, const cJSON *ev)
{
    const char *type = str(ev, "type");
    if (type && !strcmp(type, "RELIST"))
        wait_list_into(op, obj(ev, "object"));
    else if (type && strcmp(type, "BOOKMARK"))
        wait_put(op, obj(ev, "object"), !strcmp(type, "DELETED"));
    wait_check(op);
    return 1;
}

static void wait_poll(cm_node_op *op)
{
    take_events(op, wait_take);
}

static void wait_notified(void *ud)
{
    wait_poll(ud);
}

/* The selectors of the wait: (fieldSelector, labelSelector). */
static size_t wait_params(cm_node_op *op, cm_k8s_param *p, char *fs, size_t fsize)
{
    size_t n = 0;
    if (!strcmp(op->w.kind, "Node"))
        snprintf(fs, fsize, "metadata.name=%s", op->w_node);
    else if (op->w_node)
        snprintf(fs, fsize, "spec.nodeName=%s", op->w_node);
    else
        fs[0] = 0;
    if (fs[0])
        p[n++] = (cm_k8s_param){"fieldSelector", fs};
    if (op->w_sel && *op->w_sel)
        p[n++] = (cm_k8s_param){"labelSelector", op->w_sel};
    return n;
}

static void wait_listed(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc < 0) {
        op_fail(op, &res->err);
        return;
    }
    wait_list_into(op, res->json);
    wait_check(op);
    if (op->done)
        return;
    char fs[300];
    cm_k8s_param p[2];
    size_t n = wait_params(op, p, fs, sizeof fs);
    cm_k8s_ref ref = {.api_version = "v1", .kind = op->w.kind, .namespace = op->w_ns};
    op->watch = cm_k8s_watch_new(op->c, &ref, p, n, str(obj(res->json, "metadata"), "resourceVersion"), 0);
    if (!op->watch) {
        op_oom(op);
        return;
    }
    cm_k8s_watch_set_notify(op->watch, wait_notified, op);
    wait_poll(op);
}

cm_node_op *cm_node_wait_start(cm_k8s_client *c, cm_loop *loop, const cm_node_wait *w, cm_node_notify fn,
                               void *ud)
{
    cm_node_op *op = op_new(OP_WAIT, c, loop, NULL, w->deadline, fn, ud);
    if (!op)
        return NULL;
    op->w = *w;
    op->w.kind = !strcmp(w->kind, "Node") ? "Node" : "Pod";
    op->w_ns = dup(w->namespace);
    op->w_sel = dup(w->label_selector);
    op->w_node = dup(w->node);
    op->w_cond = dup(w->condition ? w->condition : "Ready");
    op->w_status = dup(w->status ? w->status : "True");
    op->matched = cJSON_CreateObject();
    if (!op->w_cond || !op->w_status || !op->matched) {
        cm_node_op_cancel(op);
        return NULL;
    }
    op->name = dup(w->node);
    arm_deadline(op);
    if (w->view && op->kind == OP_WAIT && !strcmp(op->w.kind, "Pod")) { /* the view's initial RELIST: the list */
        char msg[256];
        op->view = w->view;
        op->w_selector = cm_label_selector_parse(op->w_sel ? op->w_sel : "", msg, sizeof msg);
        if (!op->w_selector) {
            cm_k8s_errorf(&op->err, "Invalid", "wait: selector %s: %s", op->w_sel, msg);
            op_end(op, -1);
            return op;
        }
        op->sub = cm_pod_view_subscribe(w->view, wait_notified, op);
        if (!op->sub)
            op_oom(op);
        return op;
    }
    char fs[300];
    cm_k8s_param p[2];
    size_t n = wait_params(op, p, fs, sizeof fs);
    cm_k8s_ref ref = {.api_version = "v1", .kind = op->w.kind, .namespace = op->w_ns};
    issue(op, R_LIST, "GET", &ref, p, n, NULL, NULL, 0, wait_listed);
    return op;
}

/* ---- run_on ---- */

enum run_phase { RUN_IMAGE, RUN_CREATE, RUN_ADOPT, RUN_GONE, RUN_WAIT, RUN_LOG, RUN_DELETE };

struct run_on {
    enum run_phase phase;
    char *node, *script, *step, *args, *ns, *pod, *image, *own_pod, *cni_dir, *source;
    cJSON *paths;
    int creates;          /* pods created (a failed or going one is replaced, a few times at most) */
    int failing;          /* the pod is deleted, then the op fails with op->err */
    int keep;             /* a pod that succeeded stays (the caller deletes it) */
    size_t result_len;    /* the result's length when it is in the pod's log */
    cm_timer *timer;      /* the create after an earlier pod went (not from inside the watch) */
    char *uid;            /* of the pod waited for through the view */
    char why[600];        /* the pod's end: reason, exit code, the script's error */
};

static void stop_run_timer(cm_node_op *op)
{
    if (!op->run)
        return;
    if (op->run->timer)
        cm_loop_timer_cancel(op->loop, op->run->timer);
    op->run->timer = NULL;
}

static void run_free(struct run_on *r)
{
    if (!r)
        return;
    free(r->node), free(r->script), free(r->step), free(r->args), free(r->ns), free(r->pod);
    free(r->image), free(r->own_pod), free(r->cni_dir), free(r->source), free(r->uid);
    cJSON_Delete(r->paths);
    free(r);
}

void cm_node_run_pod_name(const char *node, const char *step, char *buf, size_t size)
{
    char name[600];
    snprintf(name, sizeof name, "cm-%s-%s", step, node);
    size_t n = strlen(name);
    if (n <= 63) {
        snprintf(buf, size, "%s", name);
        return;
    }
    uint32_t h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + (unsigned char)name[i];
    size_t keep = 54; /* a cut that ends a DNS label in "." or "-" ("node.ec2.-1a2b3c4d") is refused */
    while (keep > 3 && (name[keep - 1] == '.' || name[keep - 1] == '-'))
        keep--;
    snprintf(buf, size, "%.*s-%08" PRIx32, (int)keep, name, h);
}

/* The step of a script run without one: its file's base name without ".lua", in a DNS-1123
 * label's characters (lower case, "-"), so that a path ("/site/Plant_MTU.lua") names a pod the
 * API server accepts (cm-plant-mtu-NODE). */
static char *step_of_script(const char *script)
{
    const char *base = strrchr(script, '/') ? strrchr(script, '/') + 1 : script;
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".lua"))
        n -= 4;
    char *step = malloc(n + sizeof "script");
    if (!step)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = base[i] >= 'A' && base[i] <= 'Z' ? (char)(base[i] - 'A' + 'a') : base[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (ok || (k && step[k - 1] != '-'))
            step[k++] = ok ? ch : '-';
    }
    while (k && step[k - 1] == '-')
        k--;
    if (!k)
        memcpy(step, "script", k = 6);
    step[k] = 0;
    return step;
}

/* A label value from a step name: what the API server accepts, at most 63 characters. */
static void label_value(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < size && n < 63; p++)
        out[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                                  *p == '-' || *p == '_' || *p == '.' ? *p : '-');
    while (n && !((out[n - 1] >= 'a' && out[n - 1] <= 'z') || (out[n - 1] >= '0' && out[n - 1] <= '9') ||
                  (out[n - 1] >= 'A' && out[n - 1] <= 'Z')))
        n--;
    out[n] = 0;
}

/* Adds a hostPath volume named name at path, mounted at the same path in the container. */
static void add_host_path(cJSON *volumes, cJSON *mounts, const char *name, const char *path)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, volumes)
        if (!strcmp(str(obj(v, "hostPath"), "path"), path))
            return; /* declared twice */
    cJSON *vol = cJSON_CreateObject(), *hp = cJSON_AddObjectToObject(vol, "hostPath");
    cJSON_AddStringToObject(vol, "name", name);
    cJSON_AddStringToObject(hp, "path", path);
    cJSON_AddStringToObject(hp, "type", "DirectoryOrCreate");
    cJSON_AddItemToArray(volumes, vol);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "mountPath", path);
    cJSON_AddItemToArray(mounts, m);
}

/* The variable that holds a shipped site script's text. */
#define SCRIPT_ENV "CNI_MIGRATE_NODE_SCRIPT"

/* The node-run pod. */
static char *run_pod_body(const struct run_on *r)
{
    char label[64];
    label_value(r->step, label, sizeof label);
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    cJSON *meta = cJSON_AddObjectToObject(pod, "metadata"), *labels;
    cJSON_AddStringToObject(meta, "name", r->pod);
    cJSON_AddStringToObject(meta, "namespace", r->ns);
    labels = cJSON_AddObjectToObject(meta, "labels");
    cJSON_AddStringToObject(labels, "app.kubernetes.io/name", "cni-migrate");
    cJSON_AddStringToObject(labels, "cni-migrate.dev/node-run", label);
    cJSON *spec = cJSON_AddObjectToObject(pod, "spec");
    cJSON_AddStringToObject(spec, "nodeName", r->node);
    cJSON_AddTrueToObject(spec, "hostNetwork");
    cJSON_AddStringToObject(spec, "restartPolicy", "Never");
    cJSON *tol = cJSON_CreateObject();
    cJSON_AddStringToObject(tol, "operator", "Exists"); /* every taint, NoExecute included */
    cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "tolerations"), tol);
    cJSON *ctr = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "containers"), ctr);
    cJSON_AddStringToObject(ctr, "name", "node-run");
    cJSON_AddStringToObject(ctr, "image", r->image);
    const char *argv[] = {"cni-migrate", "node-run", r->script, "--args", r->args, "--result-file",
                          "/dev/termination-log", "--script-env", SCRIPT_ENV};
    cJSON_AddItemToObject(ctr, "command", cJSON_CreateStringArray(argv, r->source ? 9 : 7));
    if (r->source) { /* a site script: the image has only the bundled ones */
        cJSON *env = cJSON_CreateObject();
        cJSON_AddStringToObject(env, "name", SCRIPT_ENV);
        cJSON_AddStringToObject(env, "value", r->source);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(ctr, "env"), env);
    }
    cJSON_AddStringToObject(ctr, "terminationMessagePolicy", "FallbackToLogsOnError");
    cJSON_AddTrueToObject(cJSON_AddObjectToObject(ctr, "securityContext"), "privileged");
    cJSON *mounts = cJSON_AddArrayToObject(ctr, "volumeMounts");
    cJSON *volumes = cJSON_AddArrayToObject(spec, "volumes");
    add_host_path(volumes, mounts, "cni", r->cni_dir);
    const cJSON *p;
    int i = 0;
    cJSON_ArrayForEach(p, r->paths) {
        char name[32];
        snprintf(name, sizeof name, "host-%d", i++);
        add_host_path(volumes, mounts, name, p->valuestring);
    }
    char *body = cJSON_PrintUnformatted(pod);
    cJSON_Delete(pod);
    return body;
}

static const cm_k8s_ref *run_ref(const cm_node_op *op, cm_k8s_ref *ref)
{
    *ref = (cm_k8s_ref){.api_version = "v1", .kind = "Pod", .namespace = op->run->ns, .name = op->run->pod};
    return ref;
}

static void run_created(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res);

static void run_create(cm_node_op *op)
{
    struct run_on *r = op->run;
    char *body = run_pod_body(r);
    if (!body) {
        op_oom(op);
        return;
    }
    r->phase = RUN_CREATE;
    r->creates++;
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = r->ns};
    issue(op, R_CALL, "POST", &ref, NULL, 0, "application/json", body, 0, run_created);
    free(body);
}

static void run_deleted(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot, (void)rc, (void)res; /* gone or not, the outcome is the script's */
    if (op->run->phase != RUN_DELETE) /* an earlier run's pod: replaced once the watch sees it gone */
        return;
    op_end(op, op->run->failing ? -1 : 0);
}

/* Deletes the pod (at once: it has ended, or it is ours to stop). */
static void run_delete(cm_node_op *op)
{
    if (op->run->phase != RUN_GONE) {
        op->run->phase = RUN_DELETE;
        quiet(op);
    }
    cm_k8s_ref ref;
    issue(op, R_CALL, "DELETE", run_ref(op, &ref), NULL, 0, "application/json", "{\"gracePeriodSeconds\":0}", 0,
          run_deleted);
}

/* The script's result is in op->result: the pod is deleted, or kept as asked, and the op is done. */
static void run_succeeded(cm_node_op *op)
{
    if (op->run->keep)
        op_end(op, 0);
    else
        run_delete(op);
}

static void run_logged(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    struct run_on *r = op->run;
    const char *log = rc == 0 && res->text ? res->text : "";
    size_t n = strlen(log);
    while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
        n--;
    if (rc != 0) /* why the log could not be read (a 403 without pods/log, ...) */
        cm_k8s_errorf(&op->err, "ScriptFailed", "node-run %s on %s: %s; log not read: %s (%s)", r->script, r->node,
                      r->why, res->err.message, res->err.code ? res->err.code : "?");
    else
        cm_k8s_errorf(&op->err, "ScriptFailed", "node-run %s on %s: %s%s%.*s", r->script, r->node, r->why,
                      n ? "; log: " : "; no log", (int)(n > 1500 ? 1500 : n), log + (n > 1500 ? n - 1500 : 0));
    r->failing = 1;
    run_delete(op);
}

/* The container's terminated state (of container node-run, else the first). */
static const cJSON *run_terminated(const cJSON *pod)
{
    const cJSON *cs, *first = NULL;
    cJSON_ArrayForEach(cs, obj(obj(pod, "status"), "containerStatuses")) {
        if (!first)
            first = cs;
        if (str(cs, "name") && !strcmp(str(cs, "name"), "node-run"))
            return obj(obj(cs, "state"), "terminated");
    }
    return obj(obj(first, "state"), "terminated");
}

/* The log's line of len bytes that is a JSON object: the result too long for the termination
 * message (noderun.h cm_node_run_message). */
static void run_result_logged(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    struct run_on *r = op->run;
    const char *log = rc == 0 && res->text ? res->text : "";
    for (const char *p = log; *p;) {
        size_t n = strcspn(p, "\n");
        if (n == r->result_len) {
            cJSON *v = cJSON_ParseWithLength(p, n);
            if (cJSON_IsObject(v)) {
                cJSON_Delete(op->result);
                op->result = v;
                run_succeeded(op);
                return;
            }
            cJSON_Delete(v);
        }
        p += n + (p[n] == '\n');
    }
    if (rc != 0)
        cm_k8s_errorf(&op->err, "ScriptFailed", "node-run %s on %s: its result (%zu bytes) is in pod %s/%s's log, "
                      "which could not be read: %s (%s)", r->script, r->node, r->result_len, r->ns, r->pod,
                      res->err.message, res->err.code ? res->err.code : "?");
    else
        cm_k8s_errorf(&op->err, "ScriptFailed", "node-run %s on %s: its result (%zu bytes) is not in pod %s/%s's log",
                      r->script, r->node, r->result_len, r->ns, r->pod);
    r->failing = 1;
    run_delete(op);
}

/* Reads the end of the ended pod's node-run log (its result, or why it failed), then done. */
static void run_read_log(cm_node_op *op, void (*done)(cm_node_op *, size_t, int, cm_k8s_result *))
{
    op->run->phase = RUN_LOG;
    quiet(op);
    cm_k8s_ref ref;
    run_ref(op, &ref);
    ref.subresource = "log";
    cm_k8s_param p[2] = {{"container", "node-run"}, {"tailLines", "20"}};
    issue(op, R_CALL, "GET", &ref, p, 2, NULL, NULL, 0, done);
}

/* The pod ended: its result, or its failure with the end of its log. */
static void run_ended(cm_node_op *op, const cJSON *pod)
{
    struct run_on *r = op->run;
    const cJSON *t = run_terminated(pod);
    const char *msg = str(t, "message");
    cJSON *v = msg ? cJSON_Parse(msg) : NULL;
    const cJSON *in_log = obj(v, "resultInLog");
    if (!strcmp(phase_of(pod), "Succeeded") && cJSON_IsNumber(in_log) && in_log->valuedouble > 0) {
        r->result_len = (size_t)in_log->valuedouble; /* too long for the message: the log's */
        cJSON_Delete(v);
        run_read_log(op, run_result_logged);
        return;
    }
    if (!strcmp(phase_of(pod), "Succeeded") && cJSON_IsObject(v)) {
        cJSON_Delete(op->result);
        op->result = v;
        run_succeeded(op);
        return;
    }
    const char *e = str(v, "error"), *code = str(v, "code");
    const cJSON *exit = obj(t, "exitCode");
    char text[400];
    if (e)
        snprintf(text, sizeof text, "%.300s (%.60s)", e, code ? code : "ScriptError");
    else
        snprintf(text, sizeof text, "%.300s", msg && *msg ? msg : "no termination message");
    snprintf(r->why, sizeof r->why, "pod %s/%s %s (%s, exit %d): %s", r->ns, r->pod, phase_of(pod),
             str(t, "reason") ? str(t, "reason") : str(obj(pod, "status"), "reason") ? str(obj(pod, "status"), "reason") : "no reason",
             cJSON_IsNumber(exit) ? exit->valueint : -1, text);
    cJSON_Delete(v);
    run_read_log(op, run_logged);
}

static void run_recreate(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_node_op *op = ud;
    op->run->timer = NULL;
    run_create(op);
}

/* What the watch says of the pod now (NULL: gone). */
static void run_seen(cm_node_op *op, const cJSON *pod)
{
    struct run_on *r = op->run;
    if (r->phase == RUN_GONE) {
        if (!pod && !r->timer) {
            cm_k8s_watch_set_notify(op->watch, NULL, NULL);
            r->timer = cm_loop_timer(op->loop, cm_loop_now(op->loop), run_recreate, op);
            if (!r->timer)
                op_oom(op);
        }
        return;
    }
    if (r->phase != RUN_WAIT)
        return;
    if (!pod) {
        cm_k8s_errorf(&op->err, "ScriptFailed", "node-run %s on %s: pod %s/%s was deleted before it ended",
                      r->script, r->node, r->ns, r->pod);
        op_end(op, -1);
        return;
    }
    const char *ph = phase_of(pod);
    if (ph && (!strcmp(ph, "Succeeded") || !strcmp(ph, "Failed")))
        run_ended(op, pod);
}

/* One event of the view, for the pod of uid r->uid: an initial RELIST without it says nothing
 * (the view may not have seen the create yet). */
static void run_view_event(cm_node_op *op, const cJSON *ev)
{
    const char *type = str(ev, "type"), *uid = op->run->uid;
    if (type && !strcmp(type, "RELIST")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, obj(obj(ev, "object"), "items"))
            if (str(obj(it, "metadata"), "uid") && !strcmp(str(obj(it, "metadata"), "uid"), uid)) {
                run_seen(op, it);
                return;
            }
        if (!cJSON_IsTrue(obj(ev, "initial")))
            run_seen(op, NULL);
        return;
    }
    const char *its = str(obj(obj(ev, "object"), "metadata"), "uid");
    if (!type || !its || strcmp(its, uid))
        return;
    run_seen(op, strcmp(type, "DELETED") ? obj(ev, "object") : NULL);
}

/* One event of the pod's watch; stops at a change of phase (what follows is another watch's). */
static int run_take(cm_node_op *op, const cJSON *ev)
{
    enum run_phase at = op->run->phase;
    const char *type = str(ev, "type");
    if (op->sub)
        run_view_event(op, ev);
    else if (type && !strcmp(type, "RELIST"))
        run_seen(op, cJSON_GetArrayItem(obj(obj(ev, "object"), "items"), 0));
    else if (type && !strcmp(type, "DELETED"))
        run_seen(op, NULL);
    else if (type && strcmp(type, "BOOKMARK"))
        run_seen(op, obj(ev, "object"));
    return op->run->phase == at;
}

static void run_poll(cm_node_op *op)
{
    take_events(op, run_take);
}

static void run_notified(void *ud)
{
    soon_poll(ud, run_poll);
}

/* Watches the pod from pod's resourceVersion (run_seen gets what changes); waiting for it to
 * end, through the view when there is one. */
static void run_watch(cm_node_op *op, const cJSON *pod)
{
    const char *uid = str(obj(pod, "metadata"), "uid");
    if (op->view && op->run->phase == RUN_WAIT && uid) {
        cm_k8s_watch_free(op->watch);
        op->watch = NULL;
        free(op->run->uid);
        op->run->uid = dup(uid);
        if (!op->sub)
            op->sub = cm_pod_view_subscribe(op->view, run_notified, op);
        if (!op->sub || !op->run->uid)
            op_oom(op);
        return; /* its initial RELIST comes from the loop */
    }
    char fs[300];
    snprintf(fs, sizeof fs, "metadata.name=%s", op->run->pod);
    cm_k8s_param p = {"fieldSelector", fs};
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = op->run->ns};
    cm_k8s_watch_free(op->watch);
    op->watch = cm_k8s_watch_new(op->c, &ref, &p, 1, str(obj(pod, "metadata"), "resourceVersion"), 0);
    if (!op->watch) {
        op_oom(op);
        return;
    }
    cm_k8s_watch_set_notify(op->watch, run_notified, op);
    run_poll(op);
}

/* The pod as created or found: wait for it (or, found failed or going, replace it). */
static void run_have(cm_node_op *op, const cJSON *pod)
{
    struct run_on *r = op->run;
    const char *on = str(obj(pod, "spec"), "nodeName"), *ph = phase_of(pod);
    if (!on || strcmp(on, r->node)) {
        cm_k8s_errorf(&op->err, "Conflict", "node-run %s on %s: pod %s/%s exists for node %s", r->script, r->node,
                      r->ns, r->pod, on ? on : "(none)");
        op_end(op, -1);
        return;
    }
    int failed = ph && !strcmp(ph, "Failed"), going = str(obj(pod, "metadata"), "deletionTimestamp") != NULL;
    int ended = failed || (ph && !strcmp(ph, "Succeeded"));
    if ((ended || going) && r->phase == RUN_ADOPT && r->creates < 3) {
        r->phase = RUN_GONE; /* an earlier run's end (a kept pod too): not this run's, which runs anew */
        run_watch(op, pod);
        if (!op->done && r->phase == RUN_GONE && !going)
            run_delete(op);
        return;
    }
    r->phase = RUN_WAIT;
    if (ended) {
        run_ended(op, pod);
        return;
    }
    run_watch(op, pod);
}

static void run_got(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc == 0) {
        run_have(op, res->json);
    } else if (res->err.code && !strcmp(res->err.code, "NotFound") && op->run->creates < 3) {
        run_create(op); /* gone between the create and the read */
    } else {
        op_fail(op, &res->err);
    }
}

static void run_created(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    if (rc == 0) {
        run_have(op, res->json);
        return;
    }
    if (!res->err.code || strcmp(res->err.code, "AlreadyExists")) {
        op_fail(op, &res->err);
        return;
    }
    op->run->phase = RUN_ADOPT; /* a restarted controller finds its pod: wait for that one */
    cm_k8s_ref ref;
    issue(op, R_CALL, "GET", run_ref(op, &ref), NULL, 0, NULL, NULL, 0, run_got);
}

static void run_own_pod(cm_node_op *op, size_t slot, int rc, cm_k8s_result *res)
{
    (void)slot;
    struct run_on *r = op->run;
    const char *image = str(cJSON_GetArrayItem(obj(obj(res->json, "spec"), "containers"), 0), "image");
    if (rc < 0 || !image) {
        cm_k8s_errorf(&op->err, rc < 0 && res->err.code ? res->err.code : "NotFound",
                      "node-run %s on %s: the image: reading the controller's pod %s: %s (set the image)",
                      r->script, r->node, r->own_pod, rc < 0 ? res->err.message : "no container image");
        op_end(op, -1);
        return;
    }
    r->image = strdup(image);
    if (!r->image)
        op_oom(op);
    else
        run_create(op);
}

/* The deadline: the pod is deleted (the script may still be running), then Timeout. */
static void run_timed_out(cm_node_op *op)
{
    struct run_on *r = op->run;
    cm_k8s_errorf(&op->err, "Timeout", "node-run %s on %s: pod %s/%s not done by the deadline", r->script,
                  r->node, r->ns, r->pod);
    if (r->phase == RUN_IMAGE || r->phase == RUN_DELETE) {
        op_end(op, -1);
        return;
    }
    stop_requests(op);
    r->failing = 1;
    r->phase = RUN_WAIT;
    op->deadline = cm_loop_now(op->loop) + 30 * CM_NS_PER_S; /* for the deletion */
    run_delete(op);
}

cm_node_op *cm_node_run_on_start(cm_k8s_client *c, cm_loop *loop, const cm_node_run_spec *s, cm_node_notify fn,
                                 void *ud)
{
    cm_node_op *op = op_new(OP_RUN, c, loop, s->node, s->deadline, fn, ud);
    struct run_on *r = op ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        cm_node_op_cancel(op);
        return NULL;
    }
    op->run = r;
    op->view = s->view;
    char pod[80];
    r->step = s->step ? dup(s->step) : step_of_script(s->script);
    cm_node_run_pod_name(s->node, r->step ? r->step : "", pod, sizeof pod);
    r->node = dup(s->node), r->script = dup(s->script), r->keep = s->keep;
    r->args = dup(s->args_json ? s->args_json : "{}"), r->ns = dup(s->namespace), r->pod = dup(pod);
    r->image = dup(s->image), r->own_pod = dup(s->own_pod), r->cni_dir = dup(s->cni_dir ? s->cni_dir : "/etc/cni/net.d");
    r->paths = s->host_paths ? cJSON_Duplicate(s->host_paths, 1) : cJSON_CreateArray();
    r->source = dup(s->source);
    if (!r->node || !r->script || !r->step || !r->args || !r->ns || !r->pod || !r->cni_dir || !r->paths ||
        (!r->image && !r->own_pod) || (s->image && !r->image) || (s->own_pod && !r->own_pod) ||
        (s->source && !r->source)) {
        cm_node_op_cancel(op);
        return NULL;
    }
    arm_deadline(op);
    if (r->image) {
        run_create(op);
        return op;
    }
    r->phase = RUN_IMAGE;
    char *slash = strchr(r->own_pod, '/');
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = slash ? r->own_pod : NULL,
                      .name = slash ? slash + 1 : r->own_pod};
    if (slash)
        *slash = 0;
    issue(op, R_CALL, "GET", &ref, NULL, 0, NULL, NULL, 0, run_own_pod);
    if (slash)
        *slash = '/';
    return op;
}
