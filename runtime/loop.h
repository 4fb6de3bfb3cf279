/*
 * loop.h - the one event loop of a run and the clock it owns.
 *
 * Every wait in the runtime (a script's sleep, a request in flight, a watch,
 * a timeout) is a call to cm_loop_run_until(): "let the world run until this
 * time, or until this flag is set". What "the world" is depends on the loop:
 *
 *   - CM_CLOCK_REAL: time is CLOCK_MONOTONIC; waiting is poll() on the file
 *     descriptors registered with cm_loop_watch_fd() (libcurl's sockets, the
 *     HTTP front's listener) and on the cancel pipe, bounded by the next timer.
 *   - CM_CLOCK_SCALED: real time sped up (fake serve --speed N): time is
 *     elapsed CLOCK_MONOTONIC times N, and waits are as on the real clock,
 *     each 1/N as long, so every timer of the run is scaled alike.
 *   - CM_CLOCK_VIRTUAL: time is a counter. When nothing is runnable the clock
 *     jumps to the next timer, so simulated actors (which are only timers)
 *     run in a deterministic order: by due time, then by creation order.
 *
 * Scripts never see the difference: cm.time, cm.log and the Kubernetes client
 * only call cm_loop_now() and, through cm_await() (cmlua.h), cm_loop_run_until().
 * Several Lua tasks in flight (cm.task) use the same loop: a task that waits
 * yields its coroutine and a timer or a completion resumes it, while the main
 * script's wait is a cm_loop_run_until() whose `done` flag is "what I wait for
 * has happened".
 */
#ifndef CM_LOOP_H
#define CM_LOOP_H

#include <signal.h>
#include <stdint.h>

typedef struct cm_loop cm_loop;
typedef struct cm_timer cm_timer;

/* Called when a timer is due; the timer is freed after the call returns. */
typedef void (*cm_timer_fn)(cm_loop *loop, void *ud);
/* Called when a watched descriptor is ready; revents as poll() reports. */
typedef void (*cm_io_fn)(cm_loop *loop, int fd, short revents, void *ud);

enum cm_clock_kind { CM_CLOCK_REAL, CM_CLOCK_VIRTUAL, CM_CLOCK_SCALED };

/* Why cm_loop_run_until() returned. */
enum cm_loop_result {
    CM_LOOP_DONE,      /* *done became non-zero */
    CM_LOOP_TIME,      /* the time given was reached */
    CM_LOOP_CANCELLED, /* the cancel flag was raised */
    CM_LOOP_STALLED,   /* virtual clock: nothing scheduled, so nothing can change */
    CM_LOOP_ERROR      /* poll() failed; errno says why */
};

#define CM_NS_PER_S INT64_C(1000000000)
#define CM_TIME_NEVER INT64_MAX
#define CM_LOOP_MIN_SPEED 0.001 /* the scaled clock's bounds */
#define CM_LOOP_MAX_SPEED 100000.0

/*
 * Creates a loop. For CM_CLOCK_VIRTUAL and CM_CLOCK_SCALED, epoch_wall_ns is
 * the wall-clock time (ns since the Unix epoch) that time 0 stands for; it is
 * ignored for the real clock. A scaled clock starts at 0 now, at speed 1.
 * Returns NULL when out of memory.
 */
cm_loop *cm_loop_new(enum cm_clock_kind kind, int64_t epoch_wall_ns);

/* Frees the loop and every pending timer (their callbacks are not called). */
void cm_loop_free(cm_loop *loop);

/* Virtual and scaled clocks: sets the wall-clock time that time 0 stands for. */
void cm_loop_set_epoch(cm_loop *loop, int64_t epoch_wall_ns);

/*
 * Scaled clock only: from now on the loop's time runs speed times as fast as
 * real time (without a jump). Returns 0, or -1 for another clock or a speed
 * outside [CM_LOOP_MIN_SPEED, CM_LOOP_MAX_SPEED].
 */
int cm_loop_set_speed(cm_loop *loop, double speed);

/* Loop ns per real ns: the scaled clock's speed, 1 for the others. */
double cm_loop_speed(const cm_loop *loop);

/*
 * The loop time (cm_loop_now() scale) real_ns of real time from now: for
 * timers that must keep real time however fast the clock runs, such as a
 * server's checks on its sockets.
 */
int64_t cm_loop_after_real(const cm_loop *loop, int64_t real_ns);

/* Which clock the loop owns. */
enum cm_clock_kind cm_loop_clock(const cm_loop *loop);

/* Monotonic time of the run, in ns; only differences are meaningful. */
int64_t cm_loop_now(const cm_loop *loop);

/* Wall-clock time of the run, ns since the Unix epoch (virtual in simulation). */
int64_t cm_loop_wall(const cm_loop *loop);

/*
 * Lets the loop watch a cancel flag: cm_loop_run_until() returns
 * CM_LOOP_CANCELLED once *flag is non-zero. wake_fd, when >= 0, is the read end
 * of a pipe that whoever raises the flag writes a byte to, so a poll() in
 * progress returns at once.
 */
void cm_loop_set_cancel(cm_loop *loop, volatile sig_atomic_t *flag, int wake_fd);

/*
 * Schedules fn(loop, ud) at time `at` (cm_loop_now() scale). Returns a handle
 * valid until the callback has run or the timer is cancelled, or NULL when out
 * of memory.
 */
cm_timer *cm_loop_timer(cm_loop *loop, int64_t at, cm_timer_fn fn, void *ud);

/*
 * As cm_loop_timer, for a periodic chore that changes nothing anyone waits for (a kubelet
 * renewing its node Lease): on the virtual clock, a wait without a time limit whose only
 * pending timers are background ones ends CM_LOOP_STALLED instead of running them for ever.
 */
cm_timer *cm_loop_timer_background(cm_loop *loop, int64_t at, cm_timer_fn fn, void *ud);

/* The next time something but a background timer may run: the earliest foreground timer or
 * the limit of a cm_loop_run_until() in progress (CM_TIME_NEVER: none). */
int64_t cm_loop_next_foreground(const cm_loop *loop);

/* Cancels a timer that has not fired yet. */
void cm_loop_timer_cancel(cm_loop *loop, cm_timer *timer);

/* Number of timers pending. */
size_t cm_loop_pending(const cm_loop *loop);

/*
 * Watches fd for events (POLLIN/POLLOUT) on the real or scaled clock; events == 0
 * removes the watch. Returns 0, or -1 with errno ENOMEM or EINVAL (virtual clock).
 */
int cm_loop_watch_fd(cm_loop *loop, int fd, short events, cm_io_fn fn, void *ud);

/*
 * Runs timers and I/O until cm_loop_now() >= until, *done != 0 (done may be
 * NULL), or the cancel flag is raised. Returns why, as enum cm_loop_result.
 */
enum cm_loop_result cm_loop_run_until(cm_loop *loop, int64_t until, const int *done);

/*
 * How many cm_loop_run_until() calls are in progress now (0 outside the loop,
 * 1 inside a callback the loop runs), and the most there ever were at once:
 * the runtime never nests the loop, so the latter stays at most 1.
 */
int cm_loop_depth(const cm_loop *loop);
int cm_loop_max_depth(const cm_loop *loop);

#endif
