/* test_loop.c - the event loop on the virtual, the real and the scaled clock. */
#include "check.h"
#include "loop.h"

#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CM_NS_PER_S + ts.tv_nsec;
}

struct trace {
    char order[32];
    int n;
    int64_t at[32];
    cm_loop *loop;
};

static struct trace tr;

static void mark(cm_loop *loop, void *ud)
{
    tr.at[tr.n] = cm_loop_now(loop);
    tr.order[tr.n++] = *(const char *)ud;
    tr.order[tr.n] = '\0';
}

/* Arms another timer from inside a callback: actors schedule each other. */
static void chain(cm_loop *loop, void *ud)
{
    mark(loop, ud);
    cm_loop_timer(loop, cm_loop_now(loop) + 5 * CM_NS_PER_S, mark, (void *)"z");
}

static void test_virtual_order_and_jumps(void)
{
    tr = (struct trace){0};
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1700000000) * CM_NS_PER_S);
    cm_loop_timer(loop, 3 * CM_NS_PER_S, mark, (void *)"c");
    cm_loop_timer(loop, 1 * CM_NS_PER_S, mark, (void *)"a");
    cm_loop_timer(loop, 3 * CM_NS_PER_S, mark, (void *)"d"); /* same time as c: creation order */
    cm_loop_timer(loop, 2 * CM_NS_PER_S, chain, (void *)"b");
    cm_timer *gone = cm_loop_timer(loop, 2 * CM_NS_PER_S, mark, (void *)"x");
    cm_loop_timer_cancel(loop, gone);
    CHECK_INT(cm_loop_run_until(loop, 3 * CM_NS_PER_S, NULL), CM_LOOP_TIME);
    CHECK_STR(tr.order, "abcd");
    CHECK_INT(cm_loop_now(loop), 3 * CM_NS_PER_S);
    CHECK_INT(cm_loop_wall(loop), INT64_C(1700000003) * CM_NS_PER_S);
    CHECK_INT(cm_loop_run_until(loop, CM_TIME_NEVER, NULL), CM_LOOP_STALLED);
    CHECK_STR(tr.order, "abcdz");
    CHECK_INT(tr.at[4], 7 * CM_NS_PER_S);
    CHECK_INT(cm_loop_pending(loop), 0);
    cm_loop_free(loop);
}

/* A background chore that re-arms itself every 10 s, as a kubelet's Lease renewal does. */
static void chore(cm_loop *loop, void *ud)
{
    mark(loop, ud);
    cm_loop_timer_background(loop, cm_loop_now(loop) + 10 * CM_NS_PER_S, chore, ud);
}

static int64_t seen_next;

static void next_seen(cm_loop *loop, void *ud)
{
    (void)ud;
    seen_next = cm_loop_next_foreground(loop);
}

/* Background timers run while there is a limit or other work, and never keep a wait without a
 * limit going by themselves: it stalls as if they were not there. */
static void test_virtual_background(void)
{
    tr = (struct trace){0};
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_loop_timer_background(loop, 0, chore, (void *)"h");
    CHECK_INT(cm_loop_next_foreground(loop), CM_TIME_NEVER);
    cm_loop_timer(loop, 25 * CM_NS_PER_S, mark, (void *)"w");
    CHECK_INT(cm_loop_next_foreground(loop), 25 * CM_NS_PER_S); /* not the background one at 0 */
    CHECK_INT(cm_loop_run_until(loop, CM_TIME_NEVER, NULL), CM_LOOP_STALLED);
    CHECK_STR(tr.order, "hhhw"); /* 0, 10, 20 s, then the other timer at 25 s; then only the chore */
    CHECK_INT(cm_loop_now(loop), 25 * CM_NS_PER_S);
    CHECK_INT(cm_loop_pending(loop), 1);
    CHECK_INT(cm_loop_run_until(loop, 45 * CM_NS_PER_S, NULL), CM_LOOP_TIME); /* a limit: it runs */
    CHECK_STR(tr.order, "hhhwhh");
    CHECK_INT(tr.at[5], 40 * CM_NS_PER_S);
    cm_loop_free(loop);
}

/* The next foreground time seen from inside a wait: the wait's own limit counts. */
static void test_virtual_next_foreground(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    cm_loop_timer(loop, 5 * CM_NS_PER_S, next_seen, loop);
    cm_loop_timer(loop, 9 * CM_NS_PER_S, mark, (void *)"x");
    CHECK_INT(cm_loop_run_until(loop, 7 * CM_NS_PER_S, NULL), CM_LOOP_TIME);
    CHECK_INT(seen_next, 7 * CM_NS_PER_S);
    cm_loop_free(loop);
}

static int done_flag;

static void set_done(cm_loop *loop, void *ud)
{
    (void)loop;
    (void)ud;
    done_flag = 1;
}

static void test_virtual_done_and_cancel(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    done_flag = 0;
    cm_loop_timer(loop, 10 * CM_NS_PER_S, set_done, NULL);
    cm_loop_timer(loop, 20 * CM_NS_PER_S, set_done, NULL);
    CHECK_INT(cm_loop_run_until(loop, CM_TIME_NEVER, &done_flag), CM_LOOP_DONE);
    CHECK_INT(cm_loop_now(loop), 10 * CM_NS_PER_S);
    volatile sig_atomic_t cancel = 1;
    cm_loop_set_cancel(loop, &cancel, -1);
    CHECK_INT(cm_loop_run_until(loop, CM_TIME_NEVER, NULL), CM_LOOP_CANCELLED);
    cm_loop_free(loop); /* frees the pending timer */
}

static void test_real_clock_sleep(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_REAL, 0);
    int64_t t0 = cm_loop_now(loop);
    tr = (struct trace){0};
    cm_loop_timer(loop, t0 + 20 * 1000000, mark, (void *)"r");
    CHECK_INT(cm_loop_run_until(loop, t0 + 50 * 1000000, NULL), CM_LOOP_TIME);
    int64_t slept = cm_loop_now(loop) - t0;
    CHECK(slept >= 50 * 1000000);
    CHECK_STR(tr.order, "r");
    CHECK(tr.at[0] >= t0 + 20 * 1000000);
    cm_loop_free(loop);
}

static int io_seen;

static void on_readable(cm_loop *loop, int fd, short revents, void *ud)
{
    (void)loop;
    (void)ud;
    char c;
    if ((revents & POLLIN) && read(fd, &c, 1) == 1)
        io_seen = c;
}

static void test_real_clock_io_and_wake(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_REAL, 0);
    int p[2], wake[2];
    CHECK(pipe(p) == 0 && pipe(wake) == 0);
    fcntl(wake[0], F_SETFL, O_NONBLOCK);
    io_seen = 0;
    CHECK_INT(cm_loop_watch_fd(loop, p[0], POLLIN, on_readable, NULL), 0);
    CHECK(write(p[1], "k", 1) == 1);
    int64_t t0 = cm_loop_now(loop);
    CHECK_INT(cm_loop_run_until(loop, t0 + 20 * 1000000, NULL), CM_LOOP_TIME);
    CHECK_INT(io_seen, 'k');
    /* a cancel written to the wake pipe ends a long wait at once */
    volatile sig_atomic_t cancel = 0;
    cm_loop_set_cancel(loop, &cancel, wake[0]);
    cancel = 1;
    CHECK(write(wake[1], "x", 1) == 1);
    t0 = cm_loop_now(loop);
    CHECK_INT(cm_loop_run_until(loop, t0 + 60 * CM_NS_PER_S, NULL), CM_LOOP_CANCELLED);
    CHECK(cm_loop_now(loop) - t0 < CM_NS_PER_S);
    CHECK_INT(cm_loop_watch_fd(loop, p[0], 0, NULL, NULL), 0);
    close(p[0]), close(p[1]), close(wake[0]), close(wake[1]);
    cm_loop_free(loop);
    cm_loop *v = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    CHECK_INT(cm_loop_watch_fd(v, 0, POLLIN, on_readable, NULL), -1);
    cm_loop_free(v);
}

/* The scaled clock: time runs N times as fast as real time, timers and waits alike. */
static void test_scaled_clock(void)
{
    const int64_t epoch = INT64_C(1793520000) * CM_NS_PER_S;
    cm_loop *loop = cm_loop_new(CM_CLOCK_SCALED, epoch);
    CHECK(cm_loop_now(loop) >= 0 && cm_loop_now(loop) < CM_NS_PER_S / 10); /* starts at 0 */
    CHECK_INT(cm_loop_set_speed(loop, 0), -1);
    CHECK_INT(cm_loop_set_speed(loop, 1e9), -1);
    CHECK_INT(cm_loop_set_speed(loop, 100), 0);
    CHECK(cm_loop_speed(loop) == 100.0);
    tr = (struct trace){0};
    int64_t t0 = cm_loop_now(loop), r0 = mono_ns();
    /* 50 s of loop time: 0.5 s real. The bound only asks for a tenth of the unscaled time, so a
     * loaded machine or valgrind cannot fail it while an unscaled clock (50 s) would */
    cm_loop_timer(loop, t0 + 30 * CM_NS_PER_S, mark, (void *)"s");
    CHECK_INT(cm_loop_run_until(loop, t0 + 50 * CM_NS_PER_S, NULL), CM_LOOP_TIME);
    int64_t real = mono_ns() - r0, passed = cm_loop_now(loop) - t0;
    CHECK_STR(tr.order, "s");
    CHECK(tr.at[0] >= t0 + 30 * CM_NS_PER_S);
    CHECK(passed >= 50 * CM_NS_PER_S);
    CHECK(real >= 490 * 1000000 && real < 5 * CM_NS_PER_S); /* 50 s / 100 */
    int64_t wall = cm_loop_wall(loop) - epoch - cm_loop_now(loop);
    CHECK(wall <= 0 && wall > -CM_NS_PER_S); /* wall = epoch + loop time */
    /* a new speed changes the rate, not the time */
    int64_t before = cm_loop_now(loop);
    CHECK_INT(cm_loop_set_speed(loop, 0.5), 0);
    CHECK(cm_loop_now(loop) >= before && cm_loop_now(loop) < before + CM_NS_PER_S / 10);
    CHECK(cm_loop_after_real(loop, 2 * CM_NS_PER_S) - cm_loop_now(loop) <= CM_NS_PER_S);
    /* it watches descriptors as the real clock does */
    int p[2];
    CHECK(pipe(p) == 0);
    io_seen = 0;
    CHECK_INT(cm_loop_watch_fd(loop, p[0], POLLIN, on_readable, NULL), 0);
    CHECK(write(p[1], "q", 1) == 1);
    CHECK_INT(cm_loop_run_until(loop, cm_loop_now(loop) + CM_NS_PER_S / 100, NULL), CM_LOOP_TIME);
    CHECK_INT(io_seen, 'q');
    cm_loop_watch_fd(loop, p[0], 0, NULL, NULL);
    close(p[0]), close(p[1]);
    cm_loop_free(loop);
    cm_loop *v = cm_loop_new(CM_CLOCK_VIRTUAL, 0), *r = cm_loop_new(CM_CLOCK_REAL, 0);
    CHECK_INT(cm_loop_set_speed(v, 2), -1);
    CHECK_INT(cm_loop_set_speed(r, 2), -1);
    CHECK(cm_loop_speed(v) == 1.0 && cm_loop_speed(r) == 1.0);
    cm_loop_free(v);
    cm_loop_free(r);
}

static void test_many_timers_heap(void)
{
    cm_loop *loop = cm_loop_new(CM_CLOCK_VIRTUAL, 0);
    static char ids[1000];
    cm_timer *t[1000];
    for (int i = 0; i < 1000; i++) {
        ids[i] = 'a';
        t[i] = cm_loop_timer(loop, (int64_t)((i * 7919) % 1000) * 1000, mark, &ids[i]);
    }
    for (int i = 0; i < 1000; i += 3)
        cm_loop_timer_cancel(loop, t[i]);
    tr = (struct trace){0};
    int64_t last = -1, ok = 1;
    size_t fired = 0;
    while (cm_loop_pending(loop)) {
        tr.n = 0;
        cm_loop_run_until(loop, cm_loop_now(loop) + 1000, NULL);
        for (int k = 0; k < tr.n; k++, fired++) {
            ok &= tr.at[k] >= last;
            last = tr.at[k];
        }
    }
    CHECK(ok);
    CHECK_INT(fired, 666);
    cm_loop_free(loop);
}

int main(void)
{
    RUN(test_virtual_order_and_jumps);
    RUN(test_virtual_done_and_cancel);
    RUN(test_virtual_background);
    RUN(test_virtual_next_foreground);
    RUN(test_real_clock_sleep);
    RUN(test_real_clock_io_and_wake);
    RUN(test_scaled_clock);
    RUN(test_many_timers_heap);
    return CHECK_DONE();
}
