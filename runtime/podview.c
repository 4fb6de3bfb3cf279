/*
 * podview.c - the pods of one node from one list and one watch, shared by subscriptions
 * (podview.h).
 */
#include "podview.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cm_pod_sub {
    cm_pod_sub *next;
    cm_pod_view *v; /* NULL once the view is freed */
    cJSON *queue;   /* events not taken yet */
    int primed;     /* its initial RELIST is queued */
    unsigned told;  /* the view's round in which it was last notified */
    void (*fn)(void *ud);
    void *ud;
};

struct cm_pod_view {
    cm_k8s_client *c;
    cm_loop *loop;
    char *node, *ns, *sel, fs[300];
    cm_k8s_param params[2];
    size_t nparams;
    cm_k8s_req *list;
    cm_k8s_watch *watch;
    cJSON *pods; /* uid -> pod */
    char *rv;    /* of the list, for the subscriptions' initial RELIST */
    int state;   /* 0 listing, 1 following, -1 failed */
    int listed;  /* the list's answer came (maybe inside cm_k8s_list_start) */
    cm_k8s_error err;
    cm_timer *timer;
    unsigned round;
    cm_pod_sub *subs;
    void (*fn)(void *ud);
    void *ud;
};

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *uid_of(const cJSON *pod)
{
    return str(cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "uid");
}

/* The RELIST event of the pods as the view has them now. */
static cJSON *relist_event(const cm_pod_view *v, int initial)
{
    cJSON *ev = cJSON_CreateObject(), *list = cJSON_CreateObject(), *md = cJSON_CreateObject();
    cJSON *items = cm_pod_view_pods(v);
    if (!ev || !list || !md || !items) {
        cJSON_Delete(ev), cJSON_Delete(list), cJSON_Delete(md), cJSON_Delete(items);
        return NULL;
    }
    cJSON_AddStringToObject(ev, "type", "RELIST");
    if (initial)
        cJSON_AddTrueToObject(ev, "initial");
    cJSON_AddStringToObject(md, "resourceVersion", v->rv ? v->rv : "");
    cJSON_AddItemToObject(list, "metadata", md);
    cJSON_AddItemToObject(list, "items", items);
    cJSON_AddItemToObject(ev, "object", list);
    return ev;
}

/* Queues a copy of ev on every subscription primed already (the others get a RELIST). */
static void queue(cm_pod_view *v, const cJSON *ev)
{
    for (cm_pod_sub *s = v->subs; s; s = s->next)
        if (s->primed)
            cJSON_AddItemToArray(s->queue, cJSON_Duplicate(ev, 1));
}

/* Tells every subscription with events, then the view's own listener. A notify function may
 * free subscriptions (never the view): the list is walked again from its head after each. */
static void tell(cm_pod_view *v)
{
    unsigned round = ++v->round;
    for (int again = 1; again;) {
        again = 0;
        for (cm_pod_sub *s = v->subs; s; s = s->next) {
            if (s->told == round || !s->fn || (!cJSON_GetArraySize(s->queue) && v->state >= 0))
                continue;
            s->told = round;
            s->fn(s->ud);
            again = 1;
            break;
        }
    }
    if (v->fn)
        v->fn(v->ud);
}

/* Primes the subscriptions that have had no initial RELIST yet (none while the view has no list:
 * a view whose list failed must not pass for a node without pods). */
static void prime(cm_pod_view *v)
{
    if (v->state != 1)
        return;
    for (cm_pod_sub *s = v->subs; s; s = s->next) {
        if (s->primed)
            continue;
        cJSON *ev = relist_event(v, 1);
        if (ev)
            cJSON_AddItemToArray(s->queue, ev);
        s->primed = 1;
    }
}

static void apply(cm_pod_view *v, const cJSON *ev)
{
    const char *type = str(ev, "type");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(ev, "object");
    if (!type || !strcmp(type, "BOOKMARK"))
        return;
    if (!strcmp(type, "RELIST")) {
        cJSON_Delete(v->pods);
        v->pods = cJSON_CreateObject();
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "items"))
            if (uid_of(it))
                cJSON_AddItemToObject(v->pods, uid_of(it), cJSON_Duplicate(it, 1));
        return;
    }
    const char *uid = uid_of(o);
    if (!uid)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(v->pods, uid);
    if (strcmp(type, "DELETED"))
        cJSON_AddItemToObject(v->pods, uid, cJSON_Duplicate(o, 1));
}

static void fail(cm_pod_view *v, const cm_k8s_error *err)
{
    v->state = -1;
    v->err = *err;
    if (v->watch)
        cm_k8s_watch_set_notify(v->watch, NULL, NULL);
}

/* Takes what the watch has now into the pods and the subscriptions' queues, then tells them. */
static void take(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_pod_view *v = ud;
    v->timer = NULL;
    while (v->state == 1) {
        cJSON *ev = NULL;
        cm_k8s_error err = {0};
        int rc = cm_k8s_watch_poll(v->watch, CM_TIME_NEVER, &ev, &err);
        if (rc < 0)
            fail(v, &err);
        if (rc != 1)
            break;
        apply(v, ev);
        const char *type = str(ev, "type");
        if (type && strcmp(type, "BOOKMARK"))
            queue(v, ev);
        cJSON_Delete(ev);
    }
    prime(v);
    tell(v);
}

/* Takes the news at the loop's next turn: the watch may tell from inside the write that made
 * it, and what subscribers do with it must not run there. */
static void soon(cm_pod_view *v)
{
    if (!v->timer)
        v->timer = cm_loop_timer(v->loop, cm_loop_now(v->loop), take, v);
}

static void watch_notified(void *ud)
{
    soon(ud);
}

static void listed(cm_k8s_req *req, void *ud)
{
    cm_pod_view *v = ud;
    cm_k8s_result res;
    int rc = cm_k8s_req_finish(req, &res);
    v->list = NULL;
    v->listed = 1;
    const char *rv = rc == 0 ? str(cJSON_GetObjectItemCaseSensitive(res.json, "metadata"), "resourceVersion") : NULL;
    if (rc < 0) {
        fail(v, &res.err);
    } else {
        cJSON *wrap = cJSON_CreateObject();
        if (wrap) {
            cJSON_AddStringToObject(wrap, "type", "RELIST");
            cJSON_AddItemReferenceToObject(wrap, "object", res.json);
            apply(v, wrap);
            cJSON_Delete(wrap);
        }
        v->rv = rv ? strdup(rv) : NULL;
        cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = v->ns};
        v->watch = cm_k8s_watch_new(v->c, &ref, v->params, v->nparams, rv, 0);
        cm_k8s_error oom = {0};
        cm_k8s_errorf(&oom, "ENOMEM", "out of memory");
        if (!wrap || !v->pods || !v->watch)
            fail(v, &oom);
        else {
            v->state = 1;
            cm_k8s_watch_set_notify(v->watch, watch_notified, v);
        }
    }
    cm_k8s_result_free(&res);
    soon(v); /* the subscriptions' initial RELIST (or the failure), from the loop */
}

static char *dup(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;
    *oom |= s && !d;
    return d;
}

cm_pod_view *cm_pod_view_new(cm_k8s_client *c, cm_loop *loop, const char *node, const char *namespace,
                             const char *label_selector)
{
    cm_pod_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    int oom = 0;
    v->c = c, v->loop = loop;
    v->node = dup(node, &oom), v->ns = dup(namespace, &oom);
    v->sel = dup(label_selector && *label_selector ? label_selector : NULL, &oom);
    v->pods = cJSON_CreateObject();
    if (node) {
        snprintf(v->fs, sizeof v->fs, "spec.nodeName=%s", node);
        v->params[v->nparams++] = (cm_k8s_param){"fieldSelector", v->fs};
    }
    if (v->sel)
        v->params[v->nparams++] = (cm_k8s_param){"labelSelector", v->sel};
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = v->ns};
    cm_k8s_req *r = !oom && v->pods ? cm_k8s_list_start(c, &ref, v->params, v->nparams, 500, CM_TIME_NEVER, listed, v)
                                    : NULL;
    if (!r) {
        cm_pod_view_free(v);
        return NULL;
    }
    if (!v->listed) /* (an answer that came inside _start has ended the request already) */
        v->list = r;
    return v;
}

const char *cm_pod_view_node(const cm_pod_view *v)
{
    return v->node;
}

const char *cm_pod_view_namespace(const cm_pod_view *v)
{
    return v->ns;
}

int cm_pod_view_whole_node(const cm_pod_view *v)
{
    return v->node && !v->ns && !v->sel;
}

int cm_pod_view_state(const cm_pod_view *v, cm_k8s_error *err)
{
    if (v->state < 0 && err)
        *err = v->err;
    return v->state;
}

cJSON *cm_pod_view_pods(const cm_pod_view *v)
{
    if (v->state == 0)
        return NULL;
    cJSON *items = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, v->pods)
        cJSON_AddItemToArray(items, cJSON_Duplicate(it, 1));
    return items;
}

void cm_pod_view_set_notify(cm_pod_view *v, void (*fn)(void *ud), void *ud)
{
    v->fn = fn, v->ud = ud;
}

void cm_pod_view_free(cm_pod_view *v)
{
    if (!v)
        return;
    for (cm_pod_sub *s = v->subs; s; s = s->next)
        s->v = NULL;
    cm_k8s_req_cancel(v->list);
    cm_k8s_watch_free(v->watch);
    if (v->timer)
        cm_loop_timer_cancel(v->loop, v->timer);
    cJSON_Delete(v->pods);
    free(v->node), free(v->ns), free(v->sel), free(v->rv);
    free(v);
}

cm_pod_sub *cm_pod_view_subscribe(cm_pod_view *v, void (*fn)(void *ud), void *ud)
{
    cm_pod_sub *s = calloc(1, sizeof *s);
    if (!s || !(s->queue = cJSON_CreateArray())) {
        free(s);
        return NULL;
    }
    *s = (cm_pod_sub){.next = v->subs, .v = v, .queue = s->queue, .fn = fn, .ud = ud};
    v->subs = s;
    if (v->state != 0)
        soon(v); /* primed and told from the loop */
    return s;
}

int cm_pod_sub_poll(cm_pod_sub *s, cJSON **event, cm_k8s_error *err)
{
    if (cJSON_GetArraySize(s->queue)) {
        *event = cJSON_DetachItemFromArray(s->queue, 0);
        return 1;
    }
    if (!s->v) {
        cm_k8s_errorf(err, "Closed", "the pod view was closed");
        return -1;
    }
    if (s->v->state < 0) {
        *err = s->v->err;
        return -1;
    }
    return CM_K8S_PENDING;
}

void cm_pod_sub_set_notify(cm_pod_sub *s, void (*fn)(void *ud), void *ud)
{
    s->fn = fn, s->ud = ud;
}

void cm_pod_sub_free(cm_pod_sub *s)
{
    if (!s)
        return;
    if (s->v)
        for (cm_pod_sub **p = &s->v->subs; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                break;
            }
    cJSON_Delete(s->queue);
    free(s);
}
