/* main.c - the cni-migrate command line, a client of include/cnimigrate.h. */
#include "cnimigrate.h"
#include "duration.h"
#include "fake/sim/serve.h"
#include "noderun.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <lua.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const char USAGE[] =
    "usage: cni-migrate [FLAGS] COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  migrate [FLAGS]       migrate the cluster from flannel (or Canal) to Calico, node by node\n"
    "                        (the bundled lua/migrate.lua; 'cni-migrate migrate --help' lists\n"
    "                        its flags); with --fake FIXTURE, a rehearsal on a virtual clock\n"
    "  rollback [FLAGS]      return the cluster to flannel (or Canal) from any point of a migration,\n"
    "                        after its completion too (the bundled lua/rollback.lua; see --help)\n"
    "  preflight [FLAGS]     check that the cluster can be migrated; changes nothing\n"
    "                        (--json for machines; exit 0 ready, 1 blockers found)\n"
    "  status [--json] [--watch]  where the migration is, read from the cluster: phase, nodes\n"
    "                        done / in flight / held / failed / left, ETA; --watch redraws on\n"
    "                        every change until done (the bundled lua/status.lua)\n"
    "  pause [--reason TEXT] no node starts until resume (a running migrate or rollback lets\n"
    "                        its nodes in flight finish and waits)\n"
    "  resume                nodes start again\n"
    "  run SCRIPT [ARGS...]  run a Lua script (a file, or the name of a bundled procedure)\n"
    "  fake serve FIXTURE    serve the simulated cluster of a fixture (YAML) to kubectl and other\n"
    "                        clients, on real time, until SIGTERM/SIGINT:\n"
    "      --listen HOST:PORT      address to listen on (default 127.0.0.1:0, any free port)\n"
    "      --kubeconfig-out FILE   write a kubeconfig for the server to FILE\n"
    "      --tls                   serve HTTPS with a CA and certificate generated at start\n"
    "      --token TOKEN           require this bearer token\n"
    "      --authorize             enforce RBAC for ServiceAccounts' tokens (kubectl create token);\n"
    "                              the kubeconfig's token (--token, or a random one) is an admin's;\n"
    "                              implies --tls\n"
    "      --run-image REF         run pods of this image (REPO:TAG, or REPO for any tag) as\n"
    "                              processes of this binary, as a kubelet would (in-cluster\n"
    "                              config, logs, exit codes); implies --tls\n"
    "      --allow-remote          permit a --listen address that is not loopback\n"
    "      --speed N               run the cluster's clock N times as fast as real time\n"
    "                              (default 1; 0.001 to 100000); every delay is scaled\n"
    "      --no-sim                serve the fixture frozen: no controllers, kubelets or hosts\n"
    "      --fault SECTION:K=V,... inject a fault (repeatable; see --fault below)\n"
    "      --seed N, --trace FILE  as for --fake (faults are drawn from the seed too)\n"
    "  fake snapshot [-o FILE]  write a fixture of the cluster (--kubeconfig, ...) for rehearsals:\n"
    "                        its workloads, flannel's and Calico's objects, no Secrets, and the\n"
    "                        delays its pods show (the bundled lua/snapshot.lua; see --help)\n"
    "  fake host FIXTURE NODE  simulate the cluster and print NODE's simulated host as JSON\n"
    "      --at DURATION           after this much virtual time (default 5m, or sooner once\n"
    "                              nothing is left to happen)\n"
    "      --reach                 print instead, per the dataplane model, whether each Running\n"
    "                              pod on NODE and every Running pod elsewhere reach each other\n"
    "      --seed N, --trace FILE  as for --fake\n"
    "  node-run SCRIPT [--args JSON] [--result-file PATH] [--script-env VAR]\n"
    "                        run a node script (lua/node/SCRIPT.lua, or a file) on this host and\n"
    "                        print its JSON result (also written to PATH): exit 0 the result,\n"
    "                        1 {\"error\", \"code\"} the script failed, 2 bad usage; with\n"
    "                        --script-env the script's text is that variable's (run_on's pods)\n"
    "  version               print the version of cni-migrate and its libraries\n"
    "  help                  print this help\n"
    "\n"
    "Flags (before or after COMMAND, before SCRIPT):\n"
    "  --lua-dir DIR         load bundled Lua from DIR first (env CNI_MIGRATE_LUA_DIR)\n"
    "  --log-format FORMAT   text (default) or json\n"
    "  --log-level LEVEL     debug, info (default), warn or error\n"
    "  -v, --verbose         same as --log-level debug\n"
    "  --timeout DURATION    stop the run after DURATION (90s, 5m, 1h30m)\n"
    "  --kubeconfig FILE     Kubernetes client configuration (default: KUBECONFIG,\n"
    "                        ~/.kube/config, then the in-cluster service account)\n"
    "  --context NAME        kubeconfig context instead of current-context\n"
    "  --namespace NS        default namespace instead of the context's\n"
    "  --dry-run=server      every API write carries dryRun=All: nothing changes\n"
    "  --fake FIXTURE        simulate the cluster of FIXTURE in process, on a virtual clock;\n"
    "                        cm.k8s clients talk to it (no kubeconfig needed)\n"
    "  --seed N              the simulation's seed (default 0): same fixture, seed, script:\n"
    "                        same run\n"
    "  --trace FILE          with --fake: write the run's timeline to FILE as JSON lines\n"
    "  --fake-save FILE      with --fake: when the run ends or stops (error, timeout, SIGTERM,\n"
    "                        crash fault), save the simulated cluster, hosts included, as a\n"
    "                        fixture that --fake, fake serve and fake host load\n"
    "  --fault SECTION:K=V,...  with --fake: inject a fault (repeatable), e.g.\n"
    "                        requests:error=429,retryAfter=1,verbs=get+list,rate=0.2\n"
    "\n"
    "Exit codes: 0 done, 1 the script or procedure failed, 2 bad usage or bad input.\n";

static cm_runtime *g_rt; /* for the signal handler */
static volatile sig_atomic_t g_signalled;

/* The first SIGTERM/SIGINT stops the run at its next instruction or wait; a second one,
 * for a script stuck in a call that cannot be interrupted, kills the process. */
static void on_signal(int sig)
{
    if (g_signalled++) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (g_rt)
        cm_runtime_cancel(g_rt);
}

static void log_to_stderr(void *ud, int level, const char *line)
{
    (void)ud;
    (void)level;
    fprintf(stderr, "%s\n", line);
}

/* Prints "cni-migrate: <what> '<arg>'" with a pointer to help; returns CM_USAGE. */
static int usage_error(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "cni-migrate: %s '%s' (see 'cni-migrate help')\n", what, arg);
    else
        fprintf(stderr, "cni-migrate: %s (see 'cni-migrate help')\n", what);
    return CM_USAGE;
}

static int cmd_version(void)
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    printf("cni-migrate %s\n", cm_runtime_version());
    printf("%s\n", LUA_RELEASE);
    printf("libcurl %s (%s)\n", curl->version, curl->ssl_version ? curl->ssl_version : "no TLS");
    printf("cJSON %s\n", cJSON_Version());
    printf("libyaml %s\n", yaml_get_version_string());
    printf("libmicrohttpd %s\n", MHD_get_version());
    return CM_OK;
}

/* Flags that take a value, and the runtime option each sets. */
static const struct { const char *flag, *option; } VALUE_FLAGS[] = {
    {"--lua-dir", "lua-dir"},
    {"--log-format", "log-format"},
    {"--log-level", "log-level"},
    {"--timeout", "timeout"},
    {"--kubeconfig", "kubeconfig"},
    {"--context", "context"},
    {"--namespace", "namespace"},
    {"--dry-run", "dry-run"},
    {"--fake", "fake"},
    {"--seed", "seed"},
    {"--trace", "trace"},
    {"--fake-save", "fake-save"},
    {"--fault", "fault"},
};

/* The VALUE_FLAGS entry arg names (as --flag or --flag=value), or -1. */
static int value_flag(const char *arg)
{
    for (size_t f = 0; f < sizeof VALUE_FLAGS / sizeof VALUE_FLAGS[0]; f++) {
        size_t n = strlen(VALUE_FLAGS[f].flag);
        if (strncmp(arg, VALUE_FLAGS[f].flag, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return (int)f;
    }
    return -1;
}

/* Whether arg is one of the runtime's own flags (apply_flag knows it). */
static int is_runtime_flag(const char *arg)
{
    return strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0 || value_flag(arg) >= 0;
}

/* Applies flag argv[*i] (and its value); returns CM_OK or CM_USAGE after printing why. */
static int apply_flag(cm_runtime *rt, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0)
        return cm_runtime_set_option(rt, "log-level", "debug");
    int f = value_flag(arg);
    if (f < 0)
        return usage_error("unknown flag", arg);
    size_t n = strlen(VALUE_FLAGS[f].flag);
    const char *value = arg[n] == '=' ? arg + n + 1 : NULL;
    if (!value && *i + 1 < argc)
        value = argv[++*i];
    if (!value) {
        fprintf(stderr, "cni-migrate: flag %s needs a value\n", VALUE_FLAGS[f].flag);
        return CM_USAGE;
    }
    if (cm_runtime_set_option(rt, VALUE_FLAGS[f].option, value) != CM_OK) {
        fprintf(stderr, "cni-migrate: --%s\n", cm_runtime_last_error(rt));
        return CM_USAGE;
    }
    return CM_OK;
}

/* Runs SCRIPT: a path (has a '/' or ends in .lua) or a bundled procedure name. */
static int cmd_run(cm_runtime *rt, int argc, char **argv)
{
    const char *script = argv[0];
    size_t n = strlen(script);
    const char *const *args = (const char *const *)argv + 1;
    int is_file = strchr(script, '/') || (n > 4 && strcmp(script + n - 4, ".lua") == 0);
    int rc = is_file ? cm_runtime_run_file(rt, script, argc - 1, args)
                     : cm_runtime_run_bundled(rt, script, argc - 1, args);
    if (rc != CM_OK)
        fprintf(stderr, "cni-migrate: %s\n", cm_runtime_last_error(rt));
    return rc;
}

/* node-run SCRIPT [--args JSON] [--result-file PATH] [--script-env VAR]: one JSON line on stdout
 * (and in PATH); with --script-env the script's text is VAR's value (run_on ships a site script so). */
static int cmd_node_run(cm_runtime *rt, int argc, char **argv)
{
    const char *script = NULL, *args = "{}", *result_file = NULL, *script_env = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--args") == 0 || strcmp(a, "--result-file") == 0) && i + 1 < argc)
            *(a[2] == 'a' ? &args : &result_file) = argv[++i];
        else if (strcmp(a, "--script-env") == 0 && i + 1 < argc)
            script_env = argv[++i];
        else if (strncmp(a, "--args=", 7) == 0)
            args = a + 7;
        else if (strncmp(a, "--result-file=", 14) == 0)
            result_file = a + 14;
        else if (strncmp(a, "--script-env=", 13) == 0)
            script_env = a + 13;
        else if (a[0] == '-' && a[1])
            return usage_error("node-run: unknown flag or missing value", a);
        else if (!script)
            script = a;
        else
            return usage_error("node-run: one SCRIPT only, got another", a);
    }
    if (!script)
        return usage_error("node-run: missing SCRIPT", NULL);
    const char *source = script_env ? getenv(script_env) : NULL;
    if (script_env && !source)
        return usage_error("node-run: --script-env names a variable that is not set", script_env);
    char *line = NULL;
    int rc = cm_runtime_node_run(rt, script, source, args, &line);
    printf("%s\n", line ? line : "{\"error\":\"out of memory\",\"code\":\"ENOMEM\"}");
    fflush(stdout);
    if (result_file) { /* the termination message: the line, or where it is when too long for one */
        char *msg = line ? cm_node_run_message(line) : NULL;
        FILE *f = fopen(result_file, "w");
        int bad = !f || fprintf(f, "%s", msg ? msg : "") < 0;
        free(msg);
        if ((f && fclose(f) != 0) || bad) {
            fprintf(stderr, "cni-migrate: node-run: --result-file %s: cannot write it\n", result_file);
            if (rc == CM_OK)
                rc = CM_FAILED;
        }
    }
    if (rc != CM_OK && line)
        fprintf(stderr, "cni-migrate: node-run %s: %s\n", script, line);
    free(line);
    return rc;
}

static void print_url(void *ud, const char *url)
{
    (void)ud;
    printf("%s\n", url);
    fflush(stdout);
}

/* fake serve: each injected fault on stderr as it happens. */
static void print_fault(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

/* Whether arg is one of the run's flags (--seed, --trace, --log-level, ...), which the fake commands take too. */
static int is_run_flag(const char *arg)
{
    int f = value_flag(arg);
    if (f >= 0)
        return strcmp(VALUE_FLAGS[f].flag, "--fake") != 0; /* the FIXTURE is the cluster */
    return is_runtime_flag(arg);
}

/* The value of flag argv[*i] (moving *i past it), or NULL after printing why. */
static const char *flag_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "cni-migrate: flag %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* --speed N: a number in the scaled clock's range; CM_OK or CM_USAGE after printing why. */
static int parse_speed(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= 0.001 && d <= 100000))
        return usage_error("fake serve: --speed: expected a number from 0.001 to 100000, got", v);
    *out = d;
    return CM_OK;
}

/* A flag of fake serve; CM_OK, CM_USAGE after printing why, or -1 when it is not one. */
static int serve_flag(int argc, char **argv, int *i, struct cm_serve_opts *o)
{
    const char *a = argv[*i];
    const char **slot = strcmp(a, "--listen") == 0 ? &o->listen
                        : strcmp(a, "--kubeconfig-out") == 0 ? &o->kubeconfig_out
                        : strcmp(a, "--token") == 0 ? &o->token
                        : strcmp(a, "--run-image") == 0 ? &o->run_image : NULL;
    if (slot)
        return (*slot = flag_value(argc, argv, i)) ? CM_OK : CM_USAGE;
    if (strcmp(a, "--speed") == 0) {
        const char *v = flag_value(argc, argv, i);
        return v ? parse_speed(v, &o->speed) : CM_USAGE;
    }
    int *flag = strcmp(a, "--tls") == 0 ? &o->tls : strcmp(a, "--allow-remote") == 0 ? &o->allow_remote
                : strcmp(a, "--no-sim") == 0 ? &o->frozen : strcmp(a, "--authorize") == 0 ? &o->authorize : NULL;
    if (!flag)
        return -1;
    *flag = 1;
    return CM_OK;
}

/* Parses the flags of fake serve into o (the run's own flags into rt); CM_OK or CM_USAGE after printing why. */
static int serve_flags(cm_runtime *rt, int argc, char **argv, struct cm_serve_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = serve_flag(argc, argv, &i, o);
        if (rc == -1 && is_run_flag(a))
            rc = apply_flag(rt, argc, argv, &i);
        if (rc == CM_USAGE)
            return CM_USAGE;
        if (rc == CM_OK)
            continue;
        if (a[0] == '-' && a[1])
            return usage_error("fake serve: unknown flag", a);
        if (o->fixture)
            return usage_error("fake serve: one FIXTURE only, got another", a);
        o->fixture = a;
    }
    if (!o->fixture)
        return usage_error("fake serve: missing FIXTURE", NULL);
    if (o->token && !*o->token)
        return usage_error("fake serve: --token must not be empty", NULL);
    if (o->run_image && !*o->run_image)
        return usage_error("fake serve: --run-image must not be empty", NULL);
    if (o->authorize || o->run_image)
        o->tls = 1; /* kubectl sends a bearer token over HTTPS only, and in-cluster clients speak HTTPS */
    return CM_OK;
}

/* fake serve FIXTURE [flags]: serves until SIGTERM/SIGINT. */
static int cmd_fake_serve(cm_runtime *rt, int argc, char **argv)
{
    struct cm_serve_opts o = {.on_fault = print_fault};
    if (serve_flags(rt, argc, argv, &o) != CM_OK)
        return CM_USAGE;
    char err[1024] = "";
    int rc = cm_fake_serve(rt, &o, print_url, NULL, err, sizeof err);
    if (rc != CM_OK)
        fprintf(stderr, "cni-migrate: %s\n", err);
    return rc;
}

/* fake host FIXTURE NODE [--at DURATION] [flags]: prints NODE's simulated host. */
static int cmd_fake_host(cm_runtime *rt, int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    int64_t at = CM_FAKE_HOST_DEFAULT_AT;
    int reach = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--reach") == 0) {
            reach = 1;
        } else if (strcmp(a, "--at") == 0) {
            const char *v = flag_value(argc, argv, &i);
            if (!v)
                return CM_USAGE;
            if ((at = cm_parse_duration(v)) < 0)
                return usage_error("fake host: --at: expected a duration (90s, 5m, 1h30m), got", v);
        } else if (is_run_flag(a)) {
            if (apply_flag(rt, argc, argv, &i) != CM_OK)
                return CM_USAGE;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("fake host: unknown flag", a);
        } else if (npos == 2) {
            return usage_error("fake host: expected FIXTURE NODE, got another argument", a);
        } else {
            pos[npos++] = a;
        }
    }
    if (npos < 2)
        return usage_error(npos ? "fake host: missing NODE" : "fake host: missing FIXTURE and NODE", NULL);
    char err[1024] = "";
    int rc = cm_fake_host(rt, pos[0], pos[1], at, reach, stdout, err, sizeof err);
    if (rc != CM_OK)
        fprintf(stderr, "cni-migrate: %s\n", err);
    return rc;
}

static int cmd_procedure(cm_runtime *rt, const char *name, int ndeferred, char **deferred, int argc, char **argv);

/* fake serve | fake host | fake snapshot (the bundled lua/snapshot.lua). */
static int cmd_fake(cm_runtime *rt, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "serve") == 0)
        return cmd_fake_serve(rt, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "host") == 0)
        return cmd_fake_host(rt, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "snapshot") == 0)
        return cmd_procedure(rt, "snapshot", 0, NULL, argc - 1, argv + 1);
    return usage_error("fake: expected 'serve', 'host' or 'snapshot', got", argc ? argv[0] : "nothing");
}

/* The commands, for telling a flag's value from the command that follows a flag. */
static int is_command(const char *arg)
{
    static const char *const COMMANDS[] = {"migrate", "rollback", "preflight", "status", "pause", "resume", "run",
                                           "fake", "version", "help", NULL};
    for (const char *const *c = COMMANDS; *c; c++)
        if (strcmp(arg, *c) == 0)
            return 1;
    return 0;
}

/* The bundled procedure a command runs (migrate, rollback, preflight, status, pause, resume), or NULL. */
static const char *procedure_of(const char *command)
{
    static const char *const PROCEDURES[] = {"migrate", "rollback", "preflight", "status", "pause", "resume", NULL};
    for (const char *const *p = PROCEDURES; *p; p++)
        if (strcmp(command, *p) == 0)
            return command;
    return NULL;
}

/* Runs a procedure with its flags: deferred (given before the command, not the runtime's) and the
 * arguments after it. The runtime's flags among the latter (--fake, --seed, --dry-run, ...) are
 * applied; every other one is the procedure's, which parses (and rejects) it. */
static int cmd_procedure(cm_runtime *rt, const char *name, int ndeferred, char **deferred, int argc, char **argv)
{
    char **args = calloc((size_t)(ndeferred + argc + 1), sizeof *args);
    if (!args)
        return fputs("cni-migrate: out of memory\n", stderr), CM_FAILED;
    int n = 0;
    for (int i = 0; i < ndeferred; i++)
        args[n++] = deferred[i];
    int rc = CM_OK;
    for (int i = 0; i < argc && rc == CM_OK; i++) {
        if (is_runtime_flag(argv[i]))
            rc = apply_flag(rt, argc, argv, &i);
        else
            args[n++] = argv[i];
    }
    if (rc == CM_OK) {
        rc = cm_runtime_run_bundled(rt, name, n, (const char *const *)args);
        if (rc != CM_OK && *cm_runtime_last_error(rt))
            fprintf(stderr, "cni-migrate: %s\n", cm_runtime_last_error(rt));
    }
    free(args);
    return rc;
}

static int dispatch(cm_runtime *rt, int argc, char **argv, char **deferred)
{
    const char *command = NULL;
    int i = 1, ndeferred = 0;
    for (; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                if (command ? procedure_of(command) != NULL : i + 1 < argc && procedure_of(argv[i + 1]))
                    deferred[ndeferred++] = argv[i]; /* the procedure's own help */
                else
                    return fputs(USAGE, stdout), CM_OK;
            } else if (is_runtime_flag(argv[i])) {
                if (apply_flag(rt, argc, argv, &i) != CM_OK)
                    return CM_USAGE;
            } else {
                /* perhaps a procedure's flag: kept, with the next word unless that is the command */
                deferred[ndeferred++] = argv[i];
                if (!strchr(argv[i], '=') && i + 1 < argc && argv[i + 1][0] != '-' && !is_command(argv[i + 1]))
                    deferred[ndeferred++] = argv[++i];
            }
        } else if (!command) {
            command = argv[i];
        } else {
            break; /* the command's first argument */
        }
    }
    if (!command)
        return ndeferred ? usage_error("unknown flag", deferred[0]) : (fputs(USAGE, stderr), CM_USAGE);
    if (procedure_of(command))
        return cmd_procedure(rt, command, ndeferred, deferred, argc - i, argv + i);
    if (ndeferred)
        return usage_error("unknown flag", deferred[0]);
    if (strcmp(command, "help") == 0)
        return fputs(USAGE, stdout), CM_OK;
    if (strcmp(command, "version") == 0)
        return i < argc ? usage_error("version takes no arguments, got", argv[i]) : cmd_version();
    if (strcmp(command, "run") == 0)
        return i < argc ? cmd_run(rt, argc - i, argv + i) : usage_error("run: missing SCRIPT", NULL);
    if (strcmp(command, "fake") == 0)
        return cmd_fake(rt, argc - i, argv + i);
    if (strcmp(command, "node-run") == 0)
        return cmd_node_run(rt, argc - i, argv + i);
    return usage_error("unknown command", command);
}

int main(int argc, char **argv)
{
    cm_runtime *rt = cm_runtime_new();
    if (!rt) {
        fputs("cni-migrate: out of memory\n", stderr);
        return CM_FAILED;
    }
    cm_runtime_set_log_sink(rt, log_to_stderr, NULL);
    const char *dir = getenv("CNI_MIGRATE_LUA_DIR");
    if (dir && *dir && cm_runtime_set_option(rt, "lua-dir", dir) != CM_OK) {
        fprintf(stderr, "cni-migrate: CNI_MIGRATE_LUA_DIR: %s\n", cm_runtime_last_error(rt));
        cm_runtime_free(rt);
        return CM_USAGE;
    }
    g_rt = rt;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    char **deferred = calloc((size_t)argc + 1, sizeof *deferred);
    int rc = deferred ? dispatch(rt, argc, argv, deferred) : (fputs("cni-migrate: out of memory\n", stderr), CM_FAILED);
    free(deferred);
    g_rt = NULL;
    cm_runtime_free(rt);
    return rc;
}
