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

#include <cJSON.h>

struct cm_node_run_opts {
    const cm_hostops *ops; /* NULL: the real host */
    void *ud;              /* the simulated host for cm_hostops_sim */
    const char *lua_dir;   /* --lua-dir, or NULL */
    cm_logger log;         /* where the script's cm.log lines go */
    cm_loop *loop;         /* the clock (the simulation's); NULL: a real clock of its own */
    int64_t timeout_ns;    /* 0: none */
    volatile sig_atomic_t *cancel; /* may be NULL */
    const char *source;    /* the script's text, when it came with the pod (--script-env); NULL: load it */
};

/*
 * Runs script with args_json (a JSON object; NULL or "" means {}). Returns the exit code
 * (0 the result; 1 the script failed: main returned nil, msg, code or raised, code
 * "ScriptError"; 2 bad usage: unknown script, args not a JSON object, code "Usage") and,
 * in *line (malloc'd, the caller frees it), one line of JSON: the result, or
 * {"error": message, "code": code}.
 */
int cm_node_run(const struct cm_node_run_opts *o, const char *script, const char *args_json, char **line);

/* The most of a container's termination message a kubelet keeps (the last bytes of the file). */
#define CM_TERMINATION_MESSAGE_MAX 4096

/*
 * What node-run writes as its termination message for result line (also printed, alone on its
 * line, on stdout: the pod's log): the line when it fits CM_TERMINATION_MESSAGE_MAX, else
 * {"resultInLog": N}, N the line's length, and the reader takes the line from the pod's log
 * (node.h run_on). malloc'd (the caller frees it); NULL when out of memory.
 */
char *cm_node_run_message(const char *line);

/*
 * The host paths node script declares (its table's host_paths; none for a script returning main
 * alone), loaded as node-run loads it (from lua_dir first, else bundled, or a file), main not run.
 * Returns 0 with *paths (a JSON array of strings, the caller frees it), or -1 with a one-line
 * message in msg: no such script, no main function, host_paths not a list of absolute paths.
 */
int cm_node_script_paths(const char *lua_dir, const char *script, cJSON **paths, char *msg, size_t size);

/*
 * The text of script when it is a file on this machine (a path, or NAME with lua_dir/node/NAME.lua
 * there): run_on ships it in the pod, whose image has only the bundled scripts. Returns it
 * (malloc'd, the caller frees it), or NULL for a script bundled in the binary or one that
 * cannot be read (node-run then says why).
 */
char *cm_node_script_source(const char *lua_dir, const char *script);

#include "cnimigrate.h"

/*
 * Runs a node script on the real host (cni-migrate node-run): rt's Lua directory, log,
 * deadline and cancel apply; source, when not NULL, is the script's text (run_on's pod brings it). Returns the exit code (noderun.h) and the result line in *line
 * (the caller frees it).
 */
int cm_runtime_node_run(cm_runtime *rt, const char *script, const char *source, const char *args_json,
                        char **line);

#endif
