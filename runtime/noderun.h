/*
 * noderun.h - running a node script (lua/node/NAME.lua, or a file) against a host: what
 * `cni-migrate node-run` does on a node and what the simulated kubelet does for a node-run
 * pod (README.md, "Node scripts").
 *
 * A node script returns {host_paths = {...}, main = function(args) ... end} (or main
 * itself). main(args) runs in a fresh Lua state whose cm.netlink, cm.sysctl, cm.cni and
 * cm.iptables act on the host given; it returns a result table, or nil, message, code.
 */
#ifndef CM_NODERUN_H
#define CM_NODERUN_H

#include "cmlua.h"
#include "hostops.h"

struct cm_node_run_opts {
    const cm_hostops *ops; /* NULL: the real host */
    void *ud;              /* the simulated host for cm_hostops_sim */
    const char *lua_dir;   /* --lua-dir, or NULL */
    cm_logger log;         /* where the script's cm.log lines go */
    cm_loop *loop;         /* the clock (the simulation's); NULL: a real clock of its own */
    int64_t timeout_ns;    /* 0: none */
    volatile sig_atomic_t *cancel; /* may be NULL */
};

/*
 * Runs script with args_json (a JSON object; NULL or "" means {}). Returns the exit code
 * (0 the result; 1 the script failed: main returned nil, msg, code or raised, code
 * "ScriptError"; 2 bad usage: unknown script, args not a JSON object, code "Usage") and,
 * in *line (malloc'd, the caller frees it), one line of JSON: the result, or
 * {"error": message, "code": code}.
 */
int cm_node_run(const struct cm_node_run_opts *o, const char *script, const char *args_json, char **line);

#include "cnimigrate.h"

/*
 * Runs a node script on the real host (cni-migrate node-run): rt's Lua directory, log,
 * deadline and cancel apply. Returns the exit code (noderun.h) and the result line in *line
 * (the caller frees it).
 */
int cm_runtime_node_run(cm_runtime *rt, const char *script, const char *args_json, char **line);

#endif
