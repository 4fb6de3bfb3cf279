/*
 * ttl.c - Events expire, as the API server's --event-ttl makes them (etcd leases: an Event goes
 * a time to live after its last write; its watchers see it DELETED). The time to live is the
 * fixture's FakeCluster spec.simulation.eventTTL (a duration; default 1h, as kube-apiserver's).
 *
 * Every write of an Event is queued with its expiry; with one TTL the expiries come in write
 * order, so the queue is a FIFO and one timer waits for its head. An expired entry deletes the
 * Event only when that write is still its last (its resourceVersion unchanged). The fixture's own
 * Events expire a TTL after their newest timestamp (lastTimestamp, eventTime,
 * series.lastObservedTime, creationTimestamp), at the latest a TTL after the start.
 */
#include "fakeint.h"

#include "duration.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TTL (3600 * CM_NS_PER_S)

struct entry {
    char *ns, *name;
    int64_t rv;
    int64_t at; /* loop time */
};

struct cm_ttl {
    cm_fake *f;
    int64_t ttl;
    int sub;
    struct entry *q;
    size_t head, n, cap; /* entries q[head .. n) are pending */
    cm_timer *timer;
    int64_t timer_at;
    int64_t loaded_rv; /* the fixture's objects have resourceVersions up to this */
};

static const cm_kind *event_kind(const cm_fake *f)
{
    return cm_kinds_by_kind(f->kinds, "v1", "Event");
}

static void fire(cm_loop *loop, void *ud);

/* (Re)arms the one timer for the queue's head. */
static void arm(struct cm_ttl *t)
{
    if (t->head == t->n) {
        if (t->timer)
            cm_loop_timer_cancel(t->f->loop, t->timer);
        t->timer = NULL;
        return;
    }
    int64_t at = t->q[t->head].at;
    if (t->timer && t->timer_at == at)
        return;
    if (t->timer)
        cm_loop_timer_cancel(t->f->loop, t->timer);
    t->timer = cm_loop_timer_background(t->f->loop, at, fire, t);
    t->timer_at = at;
}

/* Queues an entry at the tail (the caller keeps the order of expiries). */
static int push(struct cm_ttl *t, const char *ns, const char *name, int64_t rv, int64_t at)
{
    if (t->head > 0 && t->head * 2 >= t->n) { /* reuse the popped half */
        memmove(t->q, t->q + t->head, (t->n - t->head) * sizeof *t->q);
        t->n -= t->head;
        t->head = 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct entry *q = realloc(t->q, cap * sizeof *q);
        if (!q)
            return -1;
        t->q = q;
        t->cap = cap;
    }
    struct entry *e = &t->q[t->n];
    e->ns = strdup(ns);
    e->name = strdup(name);
    if (!e->ns || !e->name) {
        free(e->ns), free(e->name);
        return -1;
    }
    e->rv = rv, e->at = at;
    t->n++;
    return 0;
}

/* The head's time has come: each due Event not written since goes. */
static void fire(cm_loop *loop, void *ud)
{
    struct cm_ttl *t = ud;
    t->timer = NULL;
    int64_t now = cm_loop_now(loop);
    const cm_kind *k = event_kind(t->f);
    while (t->head < t->n && t->q[t->head].at <= now) {
        struct entry *e = &t->q[t->head++];
        cm_obj *o = k ? cm_store_get(t->f->store, k, e->ns, e->name) : NULL;
        if (o && o->rv == e->rv)
            cm_store_delete(t->f->store, o);
        free(e->ns), free(e->name);
    }
    arm(t);
}

/* A write of an Event: it now expires a TTL from now. */
static void on_change(void *ud, const cm_event *ev)
{
    struct cm_ttl *t = ud;
    if (ev->type == CM_EV_DELETED || ev->kind != event_kind(t->f))
        return;
    if (push(t, ev->ns, cm_meta_str(ev->obj, "name"), ev->rv, cm_loop_now(t->f->loop) + t->ttl) == 0)
        arm(t);
}

/* The newest of an Event's timestamps, in seconds since the epoch; -1 without one. */
static int64_t last_written(const cJSON *ev)
{
    const char *ts[] = {cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "lastTimestamp")),
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "eventTime")),
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(ev, "series"), "lastObservedTime")),
                        cm_meta_str(ev, "creationTimestamp")};
    int64_t best = -1;
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        char sec[32];
        if (!ts[i])
            continue;
        snprintf(sec, sizeof sec, "%.19sZ", ts[i]); /* a MicroTime's fraction left out */
        int64_t s = cm_parse_time(sec);
        if (s > best)
            best = s;
    }
    return best;
}

static int by_at(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Once the clock has its start (the loop's first turn): the fixture's Events are queued, before
 * any written since, by their own expiry. */
static void start(cm_loop *loop, void *ud)
{
    struct cm_ttl *t = ud;
    t->timer = NULL;
    int64_t now = cm_loop_now(loop), wall = cm_loop_wall(loop);
    const cm_kind *k = event_kind(t->f);
    cm_obj *const *items;
    size_t n = k ? cm_store_list(t->f->store, k, NULL, &items) : 0;
    struct cm_ttl old = *t;
    t->q = NULL, t->head = t->n = t->cap = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t s = last_written(items[i]->json);
        int64_t at = s < 0 ? now + t->ttl : now + (s * CM_NS_PER_S - wall) + t->ttl;
        if (items[i]->rv <= t->loaded_rv)
            push(t, items[i]->ns, items[i]->name, items[i]->rv, at < now + t->ttl ? at : now + t->ttl);
    }
    if (t->q)
        qsort(t->q, t->n, sizeof *t->q, by_at);
    for (size_t i = old.head; i < old.n; i++) { /* written before this turn: due later than these */
        push(t, old.q[i].ns, old.q[i].name, old.q[i].rv, old.q[i].at);
        free(old.q[i].ns), free(old.q[i].name);
    }
    free(old.q);
    arm(t);
}

int cm_fake_ttl_start(cm_fake *f, char *err, size_t errsize, int *line)
{
    const cJSON *sim = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f->settings, "spec"),
                                                        "simulation");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sim, "eventTTL");
    int64_t ttl = DEFAULT_TTL;
    if (v) {
        ttl = cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)(v->valuedouble * (double)CM_NS_PER_S)
              : cJSON_IsString(v) ? cm_parse_duration(v->valuestring) : -1;
        if (ttl <= 0) {
            snprintf(err, errsize, "FakeCluster spec.simulation.eventTTL: not a duration above 0");
            *line = cm_fake_settings_line(f, v);
            return -1;
        }
    }
    struct cm_ttl *t = f->ttl ? f->ttl : calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errsize, "out of memory");
        *line = 0;
        return -1;
    }
    if (!f->ttl) {
        t->f = f;
        t->sub = cm_store_subscribe(f->store, on_change, t);
        f->ttl = t;
    }
    t->ttl = ttl;
    t->loaded_rv = cm_store_rv(f->store);
    if (t->timer)
        cm_loop_timer_cancel(f->loop, t->timer);
    t->timer = cm_loop_timer_background(f->loop, cm_loop_now(f->loop), start, t);
    t->timer_at = -1;
    if (t->sub >= 0 && t->timer)
        return 0;
    snprintf(err, errsize, "out of memory");
    *line = 0;
    return -1;
}

void cm_fake_ttl_free(cm_fake *f)
{
    struct cm_ttl *t = f->ttl;
    if (!t)
        return;
    if (t->timer)
        cm_loop_timer_cancel(f->loop, t->timer);
    if (t->sub >= 0)
        cm_store_unsubscribe(f->store, t->sub);
    for (size_t i = t->head; i < t->n; i++)
        free(t->q[i].ns), free(t->q[i].name);
    free(t->q);
    free(t);
    f->ttl = NULL;
}
