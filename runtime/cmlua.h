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

/* The context of one run, kept in the registry under a static address. */
struct cm_run {
    cm_loop *loop;
    cm_logger log;
    const char *lua_dir;  /* NULL: bundled Lua only */
    int64_t deadline;     /* on cm_loop_now()'s scale; CM_TIME_NEVER for none */
    const char *timeout;  /* the deadline as the user wrote it, for messages */
    volatile sig_atomic_t *cancel;
    int interrupted;      /* set once the deadline passed or the run was cancelled */
    /* Kubernetes client defaults (--kubeconfig, --context, --namespace, --dry-run=server) */
    const char *kubeconfig, *context, *namespace;
    int dry_run;
    /* The transport of cm.k8s clients; NULL: libcurl. The simulation sets its in-process one. */
    struct cm_transport *(*k8s_transport_new)(struct cm_run *run);
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

/* Makes reading or assigning an undeclared global raise, naming it. */
void cm_strict_globals(lua_State *L);

/* The modules, for cm_preload_all(). */
int luaopen_cm_json(lua_State *L);
int luaopen_cm_k8s(lua_State *L);
int luaopen_cm_yaml(lua_State *L);
int luaopen_cm_log(lua_State *L);
int luaopen_cm_time(lua_State *L);

#endif
