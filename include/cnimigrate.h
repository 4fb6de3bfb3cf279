/*
 * cnimigrate.h - the embedding API of the cni-migrate runtime.
 *
 * A runtime runs Lua procedures (bundled or from files) with the cm.* modules.
 * The library never prints and never exits: failures come back as return codes
 * with a message from cm_runtime_last_error(); log lines go to the sink set
 * with cm_runtime_set_log_sink() (none by default).
 *
 * Return codes match the CLI's exit codes.
 */
#ifndef CNIMIGRATE_H
#define CNIMIGRATE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Result of a run. */
enum {
    CM_OK = 0,     /* the script or procedure finished */
    CM_FAILED = 1, /* it failed (raised, timed out or was cancelled) */
    CM_USAGE = 2,  /* bad usage or bad input: nothing was run */
    CM_KILLED = 137 /* the simulated procedure was killed (--fault crash): as a shell reports kill -9 */
};

/* Log levels, as passed to the sink. */
enum { CM_LOG_DEBUG = 0, CM_LOG_INFO, CM_LOG_WARN, CM_LOG_ERROR };

typedef struct cm_runtime cm_runtime;

/* Receives one formatted log line (no trailing newline) at a time. */
typedef void (*cm_log_sink)(void *ud, int level, const char *line);

/* Creates a runtime with default options. Returns NULL when out of memory. */
cm_runtime *cm_runtime_new(void);

/* Destroys a runtime; NULL is accepted. */
void cm_runtime_free(cm_runtime *rt);

/*
 * Sets an option by name. Options:
 *   "lua-dir"     load bundled Lua from this directory instead of the binary
 *   "log-format"  "text" (default) or "json"
 *   "log-level"   "debug", "info" (default), "warn" or "error"
 *   "timeout"     a deadline for each run: seconds or a duration such as
 *                 "90s", "5m", "1h30m"; "0" means none (default)
 *   "kubeconfig"  the kubeconfig file of cm.k8s clients (used alone; instead
 *                 of KUBECONFIG, ~/.kube/config or the in-cluster account)
 *   "context"     the kubeconfig context instead of current-context
 *   "namespace"   the default namespace instead of the context's
 *   "dry-run"     "server": every write of cm.k8s clients carries
 *                 dryRun=All, so the API server changes nothing; "none" (default)
 *   "fake"        a fixture file: runs simulate that cluster in process, on a
 *                 virtual clock, and cm.k8s clients talk to it (no kubeconfig)
 *   "seed"        the simulation's seed (default 0): same fixture, seed and
 *                 script, same run
 *   "trace"       with "fake": a file that gets the run's timeline as JSON lines
 *   "fault"       with "fake": one injected fault, "SECTION:KEY=VALUE,..." (see
 *                 the README); each call adds one
 * Returns CM_OK, or CM_USAGE for an unknown name or a bad value (see
 * cm_runtime_last_error()).
 */
int cm_runtime_set_option(cm_runtime *rt, const char *name, const char *value);

/* Sets where log lines go; sink NULL discards them. */
void cm_runtime_set_log_sink(cm_runtime *rt, cm_log_sink sink, void *ud);

/*
 * Runs the Lua file at path. The script sees argv in its global table `arg`
 * (arg[0] = path, arg[1..argc] = argv) and as the varargs of its chunk.
 * Returns CM_OK, CM_FAILED (the script raised, timed out or was cancelled)
 * or CM_USAGE (the file is missing or does not compile).
 */
int cm_runtime_run_file(cm_runtime *rt, const char *path, int argc,
                        const char *const *argv);

/*
 * Runs a bundled procedure by name ("migrate" runs lua/migrate.lua, from
 * the binary or from the lua-dir option). Same arguments and results as
 * cm_runtime_run_file(); an unknown name is CM_USAGE.
 */
int cm_runtime_run_bundled(cm_runtime *rt, const char *name, int argc,
                           const char *const *argv);

/*
 * Asks a run in progress to stop (async-signal-safe). The script is
 * interrupted at its next instruction or wait and the run returns CM_FAILED.
 */
void cm_runtime_cancel(cm_runtime *rt);

/*
 * The message of the last failure: one line, except for a Lua error, which
 * adds its traceback. Empty when the last call succeeded. Owned by rt.
 */
const char *cm_runtime_last_error(const cm_runtime *rt);

/* The runtime's version string, e.g. "0.1.0". */
const char *cm_runtime_version(void);

#ifdef __cplusplus
}
#endif
#endif
