/*
 * ltask.c - cm.task: several Lua tasks in flight on the run's one loop, and
 * cm_await(), the one way C functions called from Lua wait.
 *
 *   task.spawn(fn, ...) -> Task    runs fn(...) as a task, starting at the loop's next turn
 *   task:wait([timeout]) -> fn's results
 *                          | nil, message, "TaskFailed"   fn raised (message has its traceback)
 *                          | nil, message, "Timeout"      timeout seconds passed first
 *   task:done() -> boolean
 *   task.yield()              lets the other tasks run, then goes on
 *   task.signal() -> Signal   a condition to wait on until another task notifies it:
 *   signal:wait([timeout]) -> true | nil, message, "Timeout"
 *   signal:notify()           wakes every waiter (each resumes at the loop's next turn);
 *                             a notify with nobody waiting is not remembered, so a waiter
 *                             looks at what it waits for first (tasks switch only at waits)
 *
 * A task is a coroutine. When it waits (time.sleep, a request, task:wait) it
 * yields to the loop, which resumes it once what it waits for has happened,
 * so tasks interleave only at waits and a run stays deterministic on the
 * virtual clock: resumptions are timers, ordered by time, then by creation.
 * The main script waits by running the loop itself. The run's deadline and
 * cancel reach tasks too (the count hook is inherited by their threads).
 * A task still running when the script ends is stopped with the run, and a
 * warning says how many were.
 */
#include "cmlua.h"

#include <stdlib.h>
#include <string.h>

#define TASK_MT "cm.task.Task"
#define SIGNAL_MT "cm.task.Signal"

enum task_state { TASK_RUNNING, TASK_DONE, TASK_FAILED };

struct cm_task {
    struct cm_run *run;
    lua_State *co;          /* the coroutine; its stack keeps the results or the error */
    int ref;                /* registry ref to the Task userdata while running, else LUA_NOREF */
    enum task_state state;
    int nargs;              /* arguments for the first resume; -1 once started */
    int nres;               /* results left on co's stack when it returned */
    cm_timer *timer;        /* the pending resumption, or NULL */
    cm_waiter *waiting;     /* what it is suspended on, or NULL */
    cm_waiter **joiners;    /* waiters of task:wait(), woken when it ends */
    size_t njoiners, capjoiners;
};

/* The task whose coroutine L is, or NULL (the main thread or a script's own coroutine). */
static struct cm_task *task_of(lua_State *L)
{
    struct cm_task *t = *(struct cm_task **)lua_getextraspace(L);
    return t && t->co == L ? t : NULL;
}

static void resume_task(cm_loop *loop, void *ud);

/* Arms the task's resumption at time `at`, replacing any pending one. */
static void schedule(struct cm_task *t, int64_t at)
{
    if (t->timer)
        cm_loop_timer_cancel(t->run->loop, t->timer);
    t->timer = cm_loop_timer(t->run->loop, at, resume_task, t);
}

void cm_waiter_wake(struct cm_run *run, cm_waiter *w)
{
    w->done = 1;
    if (w->task && w->task->waiting == w)
        schedule(w->task, cm_loop_now(run->loop));
}

/* Wakes everyone waiting for t to end. */
static void wake_joiners(struct cm_task *t)
{
    for (size_t i = 0; i < t->njoiners; i++)
        cm_waiter_wake(t->run, t->joiners[i]);
    t->njoiners = 0;
}

/* Records how the task's last resume ended. */
static void settle(struct cm_task *t, int status, int nres)
{
    if (status == LUA_YIELD)
        return; /* waiting: its waiter or timer resumes it */
    if (status == LUA_OK) {
        t->state = TASK_DONE;
        t->nres = nres;
    } else { /* the dead coroutine's stack is not unwound: the traceback shows where it failed */
        lua_State *L = t->run->L;
        const char *msg = lua_tostring(t->co, -1);
        if (!msg) /* a cm.proc failure, or another value that describes itself */
            cm_proc_failure(t->co, -1, &msg);
        luaL_traceback(L, t->co, msg ? msg : "(error object is not a string)", 0);
        lua_xmove(L, t->co, 1); /* co: [.., error, traceback] */
        t->state = TASK_FAILED;
    }
    t->run->tasks_running--;
    luaL_unref(t->run->L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
    wake_joiners(t);
}

/* Loop timer: runs the task until its next wait or its end. */
static void resume_task(cm_loop *loop, void *ud)
{
    (void)loop;
    struct cm_task *t = ud;
    t->timer = NULL;
    int nargs = t->nargs < 0 ? 0 : t->nargs, nres;
    t->nargs = -1;
    int status = lua_resume(t->co, t->run->L, nargs, &nres);
    if (status == LUA_YIELD && !t->waiting && !t->timer)
        schedule(t, cm_loop_now(t->run->loop)); /* a bare coroutine.yield: let the others run */
    settle(t, status, nres);
}

/* The main thread's wait: runs the loop until w is woken or `until`. */
static void wait_on_loop(lua_State *L, struct cm_run *run, cm_waiter *w, int64_t until)
{
    if (cm_loop_depth(run->loop) > 0) /* never a loop inside the loop: the waits it runs would reorder */
        luaL_error(L, "cannot wait here: %s", !task_of(L) ? "code the event loop calls must not wait"
                                                                 : "a task cannot wait across a C call "
                                                                   "boundary (a metamethod, an iterator "
                                                                   "of table.sort or gsub, require)");
    int64_t limit = until < run->deadline ? until : run->deadline;
    enum cm_loop_result r = cm_loop_run_until(run->loop, limit, &w->done);
    cm_check_interrupt(L);
    if (r == CM_LOOP_ERROR)
        luaL_error(L, "the run's event loop failed");
    if (r == CM_LOOP_STALLED)
        luaL_error(L, "waiting for something that can no longer happen (every task is waiting)");
}

int cm_wait_here(lua_State *L, cm_waiter *w, int64_t until)
{
    if (task_of(L) && lua_isyieldable(L))
        return 0;
    cm_check_interrupt(L);
    if (!w->done)
        wait_on_loop(L, cm_run_get(L), w, until);
    return 1;
}

/* Where a task goes on after a yield in cm_await: clears the wait, then the caller's k. */
struct resume_ctx {
    lua_KContext ctx;
    lua_KFunction k;
    int idx; /* where it is on the task's stack */
};

static int await_resumed(lua_State *L, int status, lua_KContext ctx)
{
    struct cm_task *t = task_of(L);
    const struct resume_ctx *rc = (const struct resume_ctx *)ctx;
    lua_KContext inner = rc->ctx;
    lua_KFunction k = rc->k;
    /* off the stack again: a continuation that waits anew (a watch woken with nothing to say)
     * would otherwise leave one more on its frame at every wait, past the slots it may use */
    lua_remove(L, rc->idx);
    if (t) {
        if (t->timer) { /* woken early: drop the time limit */
            cm_loop_timer_cancel(t->run->loop, t->timer);
            t->timer = NULL;
        }
        t->waiting = NULL;
    }
    cm_check_interrupt(L);
    return k(L, status, inner);
}

int cm_await(lua_State *L, cm_waiter *w, int64_t until, lua_KContext ctx, lua_KFunction k)
{
    struct cm_run *run = cm_run_get(L);
    cm_check_interrupt(L);
    struct cm_task *t = task_of(L);
    if (w->done)
        return k(L, LUA_OK, ctx);
    if (!t || !lua_isyieldable(L)) { /* the main thread, or a wait a task cannot yield from */
        wait_on_loop(L, run, w, until);
        return k(L, LUA_OK, ctx);
    }
    luaL_checkstack(L, 1, "waiting");
    struct resume_ctx *rc = lua_newuserdatauv(L, sizeof *rc, 0); /* kept on the task's stack */
    *rc = (struct resume_ctx){ctx, k, lua_gettop(L)};
    w->task = t;
    t->waiting = w;
    if (until != CM_TIME_NEVER)
        schedule(t, until);
    return lua_yieldk(L, 0, (lua_KContext)rc, await_resumed);
}

/* ---- Task handles ---- */

static struct cm_task *check_task(lua_State *L, int idx)
{
    struct cm_task **box = luaL_checkudata(L, idx, TASK_MT);
    luaL_argcheck(L, *box != NULL, idx, "a closed task");
    return *box;
}

static int task_gc(lua_State *L)
{
    struct cm_task **box = luaL_checkudata(L, 1, TASK_MT);
    struct cm_task *t = *box;
    *box = NULL;
    if (t) { /* only at the end of the run: a running task is referenced */
        if (t->timer)
            cm_loop_timer_cancel(t->run->loop, t->timer);
        free(t->joiners);
        free(t);
    }
    return 0;
}

/* Pushes the task's results (or nil, message, code): it has ended. */
static int push_outcome(lua_State *L, struct cm_task *t)
{
    if (t->state == TASK_FAILED) {
        lua_pushnil(L);
        lua_pushvalue(t->co, -1); /* the traceback */
        lua_xmove(t->co, L, 1);
        lua_pushliteral(L, "TaskFailed");
        return 3;
    }
    int n = t->nres, base = lua_gettop(t->co) - n;
    luaL_checkstack(L, n, "too many results");
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(t->co, base + i);
        lua_xmove(t->co, L, 1);
    }
    return n;
}

/* Continues task:wait() once the task ended or time ran out. */
static int wait_done(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    struct cm_task *t = check_task(L, 1);
    cm_waiter *w = (cm_waiter *)ctx;
    for (size_t i = 0; i < t->njoiners; i++) { /* timed out: no longer a joiner */
        if (t->joiners[i] == w) {
            t->joiners[i] = t->joiners[--t->njoiners];
            break;
        }
    }
    if (t->state == TASK_RUNNING)
        return cm_fail(L, "Timeout", "timed out after %f s waiting for a task", lua_tonumber(L, 2));
    return push_outcome(L, t);
}

static int task_wait(lua_State *L)
{
    struct cm_task *t = check_task(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    luaL_argcheck(L, timeout < 0 || timeout < 1e9, 2, "expected seconds");
    if (t->state != TASK_RUNNING)
        return push_outcome(L, t);
    luaL_argcheck(L, task_of(L) != t, 1, "a task cannot wait for itself");
    cm_waiter *w = lua_newuserdatauv(L, sizeof *w, 0); /* [task, timeout, waiter] */
    *w = (cm_waiter){0};
    if (t->njoiners == t->capjoiners) {
        size_t cap = t->capjoiners ? 2 * t->capjoiners : 4;
        cm_waiter **j = realloc(t->joiners, cap * sizeof *j);
        if (!j)
            return luaL_error(L, "not enough memory");
        t->joiners = j;
        t->capjoiners = cap;
    }
    t->joiners[t->njoiners++] = w;
    struct cm_run *run = t->run;
    int64_t until = timeout < 0 ? CM_TIME_NEVER : cm_loop_now(run->loop) + (int64_t)(timeout * 1e9);
    return cm_await(L, w, until, (lua_KContext)w, wait_done);
}

static int task_done(lua_State *L)
{
    lua_pushboolean(L, check_task(L, 1)->state != TASK_RUNNING);
    return 1;
}

static int task_tostring(lua_State *L)
{
    struct cm_task **box = luaL_checkudata(L, 1, TASK_MT);
    static const char *const STATES[] = {"running", "done", "failed"};
    lua_pushfstring(L, "cm.task.Task (%s)", *box ? STATES[(*box)->state] : "closed");
    return 1;
}

static int task_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    struct cm_run *run = cm_run_get(L);
    int nargs = lua_gettop(L) - 1;
    struct cm_task **box = lua_newuserdatauv(L, sizeof *box, 1); /* [fn, args.., box] */
    *box = NULL;
    luaL_setmetatable(L, TASK_MT);
    struct cm_task *t = calloc(1, sizeof *t);
    if (!t)
        return luaL_error(L, "not enough memory");
    *box = t;
    lua_State *co = lua_newthread(L); /* [fn, args.., box, co] */
    lua_setiuservalue(L, -2, 1);      /* the handle keeps the thread */
    *(struct cm_task **)lua_getextraspace(co) = t;
    lua_rotate(L, 1, 1);              /* [box, fn, args..] */
    lua_xmove(L, co, nargs + 1);      /* co: [fn, args..] */
    *t = (struct cm_task){.run = run, .co = co, .state = TASK_RUNNING, .nargs = nargs};
    lua_pushvalue(L, 1);
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* a running task lives on without its handle */
    run->tasks_running++;
    schedule(t, cm_loop_now(run->loop));
    if (!t->timer)
        return luaL_error(L, "not enough memory");
    return 1;
}

/* Continues task.yield: nothing to do. */
static int yield_done(lua_State *L, int status, lua_KContext ctx)
{
    (void)L, (void)status, (void)ctx;
    return 0;
}

static int task_yield(lua_State *L)
{
    cm_waiter *w = lua_newuserdatauv(L, sizeof *w, 0);
    *w = (cm_waiter){0};
    return cm_await(L, w, cm_loop_now(cm_run_get(L)->loop), 0, yield_done);
}

/* task._depth() -> loop calls in progress now, the most ever at once (for tests: never above 1) */
static int task_depth(lua_State *L)
{
    cm_loop *loop = cm_run_get(L)->loop;
    lua_pushinteger(L, cm_loop_depth(loop));
    lua_pushinteger(L, cm_loop_max_depth(loop));
    return 2;
}

static const luaL_Reg task_methods[] = {
    {"done", task_done},
    {"wait", task_wait},
    {NULL, NULL},
};

static const luaL_Reg task_meta[] = {
    {"__gc", task_gc},
    {"__tostring", task_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

/* ---- Signals ---- */

/* The waiters of a signal; each lives on its waiting thread's stack until it is woken. */
struct cm_signal {
    struct cm_run *run;
    cm_waiter **waiters;
    size_t n, cap;
};

static struct cm_signal *check_signal(lua_State *L, int idx)
{
    struct cm_signal **box = luaL_checkudata(L, idx, SIGNAL_MT);
    luaL_argcheck(L, *box != NULL, idx, "a closed signal");
    return *box;
}

static int signal_close(lua_State *L)
{
    struct cm_signal **box = luaL_checkudata(L, 1, SIGNAL_MT);
    if (*box) { /* a waiter keeps the signal referenced: nobody waits now */
        free((*box)->waiters);
        free(*box);
        *box = NULL;
    }
    return 0;
}

/* Continues signal:wait() once notified or timed out. */
static int signal_wait_done(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    struct cm_signal *s = check_signal(L, 1);
    cm_waiter *w = (cm_waiter *)ctx;
    if (w->done) {
        lua_pushboolean(L, 1);
        return 1;
    }
    for (size_t i = 0; i < s->n; i++) { /* timed out: no longer a waiter */
        if (s->waiters[i] == w) {
            s->waiters[i] = s->waiters[--s->n];
            break;
        }
    }
    return cm_fail(L, "Timeout", "timed out after %f s waiting for a signal", lua_tonumber(L, 2));
}

static int signal_wait(lua_State *L)
{
    struct cm_signal *s = check_signal(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    luaL_argcheck(L, timeout < 1e9, 2, "expected seconds");
    cm_waiter *w = lua_newuserdatauv(L, sizeof *w, 0); /* [signal, timeout, waiter] */
    *w = (cm_waiter){0};
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        cm_waiter **a = realloc(s->waiters, cap * sizeof *a);
        if (!a)
            return luaL_error(L, "not enough memory");
        s->waiters = a;
        s->cap = cap;
    }
    s->waiters[s->n++] = w;
    int64_t now = cm_loop_now(s->run->loop);
    int64_t until = timeout < 0 ? CM_TIME_NEVER : now + (int64_t)(timeout * 1e9);
    return cm_await(L, w, until, (lua_KContext)w, signal_wait_done);
}

static int signal_notify(lua_State *L)
{
    struct cm_signal *s = check_signal(L, 1);
    size_t n = s->n;
    s->n = 0; /* woken waiters leave the list now: each resumes once */
    for (size_t i = 0; i < n; i++)
        cm_waiter_wake(s->run, s->waiters[i]);
    return 0;
}

static int task_signal(lua_State *L)
{
    struct cm_signal **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, SIGNAL_MT);
    struct cm_signal *s = calloc(1, sizeof *s);
    if (!s)
        return luaL_error(L, "not enough memory");
    s->run = cm_run_get(L);
    *box = s;
    return 1;
}

static const luaL_Reg signal_methods[] = {
    {"wait", signal_wait},
    {"notify", signal_notify},
    {NULL, NULL},
};

static const luaL_Reg signal_meta[] = {
    {"__gc", signal_close},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg task_funcs[] = {
    {"spawn", task_spawn},
    {"yield", task_yield},
    {"signal", task_signal},
    {"_depth", task_depth},
    {NULL, NULL},
};

int luaopen_cm_task(lua_State *L)
{
    cm_new_class(L, TASK_MT, task_meta, task_methods);
    lua_pop(L, 1);
    cm_new_class(L, SIGNAL_MT, signal_meta, signal_methods);
    lua_pop(L, 1);
    luaL_newlib(L, task_funcs);
    return 1;
}
