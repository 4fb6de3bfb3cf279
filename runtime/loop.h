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

enum cm_clock_kind { CM_CLOCK_REAL, CM_CLOCK_VIRTUAL };

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

/*
 * Creates a loop. For CM_CLOCK_VIRTUAL, epoch_wall_ns is the wall-clock time
 * (ns since the Unix epoch) that virtual time 0 stands for; it is ignored for
 * the real clock. Returns NULL when out of memory.
 */
cm_loop *cm_loop_new(enum cm_clock_kind kind, int64_t epoch_wall_ns);

/* Frees the loop and every pending timer (their callbacks are not called). */
void cm_loop_free(cm_loop *loop);

/* Virtual clock only: sets the wall-clock time that virtual time 0 stands for. */
void cm_loop_set_epoch(cm_loop *loop, int64_t epoch_wall_ns);

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

/* Cancels a timer that has not fired yet. */
void cm_loop_timer_cancel(cm_loop *loop, cm_timer *timer);

/* Number of timers pending. */
size_t cm_loop_pending(const cm_loop *loop);

/*
 * Watches fd for events (POLLIN/POLLOUT) on the real clock; events == 0
 * removes the watch. Returns 0, or -1 with errno ENOMEM or EINVAL (virtual clock).
 */
int cm_loop_watch_fd(cm_loop *loop, int fd, short events, cm_io_fn fn, void *ud);

/*
 * Runs timers and I/O until cm_loop_now() >= until, *done != 0 (done may be
 * NULL), or the cancel flag is raised. Returns why, as enum cm_loop_result.
 */
enum cm_loop_result cm_loop_run_until(cm_loop *loop, int64_t until, const int *done);

#endif
