/* runtime.c - the embedding API (include/cnimigrate.h): one Lua state per run. */
#include "metrics.h"
#include "cnimigrate.h"

#include "bundled.h"
#include "cmlua.h"
#include "duration.h"
#include "fake/sim/fault.h"
#include "fake/sim/simrun.h"
#include "noderun.h"
#include "runtime_int.h"

#include <errno.h>
#include <fcntl.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cm_runtime {
    char *lua_dir;
    char *timeout;      /* as given, for messages */
    char *kubeconfig, *context, *namespace; /* Kubernetes client defaults */
    int dry_run;        /* --dry-run=server */
    char *fake, *trace; /* --fake FIXTURE, --trace FILE */
    char *fake_save;    /* --fake-save FILE */
    uint64_t seed;      /* --seed */
    char **faults;      /* --fault, each one rule */
    size_t nfaults;
    int64_t timeout_ns; /* 0: none */
    cm_logger log;
    volatile sig_atomic_t cancel;
    int wake[2];        /* cancel pipe: cm_runtime_cancel() writes, the loop polls */
    char *error;
};

const char *cm_runtime_version(void)
{
    return CM_VERSION;
}

/* Records the message of the last failure (printf-style); returns code. */
static int set_error(cm_runtime *rt, int code, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg)
        vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    free(rt->error);
    rt->error = msg;
    return code;
}

const char *cm_runtime_last_error(const cm_runtime *rt)
{
    return rt->error ? rt->error : "";
}

cm_runtime *cm_runtime_new(void)
{
    cm_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->log.level = CM_LOG_INFO;
    if (pipe(rt->wake) != 0) {
        free(rt);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(rt->wake[i], F_SETFL, O_NONBLOCK);
        fcntl(rt->wake[i], F_SETFD, FD_CLOEXEC);
    }
    return rt;
}

void cm_runtime_free(cm_runtime *rt)
{
    if (!rt)
        return;
    close(rt->wake[0]);
    close(rt->wake[1]);
    free(rt->lua_dir);
    free(rt->timeout);
    free(rt->kubeconfig);
    free(rt->fake);
    free(rt->trace);
    free(rt->fake_save);
    for (size_t i = 0; i < rt->nfaults; i++)
        free(rt->faults[i]);
    free(rt->faults);
    free(rt->context);
    free(rt->namespace);
    free(rt->error);
    free(rt);
}

void cm_runtime_set_log_sink(cm_runtime *rt, cm_log_sink sink, void *ud)
{
    rt->log.sink = sink;
    rt->log.ud = ud;
}

void cm_runtime_cancel(cm_runtime *rt)
{
    int saved = errno; /* async-signal-safe: a flag and a write */
    rt->cancel = 1;
    ssize_t n = write(rt->wake[1], "x", 1);
    (void)n;
    errno = saved;
}

/* Replaces *slot by a copy of value. */
static int set_string(cm_runtime *rt, char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return set_error(rt, CM_FAILED, "out of memory");
    free(*slot);
    *slot = copy;
    return CM_OK;
}

static int set_lua_dir(cm_runtime *rt, const char *value)
{
    struct stat st;
    if (stat(value, &st) != 0)
        return set_error(rt, CM_USAGE, "lua-dir: %s: %s", value, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return set_error(rt, CM_USAGE, "lua-dir: %s: not a directory", value);
    return set_string(rt, &rt->lua_dir, value);
}

static int set_timeout(cm_runtime *rt, const char *value)
{
    int64_t ns = cm_parse_duration(value);
    if (ns < 0)
        return set_error(rt, CM_USAGE,
                         "timeout: '%s' is not a duration (examples: 90, 90s, 5m, 1h30m)", value);
    rt->timeout_ns = ns;
    size_t n = strlen(value);
    char shown[64]; /* "90" reads as "90s" in messages */
    snprintf(shown, sizeof shown, "%s%s", value, n && value[n - 1] >= '0' && value[n - 1] <= '9' ? "s" : "");
    return set_string(rt, &rt->timeout, shown);
}

static int set_seed(cm_runtime *rt, const char *value)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (!*value || *end || errno || value[0] == '-')
        return set_error(rt, CM_USAGE, "seed: expected a non-negative integer, got '%s'", value);
    rt->seed = v;
    return CM_OK;
}

/* Adds one --fault rule, checked now so a bad one stops the run before it starts. */
static int add_fault(cm_runtime *rt, const char *value)
{
    char err[512];
    if (cm_fault_flag_check(value, err, sizeof err) != 0)
        return set_error(rt, CM_USAGE, "%s", err + 2); /* "--fault ..." reads "fault ...": the CLI adds "--" */
    char **p = realloc(rt->faults, (rt->nfaults + 1) * sizeof *p);
    if (!p || !(p[rt->nfaults] = strdup(value))) {
        if (p)
            rt->faults = p;
        return set_error(rt, CM_FAILED, "out of memory");
    }
    rt->faults = p;
    rt->nfaults++;
    return CM_OK;
}

int cm_runtime_set_option(cm_runtime *rt, const char *name, const char *value)
{
    set_error(rt, CM_OK, "%s", "");
    if (strcmp(name, "lua-dir") == 0)
        return set_lua_dir(rt, value);
    if (strcmp(name, "timeout") == 0)
        return set_timeout(rt, value);
    if (strcmp(name, "kubeconfig") == 0)
        return set_string(rt, &rt->kubeconfig, value);
    if (strcmp(name, "context") == 0)
        return set_string(rt, &rt->context, value);
    if (strcmp(name, "namespace") == 0)
        return set_string(rt, &rt->namespace, value);
    if (strcmp(name, "fake") == 0)
        return set_string(rt, &rt->fake, value);
    if (strcmp(name, "trace") == 0)
        return set_string(rt, &rt->trace, value);
    if (strcmp(name, "fake-save") == 0)
        return set_string(rt, &rt->fake_save, value);
    if (strcmp(name, "seed") == 0)
        return set_seed(rt, value);
    if (strcmp(name, "fault") == 0)
        return add_fault(rt, value);
    if (strcmp(name, "dry-run") == 0) {
        if (strcmp(value, "server") != 0 && strcmp(value, "none") != 0)
            return set_error(rt, CM_USAGE, "dry-run: expected server or none, got '%s'", value);
        rt->dry_run = value[0] == 's';
        return CM_OK;
    }
    if (strcmp(name, "log-format") == 0) {
        if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
            return set_error(rt, CM_USAGE, "log-format: expected text or json, got '%s'", value);
        rt->log.json = value[0] == 'j';
        return CM_OK;
    }
    if (strcmp(name, "log-level") == 0) {
        int level = cm_log_level_from_name(value);
        if (level < 0)
            return set_error(rt, CM_USAGE,
                             "log-level: expected debug, info, warn or error, got '%s'", value);
        rt->log.level = level;
        return CM_OK;
    }
    return set_error(rt, CM_USAGE, "unknown option '%s'", name);
}

/* ---- a run ---- */

/* Opens the libraries and the run context in a fresh state (run protected). */
static int setup_state(lua_State *L)
{
    struct cm_run *run = lua_touserdata(L, 1);
    luaL_openlibs(L);
    cm_run_set(L, run);
    cm_preload_all(L);
    return 0;
}

/* Sets the global `arg` as the lua interpreter does, and pushes the args for the chunk. */
static void push_args(lua_State *L, const char *script, int argc, const char *const *argv)
{
    luaL_checkstack(L, argc + 3, "too many arguments");
    lua_createtable(L, argc, 1); /* [chunk, arg] */
    lua_pushstring(L, script);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg"); /* [chunk] */
    for (int i = 0; i < argc; i++)
        lua_pushstring(L, argv[i]);
}

/* The first line of msg: an interrupt is reported without its traceback. */
static const char *first_line(lua_State *L, const char *msg)
{
    const char *nl = strchr(msg, '\n');
    return nl ? lua_pushlstring(L, msg, (size_t)(nl - msg)) : msg;
}

/* Loads the script (bundled or from a file) and runs it in L. */
static int run_in_state(cm_runtime *rt, lua_State *L, struct cm_run *run, const char *bundled,
                        const char *path, int argc, const char *const *argv)
{
    lua_pushcfunction(L, setup_state);
    lua_pushlightuserdata(L, run);
    if (cm_pcall(L, 1, 0) != LUA_OK)
        return set_error(rt, CM_FAILED, "cannot start Lua: %s", lua_tostring(L, -1));
    int status = bundled ? cm_load_bundled(L, bundled) : luaL_loadfilex(L, path, "t");
    if (status != LUA_OK)
        return set_error(rt, CM_USAGE, "%s", lua_tostring(L, -1));
    push_args(L, path, argc, argv);
    cm_strict_globals(L);
    cm_interrupt_arm(L);
    if (cm_pcall(L, argc, 0) == LUA_OK) {
        if (run->tasks_running > 0) {
            cm_log_field f = {.key = "tasks", .value = lua_pushfstring(L, "%d", run->tasks_running),
                              .is_json = 1};
            cm_log_write(&run->log, CM_LOG_WARN, cm_loop_wall(run->loop),
                         "the script ended with tasks still running; they were stopped", &f, 1);
        }
        return CM_OK;
    }
    const char *msg;
    int exit = cm_proc_failure(L, -1, &msg); /* proc.usage / proc.fail: exit 2 / 1, no traceback */
    if (exit)
        return set_error(rt, exit == 2 ? CM_USAGE : CM_FAILED, "%s", msg);
    msg = lua_tostring(L, -1);
    return set_error(rt, CM_FAILED, "%s", run->interrupted ? first_line(L, msg) : msg);
}

/* What a run runs once its Lua state is up: a script (bundled or a file), or a C body. */
struct body {
    const char *bundled, *path;
    int argc;
    const char *const *argv;
    cm_run_body_fn fn;
    void *ud;
};

/* Runs a C body: it has the run's state, for the simulation's agents, but no script. */
static int run_c_body(cm_runtime *rt, lua_State *L, struct cm_run *run, const struct body *b)
{
    lua_pushcfunction(L, setup_state);
    lua_pushlightuserdata(L, run);
    if (cm_pcall(L, 1, 0) != LUA_OK)
        return set_error(rt, CM_FAILED, "cannot start Lua: %s", lua_tostring(L, -1));
    char err[1024] = "";
    int rc = b->fn(run, run->sim, b->ud, err, sizeof err);
    return rc == CM_OK ? CM_OK : set_error(rt, rc, "%s", err);
}

/* Ends a script's simulation: the summary, and a failure when the agents failed. A usage error
 * (bad input, nothing run) stays the one line that names it. */
static int sim_done(cm_runtime *rt, cm_sim_run *sim, struct cm_run *r, int rc)
{
    if (rc == CM_USAGE)
        return rc;
    cm_sim_run_summary(sim, &r->log, r->loop);
    int failed = cm_sim_run_agent_errors(sim);
    if (failed && rc == CM_OK) /* a simulation whose agents failed cannot be trusted */
        rc = set_error(rt, CM_FAILED, "the simulation's node agents failed %d time%s (logged above)",
                       failed, failed == 1 ? "" : "s");
    if (cm_sim_run_lost(sim) && rc == CM_OK) /* nor one that dropped work it was given */
        rc = set_error(rt, CM_FAILED, "the simulation ran out of memory and lost queued work (logged above)");
    const char *first;
    long broken = cm_sim_run_violations(sim, &first);
    if (broken && rc == CM_OK) /* the rehearsal did what the real run must never do */
        rc = set_error(rt, CM_FAILED, "the rehearsal broke %ld safety invariant%s (logged above); the first %s",
                       broken, broken == 1 ? "" : "s", first);
    return rc;
}

/* A run: on the cluster of fixture when given (simulated as so says), else on the real clock. */
static int run(cm_runtime *rt, const char *fixture, const struct cm_sim_opts *so, const struct body *b)
{
    set_error(rt, CM_OK, "%s", "");
    char err[1024];
    cm_sim_run *sim = fixture ? cm_sim_run_new(fixture, so, err, sizeof err) : NULL;
    if (fixture && !sim)
        return set_error(rt, CM_USAGE, "%s", err);
    cm_loop *loop = sim ? cm_sim_run_loop(sim) : cm_loop_new(CM_CLOCK_REAL, 0);
    lua_State *L = loop ? luaL_newstate() : NULL;
    if (!L) {
        if (!sim)
            cm_loop_free(loop);
        cm_sim_run_free(sim);
        return set_error(rt, CM_FAILED, "out of memory");
    }
    cm_loop_set_cancel(loop, &rt->cancel, rt->wake[0]);
    memset(lua_getextraspace(L), 0, LUA_EXTRASPACE); /* no task: see ltask.c */
    struct cm_run r = {
        .L = L,
        .loop = loop,
        .log = rt->log,
        .lua_dir = rt->lua_dir,
        .deadline = rt->timeout_ns ? cm_loop_now(loop) + rt->timeout_ns : CM_TIME_NEVER,
        .timeout = rt->timeout,
        .cancel = &rt->cancel,
        .kubeconfig = rt->kubeconfig,
        .context = rt->context,
        .namespace = rt->namespace,
        .dry_run = rt->dry_run,
        .metrics = cm_metrics_new(),
    };
    if (sim)
        cm_sim_run_install(sim, &r);
    int rc = b->fn ? run_c_body(rt, L, &r, b) : run_in_state(rt, L, &r, b->bundled, b->path, b->argc, b->argv);
    lua_sethook(L, NULL, 0, 0); /* an interrupt must not fire in finalizers */
    if (sim)
        cm_sim_run_watch(sim, NULL, NULL); /* its functions go with L */
    lua_close(L);
    cm_metrics_free(r.metrics); /* stops its server */
    if (sim && !b->fn)
        rc = sim_done(rt, sim, &r, rc);
    if (sim && cm_sim_run_crashed(sim)) /* whatever the script's end said: it was killed */
        rt->cancel = 0, rc = set_error(rt, CM_KILLED, "killed by --fault crash:afterWrites=%ld: the procedure died (as kill -9) "
                       "right after its API write %ld reached the cluster", cm_sim_run_crash_after(sim),
                       cm_sim_run_crash_after(sim));
    if (sim && cm_sim_run_finish_save(sim, err, sizeof err) != 0 && rc == CM_OK)
        rc = set_error(rt, CM_FAILED, "%s", err);
    if (sim)
        cm_sim_run_free(sim); /* and its loop */
    else
        cm_loop_free(loop);
    return rc;
}

/* A script's run: simulated when --fake was given. */
static int run_script(cm_runtime *rt, const char *bundled, const char *path, int argc,
                      const char *const *argv)
{
    if (rt->nfaults && !rt->fake)
        return set_error(rt, CM_USAGE, "--fault needs --fake (faults are injected into a simulated cluster)");
    if (rt->fake_save && !rt->fake)
        return set_error(rt, CM_USAGE, "--fake-save needs --fake (it saves the simulated cluster)");
    struct cm_sim_opts so = {.seed = rt->seed, .trace = rt->trace, .clock = CM_CLOCK_VIRTUAL,
                             .faults = (const char *const *)rt->faults, .nfaults = rt->nfaults,
                             .save = rt->fake_save};
    struct body b = {.bundled = bundled, .path = path, .argc = argc, .argv = argv};
    return run(rt, rt->fake, &so, &b);
}

int cm_runtime_run_sim(cm_runtime *rt, const char *fixture, const struct cm_sim_opts *o, cm_run_body_fn fn,
                       void *ud)
{
    struct cm_sim_opts so = *o;
    so.seed = rt->seed;
    so.trace = rt->trace;
    so.faults = (const char *const *)rt->faults;
    so.nfaults = rt->nfaults;
    for (size_t i = 0; i < rt->nfaults; i++)
        if (strncmp(rt->faults[i], "crash:", 6) == 0)
            return set_error(rt, CM_USAGE, "--fault %s: a crash is a script's (run --fake), it counts the "
                             "script's API writes", rt->faults[i]);
    if (rt->fake_save)
        return set_error(rt, CM_USAGE, "--fake-save: only with run --fake");
    struct body b = {.fn = fn, .ud = ud};
    return run(rt, fixture, &so, &b);
}

int cm_runtime_run_file(cm_runtime *rt, const char *path, int argc, const char *const *argv)
{
    return run_script(rt, NULL, path, argc, argv);
}

/* Whether the binary holds this file. */
static int is_bundled(const char *path)
{
    for (const struct cm_bundled *b = cm_bundled_lua; b->path; b++)
        if (strcmp(b->path, path) == 0)
            return 1;
    return 0;
}

int cm_runtime_run_bundled(cm_runtime *rt, const char *name, int argc, const char *const *argv)
{
    if (!*name || strchr(name, '/') || strchr(name, '.'))
        return set_error(rt, CM_USAGE, "'%s' is not a bundled procedure name", name);
    char path[256], disk[4096];
    snprintf(path, sizeof path, "lua/%s.lua", name);
    snprintf(disk, sizeof disk, "%s/%s.lua", rt->lua_dir ? rt->lua_dir : "", name);
    if (!is_bundled(path) && !(rt->lua_dir && access(disk, F_OK) == 0))
        return set_error(rt, CM_USAGE, "no bundled procedure '%s'", name);
    return run_script(rt, path, name, argc, argv);
}

int cm_runtime_node_run(cm_runtime *rt, const char *script, const char *source, const char *args_json,
                        char **line)
{
    set_error(rt, CM_OK, "%s", "");
    struct cm_node_run_opts o = {.lua_dir = rt->lua_dir, .log = rt->log, .timeout_ns = rt->timeout_ns, .source = source,
                                 .cancel = &rt->cancel};
    return cm_node_run(&o, script, args_json, line);
}
