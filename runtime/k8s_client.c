/* k8s_client.c - requests, discovery, credentials, rate limit and retries (see k8s_client.h). */
#include "k8s_client.h"

#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef CM_VERSION
#define CM_VERSION "0"
#endif
#if defined(__x86_64__)
#define CM_ARCH "amd64"
#elif defined(__aarch64__)
#define CM_ARCH "arm64"
#elif defined(__i386__)
#define CM_ARCH "386"
#else
#define CM_ARCH "unknown"
#endif

#define TOKEN_FILE_PERIOD (60 * CM_NS_PER_S)
#define MAX_RETRY_WAIT (60 * CM_NS_PER_S)
#define MAX_RESET_RETRIES 3
#define WATCH_RECONNECTS 8 /* in a row, about 20 s of backoff in all */
#define EXEC_TIMEOUT (60 * CM_NS_PER_S)

struct discovery {
    char *key;        /* server + " " + groupVersion */
    cJSON *resources; /* the APIResourceList's resources */
    struct discovery *next;
};

struct cm_k8s_discovery {
    struct discovery *list;
};

cm_k8s_discovery *cm_k8s_discovery_new(void)
{
    return calloc(1, sizeof(cm_k8s_discovery));
}

void cm_k8s_discovery_free(cm_k8s_discovery *d)
{
    while (d && d->list) {
        struct discovery *e = d->list;
        d->list = e->next;
        free(e->key);
        cJSON_Delete(e->resources);
        free(e);
    }
    free(d);
}

struct seen {
    char *text;
    struct seen *next;
};

struct cm_k8s_client {
    cm_loop *loop;
    cm_logger log;
    cm_k8s_config *cfg;
    cm_transport *tr;
    cm_k8s_client_opts opts;
    char user_agent[128];
    cm_tls tls;
    /* rate limit */
    double tokens;
    int64_t refilled;
    /* credentials */
    char *file_token;
    int64_t file_read_at;
    char *exec_token, *exec_cert, *exec_key;
    size_t exec_cert_len, exec_key_len;
    long long exec_expiry; /* wall ns; 0: until a 401 */
    int exec_valid;
    cm_k8s_discovery *discovery; /* opts.discovery (shared) or the client's own */
    int own_discovery;
    struct seen *warnings;
    cm_http_call *inflight; /* the one plain request waiting, cancelled on free */
    cm_k8s_watch *watches;  /* open watches, stopped when the client goes */
    size_t nimpersonate;    /* lines in cfg->impersonate */
};

struct cm_k8s_watch {
    cm_k8s_client *c;
    cm_k8s_ref ref;
    char *strs[4]; /* owned copies of ref's strings */
    cm_k8s_param *params;
    size_t nparams;
    char *rv;
    int deliver_bookmarks;
    cm_http_call call;
    int active; /* call started and not yet collected */
    char *url, *auth;
    const char **headers;
    int got;       /* the stream in flight delivered a line */
    cm_buf line;   /* a partial line */
    cJSON *queue;  /* events received, not yet delivered */
    int wake;      /* set by the stream when there is something to look at */
    int resets;
    cm_k8s_watch *next; /* in the client's list */
};

static void watch_stop(cm_k8s_watch *w);

/* ---- small helpers ---- */

/* Parses JSON, NULL when it is not (the reason does not matter here). */
static cJSON *parse_json(const char *text, size_t len)
{
    cm_json_error e;
    return cm_json_parse(text, len, &e);
}

static void logf_(cm_k8s_client *c, int level, const char *msg, const cm_log_field *f, size_t n)
{
    if (cm_log_enabled(&c->log, level))
        cm_log_write(&c->log, level, cm_loop_wall(c->loop), msg, f, n);
}

void cm_k8s_result_free(cm_k8s_result *r)
{
    cJSON_Delete(r->json);
    cJSON_Delete(r->status_obj);
    free(r->text);
    *r = (cm_k8s_result){0};
}

/* Percent-encodes s onto b (RFC 3986 unreserved characters stay). */
static void add_escaped(cm_buf *b, const char *s)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            cm_buf_add(b, p, 1);
        } else {
            char e[3] = {'%', HEX[*p >> 4], HEX[*p & 15]};
            cm_buf_add(b, e, 3);
        }
    }
}

static const char *reason_of_status(long code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : "Unknown";
    }
}

static int is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* ---- rate limit ---- */

/* Takes a token, waiting in the loop for one; -1 with err when the deadline comes first. */
static int rate_wait(cm_k8s_client *c, int64_t deadline, cm_k8s_error *err)
{
    if (c->opts.qps < 0)
        return 0;
    int64_t now = cm_loop_now(c->loop);
    c->tokens += (double)(now - c->refilled) / 1e9 * c->opts.qps;
    if (c->tokens > c->opts.burst)
        c->tokens = c->opts.burst;
    c->refilled = now;
    c->tokens -= 1;
    if (c->tokens >= 0)
        return 0;
    int64_t until = now + (int64_t)(-c->tokens / c->opts.qps * 1e9);
    if (until > deadline) {
        c->tokens += 1;
        return cm_k8s_errorf(err, "Timeout", "client rate limit (%g/s) would pass the deadline",
                             c->opts.qps);
    }
    enum cm_loop_result r = cm_loop_run_until(c->loop, until, NULL);
    if (r == CM_LOOP_CANCELLED)
        return cm_k8s_errorf(err, "Cancelled", "cancelled");
    return 0;
}

/* Waits until `until` in the loop; -1 when cancelled. */
static int sleep_until(cm_k8s_client *c, int64_t until, cm_k8s_error *err)
{
    if (cm_loop_run_until(c->loop, until, NULL) == CM_LOOP_CANCELLED)
        return cm_k8s_errorf(err, "Cancelled", "cancelled");
    return 0;
}

/* ---- credentials ---- */

/* Re-reads the token file when older than a minute or when forced. */
static int refresh_file_token(cm_k8s_client *c, int force, cm_k8s_error *err)
{
    int64_t now = cm_loop_now(c->loop);
    if (c->file_token && !force && now - c->file_read_at < TOKEN_FILE_PERIOD)
        return 0;
    char *s = cm_read_file(c->cfg->token_file, NULL);
    if (!s) {
        if (c->file_token)
            return 0; /* keep the last good one, as client-go does */
        return cm_k8s_errorf(err, "AuthFailed", "token file %s: %s", c->cfg->token_file, strerror(errno));
    }
    s[strcspn(s, "\r\n")] = '\0';
    free(c->file_token);
    c->file_token = s;
    c->file_read_at = now;
    return 0;
}

/* The KUBERNETES_EXEC_INFO value for the plugin. */
static char *exec_info(cm_k8s_client *c, const char *api_version)
{
    cJSON *info = cJSON_CreateObject();
    cJSON_AddStringToObject(info, "apiVersion", api_version);
    cJSON_AddStringToObject(info, "kind", "ExecCredential");
    cJSON *spec = cJSON_AddObjectToObject(info, "spec");
    cJSON_AddBoolToObject(spec, "interactive", 0);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->cfg->exec, "provideClusterInfo")) && c->cfg->cluster) {
        cJSON *cl = cJSON_AddObjectToObject(spec, "cluster");
        cJSON_AddStringToObject(cl, "server", c->cfg->server);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->cfg->cluster, "certificate-authority-data");
        if (cJSON_IsString(v))
            cJSON_AddStringToObject(cl, "certificate-authority-data", v->valuestring);
        if (c->cfg->tls_server_name)
            cJSON_AddStringToObject(cl, "tls-server-name", c->cfg->tls_server_name);
        if (c->cfg->insecure)
            cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
        v = cJSON_GetObjectItemCaseSensitive(c->cfg->cluster, "extensions");
        cJSON *ext = cJSON_GetObjectItemCaseSensitive(v, "client.authentication.k8s.io/exec");
        if (ext)
            cJSON_AddItemToObject(cl, "config", cJSON_Duplicate(ext, 1));
    }
    char *s = cJSON_PrintUnformatted(info);
    cJSON_Delete(info);
    return s;
}

/* Builds argv and envp for the plugin; strings live in *keep. */
static int exec_argv_env(cm_k8s_client *c, char ***argv, char ***envp, const char *info)
{
    const cJSON *exec = c->cfg->exec;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(exec, "args");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(exec, "env");
    size_t na = (size_t)cJSON_GetArraySize(args), ne = (size_t)cJSON_GetArraySize(env), nenv = 0;
    while (environ[nenv])
        nenv++;
    *argv = calloc(na + 2, sizeof **argv);
    *envp = calloc(nenv + ne + 2, sizeof **envp);
    if (!*argv || !*envp)
        return -1;
    size_t i = 0, j = 0;
    (*argv)[i++] = strdup(cJSON_GetObjectItemCaseSensitive(exec, "command")->valuestring);
    const cJSON *a;
    cJSON_ArrayForEach(a, args) {
        if (cJSON_IsString(a))
            (*argv)[i++] = strdup(a->valuestring);
    }
    for (size_t k = 0; k < nenv; k++)
        if (strncmp(environ[k], "KUBERNETES_EXEC_INFO=", 21) != 0)
            (*envp)[j++] = strdup(environ[k]);
    cJSON_ArrayForEach(a, env) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "value"));
        if (!n || !v)
            continue;
        size_t len = strlen(n) + strlen(v) + 2;
        char *kv = malloc(len);
        if (kv)
            snprintf(kv, len, "%s=%s", n, v);
        (*envp)[j++] = kv;
    }
    size_t len = strlen(info) + 24;
    char *kv = malloc(len);
    if (kv)
        snprintf(kv, len, "KUBERNETES_EXEC_INFO=%s", info);
    (*envp)[j++] = kv;
    return 0;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Runs the plugin and reads its stdout, bounded by EXEC_TIMEOUT. */
static char *run_plugin(cm_k8s_client *c, char **argv, char **envp, int *status, cm_k8s_error *err)
{
    int fds[2];
    if (pipe(fds) != 0) {
        cm_k8s_errorf(err, "AuthFailed", "exec plugin: pipe: %s", strerror(errno));
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        const char *hint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->cfg->exec, "installHint"));
        cm_k8s_errorf(err, "AuthFailed", "exec plugin %s: %s%s%s", argv[0], strerror(rc), hint ? ": " : "",
                      hint ? hint : "");
        return NULL;
    }
    cm_buf out = {0};
    int64_t end = cm_loop_now(c->loop) + EXEC_TIMEOUT;
    for (;;) {
        int64_t left = end - cm_loop_now(c->loop);
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)(left / 1000000) + 1) == 0) {
            kill(pid, SIGKILL);
            cm_k8s_errorf(err, "AuthFailed", "exec plugin %s: no answer within 60s", argv[0]);
            break;
        }
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        cm_buf_add(&out, buf, (size_t)n);
    }
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    if (err->code) {
        cm_buf_free(&out);
        return NULL;
    }
    return out.p ? out.p : strdup("");
}

/* Reads an ExecCredential's status into the client's cache. */
static int take_credential(cm_k8s_client *c, const char *text, const char *api_version, cm_k8s_error *err)
{
    const char *cmd = cJSON_GetObjectItemCaseSensitive(c->cfg->exec, "command")->valuestring;
    cJSON *cred = parse_json(text, strlen(text));
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cred, "status");
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cred, "apiVersion"));
    int rc = 0;
    if (!cJSON_IsObject(st)) {
        rc = cm_k8s_errorf(err, "AuthFailed", "exec plugin %s: output is not an ExecCredential with a status", cmd);
    } else if (av && strcmp(av, api_version) != 0) {
        rc = cm_k8s_errorf(err, "AuthFailed", "exec plugin %s: apiVersion %s, expected %s", cmd, av, api_version);
    } else {
        const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "token"));
        const char *cert = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData"));
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "clientKeyData"));
        const char *exp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp"));
        free(c->exec_token);
        free(c->exec_cert);
        free(c->exec_key);
        c->exec_token = tok ? strdup(tok) : NULL;
        c->exec_cert = cert ? strdup(cert) : NULL;
        c->exec_key = key ? strdup(key) : NULL;
        c->exec_cert_len = cert ? strlen(cert) : 0;
        c->exec_key_len = key ? strlen(key) : 0;
        c->exec_expiry = 0;
        if (exp && cm_parse_rfc3339(exp, &c->exec_expiry) != 0)
            rc = cm_k8s_errorf(err, "AuthFailed", "exec plugin %s: bad expirationTimestamp %s", cmd, exp);
        else if (!tok && !(cert && key))
            rc = cm_k8s_errorf(err, "AuthFailed", "exec plugin %s: no token and no client certificate", cmd);
        c->exec_valid = rc == 0;
    }
    cJSON_Delete(cred);
    return rc;
}

/* Runs the exec plugin when there is no credential, it expired, or force. */
static int refresh_exec(cm_k8s_client *c, int force, cm_k8s_error *err)
{
    if (c->exec_valid && !force && (c->exec_expiry == 0 || cm_loop_wall(c->loop) < c->exec_expiry))
        return 0;
    const cJSON *exec = c->cfg->exec;
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exec, "apiVersion"));
    if (!av || (strcmp(av, "client.authentication.k8s.io/v1") != 0 &&
                strcmp(av, "client.authentication.k8s.io/v1beta1") != 0))
        return cm_k8s_errorf(err, "AuthFailed", "exec plugin: unsupported apiVersion %s", av ? av : "(none)");
    const char *mode = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exec, "interactiveMode"));
    if (mode && strcmp(mode, "Always") == 0)
        return cm_k8s_errorf(err, "AuthFailed", "exec plugin wants interactiveMode Always; cni-migrate runs without a terminal");
    char *info = exec_info(c, av);
    char **argv = NULL, **envp = NULL;
    int rc = info ? exec_argv_env(c, &argv, &envp, info) : -1;
    free(info);
    if (rc < 0) {
        free_strv(argv);
        free_strv(envp);
        return cm_k8s_errorf(err, "ENOMEM", "out of memory");
    }
    int status = 0;
    char *out = run_plugin(c, argv, envp, &status, err);
    rc = -1;
    if (out && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        cm_k8s_errorf(err, "AuthFailed", "exec plugin %s failed (status %d)", argv[0],
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else if (out)
        rc = take_credential(c, out, av, err);
    c->exec_valid = rc == 0;
    free(out);
    free_strv(argv);
    free_strv(envp);
    return rc;
}

/* Writes the Authorization header for this request into buf (empty: none). */
static int auth_header(cm_k8s_client *c, int force, char **hdr, cm_k8s_error *err)
{
    const cm_k8s_config *cfg = c->cfg;
    const char *token = NULL;
    *hdr = NULL;
    c->tls.cert = cfg->cert;
    c->tls.cert_len = cfg->cert_len;
    c->tls.key = cfg->key;
    c->tls.key_len = cfg->key_len;
    if (cfg->exec) {
        if (refresh_exec(c, force, err) < 0)
            return -1;
        token = c->exec_token;
        if (c->exec_cert && c->exec_key) {
            c->tls.cert = c->exec_cert;
            c->tls.cert_len = c->exec_cert_len;
            c->tls.key = c->exec_key;
            c->tls.key_len = c->exec_key_len;
        }
    } else if (cfg->token_file) {
        if (refresh_file_token(c, force, err) < 0)
            return -1;
        token = c->file_token;
    } else if (cfg->token) {
        token = cfg->token;
    }
    if (token) {
        size_t n = strlen(token) + 32;
        *hdr = malloc(n);
        if (*hdr)
            snprintf(*hdr, n, "Authorization: Bearer %s", token);
    } else if (cfg->username && cfg->password) {
        static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        cm_buf plain = {0}, b = {0};
        cm_buf_adds(&plain, cfg->username);
        cm_buf_adds(&plain, ":");
        cm_buf_adds(&plain, cfg->password);
        cm_buf_adds(&b, "Authorization: Basic ");
        const unsigned char *p = (const unsigned char *)plain.p;
        for (size_t i = 0; i < plain.n; i += 3) {
            unsigned v = (unsigned)p[i] << 16 | (i + 1 < plain.n ? (unsigned)p[i + 1] << 8 : 0) |
                         (i + 2 < plain.n ? p[i + 2] : 0);
            char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], i + 1 < plain.n ? B64[(v >> 6) & 63] : '=',
                         i + 2 < plain.n ? B64[v & 63] : '='};
            cm_buf_add(&b, q, 4);
        }
        cm_buf_free(&plain);
        *hdr = b.p;
    }
    return 0;
}

/* Fills headers with Accept, User-Agent, impersonation and auth (when set); returns how many. */
static size_t base_headers(const cm_k8s_client *c, const char **headers, const char *auth)
{
    size_t n = 0;
    headers[n++] = "Accept: application/json, */*";
    headers[n++] = c->user_agent;
    for (size_t i = 0; i < c->nimpersonate; i++)
        headers[n++] = c->cfg->impersonate[i];
    if (auth)
        headers[n++] = auth;
    return n;
}

/* Whether credentials can change on a refresh (worth retrying a 401). */
static int refreshable(const cm_k8s_client *c)
{
    return c->cfg->exec || c->cfg->token_file;
}

/* ---- the client ---- */

cm_k8s_client *cm_k8s_client_new(cm_loop *loop, const cm_logger *log, cm_k8s_config *cfg,
                                 cm_transport *transport, const cm_k8s_client_opts *opts,
                                 cm_k8s_error *err)
{
    cm_k8s_client *c = calloc(1, sizeof *c);
    if (!transport && c)
        transport = cm_curl_transport_new(loop);
    if (!c || !transport) {
        free(c);
        if (transport)
            transport->ops->free(transport);
        cm_k8s_config_free(cfg);
        cm_k8s_errorf(err, "TransportError", "cannot create the HTTP transport");
        return NULL;
    }
    c->loop = loop;
    if (log)
        c->log = *log;
    c->cfg = cfg;
    c->tr = transport;
    if (opts)
        c->opts = *opts;
    if (c->opts.qps == 0)
        c->opts.qps = 5;
    if (c->opts.burst <= 0)
        c->opts.burst = 10;
    if (c->opts.max_retries <= 0)
        c->opts.max_retries = 10;
    c->discovery = c->opts.discovery;
    c->opts.discovery = NULL;
    if (!c->discovery) {
        c->discovery = cm_k8s_discovery_new();
        c->own_discovery = 1;
    }
    while (cfg->impersonate && cfg->impersonate[c->nimpersonate])
        c->nimpersonate++;
    c->tokens = c->opts.burst;
    c->refilled = cm_loop_now(loop);
    snprintf(c->user_agent, sizeof c->user_agent, "User-Agent: %s",
             c->opts.user_agent ? c->opts.user_agent : "cni-migrate/" CM_VERSION " (linux/" CM_ARCH ")");
    c->opts.user_agent = NULL;
    c->tls = (cm_tls){.ca = cfg->ca, .ca_len = cfg->ca_len, .insecure = cfg->insecure,
                      .server_name = cfg->tls_server_name,
                      .proxy = cfg->proxy_url, .no_compression = cfg->disable_compression};
    return c;
}

void cm_k8s_client_free(cm_k8s_client *c)
{
    if (!c)
        return;
    if (c->inflight)
        c->tr->ops->cancel(c->tr, c->inflight);
    while (c->watches) {
        cm_k8s_watch *w = c->watches;
        c->watches = w->next;
        watch_stop(w);
        w->c = NULL;
    }
    c->tr->ops->free(c->tr);
    cm_k8s_config_free(c->cfg);
    free(c->file_token);
    free(c->exec_token);
    free(c->exec_cert);
    free(c->exec_key);
    if (c->own_discovery)
        cm_k8s_discovery_free(c->discovery);
    while (c->warnings) {
        struct seen *s = c->warnings;
        c->warnings = s->next;
        free(s->text);
        free(s);
    }
    free(c);
}

const cm_k8s_config *cm_k8s_client_config(const cm_k8s_client *c)
{
    return c->cfg;
}

/* Logs each distinct Warning header once. */
static void on_warning(void *ud, const char *value, size_t len)
{
    cm_k8s_client *c = ud;
    const char *q = memchr(value, '"', len); /* 299 - "text" */
    const char *text = q ? q + 1 : value;
    size_t n = q ? len - (size_t)(q + 1 - value) : len;
    if (q && n > 0 && text[n - 1] == '"')
        n--;
    for (struct seen *s = c->warnings; s; s = s->next)
        if (strlen(s->text) == n && memcmp(s->text, text, n) == 0)
            return;
    struct seen *s = malloc(sizeof *s);
    char *copy = strndup(text, n);
    if (!s || !copy) {
        free(s);
        free(copy);
        return;
    }
    *s = (struct seen){copy, c->warnings};
    c->warnings = s;
    cm_log_field f = {.key = "warning", .value = copy};
    logf_(c, CM_LOG_WARN, "Kubernetes API warning", &f, 1);
}

/* Sends one request and waits for it (or the deadline). */
static int send_once(cm_k8s_client *c, cm_http_call *call, int64_t deadline, cm_k8s_error *err)
{
    if (c->tr->ops->start(c->tr, call) < 0)
        return 0;
    c->inflight = call;
    enum cm_loop_result r = cm_loop_run_until(c->loop, deadline, &call->done);
    c->inflight = NULL;
    if (call->done)
        return 0;
    c->tr->ops->cancel(c->tr, call);
    if (r == CM_LOOP_CANCELLED)
        return cm_k8s_errorf(err, "Cancelled", "%s %s: cancelled", call->method, call->url);
    if (r == CM_LOOP_ERROR)
        return cm_k8s_errorf(err, "TransportError", "%s %s: the event loop failed", call->method, call->url);
    return cm_k8s_errorf(err, "Timeout", "%s %s: no answer before the deadline", call->method, call->url);
}

/* Fills res from a done call. Returns 0 for 2xx. */
static int take_answer(cm_k8s_client *c, cm_http_call *call, cm_k8s_result *res)
{
    (void)c;
    res->status = call->status;
    res->text = call->body_in.p;
    res->len = call->body_in.n;
    call->body_in = (cm_buf){0};
    if (call->error_code) {
        cm_k8s_errorf(&res->err, call->error_code, "%s %s: %s", call->method, call->url, call->error);
        return -1;
    }
    char ra[32];
    if (cm_http_header(call, "Retry-After", ra, sizeof ra)) {
        char *end;
        double v = strtod(ra, &end);
        if (end != ra && *end == '\0' && v >= 0)
            res->retry_after = v;
    }
    char ct[128];
    int json = !cm_http_header(call, "Content-Type", ct, sizeof ct) || strstr(ct, "json"); /* not a log */
    cJSON *body = res->text && json ? parse_json(res->text, res->len) : NULL;
    if (call->status >= 200 && call->status < 300) {
        res->json = body;
        if (body) { /* the tree says it all: do not hold the page twice */
            free(res->text);
            res->text = NULL;
        }
        return 0;
    }
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "kind"));
    if (kind && strcmp(kind, "Status") == 0) {
        res->status_obj = body;
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "message"));
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "reason"));
        /* the reason string must outlive the Status: map to our static names where known */
        reason = reason && *reason ? reason : reason_of_status(call->status);
        res->err.code = reason_of_status(call->status);
        if (strcmp(reason, res->err.code) != 0) {
            static const char *const KNOWN[] = {
                "NotFound", "AlreadyExists", "Conflict", "Invalid", "Forbidden", "Unauthorized",
                "TooManyRequests", "Expired", "Gone", "BadRequest", "MethodNotAllowed",
                "UnsupportedMediaType", "InternalError", "ServiceUnavailable", "Timeout",
                "ServerTimeout", "NotAcceptable", "RequestEntityTooLarge", "Unknown", NULL};
            for (size_t i = 0; KNOWN[i]; i++)
                if (strcmp(KNOWN[i], reason) == 0)
                    res->err.code = KNOWN[i];
        }
        snprintf(res->err.message, sizeof res->err.message, "%s", msg && *msg ? msg : res->err.code);
    } else {
        cJSON_Delete(body);
        res->err.code = reason_of_status(call->status);
        snprintf(res->err.message, sizeof res->err.message, "%s %s: HTTP %ld%s%.200s", call->method,
                 call->url, call->status, res->text && res->len ? ": " : "", res->text ? res->text : "");
    }
    return -1;
}

/* Whether key holds a Secret's payload. */
static int is_payload(const char *key)
{
    return strcmp(key, "data") == 0 || strcmp(key, "stringData") == 0;
}

/* Replaces credential-named values, and every payload under a Secret or SecretList, by "[redacted]". */
static void redact(cJSON *item, int secret)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "kind"));
    secret |= kind && (strcmp(kind, "Secret") == 0 || strcmp(kind, "SecretList") == 0);
    for (cJSON *child = item->child, *next; child; child = next) {
        next = child->next;
        if (child->string && (cm_log_key_is_secret(child->string) || (secret && is_payload(child->string))))
            cJSON_ReplaceItemInObjectCaseSensitive(item, child->string, cJSON_CreateString("[redacted]"));
        else if (cJSON_IsObject(child) || cJSON_IsArray(child))
            redact(child, secret);
    }
}

/* A body for the debug log: JSON with secrets redacted, cut at 2 KiB (malloc'd), or NULL. */
static char *loggable(const char *text, size_t len, const cJSON *json)
{
    cJSON *copy = json ? cJSON_Duplicate(json, 1) : text && len ? parse_json(text, len) : NULL;
    if (!copy)
        return text && len ? strdup("(not JSON)") : NULL;
    redact(copy, 0);
    char *s = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (s && strlen(s) > 2048)
        strcpy(s + 2040, "...");
    return s;
}

/* Logs a request at debug level: never headers, and bodies with their secrets redacted. */
static void log_request(cm_k8s_client *c, const cm_http_call *call, int64_t started, const cm_k8s_result *res)
{
    if (!cm_log_enabled(&c->log, CM_LOG_DEBUG))
        return;
    char status[32], ms[32], bytes[32];
    snprintf(status, sizeof status, "%ld", call->status);
    snprintf(ms, sizeof ms, "%.1f", (double)(cm_loop_now(c->loop) - started) / 1e6);
    snprintf(bytes, sizeof bytes, "%zu", res->len);
    char *sent = loggable(call->body, call->body_len, NULL);
    char *got = loggable(res->text, res->len, res->json ? res->json : res->status_obj);
    cm_log_field f[8] = {
        {.key = "method", .value = call->method},
        {.key = "url", .value = call->url},
        {.key = "status", .value = status, .is_json = 1},
        {.key = "ms", .value = ms, .is_json = 1},
        {.key = "bytes", .value = bytes, .is_json = 1},
    };
    size_t n = 5;
    if (call->error_code)
        f[n++] = (cm_log_field){.key = "error", .value = call->error};
    if (sent)
        f[n++] = (cm_log_field){.key = "sent", .value = sent};
    if (got)
        f[n++] = (cm_log_field){.key = "received", .value = got};
    logf_(c, CM_LOG_DEBUG, "k8s request", f, n);
    free(sent);
    free(got);
}

/* What one request has been through so far. */
struct attempts {
    int retries, resets, refreshed; /* refreshed: 1 = refresh now, 2 = done */
    int64_t waited;
};

/* One attempt: a rate-limit token, credentials, the exchange. Returns 0 for 2xx. */
static int attempt(cm_k8s_client *c, const char *method, const char *url, const char *ct, const char *body,
                   size_t body_len, int64_t deadline, struct attempts *a, cm_k8s_result *res)
{
    char *auth = NULL;
    cm_k8s_result_free(res);
    if (rate_wait(c, deadline, &res->err) < 0 || auth_header(c, a->refreshed == 1, &auth, &res->err) < 0)
        return -1;
    if (a->refreshed == 1)
        a->refreshed = 2;
    const char *headers[4 + c->nimpersonate];
    size_t nh = base_headers(c, headers, auth);
    if (body)
        headers[nh++] = ct;
    cm_http_call call = {.method = method, .url = url, .headers = headers, .nheaders = nh,
                         .body = body, .body_len = body_len, .tls = &c->tls};
    int64_t started = cm_loop_now(c->loop);
    int rc = send_once(c, &call, deadline, &res->err);
    free(auth);
    if (rc == 0) {
        cm_http_headers_each(&call, "Warning", on_warning, c);
        rc = take_answer(c, &call, res);
        log_request(c, &call, started, res);
    }
    cm_buf_free(&call.headers_in);
    cm_buf_free(&call.body_in);
    return rc;
}

/* Whether a failed attempt is worth another, after waiting in the loop as the answer asks. */
static int retry_wait(cm_k8s_client *c, const char *method, const char *url, int64_t deadline,
                      struct attempts *a, cm_k8s_result *res)
{
    int64_t now = cm_loop_now(c->loop);
    if (strcmp(res->err.code, "ConnectionReset") == 0 && !is_write(method) && a->resets < MAX_RESET_RETRIES) {
        int64_t until = now + (CM_NS_PER_S / 10 << a->resets++); /* a read only: a write may have happened */
        return until < deadline && sleep_until(c, until, &res->err) == 0;
    }
    if (res->status == 401 && !a->refreshed && refreshable(c)) {
        a->refreshed = 1; /* nothing happened: safe for writes too */
        return 1;
    }
    if ((res->status != 429 && res->status < 500) || res->retry_after <= 0 || a->retries >= c->opts.max_retries)
        return 0;
    int64_t wait = (int64_t)(res->retry_after * 1e9);
    if (now + wait >= deadline || a->waited + wait > MAX_RETRY_WAIT)
        return 0;
    char s[32];
    snprintf(s, sizeof s, "%g", res->retry_after);
    cm_log_field f[] = {{.key = "url", .value = url}, {.key = "status", .value = res->err.code},
                        {.key = "retry_after", .value = s, .is_json = 1}};
    logf_(c, CM_LOG_DEBUG, "k8s retry", f, 3);
    a->retries++;
    a->waited += wait;
    return sleep_until(c, now + wait, &res->err) == 0;
}

/* The request loop: rate limit, credentials, retries (see the header). */
static int do_request(cm_k8s_client *c, const char *method, const char *url, const char *content_type,
                      const char *body, size_t body_len, int64_t deadline, cm_k8s_result *res)
{
    struct attempts a = {0};
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
    for (;;) {
        int rc = attempt(c, method, url, ct, body, body_len, deadline, &a, res);
        if (rc == 0 || !res->err.code || !retry_wait(c, method, url, deadline, &a, res))
            return rc;
    }
}

/* Builds server + path + ?query, adding dryRun=All to writes of a dry run. */
static char *build_url(cm_k8s_client *c, const char *path, const char *method,
                       const cm_k8s_param *params, size_t n)
{
    cm_buf b = {0};
    cm_buf_adds(&b, c->cfg->server);
    cm_buf_adds(&b, path);
    char sep = '?';
    for (size_t i = 0; i < n; i++) {
        if (!params[i].value)
            continue;
        cm_buf_add(&b, &sep, 1);
        sep = '&';
        add_escaped(&b, params[i].key);
        cm_buf_adds(&b, "=");
        add_escaped(&b, params[i].value);
    }
    if (c->opts.dry_run && is_write(method)) {
        cm_buf_add(&b, &sep, 1);
        cm_buf_adds(&b, "dryRun=All");
    }
    return b.p;
}

/* A GET of a path (discovery), without resolution. */
static int get_path(cm_k8s_client *c, const char *path, int64_t deadline, cm_k8s_result *res)
{
    char *url = build_url(c, path, "GET", NULL, 0);
    if (!url)
        return cm_k8s_errorf(&res->err, "ENOMEM", "out of memory");
    int rc = do_request(c, "GET", url, NULL, NULL, 0, deadline, res);
    free(url);
    return rc;
}

/* The cached APIResourceList of a groupVersion, fetched on first use; on failure
 * res holds the answer (a 404 becomes NotFound naming the groupVersion). */
static const cJSON *discover(cm_k8s_client *c, const char *gv, int64_t deadline, cm_k8s_result *res)
{
    char key[512];
    snprintf(key, sizeof key, "%s %s", c->cfg->server, gv);
    for (struct discovery *d = c->discovery ? c->discovery->list : NULL; d; d = d->next)
        if (strcmp(d->key, key) == 0)
            return d->resources;
    char path[300];
    snprintf(path, sizeof path, strchr(gv, '/') ? "/apis/%s" : "/api/%s", gv);
    if (get_path(c, path, deadline, res) < 0) {
        if (res->status == 404)
            cm_k8s_errorf(&res->err, "NotFound", "the server does not serve %s", gv);
        return NULL;
    }
    struct discovery *d = c->discovery ? calloc(1, sizeof *d) : NULL;
    cJSON *resources = cJSON_DetachItemFromObjectCaseSensitive(res->json, "resources");
    cm_k8s_result_free(res);
    if (!d || !cJSON_IsArray(resources)) {
        free(d);
        cJSON_Delete(resources);
        cm_k8s_errorf(&res->err, "InvalidResponse", "GET %s: not an APIResourceList", path);
        return NULL;
    }
    d->key = strdup(key);
    d->resources = resources;
    d->next = c->discovery->list;
    c->discovery->list = d;
    return resources;
}

/* cm_k8s_resolve with the failure as a result. */
static int resolve(cm_k8s_client *c, const char *api_version, const char *kind, int64_t deadline,
                   cm_k8s_resinfo *out, cm_k8s_result *res)
{
    const cJSON *resources = discover(c, api_version, deadline, res);
    if (!resources)
        return -1;
    const cJSON *r;
    cJSON_ArrayForEach(r, resources) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name"));
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "kind"));
        if (!name || !k || strchr(name, '/') || strcmp(k, kind) != 0)
            continue;
        snprintf(out->prefix, sizeof out->prefix, strchr(api_version, '/') ? "/apis/%s" : "/api/%s", api_version);
        snprintf(out->plural, sizeof out->plural, "%s", name);
        out->namespaced = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "namespaced"));
        return 0;
    }
    return cm_k8s_errorf(&res->err, "NotFound", "the server has no kind %s in %s", kind, api_version);
}

int cm_k8s_resolve(cm_k8s_client *c, const char *api_version, const char *kind, int64_t deadline,
                   cm_k8s_resinfo *out, cm_k8s_error *err)
{
    cm_k8s_result res = {0};
    int rc = resolve(c, api_version, kind, deadline, out, &res);
    if (rc < 0)
        *err = res.err;
    cm_k8s_result_free(&res);
    return rc;
}

/* The path of ref: prefix[/namespaces/ns]/plural[/name[/sub]]. */
static char *ref_path(cm_k8s_client *c, const cm_k8s_ref *ref, int64_t deadline, cm_k8s_result *res)
{
    cm_k8s_resinfo ri;
    if (!ref->api_version || !ref->kind) {
        cm_k8s_errorf(&res->err, "InvalidArgument", "an object needs apiVersion and kind");
        return NULL;
    }
    if (resolve(c, ref->api_version, ref->kind, deadline, &ri, res) < 0)
        return NULL;
    cm_buf b = {0};
    cm_buf_adds(&b, ri.prefix);
    const char *ns = ref->namespace ? ref->namespace : ref->name ? c->cfg->namespace : NULL;
    if (ri.namespaced && ns && *ns) {
        cm_buf_adds(&b, "/namespaces/");
        add_escaped(&b, ns);
    }
    cm_buf_adds(&b, "/");
    cm_buf_adds(&b, ri.plural);
    if (ref->name) {
        cm_buf_adds(&b, "/");
        add_escaped(&b, ref->name);
        if (ref->subresource) {
            cm_buf_adds(&b, "/");
            cm_buf_adds(&b, ref->subresource);
        }
    }
    if (!b.p)
        cm_k8s_errorf(&res->err, "ENOMEM", "out of memory");
    return b.p;
}

int cm_k8s_call(cm_k8s_client *c, const char *method, const cm_k8s_ref *ref,
                const cm_k8s_param *params, size_t nparams, const char *content_type,
                const char *body, size_t body_len, int64_t deadline, cm_k8s_result *res)
{
    *res = (cm_k8s_result){0};
    char *path = ref_path(c, ref, deadline, res);
    if (!path)
        return -1;
    char *url = build_url(c, path, method, params, nparams);
    free(path);
    if (!url)
        return cm_k8s_errorf(&res->err, "ENOMEM", "out of memory");
    int rc = do_request(c, method, url, content_type, body, body_len, deadline, res);
    free(url);
    return rc;
}

const char *cm_k8s_patch_type(const char *type)
{
    if (strcmp(type, "merge") == 0)
        return "application/merge-patch+json";
    if (strcmp(type, "strategic") == 0)
        return "application/strategic-merge-patch+json";
    if (strcmp(type, "json") == 0)
        return "application/json-patch+json";
    if (strcmp(type, "apply") == 0)
        return "application/apply-patch+yaml";
    return NULL;
}

/* ---- list ---- */

/* One page: params + limit + continue. */
static int list_page(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params, size_t n,
                     int limit, const char *cont, int64_t deadline, cm_k8s_result *res)
{
    cm_k8s_param p[n + 2];
    char lim[24];
    snprintf(lim, sizeof lim, "%d", limit);
    memcpy(p, params, n * sizeof *p);
    p[n] = (cm_k8s_param){"limit", lim};
    p[n + 1] = (cm_k8s_param){"continue", cont};
    return cm_k8s_call(c, "GET", ref, p, n + 2, NULL, NULL, 0, deadline, res);
}

int cm_k8s_list_all(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                    size_t nparams, int limit, int64_t deadline, cm_k8s_result *res)
{
    cm_k8s_ref r = *ref;
    r.name = NULL;
    if (limit <= 0)
        limit = 500;
    for (int restarts = 0;; restarts++) {
        if (list_page(c, &r, params, nparams, limit, NULL, deadline, res) < 0)
            return -1;
        cJSON *items = cJSON_GetObjectItemCaseSensitive(res->json, "items");
        if (!cJSON_IsArray(items))
            cJSON_ReplaceItemInObjectCaseSensitive(res->json, "items", items = cJSON_CreateArray());
        int expired = 0;
        for (;;) {
            cJSON *meta = cJSON_GetObjectItemCaseSensitive(res->json, "metadata");
            const char *cont = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
            if (!cont || !*cont)
                break;
            char *token = strdup(cont);
            cm_k8s_result next = {0};
            int rc = list_page(c, &r, params, nparams, limit, token, deadline, &next);
            free(token);
            if (rc < 0) {
                expired = next.status == 410;
                cm_k8s_result_free(res);
                *res = next;
                break;
            }
            cJSON *more = cJSON_GetObjectItemCaseSensitive(next.json, "items");
            while (cJSON_GetArraySize(more) > 0)
                cJSON_AddItemToArray(items, cJSON_DetachItemFromArray(more, 0));
            cJSON *nmeta = cJSON_DetachItemFromObjectCaseSensitive(next.json, "metadata");
            cJSON_ReplaceItemInObjectCaseSensitive(res->json, "metadata", nmeta ? nmeta : cJSON_CreateObject());
            cm_k8s_result_free(&next);
        }
        if (!res->err.code)
            return 0;
        if (!expired || restarts >= 2)
            return -1;
        cm_log_field f = {.key = "kind", .value = ref->kind};
        logf_(c, CM_LOG_INFO, "list continue token expired; listing again from the start", &f, 1);
        cm_k8s_result_free(res);
    }
}

/* ---- eviction ---- */

/* The groupVersion of pods/eviction from /api/v1, policy/v1 when unsure. */
static const char *eviction_version(cm_k8s_client *c, int64_t deadline, cm_k8s_result *res)
{
    const cJSON *resources = discover(c, "v1", deadline, res);
    const cJSON *r;
    cJSON_ArrayForEach(r, resources) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name"));
        if (!name || strcmp(name, "pods/eviction") != 0)
            continue;
        const char *g = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "group"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "version"));
        if (g && v && strcmp(g, "policy") == 0 && strcmp(v, "v1beta1") == 0)
            return "policy/v1beta1";
        return "policy/v1";
    }
    return resources ? "policy/v1" : NULL;
}

int cm_k8s_evict(cm_k8s_client *c, const char *namespace, const char *name,
                 const cJSON *delete_options, int64_t deadline, cm_k8s_result *res)
{
    *res = (cm_k8s_result){0};
    const char *version = eviction_version(c, deadline, res);
    if (!version)
        return -1;
    const char *ns = namespace ? namespace : c->cfg->namespace;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", version);
    cJSON_AddStringToObject(ev, "kind", "Eviction");
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON *opts = delete_options ? cJSON_Duplicate(delete_options, 1) : NULL;
    if (c->opts.dry_run) {
        if (!opts)
            opts = cJSON_CreateObject();
        cJSON *dr = cJSON_CreateArray();
        cJSON_AddItemToArray(dr, cJSON_CreateString("All"));
        cJSON_DeleteItemFromObjectCaseSensitive(opts, "dryRun");
        cJSON_AddItemToObject(opts, "dryRun", dr);
    }
    if (opts)
        cJSON_AddItemToObject(ev, "deleteOptions", opts);
    char *body = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!body)
        return cm_k8s_errorf(&res->err, "ENOMEM", "out of memory");
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .namespace = ns, .name = name,
                      .subresource = "eviction"};
    int rc = cm_k8s_call(c, "POST", &ref, NULL, 0, "application/json", body, strlen(body), deadline, res);
    free(body);
    return rc;
}

/* ---- watch ---- */


static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

cm_k8s_watch *cm_k8s_watch_new(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                               size_t nparams, const char *resource_version, int deliver_bookmarks)
{
    cm_k8s_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->c = c;
    w->strs[0] = dup_opt(ref->api_version);
    w->strs[1] = dup_opt(ref->kind);
    w->strs[2] = dup_opt(ref->namespace);
    w->ref = (cm_k8s_ref){w->strs[0], w->strs[1], w->strs[2], NULL, NULL};
    w->params = calloc(nparams + 1, sizeof *w->params);
    for (size_t i = 0; w->params && i < nparams; i++)
        w->params[i] = (cm_k8s_param){dup_opt(params[i].key), dup_opt(params[i].value)};
    w->nparams = nparams;
    w->rv = dup_opt(resource_version);
    w->deliver_bookmarks = deliver_bookmarks;
    w->queue = cJSON_CreateArray();
    w->next = c->watches;
    c->watches = w;
    if (!w->params || !w->queue) {
        cm_k8s_watch_free(w);
        return NULL;
    }
    return w;
}

/* Ends the stream in flight, if any. */
static void watch_stop(cm_k8s_watch *w)
{
    if (w->active && !w->call.done && w->c)
        w->c->tr->ops->cancel(w->c->tr, &w->call);
    w->active = 0;
    cm_buf_free(&w->call.headers_in);
    cm_buf_free(&w->call.body_in);
    cm_buf_free(&w->line);
    free(w->url);
    free(w->auth);
    w->url = w->auth = NULL;
}

void cm_k8s_watch_free(cm_k8s_watch *w)
{
    if (!w)
        return;
    watch_stop(w);
    free(w->headers);
    for (cm_k8s_watch **p = w->c ? &w->c->watches : NULL; p && *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    for (size_t i = 0; i < 4; i++)
        free(w->strs[i]);
    for (size_t i = 0; w->params && i < w->nparams; i++) {
        free((char *)w->params[i].key);
        free((char *)w->params[i].value);
    }
    free(w->params);
    free(w->rv);
    cJSON_Delete(w->queue);
    free(w);
}

const char *cm_k8s_watch_resource_version(const cm_k8s_watch *w)
{
    return w->rv;
}

/* Queues one complete line of the stream. */
static void watch_line(cm_k8s_watch *w, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n == 0)
        return;
    cJSON *ev = parse_json(s, n);
    if (!ev) {
        logf_(w->c, CM_LOG_WARN, "watch: skipped a line that is not JSON", NULL, 0);
        return;
    }
    cJSON_AddItemToArray(w->queue, ev);
    w->got = 1;
    w->wake = 1;
}

static void watch_data(cm_http_call *call, const char *data, size_t len)
{
    cm_k8s_watch *w = call->ud;
    if (call->status < 200 || call->status >= 300) {
        cm_buf_add(&call->body_in, data, len);
        return;
    }
    for (;;) {
        const char *nl = memchr(data, '\n', len);
        if (!nl) {
            cm_buf_add(&w->line, data, len);
            return;
        }
        size_t part = (size_t)(nl - data);
        if (w->line.n) {
            cm_buf_add(&w->line, data, part);
            watch_line(w, w->line.p, w->line.n);
            w->line.n = 0;
        } else {
            watch_line(w, data, part);
        }
        data = nl + 1;
        len -= part + 1;
    }
}

static void watch_done(cm_http_call *call)
{
    cm_k8s_watch *w = call->ud;
    if (w->line.n && call->status >= 200 && call->status < 300 && !call->error_code)
        watch_line(w, w->line.p, w->line.n); /* a last line without its newline */
    w->line.n = 0;
    w->wake = 1;
}

/* Opens the stream from w->rv, ending at the deadline at the latest. */
static int watch_start(cm_k8s_watch *w, int64_t deadline, cm_k8s_error *err, int force_auth)
{
    cm_k8s_client *c = w->c;
    watch_stop(w);
    cm_k8s_result res = {0};
    char *path = ref_path(c, &w->ref, deadline, &res);
    if (!path)
        *err = res.err;
    cm_k8s_result_free(&res);
    if (!path || rate_wait(c, deadline, err) < 0 || auth_header(c, force_auth, &w->auth, err) < 0) {
        free(path);
        return -1;
    }
    int64_t left = (deadline - cm_loop_now(c->loop)) / CM_NS_PER_S + 1;
    char tos[24];
    snprintf(tos, sizeof tos, "%lld", (long long)(left > 1800 || deadline == CM_TIME_NEVER ? 1800 : left));
    cm_k8s_param p[w->nparams + 4];
    memcpy(p, w->params, w->nparams * sizeof *p);
    size_t n = w->nparams;
    p[n++] = (cm_k8s_param){"watch", "1"};
    p[n++] = (cm_k8s_param){"resourceVersion", w->rv};
    p[n++] = (cm_k8s_param){"allowWatchBookmarks", "true"};
    p[n++] = (cm_k8s_param){"timeoutSeconds", tos};
    w->url = build_url(c, path, "GET", p, n);
    free(path);
    free(w->headers);
    w->headers = malloc((4 + c->nimpersonate) * sizeof *w->headers);
    if (!w->headers)
        return cm_k8s_errorf(err, "ENOMEM", "out of memory");
    size_t nh = base_headers(c, w->headers, w->auth);
    w->call = (cm_http_call){.method = "GET", .url = w->url, .headers = w->headers, .nheaders = nh,
                             .tls = &c->tls, .on_data = watch_data, .on_done = watch_done, .ud = w};
    w->active = 1;
    w->got = 0;
    c->tr->ops->start(c->tr, &w->call);
    cm_log_field f = {.key = "url", .value = w->url};
    logf_(c, CM_LOG_DEBUG, "k8s watch", &f, 1);
    return 0;
}

/* Sets w->rv. */
static void watch_set_rv(cm_k8s_watch *w, const char *rv)
{
    if (!rv)
        return;
    char *copy = strdup(rv);
    if (!copy)
        return;
    free(w->rv);
    w->rv = copy;
}

/* Lists the collection again: the RELIST event, and the RV to go on from. */
static int watch_relist(cm_k8s_watch *w, int64_t deadline, cJSON **event, cm_k8s_error *err)
{
    watch_stop(w);
    cm_k8s_result res = {0};
    if (cm_k8s_list_all(w->c, &w->ref, w->params, w->nparams, 500, deadline, &res) < 0) {
        *err = res.err;
        cm_k8s_result_free(&res);
        return -1;
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(res.json, "metadata");
    watch_set_rv(w, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion")));
    *event = cJSON_CreateObject();
    cJSON_AddStringToObject(*event, "type", "RELIST");
    cJSON_AddItemToObject(*event, "object", res.json);
    res.json = NULL;
    cm_k8s_result_free(&res);
    return 1;
}

/* Learns the collection's current resourceVersion with a one-item list. */
static int watch_from_now(cm_k8s_watch *w, int64_t deadline, cm_k8s_error *err)
{
    cm_k8s_result res = {0};
    int rc = list_page(w->c, &w->ref, w->params, w->nparams, 1, NULL, deadline, &res);
    if (rc == 0) {
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(res.json, "metadata");
        watch_set_rv(w, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion")));
    } else {
        *err = res.err;
    }
    cm_k8s_result_free(&res);
    return rc;
}

/* Whether a Status (of an ERROR event or a 410 answer) says the RV is too old. */
static int is_expired(const cJSON *status)
{
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(status, "reason"));
    int64_t code = 0;
    cm_json_int64(cJSON_GetObjectItemCaseSensitive(status, "code"), &code);
    return code == 410 || (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0));
}

/* Looks at the next queued event: 1 to deliver, 0 to skip, 2 to relist, -1 error. */
static int watch_take(cm_k8s_watch *w, cJSON *ev, cm_k8s_error *err)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    if (!type)
        return 0;
    if (strcmp(type, "ERROR") == 0) {
        if (is_expired(obj))
            return 2;
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "message"));
        int64_t code = 500;
        cm_json_int64(cJSON_GetObjectItemCaseSensitive(obj, "code"), &code);
        return cm_k8s_errorf(err, reason_of_status((long)code), "watch %s: %s", w->ref.kind,
                             msg ? msg : "an ERROR event");
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    watch_set_rv(w, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion")));
    if (strcmp(type, "BOOKMARK") == 0)
        return w->deliver_bookmarks;
    return 1;
}

/* The stream ended: reconnect, relist (2), or fail. */
static int watch_ended(cm_k8s_watch *w, int64_t deadline, cm_k8s_error *err)
{
    cm_http_call *call = &w->call;
    w->active = 0;
    if (call->error_code) {
        /* a reset, or an API server restarting: back off (0.1 s doubling, at most 5 s) and reopen */
        int transient = strcmp(call->error_code, "ConnectionReset") == 0 ||
                        strcmp(call->error_code, "ConnectFailed") == 0;
        if (!transient || w->resets >= WATCH_RECONNECTS)
            return cm_k8s_errorf(err, call->error_code, "watch %s: %s", w->url, call->error);
        int64_t backoff = CM_NS_PER_S / 10 << w->resets++;
        int64_t until = cm_loop_now(w->c->loop) + (backoff < 5 * CM_NS_PER_S ? backoff : 5 * CM_NS_PER_S);
        if (until > deadline)
            until = deadline;
        return sleep_until(w->c, until, err);
    }
    if (call->status >= 200 && call->status < 300) {
        w->resets = 0;
        if (w->got) /* the server ended the watch: reconnect from w->rv */
            return 0;
        int64_t until = cm_loop_now(w->c->loop) + CM_NS_PER_S; /* an empty stream: do not spin */
        return sleep_until(w->c, until < deadline ? until : deadline, err);
    }
    char ra[32];
    double wait = cm_http_header(call, "Retry-After", ra, sizeof ra) ? atof(ra) : 0;
    if ((call->status == 429 || call->status >= 500) && wait > 0 && w->resets++ < WATCH_RECONNECTS) {
        int64_t until = cm_loop_now(w->c->loop) + (int64_t)(wait * 1e9); /* the server says when */
        return sleep_until(w->c, until < deadline ? until : deadline, err);
    }
    cJSON *st = parse_json(call->body_in.p ? call->body_in.p : "", call->body_in.n);
    int expired = call->status == 410 || is_expired(st);
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "message"));
    if (!expired)
        cm_k8s_errorf(err, reason_of_status(call->status), "watch %s: %s", w->url, msg ? msg : "failed");
    cJSON_Delete(st);
    return expired ? 2 : -1;
}

int cm_k8s_watch_next(cm_k8s_watch *w, int64_t deadline, cJSON **event, cm_k8s_error *err)
{
    *event = NULL;
    err->code = NULL;
    if (!w->c)
        return cm_k8s_errorf(err, "InvalidArgument", "the watch's client is closed");
    cm_loop *loop = w->c->loop;
    int refreshed = 0;
    if (!w->rv && watch_from_now(w, deadline, err) < 0)
        return -1;
    for (;;) {
        while (cJSON_GetArraySize(w->queue) > 0) {
            cJSON *ev = cJSON_DetachItemFromArray(w->queue, 0);
            int rc = watch_take(w, ev, err);
            if (rc == 1) {
                *event = ev;
                return 1;
            }
            cJSON_Delete(ev);
            if (rc < 0)
                return -1;
            if (rc == 2) {
                cJSON_Delete(w->queue);
                w->queue = cJSON_CreateArray();
                return watch_relist(w, deadline, event, err);
            }
        }
        if (w->active && w->call.done) {
            if (w->call.status == 401 && !refreshed && refreshable(w->c)) {
                refreshed = 1;
                if (watch_start(w, deadline, err, 1) < 0)
                    return -1;
                continue;
            }
            int rc = watch_ended(w, deadline, err);
            if (rc < 0)
                return -1;
            if (rc == 2)
                return watch_relist(w, deadline, event, err);
            continue;
        }
        if (cm_loop_now(loop) >= deadline)
            return 0;
        if (!w->active && watch_start(w, deadline, err, 0) < 0)
            return -1;
        w->wake = 0;
        enum cm_loop_result r = cm_loop_run_until(loop, deadline, &w->wake);
        if (r == CM_LOOP_CANCELLED)
            return cm_k8s_errorf(err, "Cancelled", "watch %s: cancelled", w->ref.kind);
        if (r == CM_LOOP_ERROR)
            return cm_k8s_errorf(err, "TransportError", "watch %s: the event loop failed", w->ref.kind);
    }
}
