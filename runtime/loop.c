/* loop.c - the run's event loop: a timer heap, poll() on the real or scaled clock, jumps on the virtual one. */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct cm_timer {
    int64_t at;
    uint64_t seq; /* creation order: breaks ties so runs are deterministic */
    size_t slot;  /* index in the heap */
    cm_timer_fn fn;
    void *ud;
    int background; /* cm_loop_timer_background(): does not keep a virtual clock going */
};

struct cm_watch {
    int fd;
    short events;
    cm_io_fn fn;
    void *ud;
};

struct cm_loop {
    enum cm_clock_kind kind;
    int64_t vnow;       /* virtual clock: current time */
    int64_t epoch_wall; /* virtual and scaled clocks: wall time at time 0 */
    double speed;       /* scaled clock: loop ns per real ns */
    int64_t base;       /* scaled clock: the loop's time at real time base_real */
    int64_t base_real;  /* scaled clock: CLOCK_MONOTONIC when the speed was last set */
    cm_timer **heap;
    size_t ntimers, captimers;
    size_t nbackground; /* how many of the timers are background ones */
    uint64_t seq;
    struct cm_watch *watches;
    size_t nwatches, capwatches;
    volatile sig_atomic_t *cancel;
    int wake_fd;
    int depth, max_depth; /* cm_loop_run_until() calls in progress, and the most ever at once */
    int64_t untils[16];   /* the limits of the calls in progress (the first 16): times someone wakes */
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * CM_NS_PER_S + ts.tv_nsec;
}

cm_loop *cm_loop_new(enum cm_clock_kind kind, int64_t epoch_wall_ns)
{
    cm_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->kind = kind;
    loop->epoch_wall = epoch_wall_ns;
    loop->wake_fd = -1;
    loop->speed = 1.0;
    loop->base_real = clock_ns(CLOCK_MONOTONIC);
    return loop;
}

void cm_loop_free(cm_loop *loop)
{
    if (!loop)
        return;
    for (size_t i = 0; i < loop->ntimers; i++)
        free(loop->heap[i]);
    free(loop->heap);
    free(loop->watches);
    free(loop);
}

void cm_loop_set_epoch(cm_loop *loop, int64_t epoch_wall_ns)
{
    loop->epoch_wall = epoch_wall_ns;
}

enum cm_clock_kind cm_loop_clock(const cm_loop *loop)
{
    return loop->kind;
}

int64_t cm_loop_now(const cm_loop *loop)
{
    if (loop->kind == CM_CLOCK_VIRTUAL)
        return loop->vnow;
    if (loop->kind == CM_CLOCK_REAL)
        return clock_ns(CLOCK_MONOTONIC);
    /* rounding is monotonic, so this never goes back */
    return loop->base + (int64_t)((double)(clock_ns(CLOCK_MONOTONIC) - loop->base_real) * loop->speed);
}

int64_t cm_loop_wall(const cm_loop *loop)
{
    if (loop->kind == CM_CLOCK_REAL)
        return clock_ns(CLOCK_REALTIME);
    return loop->epoch_wall + cm_loop_now(loop);
}

int cm_loop_set_speed(cm_loop *loop, double speed)
{
    if (loop->kind != CM_CLOCK_SCALED || !(speed >= CM_LOOP_MIN_SPEED && speed <= CM_LOOP_MAX_SPEED))
        return -1;
    int64_t now = cm_loop_now(loop);
    loop->base_real = clock_ns(CLOCK_MONOTONIC);
    loop->base = now;
    loop->speed = speed;
    return 0;
}

double cm_loop_speed(const cm_loop *loop)
{
    return loop->kind == CM_CLOCK_SCALED ? loop->speed : 1.0;
}

int64_t cm_loop_after_real(const cm_loop *loop, int64_t real_ns)
{
    return cm_loop_now(loop) + (int64_t)((double)real_ns * cm_loop_speed(loop));
}

void cm_loop_set_cancel(cm_loop *loop, volatile sig_atomic_t *flag, int wake_fd)
{
    loop->cancel = flag;
    loop->wake_fd = wake_fd;
}

/* ---- timer heap, ordered by (at, seq) ---- */

static int timer_before(const cm_timer *a, const cm_timer *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_put(cm_loop *loop, size_t i, cm_timer *t)
{
    loop->heap[i] = t;
    t->slot = i;
}

static void heap_up(cm_loop *loop, size_t i)
{
    cm_timer *t = loop->heap[i];
    while (i > 0 && timer_before(t, loop->heap[(i - 1) / 2])) {
        heap_put(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_put(loop, i, t);
}

static void heap_down(cm_loop *loop, size_t i)
{
    cm_timer *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->ntimers)
            break;
        if (c + 1 < loop->ntimers && timer_before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!timer_before(loop->heap[c], t))
            break;
        heap_put(loop, i, loop->heap[c]);
        i = c;
    }
    heap_put(loop, i, t);
}

/* Takes timer out of the heap without freeing it. */
static void heap_remove(cm_loop *loop, cm_timer *t)
{
    size_t i = t->slot;
    loop->nbackground -= (size_t)t->background;
    cm_timer *last = loop->heap[--loop->ntimers];
    if (i == loop->ntimers)
        return;
    heap_put(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, last->slot);
}

cm_timer *cm_loop_timer(cm_loop *loop, int64_t at, cm_timer_fn fn, void *ud)
{
    if (loop->ntimers == loop->captimers) {
        size_t cap = loop->captimers ? 2 * loop->captimers : 16;
        cm_timer **heap = realloc(loop->heap, cap * sizeof *heap);
        if (!heap)
            return NULL;
        loop->heap = heap;
        loop->captimers = cap;
    }
    cm_timer *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    *t = (cm_timer){.at = at, .seq = loop->seq++, .fn = fn, .ud = ud};
    loop->ntimers++;
    heap_put(loop, loop->ntimers - 1, t);
    heap_up(loop, loop->ntimers - 1);
    return t;
}

cm_timer *cm_loop_timer_background(cm_loop *loop, int64_t at, cm_timer_fn fn, void *ud)
{
    cm_timer *t = cm_loop_timer(loop, at, fn, ud);
    if (t) {
        t->background = 1;
        loop->nbackground++;
    }
    return t;
}

int64_t cm_loop_next_foreground(const cm_loop *loop)
{
    int64_t next = CM_TIME_NEVER;
    if (loop->depth > 16)
        return cm_loop_now(loop); /* (limits not kept: as if something were due now) */
    for (int i = 0; i < loop->depth; i++)
        if (loop->untils[i] < next)
            next = loop->untils[i];
    for (size_t i = 0; i < loop->ntimers && loop->nbackground < loop->ntimers; i++)
        if (!loop->heap[i]->background && loop->heap[i]->at < next)
            next = loop->heap[i]->at;
    return next;
}

void cm_loop_timer_cancel(cm_loop *loop, cm_timer *timer)
{
    heap_remove(loop, timer);
    free(timer);
}

size_t cm_loop_pending(const cm_loop *loop)
{
    return loop->ntimers;
}

/* Runs every timer due at `now`, including ones armed by the callbacks. */
static void run_due(cm_loop *loop, int64_t now, const int *done)
{
    while (loop->ntimers > 0 && loop->heap[0]->at <= now) {
        cm_timer *t = loop->heap[0];
        heap_remove(loop, t);
        t->fn(loop, t->ud);
        free(t);
        if ((done && *done) || (loop->cancel && *loop->cancel))
            return;
    }
}

/* ---- descriptors (real clock) ---- */

int cm_loop_watch_fd(cm_loop *loop, int fd, short events, cm_io_fn fn, void *ud)
{
    if (loop->kind == CM_CLOCK_VIRTUAL) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < loop->nwatches; i++) {
        if (loop->watches[i].fd != fd)
            continue;
        if (events)
            loop->watches[i] = (struct cm_watch){fd, events, fn, ud};
        else
            loop->watches[i] = loop->watches[--loop->nwatches];
        return 0;
    }
    if (!events)
        return 0;
    if (loop->nwatches == loop->capwatches) {
        size_t cap = loop->capwatches ? 2 * loop->capwatches : 8;
        struct cm_watch *w = realloc(loop->watches, cap * sizeof *w);
        if (!w)
            return -1;
        loop->watches = w;
        loop->capwatches = cap;
    }
    loop->watches[loop->nwatches++] = (struct cm_watch){fd, events, fn, ud};
    return 0;
}

/* Drains the cancel pipe so the next poll() blocks again. */
static void drain_wake(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

/* Waits for I/O until `until`; dispatches ready descriptors. */
static int poll_once(cm_loop *loop, int64_t until)
{
    size_t n = loop->nwatches;
    struct pollfd fds[n + 1];
    for (size_t i = 0; i < n; i++)
        fds[i] = (struct pollfd){.fd = loop->watches[i].fd, .events = loop->watches[i].events};
    fds[n] = (struct pollfd){.fd = loop->wake_fd, .events = POLLIN};
    double wait = ((double)until - (double)cm_loop_now(loop)) / cm_loop_speed(loop); /* real ns */
    int ms = wait <= 0 ? 0 : wait >= 1e6 * 86400000 ? 86400000 : (int)((wait + 999999) / 1e6);
    int rc = poll(fds, n + 1, ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    if (fds[n].revents)
        drain_wake(loop->wake_fd);
    for (size_t i = 0; i < n && rc > 0; i++) {
        if (!fds[i].revents)
            continue;
        /* look the watch up again: an earlier callback may have changed the set */
        for (size_t j = 0; j < loop->nwatches; j++) {
            if (loop->watches[j].fd == fds[i].fd) {
                struct cm_watch w = loop->watches[j];
                w.fn(loop, w.fd, fds[i].revents, w.ud);
                break;
            }
        }
    }
    return 0;
}

int cm_loop_depth(const cm_loop *loop)
{
    return loop->depth;
}

int cm_loop_max_depth(const cm_loop *loop)
{
    return loop->max_depth;
}

static enum cm_loop_result run_until(cm_loop *loop, int64_t until, const int *done);

enum cm_loop_result cm_loop_run_until(cm_loop *loop, int64_t until, const int *done)
{
    if (loop->depth < 16)
        loop->untils[loop->depth] = until;
    if (++loop->depth > loop->max_depth)
        loop->max_depth = loop->depth;
    enum cm_loop_result r = run_until(loop, until, done);
    loop->depth--;
    return r;
}

/* cm_loop_run_until's body. */
static enum cm_loop_result run_until(cm_loop *loop, int64_t until, const int *done)
{
    for (;;) {
        if (loop->cancel && *loop->cancel)
            return CM_LOOP_CANCELLED;
        if (done && *done)
            return CM_LOOP_DONE;
        int64_t now = cm_loop_now(loop);
        run_due(loop, now, done);
        if (loop->cancel && *loop->cancel)
            return CM_LOOP_CANCELLED;
        if (done && *done)
            return CM_LOOP_DONE;
        if (now >= until)
            return CM_LOOP_TIME;
        int64_t next = loop->ntimers ? loop->heap[0]->at : CM_TIME_NEVER;
        if (loop->ntimers == loop->nbackground && until == CM_TIME_NEVER)
            next = CM_TIME_NEVER; /* only background timers: nothing can change what is awaited */
        if (next > until)
            next = until;
        if (loop->kind == CM_CLOCK_VIRTUAL) {
            if (next == CM_TIME_NEVER)
                return CM_LOOP_STALLED;
            loop->vnow = next; /* nothing runnable: jump to the next event */
        } else if (poll_once(loop, next) < 0) {
            return CM_LOOP_ERROR;
        }
    }
}
