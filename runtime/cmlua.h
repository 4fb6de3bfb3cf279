/*
 * cmlua.h - what every Lua binding of the runtime shares: the one protected
 * call, the one failure helper, the run context, interrupts, module loading.
 */
#ifndef CM_CMLUA_H
#define CM_CMLUA_H

#include "log.h"
#include "loop.h"

#include <lauxlib.h>
#include <lua.h>
#include <signal.h>

/* Why a run stops early (struct cm_run.interrupted). */
enum { CM_GO_ON = 0, CM_CANCELLED, CM_DEADLINE };

struct cm_task;

/*
 * Something a Lua-called C function waits for (a timer, a response, a task's
 * end). Whoever completes it calls cm_waiter_wake(). Its memory must live
 * until the wait ends: on the waiting thread's stack (a userdata) or in the
 * object waited on.
 */
typedef struct cm_waiter {
    int done;             /* set by cm_waiter_wake() */
    struct cm_task *task; /* the task suspended on it, if any (set by cm_await) */
} cm_waiter;

/* The context of one run, kept in the registry under a static address. */
struct cm_run {
    lua_State *L;         /* the main thread, which resumes tasks */
    cm_loop *loop;
    cm_logger log;
    const char *lua_dir;  /* NULL: bundled Lua only */
    int64_t deadline;     /* on cm_loop_now()'s scale; CM_TIME_NEVER for none */
    const char *timeout;  /* the deadline as the user wrote it, for messages */
    volatile sig_atomic_t *cancel;
    int interrupted;      /* CM_GO_ON, then CM_CANCELLED or CM_DEADLINE for good */
    int tasks_running;    /* tasks started and not yet ended (cm.task) */
    /* Kubernetes client defaults (--kubeconfig, --context, --namespace, --dry-run=server) */
    const char *kubeconfig, *context, *namespace;
    int dry_run;
    /* The transport of cm.k8s clients; NULL: libcurl. The simulation sets its in-process one. */
    struct cm_transport *(*k8s_transport_new)(struct cm_run *run);
    /* The configuration of cm.k8s clients; NULL: kubeconfig or in cluster. Set in simulation. */
    struct cm_k8s_config *(*k8s_config_new)(struct cm_run *run, const char *namespace);
    struct cm_sim_run *sim; /* the simulated cluster of a --fake run, or NULL */
    /* The host of cm.netlink, cm.sysctl, cm.cni and cm.iptables (hostops.h); NULL: the real one.
     * A node script run by the simulated kubelet gets its node's simulated host. */
    const struct cm_hostops *host_ops;
    void *host_ud;
    struct cm_metrics *metrics; /* the run's Prometheus metrics (cm.metrics, metrics.h); NULL: none */
};

/* Stores run as the context of L (NULL removes it). */
void cm_run_set(lua_State *L, struct cm_run *run);

/* The context of the run; raises "only valid inside a run" when there is none. */
struct cm_run *cm_run_get(lua_State *L);

/*
 * Calls the function below nargs arguments with a message handler that turns
 * any error object into a string and appends a traceback (lua.c's docall).
 * Returns the lua_pcall status; on error the message is on the stack.
 */
int cm_pcall(lua_State *L, int nargs, int nresults);

/*
 * The failure of the world: pushes nil, the formatted message and code, and
 * returns 3 so a binding can `return cm_fail(L, "NotFound", "...")`.
 * fmt takes lua_pushfstring's conversions only (%s %d %I %f %p %c %U %%).
 */
int cm_fail(lua_State *L, const char *code, const char *fmt, ...);

/*
 * Installs the count hook that raises once the run's deadline has passed or
 * the run was cancelled; once raised it fires on every instruction, so a
 * script's own pcall cannot swallow it.
 */
void cm_interrupt_arm(lua_State *L);

/* Raises the interrupt error now if the deadline passed or a cancel came. */
void cm_check_interrupt(lua_State *L);

/*
 * Registers every C module and every bundled library (lua/cm/...) in
 * package.preload. A bundled library loads from the run's lua_dir when the
 * file exists there, else from the binary, with chunkname "@lua/cm/x.lua".
 */
void cm_preload_all(lua_State *L);

/*
 * Loads the bundled file at path ("lua/migrate.lua"), from lua_dir first.
 * Returns LUA_OK with the chunk pushed, or an error status with a message
 * pushed (LUA_ERRFILE when there is no such file).
 */
int cm_load_bundled(lua_State *L, const char *path);

/*
 * The one way a Lua-called C function waits: until w is woken, or until the
 * time `until` (cm_loop_now() scale; CM_TIME_NEVER for no limit), whichever
 * comes first, then continues in k(L, LUA_OK, ctx), whose results are the
 * function's. Use as `return cm_await(L, w, until, ctx, k);`.
 *
 * On the main thread it runs the loop meanwhile (other tasks, timers, I/O).
 * In a task (cm.task) it yields the task's coroutine, so the other tasks run,
 * and the loop resumes it in k. Either way the run's deadline and cancel
 * raise the interrupt error, and k sees w->done == 0 when time ran out.
 */
int cm_await(lua_State *L, cm_waiter *w, int64_t until, lua_KContext ctx, lua_KFunction k);

/*
 * For a continuation that may wait again and again (a watch woken with nothing to deliver, an
 * operation's progress events): where cm_await would run the loop rather than yield (the main
 * thread), waits for w here and returns 1, so the continuation loops; otherwise returns 0 and the
 * caller does `return cm_await(...)`. A continuation that re-entered itself through cm_await on the
 * main thread would nest one C frame per wait, without bound on a quiet cluster.
 */
int cm_wait_here(lua_State *L, cm_waiter *w, int64_t until);

/* Completes w: ends a main-thread wait, or has the loop resume the waiting task. */
void cm_waiter_wake(struct cm_run *run, cm_waiter *w);

/*
 * Registers a handle type: the metatable `name` with the metamethods of meta
 * (may be NULL) and an __index table holding methods (each list may end early
 * with a NULL entry; a NULL __index slot in meta is filled). A handle that owns
 * something has a "close" method: it becomes __gc and __close too, so there is
 * one close, which must be idempotent (a second call does nothing). Leaves the
 * methods table on the stack, so a module can add methods that need upvalues;
 * pop it after.
 */
void cm_new_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/*
 * Whether the value at idx is a cm.proc usage or failure value (lua/cm/proc.lua): returns its exit
 * code (2 usage, 1 failure) and points *message (if not NULL) at its message, which lives as
 * long as the value; 0 for any other value.
 */
int cm_proc_failure(lua_State *L, int idx, const char **message);

/* Makes reading or assigning an undeclared global raise, naming it. */
void cm_strict_globals(lua_State *L);

/* The client of the cm.k8s Client at idx (raises for another value or a closed client). */
struct cm_k8s_client;
struct cm_k8s_client *cm_lua_k8s_client(lua_State *L, int idx);

/* The modules, for cm_preload_all(). */
int luaopen_cm_cni(lua_State *L);
int luaopen_cm_fake(lua_State *L);
int luaopen_cm_http(lua_State *L);
int luaopen_cm_iptables(lua_State *L);
int luaopen_cm_netlink(lua_State *L);
int luaopen_cm_sysctl(lua_State *L);
int luaopen_cm_json(lua_State *L);
int luaopen_cm_k8s(lua_State *L);
int luaopen_cm_yaml(lua_State *L);
int luaopen_cm_log(lua_State *L);
int luaopen_cm_metrics(lua_State *L);
int luaopen_cm_node(lua_State *L);
int luaopen_cm_task(lua_State *L);
int luaopen_cm_time(lua_State *L);

#endif
