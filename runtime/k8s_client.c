/* k8s_client.c - requests, discovery, credentials, rate limit and retries (see k8s_client.h). */
#include "metrics.h"
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
    cm_k8s_req *reqs;       /* requests not done yet, ended with Cancelled on free */
    cm_k8s_watch *watches;  /* open watches, stopped when the client goes */
    size_t nimpersonate;    /* lines in cfg->impersonate */
};

struct cm_k8s_watch {
    cm_k8s_client *c;
    cm_k8s_ref ref;
    char *strs[4]; /* owned copies of ref's strings */
    cm_k8s_param *params; /* with room for a limit */
    size_t nparams;
    char *rv;
    int asked_rv;  /* a watch from now asked the collection's resourceVersion */
    int deliver_bookmarks;
    cm_http_call call;
    int active; /* call started and not yet collected */
    char *url, *auth;
    const char **headers;
    int got;       /* the stream in flight delivered a line */
    cm_buf line;   /* a partial line */
    cJSON *queue;  /* events received, not yet delivered */
    int wake;      /* set when there is something to look at */
    int resets;
    int refreshed;  /* a 401 refreshed the credentials since the last event */
    int force_auth; /* refresh the credentials for the next stream */
    int token;      /* a rate-limit token is held for the next stream */
    cm_k8s_req *sub; /* discovery or a list on the watch's behalf */
    int sub_kind;
    cm_timer *timer; /* a back-off or rate-limit wait */
    void (*notify)(void *ud);
    void *notify_ud;
    cm_k8s_watch *next; /* in the client's list */
};

static void watch_halt(cm_k8s_watch *w);
static void abort_requests(cm_k8s_client *c);
static void watch_poke(cm_k8s_watch *w);

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

/*
 * Takes a token (reserving a future one when the bucket is empty, so requests
 * in flight at once queue in order) and sets *until to when it may be used.
 * Returns 0, or -1 with err when that would be past the deadline.
 */
static int rate_take(cm_k8s_client *c, int64_t deadline, int64_t *until, cm_k8s_error *err)
{
    int64_t now = cm_loop_now(c->loop);
    *until = now;
    if (c->opts.qps < 0)
        return 0;
    c->tokens += (double)(now - c->refilled) / 1e9 * c->opts.qps;
    if (c->tokens > c->opts.burst)
        c->tokens = c->opts.burst;
    c->refilled = now;
    c->tokens -= 1;
    if (c->tokens >= 0)
        return 0;
    *until = now + (int64_t)(-c->tokens / c->opts.qps * 1e9);
    if (*until > deadline) {
        c->tokens += 1;
        return cm_k8s_errorf(err, "Timeout", "client rate limit (%g/s) would pass the deadline",
                             c->opts.qps);
    }
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

/* ---- OIDC (the kubeconfig's auth-provider, as client-go's oidc plugin) ---- */

#define OIDC_LEEWAY (10 * CM_NS_PER_S) /* an id-token this close to its exp counts as expired */
#define OIDC_TIMEOUT_MS 30000L

/* Appends the base64 (standard alphabet, padded) of n bytes. */
static void add_base64(cm_buf *b, const unsigned char *p, size_t n)
{
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=',
                     i + 2 < n ? B64[v & 63] : '='};
        cm_buf_add(b, q, 4);
    }
}

/* A non-empty string of the auth-provider config, or NULL. */
static const char *oidc_get(const cJSON *conf, const char *key)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(conf, key));
    return v && *v ? v : NULL;
}

/* Whether the id-token (a JWT) is good for 10 s more: 1, 0, or -1 with err when it is not a JWT. */
static int oidc_valid(cm_k8s_client *c, const char *jwt, cm_k8s_error *err)
{
    const char *a = strchr(jwt, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || strchr(b + 1, '.'))
        return cm_k8s_errorf(err, "AuthFailed", "ID Token is not a valid JWT");
    char *part = strndup(a + 1, (size_t)(b - a - 1));
    size_t n = 0;
    char *text = part ? cm_base64_decode(part, &n) : NULL;
    cJSON *claims = text ? parse_json(text, n) : NULL;
    free(part);
    free(text);
    if (!cJSON_IsObject(claims)) {
        cJSON_Delete(claims);
        return cm_k8s_errorf(err, "AuthFailed", "parsing claims: the ID Token's payload is not a JSON object");
    }
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    double v = cJSON_IsNumber(exp) ? exp->valuedouble : -1e300;
    double at = v > -9e18 && v < 9e18 ? (double)(int64_t)v : v; /* whole seconds, as Go */
    cJSON_Delete(claims);
    return (double)(cm_loop_wall(c->loop) + OIDC_LEEWAY) / 1e9 < at;
}

/* One exchange with the issuer (its own CA: idp-certificate-authority(-data)), waiting for it. */
static int oidc_fetch(cm_k8s_client *c, cm_http_call *call, cm_k8s_error *err)
{
    const cJSON *conf = c->cfg->auth_provider;
    const char *data = oidc_get(conf, "idp-certificate-authority-data");
    const char *file = oidc_get(conf, "idp-certificate-authority");
    cm_tls tls = {0};
    char *ca = data ? cm_base64_decode(data, &tls.ca_len) : file ? cm_read_file(file, &tls.ca_len) : NULL;
    if ((data || file) && !ca)
        return cm_k8s_errorf(err, "AuthFailed", "oidc: cannot read the issuer's CA %s", data ? "(data)" : file);
    tls.ca = ca;
    call->tls = &tls;
    int rc = cm_http_fetch(call, OIDC_TIMEOUT_MS);
    free(ca);
    call->tls = NULL;
    if (rc < 0)
        return cm_k8s_errorf(err, call->error_code, "%s %s: %s", call->method, call->url, call->error);
    return 0;
}

/* The HTTP status of a done call as Go's resp.Status says it ("404 Not Found"), into buf. */
static const char *status_text(const cm_http_call *call, char *buf, size_t size)
{
    const char *p = call->headers_in.p ? strchr(call->headers_in.p, ' ') : NULL;
    size_t n = p ? strcspn(p + 1, "\r\n") : 0;
    if (n > 4)
        snprintf(buf, size, "%.*s", (int)n, p + 1);
    else
        snprintf(buf, size, "%ld %s", call->status, call->status == 200 ? "OK" : "");
    return buf;
}

/* The issuer's token endpoint, by OpenID Connect discovery (malloc'd), or NULL with err. */
static char *oidc_token_endpoint(cm_k8s_client *c, cm_k8s_error *err)
{
    const char *issuer = oidc_get(c->cfg->auth_provider, "idp-issuer-url");
    size_t n = strlen(issuer);
    while (n > 0 && issuer[n - 1] == '/')
        n--;
    char url[2048];
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)n, issuer);
    const char *hdrs[] = {c->user_agent};
    cm_http_call call = {.method = "GET", .url = url, .headers = hdrs, .nheaders = 1};
    char *endpoint = NULL;
    if (oidc_fetch(c, &call, err) == 0) {
        cJSON *meta = call.status == 200 ? parse_json(call.body_in.p ? call.body_in.p : "", call.body_in.n) : NULL;
        const char *te = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "token_endpoint"));
        char st[64];
        if (call.status != 200)
            cm_k8s_errorf(err, "AuthFailed", "oidc: failed to query metadata endpoint %s: \"%.80s%s\"",
                          status_text(&call, st, sizeof st), call.body_in.p ? call.body_in.p : "",
                          call.body_in.n > 80 ? "..." : "");
        else if (!meta)
            cm_k8s_errorf(err, "AuthFailed", "oidc: failed to decode provider discovery object: not JSON");
        else if (!te || !*te)
            cm_k8s_errorf(err, "AuthFailed", "oidc: discovery object doesn't contain a token_endpoint");
        else
            endpoint = strdup(te);
        cJSON_Delete(meta);
    }
    cm_buf_free(&call.headers_in);
    cm_buf_free(&call.body_in);
    return endpoint;
}

/* POSTs the refresh grant: the client's credentials in a Basic header, or (in_body) in the form,
 * as golang.org/x/oauth2 tries them. The answer's JSON, or NULL with err. */
static cJSON *oidc_grant(cm_k8s_client *c, const char *endpoint, int in_body, cm_k8s_error *err)
{
    const cJSON *conf = c->cfg->auth_provider;
    const char *id = oidc_get(conf, "client-id"), *secret = oidc_get(conf, "client-secret");
    cm_buf form = {0}, basic = {0}, pair = {0};
    cm_buf_adds(&form, "grant_type=refresh_token&refresh_token=");
    add_escaped(&form, oidc_get(conf, "refresh-token"));
    if (in_body) {
        cm_buf_adds(&form, "&client_id=");
        add_escaped(&form, id);
        if (secret) {
            cm_buf_adds(&form, "&client_secret=");
            add_escaped(&form, secret);
        }
    } else {
        add_escaped(&pair, id);
        cm_buf_adds(&pair, ":");
        add_escaped(&pair, secret ? secret : "");
        cm_buf_adds(&basic, "Authorization: Basic ");
        add_base64(&basic, (const unsigned char *)pair.p, pair.n);
    }
    const char *hdrs[] = {c->user_agent, "Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", basic.p};
    cm_http_call call = {.method = "POST", .url = endpoint, .headers = hdrs, .nheaders = in_body ? 3 : 4,
                         .body = form.p, .body_len = form.n};
    cJSON *answer = NULL;
    if (form.oom || basic.oom || pair.oom) {
        cm_k8s_errorf(err, "ENOMEM", "out of memory");
    } else if (oidc_fetch(c, &call, err) == 0) {
        char st[64];
        if (call.status < 200 || call.status > 299)
            cm_k8s_errorf(err, "AuthFailed", "failed to refresh token: oauth2: cannot fetch token: %s Response: %.300s",
                          status_text(&call, st, sizeof st), call.body_in.p ? call.body_in.p : "");
        else if (!(answer = parse_json(call.body_in.p ? call.body_in.p : "", call.body_in.n)))
            cm_k8s_errorf(err, "AuthFailed", "failed to refresh token: oauth2: cannot parse json");
    }
    cm_buf_free(&call.headers_in);
    cm_buf_free(&call.body_in);
    cm_buf_free(&form);
    cm_buf_free(&basic);
    cm_buf_free(&pair);
    return answer;
}

/* Refreshes the id-token with the refresh-token, then writes both back to the kubeconfig file. */
static int oidc_refresh(cm_k8s_client *c, cm_k8s_error *err)
{
    if (!oidc_get(c->cfg->auth_provider, "refresh-token"))
        return cm_k8s_errorf(err, "AuthFailed", "No valid id-token, and cannot refresh without refresh-token");
    char *endpoint = oidc_token_endpoint(c, err);
    cJSON *answer = endpoint ? oidc_grant(c, endpoint, 0, err) : NULL;
    if (endpoint && !answer)
        answer = oidc_grant(c, endpoint, 1, err);
    free(endpoint);
    if (!answer)
        return -1;
    const char *access = oidc_get(answer, "access_token"), *id = oidc_get(answer, "id_token");
    const char *refresh = oidc_get(answer, "refresh_token");
    cJSON *conf = NULL;
    int rc = -1;
    if (!access)
        cm_k8s_errorf(err, "AuthFailed", "failed to refresh token: oauth2: server response missing access_token");
    else if (!id)
        cm_k8s_errorf(err, "AuthFailed", "token response did not contain an id_token, either the scope \"openid\" "
                      "wasn't requested upon login, or the provider doesn't support id_tokens as part of the "
                      "refresh response");
    else if (!(conf = cJSON_Duplicate(c->cfg->auth_provider, 1)))
        cm_k8s_errorf(err, "ENOMEM", "out of memory");
    if (conf) {
        cJSON_DeleteItemFromObjectCaseSensitive(conf, "id-token");
        cJSON_AddStringToObject(conf, "id-token", id);
        if (refresh) {
            cJSON_DeleteItemFromObjectCaseSensitive(conf, "refresh-token");
            cJSON_AddStringToObject(conf, "refresh-token", refresh);
        }
        cm_k8s_error perr = {0};
        if (cm_kubeconfig_persist_auth_provider(c->cfg->user_file, c->cfg->user, conf, &perr) < 0) {
            cm_k8s_errorf(err, "AuthFailed", "could not persist new tokens: %s", perr.message);
            cJSON_Delete(conf);
        } else {
            cJSON_Delete(c->cfg->auth_provider);
            c->cfg->auth_provider = conf;
            cm_log_field f = {.key = "file", .value = c->cfg->user_file};
            logf_(c, CM_LOG_INFO, "oidc: refreshed the id-token and wrote it back to the kubeconfig", &f, 1);
            rc = 0;
        }
    }
    cJSON_Delete(answer);
    return rc;
}

/* The id-token to send: the kubeconfig's while it is valid, else a refreshed one. */
static const char *oidc_token(cm_k8s_client *c, cm_k8s_error *err)
{
    const char *tok = oidc_get(c->cfg->auth_provider, "id-token");
    int valid = tok ? oidc_valid(c, tok, err) : 0;
    if (valid < 0 || (!valid && oidc_refresh(c, err) < 0))
        return NULL;
    return oidc_get(c->cfg->auth_provider, "id-token");
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
    } else if (cfg->auth_provider && !(token = oidc_token(c, err))) {
        return -1;
    }
    if (token) {
        size_t n = strlen(token) + 32;
        *hdr = malloc(n);
        if (*hdr)
            snprintf(*hdr, n, "Authorization: Bearer %s", token);
    } else if (cfg->username && cfg->password) {
        cm_buf plain = {0}, b = {0};
        cm_buf_adds(&plain, cfg->username);
        cm_buf_adds(&plain, ":");
        cm_buf_adds(&plain, cfg->password);
        cm_buf_adds(&b, "Authorization: Basic ");
        add_base64(&b, (const unsigned char *)plain.p, plain.n);
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

/* The metric names the client counts under (metrics.h), declared with the first client of a registry. */
#define M_REQUESTS "cni_migrate_api_requests_total"
#define M_ERRORS "cni_migrate_api_errors_total"
#define M_RETRIES "cni_migrate_api_retries_total"

static void declare_metrics(cm_metrics *m)
{
    cm_metrics_declare(m, M_REQUESTS, CM_COUNTER, "Kubernetes API requests answered (or failed to be), by method "
                       "and HTTP status (0: no answer).", NULL, 0);
    cm_metrics_declare(m, M_ERRORS, CM_COUNTER, "Kubernetes API requests that failed, by method and reason "
                       "(the Status reason, or the client's: Timeout, ConnectFailed, ...).", NULL, 0);
    cm_metrics_declare(m, M_RETRIES, CM_COUNTER, "Kubernetes API requests retried (429 or 5xx with Retry-After, "
                       "a reset read, a refreshed credential).", NULL, 0);
}

/* Counts one exchange (a request, or a watch's stream): its method and status (0: no answer), and
 * reason when it failed (NULL: it did not). */
static void count_call(cm_k8s_client *c, const cm_http_call *call, const char *reason)
{
    cm_metrics *m = c->opts.metrics;
    if (!m)
        return;
    char labels[160] = "", status[16];
    snprintf(status, sizeof status, "%ld", call->status);
    cm_metrics_label(labels, sizeof labels, "method", call->method ? call->method : "");
    cm_metrics_label(labels, sizeof labels, "code", status);
    cm_metrics_add(m, M_REQUESTS, labels, 1);
    if (!reason)
        return;
    labels[0] = '\0';
    cm_metrics_label(labels, sizeof labels, "method", call->method ? call->method : "");
    cm_metrics_label(labels, sizeof labels, "reason", reason);
    cm_metrics_add(m, M_ERRORS, labels, 1);
}

/* Counts a request or a watch's stream sent again (after a 429/5xx's Retry-After, a reset, a 401). */
static void count_retry(cm_k8s_client *c)
{
    if (c->opts.metrics)
        cm_metrics_add(c->opts.metrics, M_RETRIES, "", 1);
}

/* Counts one answered request: rc != 0 when it failed, with res's reason. */
static void count_request(cm_k8s_client *c, const cm_http_call *call, const cm_k8s_result *res, int rc)
{
    count_call(c, call, rc == 0 ? NULL : res->err.code ? res->err.code : "Unknown");
}

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
    if (c->opts.metrics)
        declare_metrics(c->opts.metrics);
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
    while (c->watches) {
        cm_k8s_watch *w = c->watches;
        c->watches = w->next;
        watch_halt(w);
        w->c = NULL;
        watch_poke(w); /* whoever waits on it learns that it is closed */
    }
    abort_requests(c);
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


/* ---- requests in flight ---- */

/* What a request is for. */
enum req_op { OP_CALL, OP_LIST, OP_EVICT, OP_RESOLVE };

/* What the request's exchange in flight is for. */
enum req_phase { PH_BEGIN, PH_DISCOVER, PH_MAIN, PH_PAGE };

/* What one exchange has been through so far. */
struct attempts {
    int retries, resets, refreshed; /* refreshed: 1 = refresh now, 2 = done */
    int64_t waited;
};

struct cm_k8s_req {
    cm_k8s_client *c;          /* NULL once the client was closed */
    cm_k8s_req *next, **pprev; /* in the client's list while not done */
    enum req_op op;
    enum req_phase phase;
    int64_t deadline;
    /* what to do */
    char *method, *body;
    size_t body_len;
    char ct[160];              /* the Content-Type header line of the body */
    char *strs[5];             /* owned copies of ref's strings */
    cm_k8s_ref ref;
    cm_k8s_param *params;      /* owned copies, with room for limit and continue */
    size_t nparams;
    int limit;                 /* OP_LIST: the page size */
    char lim[24];
    char *path;                /* OP_LIST: the collection's path */
    cJSON *delete_options;     /* OP_EVICT */
    char gv[256];              /* the groupVersion being discovered */
    cm_k8s_resinfo ri;         /* what ref resolved to */
    /* the exchange in flight */
    const char *ex_method;
    int ex_body;               /* whether it sends the body */
    char *url, *auth;
    const char **headers;
    struct attempts a;
    cm_http_call call;
    int calling;               /* call started and not done */
    cm_timer *timer;           /* a rate-limit or retry wait, or the call's deadline */
    int64_t started;
    int ex_rc;                 /* how the exchange ended: 0 for 2xx */
    cm_k8s_result res;         /* its answer; at the end, the request's */
    cm_k8s_result list;        /* OP_LIST: the first page, with every item so far */
    int restarts;              /* OP_LIST: after expired continue tokens */
    /* the end */
    int done, rc;
    cm_k8s_req_fn fn;
    void *ud;
};

static void step(cm_k8s_req *r);
static void ex_attempt(cm_k8s_req *r);

/* Ends the request: unhooks it from its client, then tells whoever waits. */
static void req_complete(cm_k8s_req *r, int rc)
{
    if (r->pprev) {
        *r->pprev = r->next;
        if (r->next)
            r->next->pprev = r->pprev;
        r->next = NULL;
        r->pprev = NULL;
    }
    r->rc = rc;
    r->done = 1;
    if (r->fn)
        r->fn(r, r->ud);
}

/* Stops what is in progress (the call, a timer) without telling anyone. */
static void req_halt(cm_k8s_req *r)
{
    if (r->c && r->timer)
        cm_loop_timer_cancel(r->c->loop, r->timer);
    if (r->c && r->calling)
        r->c->tr->ops->cancel(r->c->tr, &r->call);
    r->timer = NULL;
    r->calling = 0;
    cm_buf_free(&r->call.headers_in);
    cm_buf_free(&r->call.body_in);
}

/* The exchange ended with rc (its answer in r->res): the request's next step. */
static void ex_done(cm_k8s_req *r, int rc)
{
    r->ex_rc = rc;
    step(r);
}

/* Fails the exchange for want of memory. */
static void ex_oom(cm_k8s_req *r)
{
    cm_k8s_errorf(&r->res.err, "ENOMEM", "out of memory");
    ex_done(r, -1);
}

/* Whether a failed exchange is worth another, and from when (*until). */
static int retry_when(cm_k8s_req *r, int64_t *until)
{
    cm_k8s_client *c = r->c;
    cm_k8s_result *res = &r->res;
    struct attempts *a = &r->a;
    int64_t now = cm_loop_now(c->loop);
    *until = now;
    if (strcmp(res->err.code, "ConnectionReset") == 0 && !is_write(r->ex_method) && a->resets < MAX_RESET_RETRIES) {
        *until = now + (CM_NS_PER_S / 10 << a->resets++); /* a read only: a write may have happened */
        if (*until < r->deadline)
            count_retry(c);
        return *until < r->deadline;
    }
    if (res->status == 401 && !a->refreshed && refreshable(c)) {
        a->refreshed = 1; /* nothing happened: safe for writes too */
        count_retry(c);
        return 1;
    }
    if ((res->status != 429 && res->status < 500) || res->retry_after <= 0 || a->retries >= c->opts.max_retries)
        return 0;
    int64_t wait = (int64_t)(res->retry_after * 1e9);
    if (now + wait >= r->deadline || a->waited + wait > MAX_RETRY_WAIT)
        return 0;
    char s[32];
    snprintf(s, sizeof s, "%g", res->retry_after);
    cm_log_field f[] = {{.key = "url", .value = r->url}, {.key = "status", .value = res->err.code},
                        {.key = "retry_after", .value = s, .is_json = 1}};
    logf_(c, CM_LOG_DEBUG, "k8s retry", f, 3);
    count_retry(c);
    a->retries++;
    a->waited += wait;
    *until = now + wait;
    return 1;
}

static void on_retry_time(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_k8s_req *r = ud;
    r->timer = NULL;
    ex_attempt(r);
}

/* The call ended, or could not start: the answer, then a retry or the request's next step. */
static void ex_answered(cm_k8s_req *r)
{
    cm_k8s_client *c = r->c;
    cm_http_call *call = &r->call;
    cm_http_headers_each(call, "Warning", on_warning, c);
    int rc = take_answer(c, call, &r->res);
    log_request(c, call, r->started, &r->res);
    count_request(c, call, &r->res, rc);
    cm_buf_free(&call->headers_in);
    cm_buf_free(&call->body_in);
    free(r->auth);
    r->auth = NULL;
    int64_t until;
    if (rc == 0 || !r->res.err.code || !retry_when(r, &until)) {
        ex_done(r, rc);
    } else if (until <= cm_loop_now(c->loop)) {
        ex_attempt(r);
    } else if (!(r->timer = cm_loop_timer(c->loop, until, on_retry_time, r))) {
        ex_done(r, rc);
    }
}

static void ex_on_done(cm_http_call *call)
{
    cm_k8s_req *r = call->ud;
    r->calling = 0;
    if (r->timer) /* the deadline's */
        cm_loop_timer_cancel(r->c->loop, r->timer);
    r->timer = NULL;
    ex_answered(r);
}

/* The deadline came before the answer. */
static void on_deadline(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_k8s_req *r = ud;
    r->timer = NULL;
    req_halt(r);
    free(r->auth);
    r->auth = NULL;
    cm_k8s_result_free(&r->res);
    cm_k8s_errorf(&r->res.err, "Timeout", "%s %s: no answer before the deadline", r->ex_method, r->url);
    ex_done(r, -1);
}

/* Sends the exchange's request now: credentials, headers, the transport. */
static void ex_send(cm_k8s_req *r)
{
    cm_k8s_client *c = r->c;
    free(r->auth);
    r->auth = NULL;
    if (auth_header(c, r->a.refreshed == 1, &r->auth, &r->res.err) < 0) {
        ex_done(r, -1);
        return;
    }
    if (r->a.refreshed == 1)
        r->a.refreshed = 2;
    size_t nh = base_headers(c, r->headers, r->auth);
    if (r->ex_body && r->body)
        r->headers[nh++] = r->ct;
    r->call = (cm_http_call){.method = r->ex_method, .url = r->url, .headers = r->headers, .nheaders = nh,
                             .body = r->ex_body ? r->body : NULL, .body_len = r->ex_body ? r->body_len : 0,
                             .tls = &c->tls, .on_done = ex_on_done, .ud = r};
    r->started = cm_loop_now(c->loop);
    r->calling = 1;
    if (c->tr->ops->start(c->tr, &r->call) < 0) {
        r->calling = 0;
        ex_answered(r);
        return;
    }
    if (r->deadline != CM_TIME_NEVER && !r->call.done)
        r->timer = cm_loop_timer(c->loop, r->deadline, on_deadline, r);
}

static void on_rate_time(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_k8s_req *r = ud;
    r->timer = NULL;
    ex_send(r);
}

/* One attempt of the exchange: a rate-limit token (waiting for it in the loop), then the send. */
static void ex_attempt(cm_k8s_req *r)
{
    cm_k8s_result_free(&r->res);
    int64_t until;
    if (rate_take(r->c, r->deadline, &until, &r->res.err) < 0)
        ex_done(r, -1);
    else if (until <= cm_loop_now(r->c->loop))
        ex_send(r);
    else if (!(r->timer = cm_loop_timer(r->c->loop, until, on_rate_time, r)))
        ex_oom(r);
}

/* Starts an exchange: method on url (taken), with the request's body or none. */
static void ex_start(cm_k8s_req *r, const char *method, char *url, int with_body)
{
    free(r->url);
    r->url = url;
    r->ex_method = method;
    r->ex_body = with_body;
    r->a = (struct attempts){0};
    if (!url)
        ex_oom(r);
    else
        ex_attempt(r);
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
    if (b.oom) {
        cm_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* ---- discovery ---- */

/* The cached resources of groupVersion gv on the client's server, or NULL. */
static const cJSON *cached_discovery(const cm_k8s_client *c, const char *gv)
{
    char key[512];
    snprintf(key, sizeof key, "%s %s", c->cfg->server, gv);
    for (struct discovery *d = c->discovery ? c->discovery->list : NULL; d; d = d->next)
        if (strcmp(d->key, key) == 0)
            return d->resources;
    return NULL;
}

/* Keeps the APIResourceList in res (unless a request in flight at the same time kept one first).
 * Returns 0, or -1 with res->err filled. */
static int keep_discovery(cm_k8s_client *c, const char *gv, const char *path, cm_k8s_result *res)
{
    if (cached_discovery(c, gv))
        return 0;
    struct discovery *d = c->discovery ? calloc(1, sizeof *d) : NULL;
    char key[512];
    snprintf(key, sizeof key, "%s %s", c->cfg->server, gv);
    cJSON *resources = cJSON_DetachItemFromObjectCaseSensitive(res->json, "resources");
    if (d)
        d->key = strdup(key);
    if (!d || !d->key || !cJSON_IsArray(resources)) {
        if (d)
            free(d->key);
        free(d);
        cJSON_Delete(resources);
        return cm_k8s_errorf(&res->err, "InvalidResponse", "GET %s: not an APIResourceList", path);
    }
    d->resources = resources;
    d->next = c->discovery->list;
    c->discovery->list = d;
    return 0;
}

int cm_k8s_eviction_support(const cm_k8s_client *c)
{
    const cJSON *resources = cached_discovery(c, "v1"), *res;
    if (!resources)
        return -1;
    int v1 = 0, beta = 0;
    cJSON_ArrayForEach(res, resources) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "name"));
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "kind"));
        const char *g = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "group"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "version"));
        if (!name || strcmp(name, "pods/eviction") || !k || strcmp(k, "Eviction") || !g || strcmp(g, "policy") || !v)
            continue;
        v1 |= !strcmp(v, "v1");
        beta |= !strcmp(v, "v1beta1");
    }
    return v1 ? 1 : beta ? 2 : 0;
}

/* Finds kind in an APIResourceList's resources. Returns 0, or -1 with err (NotFound). */
static int find_kind(const cJSON *resources, const char *api_version, const char *kind, cm_k8s_resinfo *out,
                     cm_k8s_error *err)
{
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
    return cm_k8s_errorf(err, "NotFound", "the server has no kind %s in %s", kind, api_version);
}

/* The path of ref: prefix[/namespaces/ns]/plural[/name[/sub]]; NULL when out of memory. */
static char *ref_path(const cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_resinfo *ri)
{
    cm_buf b = {0};
    cm_buf_adds(&b, ri->prefix);
    const char *ns = ref->namespace ? ref->namespace : ref->name ? c->cfg->namespace : NULL;
    if (ri->namespaced && ns && *ns) {
        cm_buf_adds(&b, "/namespaces/");
        add_escaped(&b, ns);
    }
    cm_buf_adds(&b, "/");
    cm_buf_adds(&b, ri->plural);
    if (ref->name) {
        cm_buf_adds(&b, "/");
        add_escaped(&b, ref->name);
        if (ref->subresource) {
            cm_buf_adds(&b, "/");
            cm_buf_adds(&b, ref->subresource);
        }
    }
    if (b.oom) {
        cm_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* The resources of gv when cached; else starts fetching them (the request goes on in step())
 * and returns NULL. */
static const cJSON *need_discovery(cm_k8s_req *r, const char *gv)
{
    const cJSON *resources = cached_discovery(r->c, gv);
    if (resources)
        return resources;
    snprintf(r->gv, sizeof r->gv, "%s", gv);
    char path[300];
    snprintf(path, sizeof path, strchr(gv, '/') ? "/apis/%s" : "/api/%s", gv);
    r->phase = PH_DISCOVER;
    ex_start(r, "GET", build_url(r->c, path, "GET", NULL, 0), 0);
    return NULL;
}

/* ---- the steps of a request ---- */

/* The Eviction body, from discovery of v1 (policy/v1beta1 where only that is served). */
static int eviction_body(cm_k8s_req *r, const cJSON *v1)
{
    const char *version = "policy/v1";
    const cJSON *res;
    cJSON_ArrayForEach(res, v1) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "name"));
        const char *g = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "group"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "version"));
        if (name && strcmp(name, "pods/eviction") == 0 && g && v && strcmp(g, "policy") == 0 &&
            strcmp(v, "v1beta1") == 0)
            version = "policy/v1beta1";
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", version);
    cJSON_AddStringToObject(ev, "kind", "Eviction");
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", r->ref.name);
    cJSON_AddStringToObject(meta, "namespace", r->ref.namespace);
    cJSON *opts = r->delete_options;
    r->delete_options = NULL;
    if (r->c->opts.dry_run) {
        if (!opts)
            opts = cJSON_CreateObject();
        cJSON *dr = cJSON_CreateArray();
        cJSON_AddItemToArray(dr, cJSON_CreateString("All"));
        cJSON_DeleteItemFromObjectCaseSensitive(opts, "dryRun");
        cJSON_AddItemToObject(opts, "dryRun", dr);
    }
    if (opts)
        cJSON_AddItemToObject(ev, "deleteOptions", opts);
    r->body = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!r->body)
        return cm_k8s_errorf(&r->res.err, "ENOMEM", "out of memory");
    r->body_len = strlen(r->body);
    snprintf(r->ct, sizeof r->ct, "Content-Type: application/json");
    return 0;
}

/* Starts the exchange of one list page from continue token cont (NULL: the first). */
static void page_start(cm_k8s_req *r, const char *cont)
{
    r->params[r->nparams] = (cm_k8s_param){"limit", r->lim};
    r->params[r->nparams + 1] = (cm_k8s_param){"continue", cont};
    char *url = build_url(r->c, r->path, "GET", r->params, r->nparams + 2);
    r->params[r->nparams + 1].value = NULL; /* cont is not ours to keep */
    r->phase = PH_PAGE;
    ex_start(r, "GET", url, 0);
}

/* A page came (or did not): joins it, asks for the next, or restarts after an expired token. */
static void page_done(cm_k8s_req *r)
{
    int first = r->list.json == NULL;
    if (r->ex_rc < 0) {
        if (first || r->res.status != 410 || r->restarts >= 2) {
            cm_k8s_result_free(&r->list); /* the answer is the page's failure */
            req_complete(r, -1);
            return;
        }
        r->restarts++;
        cm_log_field f = {.key = "kind", .value = r->ref.kind};
        logf_(r->c, CM_LOG_INFO, "list continue token expired; listing again from the start", &f, 1);
        cm_k8s_result_free(&r->list);
        page_start(r, NULL);
        return;
    }
    if (first) {
        r->list = r->res;
        r->res = (cm_k8s_result){0};
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->list.json, "items")))
            cJSON_ReplaceItemInObjectCaseSensitive(r->list.json, "items", cJSON_CreateArray());
    } else {
        cJSON *items = cJSON_GetObjectItemCaseSensitive(r->list.json, "items");
        cJSON *more = cJSON_GetObjectItemCaseSensitive(r->res.json, "items");
        while (cJSON_GetArraySize(more) > 0)
            cJSON_AddItemToArray(items, cJSON_DetachItemFromArray(more, 0));
        cJSON *nmeta = cJSON_DetachItemFromObjectCaseSensitive(r->res.json, "metadata");
        cJSON_ReplaceItemInObjectCaseSensitive(r->list.json, "metadata", nmeta ? nmeta : cJSON_CreateObject());
        cm_k8s_result_free(&r->res);
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(r->list.json, "metadata");
    const char *cont = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
    if (cont && *cont) {
        page_start(r, cont);
        return;
    }
    r->res = r->list;
    r->list = (cm_k8s_result){0};
    req_complete(r, 0);
}

/* Resolves the ref (discovering when needed), then starts the main exchange or the first page. */
static void begin(cm_k8s_req *r)
{
    r->phase = PH_BEGIN;
    if (!r->ref.api_version || !r->ref.kind) {
        cm_k8s_errorf(&r->res.err, "InvalidArgument", "an object needs apiVersion and kind");
        req_complete(r, -1);
        return;
    }
    const cJSON *resources = need_discovery(r, r->ref.api_version);
    if (!resources)
        return; /* on its way: step() comes back here */
    if ((r->op == OP_EVICT && !r->body && eviction_body(r, resources) < 0) ||
        find_kind(resources, r->ref.api_version, r->ref.kind, &r->ri, &r->res.err) < 0) {
        req_complete(r, -1);
        return;
    }
    if (r->op == OP_RESOLVE) {
        req_complete(r, 0);
        return;
    }
    r->path = ref_path(r->c, &r->ref, &r->ri);
    if (!r->path) {
        cm_k8s_errorf(&r->res.err, "ENOMEM", "out of memory");
        req_complete(r, -1);
    } else if (r->op == OP_LIST) {
        page_start(r, NULL);
    } else {
        r->phase = PH_MAIN;
        ex_start(r, r->method, build_url(r->c, r->path, r->method, r->params, r->nparams), 1);
    }
}

/* An exchange ended: what it was for says what comes next. */
static void step(cm_k8s_req *r)
{
    switch (r->phase) {
    case PH_DISCOVER:
        if (r->ex_rc < 0) {
            if (r->res.status == 404)
                cm_k8s_errorf(&r->res.err, "NotFound", "the server does not serve %s", r->gv);
            req_complete(r, -1);
        } else if (keep_discovery(r->c, r->gv, r->url, &r->res) < 0) {
            req_complete(r, -1);
        } else {
            cm_k8s_result_free(&r->res);
            begin(r);
        }
        break;
    case PH_PAGE:
        page_done(r);
        break;
    default:
        req_complete(r, r->ex_rc);
    }
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A request of c, not started yet, holding copies of everything it was given; NULL when out of memory. */
static cm_k8s_req *req_new(cm_k8s_client *c, enum req_op op, const char *method, const cm_k8s_ref *ref,
                           const cm_k8s_param *params, size_t nparams, int64_t deadline, cm_k8s_req_fn fn,
                           void *ud)
{
    cm_k8s_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    *r = (cm_k8s_req){.c = c, .op = op, .deadline = deadline, .fn = fn, .ud = ud, .nparams = nparams};
    const char *s[5] = {ref->api_version, ref->kind, ref->namespace, ref->name, ref->subresource};
    int ok = 1;
    for (size_t i = 0; i < 5; i++)
        ok &= !s[i] || (r->strs[i] = strdup(s[i])) != NULL;
    r->ref = (cm_k8s_ref){r->strs[0], r->strs[1], r->strs[2], r->strs[3], r->strs[4]};
    r->method = strdup(method);
    r->params = calloc(nparams + 2, sizeof *r->params);
    r->headers = malloc((5 + c->nimpersonate) * sizeof *r->headers);
    for (size_t i = 0; r->params && i < nparams; i++) {
        r->params[i] = (cm_k8s_param){dup_opt(params[i].key), dup_opt(params[i].value)};
        ok &= r->params[i].key && (!params[i].value || r->params[i].value);
    }
    r->next = c->reqs;
    if (r->next)
        r->next->pprev = &r->next;
    c->reqs = r;
    r->pprev = &c->reqs;
    if (!ok || !r->method || !r->params || !r->headers) {
        cm_k8s_req_cancel(r);
        return NULL;
    }
    return r;
}

/* Sets the body of a request (copied) and its Content-Type. Returns 0, or -1 when out of memory. */
static int req_body(cm_k8s_req *r, const char *content_type, const char *body, size_t len)
{
    snprintf(r->ct, sizeof r->ct, "Content-Type: %s", content_type ? content_type : "application/json");
    if (!body)
        return 0;
    r->body = malloc(len + 1);
    if (!r->body)
        return -1;
    memcpy(r->body, body, len);
    r->body[len] = '\0';
    r->body_len = len;
    return 0;
}

int cm_k8s_req_done(const cm_k8s_req *r)
{
    return r->done;
}

void cm_k8s_req_cancel(cm_k8s_req *r)
{
    if (!r)
        return;
    req_halt(r);
    if (r->pprev) {
        *r->pprev = r->next;
        if (r->next)
            r->next->pprev = r->pprev;
    }
    for (size_t i = 0; i < 5; i++)
        free(r->strs[i]);
    for (size_t i = 0; r->params && i < r->nparams; i++) {
        free((char *)r->params[i].key);
        free((char *)r->params[i].value);
    }
    free(r->params);
    free(r->method);
    free(r->body);
    free(r->path);
    free(r->url);
    free(r->auth);
    free(r->headers);
    cJSON_Delete(r->delete_options);
    cm_k8s_result_free(&r->res);
    cm_k8s_result_free(&r->list);
    free(r);
}

int cm_k8s_req_finish(cm_k8s_req *r, cm_k8s_result *res)
{
    *res = (cm_k8s_result){0};
    if (!r->done) {
        cm_k8s_req_cancel(r);
        return cm_k8s_errorf(&res->err, "Cancelled", "the request was abandoned");
    }
    *res = r->res;
    r->res = (cm_k8s_result){0};
    int rc = r->rc;
    cm_k8s_req_cancel(r);
    return rc;
}

/* Ends every request of a client that is closing, with Cancelled. */
static void abort_requests(cm_k8s_client *c)
{
    while (c->reqs) {
        cm_k8s_req *r = c->reqs;
        req_halt(r);
        r->c = NULL;
        cm_k8s_result_free(&r->res);
        cm_k8s_errorf(&r->res.err, "Cancelled", "the Kubernetes client was closed");
        req_complete(r, -1);
    }
}

cm_k8s_req *cm_k8s_call_start(cm_k8s_client *c, const char *method, const cm_k8s_ref *ref,
                              const cm_k8s_param *params, size_t nparams, const char *content_type,
                              const char *body, size_t body_len, int64_t deadline, cm_k8s_req_fn fn, void *ud)
{
    cm_k8s_req *r = req_new(c, OP_CALL, method, ref, params, nparams, deadline, fn, ud);
    if (r && req_body(r, content_type, body, body_len) < 0) {
        cm_k8s_req_cancel(r);
        return NULL;
    }
    if (r)
        begin(r);
    return r;
}

cm_k8s_req *cm_k8s_list_start(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                              size_t nparams, int limit, int64_t deadline, cm_k8s_req_fn fn, void *ud)
{
    cm_k8s_ref all = *ref;
    all.name = NULL;
    all.subresource = NULL;
    cm_k8s_req *r = req_new(c, OP_LIST, "GET", &all, params, nparams, deadline, fn, ud);
    if (!r)
        return NULL;
    r->limit = limit > 0 ? limit : 500;
    snprintf(r->lim, sizeof r->lim, "%d", r->limit);
    begin(r);
    return r;
}

cm_k8s_req *cm_k8s_evict_start(cm_k8s_client *c, const char *namespace, const char *name,
                               const cJSON *delete_options, int64_t deadline, cm_k8s_req_fn fn, void *ud)
{
    cm_k8s_ref ref = {.api_version = "v1", .kind = "Pod", .name = name, .subresource = "eviction",
                      .namespace = namespace ? namespace : c->cfg->namespace};
    cm_k8s_req *r = req_new(c, OP_EVICT, "POST", &ref, NULL, 0, deadline, fn, ud);
    if (!r)
        return NULL;
    r->delete_options = delete_options ? cJSON_Duplicate(delete_options, 1) : NULL;
    if (delete_options && !r->delete_options) {
        cm_k8s_req_cancel(r);
        return NULL;
    }
    begin(r);
    return r;
}

/* ---- waiting for a request in the loop (the C API) ---- */

/* Runs the loop until r is done, then takes its outcome. */
static int wait_req(cm_k8s_client *c, cm_k8s_req *r, cm_k8s_result *res)
{
    *res = (cm_k8s_result){0};
    if (!r)
        return cm_k8s_errorf(&res->err, "ENOMEM", "out of memory");
    enum cm_loop_result lr = cm_loop_run_until(c->loop, CM_TIME_NEVER, &r->done);
    if (r->done)
        return cm_k8s_req_finish(r, res);
    char what[200];
    snprintf(what, sizeof what, "%s %s", r->ex_method ? r->ex_method : r->method, r->url ? r->url : "");
    cm_k8s_req_cancel(r);
    if (lr == CM_LOOP_CANCELLED)
        return cm_k8s_errorf(&res->err, "Cancelled", "%s: cancelled", what);
    if (lr == CM_LOOP_STALLED)
        return cm_k8s_errorf(&res->err, "TransportError", "%s: nothing left that could answer", what);
    return cm_k8s_errorf(&res->err, "TransportError", "%s: the event loop failed", what);
}

int cm_k8s_call(cm_k8s_client *c, const char *method, const cm_k8s_ref *ref,
                const cm_k8s_param *params, size_t nparams, const char *content_type,
                const char *body, size_t body_len, int64_t deadline, cm_k8s_result *res)
{
    cm_k8s_req *r = cm_k8s_call_start(c, method, ref, params, nparams, content_type, body, body_len, deadline,
                                      NULL, NULL);
    return wait_req(c, r, res);
}

int cm_k8s_list_all(cm_k8s_client *c, const cm_k8s_ref *ref, const cm_k8s_param *params,
                    size_t nparams, int limit, int64_t deadline, cm_k8s_result *res)
{
    return wait_req(c, cm_k8s_list_start(c, ref, params, nparams, limit, deadline, NULL, NULL), res);
}

int cm_k8s_evict(cm_k8s_client *c, const char *namespace, const char *name,
                 const cJSON *delete_options, int64_t deadline, cm_k8s_result *res)
{
    return wait_req(c, cm_k8s_evict_start(c, namespace, name, delete_options, deadline, NULL, NULL), res);
}

/* A request that only resolves ref (discovering when needed). */
static cm_k8s_req *resolve_start(cm_k8s_client *c, const cm_k8s_ref *ref, int64_t deadline, cm_k8s_req_fn fn,
                                 void *ud)
{
    cm_k8s_req *r = req_new(c, OP_RESOLVE, "GET", ref, NULL, 0, deadline, fn, ud);
    if (r)
        begin(r);
    return r;
}

int cm_k8s_resolve(cm_k8s_client *c, const char *api_version, const char *kind, int64_t deadline,
                   cm_k8s_resinfo *out, cm_k8s_error *err)
{
    cm_k8s_ref ref = {.api_version = api_version, .kind = kind};
    cm_k8s_req *r = resolve_start(c, &ref, deadline, NULL, NULL);
    if (r && !r->done)
        cm_loop_run_until(c->loop, CM_TIME_NEVER, &r->done);
    if (r && r->done && r->rc == 0)
        *out = r->ri;
    cm_k8s_result res;
    int rc = wait_req(c, r, &res);
    if (rc < 0)
        *err = res.err;
    cm_k8s_result_free(&res);
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

/* ---- watch ---- */

/* What a watch's own request is for. */
enum { SUB_RESOLVE, SUB_FROM_NOW, SUB_RELIST };

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
    w->params = calloc(nparams + 2, sizeof *w->params);
    for (size_t i = 0; w->params && i < nparams; i++)
        w->params[i] = (cm_k8s_param){dup_opt(params[i].key), dup_opt(params[i].value)};
    w->nparams = nparams;
    w->rv = dup_opt(resource_version);
    w->deliver_bookmarks = deliver_bookmarks;
    w->queue = cJSON_CreateArray();
    w->headers = malloc((4 + c->nimpersonate) * sizeof *w->headers);
    w->next = c->watches;
    c->watches = w;
    if (!w->params || !w->queue || !w->headers) {
        cm_k8s_watch_free(w);
        return NULL;
    }
    return w;
}

void cm_k8s_watch_set_notify(cm_k8s_watch *w, void (*fn)(void *ud), void *ud)
{
    w->notify = fn;
    w->notify_ud = ud;
}

/* Something happened that cm_k8s_watch_poll() should look at. */
static void watch_poke(cm_k8s_watch *w)
{
    w->wake = 1;
    if (w->notify)
        w->notify(w->notify_ud);
}

/* Counts a stream that ended (watch_done) or that the watch ended itself (cancelled: not a failure). */
static void watch_count(cm_k8s_watch *w, int cancelled)
{
    const cm_http_call *call = &w->call;
    const char *reason = NULL;
    if (!cancelled && call->error_code)
        reason = call->error_code;
    else if (!cancelled && (call->status < 200 || call->status >= 300))
        reason = reason_of_status(call->status);
    count_call(w->c, call, reason);
}

/* Ends the stream in flight, if any. */
static void watch_stop(cm_k8s_watch *w)
{
    if (w->active && !w->call.done && w->c) {
        w->c->tr->ops->cancel(w->c->tr, &w->call);
        watch_count(w, 1);
    }
    w->active = 0;
    cm_buf_free(&w->call.headers_in);
    cm_buf_free(&w->call.body_in);
    cm_buf_free(&w->line);
    free(w->url);
    free(w->auth);
    w->url = w->auth = NULL;
}

/* Ends everything the watch has in progress: the stream, its own request, a wait. */
static void watch_halt(cm_k8s_watch *w)
{
    watch_stop(w);
    cm_k8s_req_cancel(w->sub);
    w->sub = NULL;
    if (w->timer && w->c)
        cm_loop_timer_cancel(w->c->loop, w->timer);
    w->timer = NULL;
}

void cm_k8s_watch_free(cm_k8s_watch *w)
{
    if (!w)
        return;
    watch_halt(w);
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
    watch_poke(w);
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
    watch_count(w, 0);
    if (w->line.n && call->status >= 200 && call->status < 300 && !call->error_code)
        watch_line(w, w->line.p, w->line.n); /* a last line without its newline */
    w->line.n = 0;
    watch_poke(w);
}

static void watch_timer_fired(cm_loop *loop, void *ud)
{
    (void)loop;
    cm_k8s_watch *w = ud;
    w->timer = NULL;
    watch_poke(w);
}

/* Waits (without blocking) until `until`: cm_k8s_watch_poll() is pending meanwhile. */
static int watch_sleep(cm_k8s_watch *w, int64_t until, cm_k8s_error *err)
{
    if (until <= cm_loop_now(w->c->loop))
        return 0;
    w->timer = cm_loop_timer(w->c->loop, until, watch_timer_fired, w);
    return w->timer ? 0 : cm_k8s_errorf(err, "ENOMEM", "out of memory");
}

static void watch_sub_done(cm_k8s_req *r, void *ud)
{
    (void)r;
    watch_poke(ud);
}

/* Starts the watch's own request: discovery, the current resourceVersion, or a relist. */
static int watch_sub(cm_k8s_watch *w, int kind, int64_t deadline, cm_k8s_error *err)
{
    cm_k8s_param *p = w->params;
    size_t n = w->nparams;
    w->sub_kind = kind;
    if (kind == SUB_RESOLVE) {
        w->sub = resolve_start(w->c, &w->ref, deadline, watch_sub_done, w);
    } else if (kind == SUB_FROM_NOW) { /* a one-item list says where the collection is now */
        p[n] = (cm_k8s_param){"limit", "1"};
        w->sub = cm_k8s_call_start(w->c, "GET", &w->ref, p, n + 1, NULL, NULL, 0, deadline, watch_sub_done, w);
        p[n] = (cm_k8s_param){NULL, NULL};
    } else {
        w->sub = cm_k8s_list_start(w->c, &w->ref, p, n, 500, deadline, watch_sub_done, w);
    }
    return w->sub ? 0 : cm_k8s_errorf(err, "ENOMEM", "out of memory");
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

/* The watch's own request is done: 1 with the RELIST event, 0 to go on, -1 with err. */
static int watch_sub_taken(cm_k8s_watch *w, cJSON **event, cm_k8s_error *err)
{
    cm_k8s_result res;
    int rc = cm_k8s_req_finish(w->sub, &res);
    w->sub = NULL;
    if (rc < 0) {
        *err = res.err;
        cm_k8s_result_free(&res);
        return -1;
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(res.json, "metadata");
    if (w->sub_kind != SUB_RESOLVE)
        watch_set_rv(w, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion")));
    if (w->sub_kind == SUB_RELIST) {
        *event = cJSON_CreateObject();
        cJSON_AddStringToObject(*event, "type", "RELIST");
        cJSON_AddItemToObject(*event, "object", res.json);
        res.json = NULL;
        rc = 1;
    }
    cm_k8s_result_free(&res);
    return rc;
}

/* Opens the stream from w->rv, ending at the deadline at the latest. Returns 0 when it is open or
 * when discovery or a rate-limit token comes first (w->sub or w->timer), -1 with err. */
static int watch_start(cm_k8s_watch *w, int64_t deadline, cm_k8s_error *err)
{
    cm_k8s_client *c = w->c;
    watch_stop(w);
    const cJSON *resources = cached_discovery(c, w->ref.api_version);
    if (!resources)
        return watch_sub(w, SUB_RESOLVE, deadline, err);
    cm_k8s_resinfo ri;
    if (find_kind(resources, w->ref.api_version, w->ref.kind, &ri, err) < 0)
        return -1;
    if (!w->token) {
        int64_t until;
        if (rate_take(c, deadline, &until, err) < 0)
            return -1;
        w->token = 1;
        if (until > cm_loop_now(c->loop))
            return watch_sleep(w, until, err);
    }
    w->token = 0;
    if (auth_header(c, w->force_auth, &w->auth, err) < 0)
        return -1;
    w->force_auth = 0;
    char *path = ref_path(c, &w->ref, &ri);
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
    w->url = path ? build_url(c, path, "GET", p, n) : NULL;
    free(path);
    if (!w->url)
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

/* The stream ended: reconnect (0, maybe after a wait in w->timer), relist (2), or fail (-1). */
static int watch_ended(cm_k8s_watch *w, int64_t deadline, cm_k8s_error *err)
{
    cm_http_call *call = &w->call;
    w->active = 0;
    int64_t now = cm_loop_now(w->c->loop);
    if (call->error_code) {
        /* a reset, or an API server restarting: back off (0.1 s doubling, at most 5 s) and reopen */
        int transient = strcmp(call->error_code, "ConnectionReset") == 0 ||
                        strcmp(call->error_code, "ConnectFailed") == 0;
        if (!transient || w->resets >= WATCH_RECONNECTS)
            return cm_k8s_errorf(err, call->error_code, "watch %s: %s", w->url, call->error);
        count_retry(w->c);
        int64_t backoff = CM_NS_PER_S / 10 << w->resets++;
        int64_t until = now + (backoff < 5 * CM_NS_PER_S ? backoff : 5 * CM_NS_PER_S);
        return watch_sleep(w, until < deadline ? until : deadline, err);
    }
    if (call->status >= 200 && call->status < 300) {
        w->resets = 0;
        if (w->got) /* the server ended the watch: reconnect from w->rv */
            return 0;
        int64_t until = now + CM_NS_PER_S; /* an empty stream: do not spin */
        return watch_sleep(w, until < deadline ? until : deadline, err);
    }
    char ra[32];
    double wait = cm_http_header(call, "Retry-After", ra, sizeof ra) ? atof(ra) : 0;
    if ((call->status == 429 || call->status >= 500) && wait > 0 && w->resets++ < WATCH_RECONNECTS) {
        count_retry(w->c);
        int64_t until = now + (int64_t)(wait * 1e9); /* the server says when */
        return watch_sleep(w, until < deadline ? until : deadline, err);
    }
    cJSON *st = parse_json(call->body_in.p ? call->body_in.p : "", call->body_in.n);
    int expired = call->status == 410 || is_expired(st);
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "message"));
    if (!expired)
        cm_k8s_errorf(err, reason_of_status(call->status), "watch %s: %s", w->url, msg ? msg : "failed");
    cJSON_Delete(st);
    return expired ? 2 : -1;
}

/* Delivers or drops the queued events: 1 with *event, 0 when none is left, 2 to relist, -1 with err. */
static int watch_drain(cm_k8s_watch *w, cJSON **event, cm_k8s_error *err)
{
    while (cJSON_GetArraySize(w->queue) > 0) {
        cJSON *ev = cJSON_DetachItemFromArray(w->queue, 0);
        int rc = watch_take(w, ev, err);
        if (rc == 1) {
            w->refreshed = 0;
            *event = ev;
            return 1;
        }
        cJSON_Delete(ev);
        if (rc == 2) {
            cJSON_Delete(w->queue);
            w->queue = cJSON_CreateArray();
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cm_k8s_watch_poll(cm_k8s_watch *w, int64_t deadline, cJSON **event, cm_k8s_error *err)
{
    *event = NULL;
    err->code = NULL;
    w->wake = 0;
    if (!w->c)
        return cm_k8s_errorf(err, "InvalidArgument", "the watch's client is closed");
    for (;;) {
        int rc = 0;
        if (w->sub) {
            if (!w->sub->done)
                return CM_K8S_PENDING;
            if ((rc = watch_sub_taken(w, event, err)) != 0)
                return rc;
            continue;
        }
        if (w->timer)
            return CM_K8S_PENDING;
        if (!w->rv && !w->asked_rv) {
            w->asked_rv = 1;
            if (watch_sub(w, SUB_FROM_NOW, deadline, err) < 0)
                return -1;
            continue;
        }
        if ((rc = watch_drain(w, event, err)) == 1 || rc < 0)
            return rc;
        if (rc == 0 && w->active && w->call.done) {
            if (w->call.status == 401 && !w->refreshed && refreshable(w->c)) {
                w->refreshed = w->force_auth = 1; /* new credentials, and the stream again */
                count_retry(w->c);
                w->active = 0;
                continue;
            }
            if ((rc = watch_ended(w, deadline, err)) < 0)
                return -1;
        }
        if (rc == 2) {
            watch_stop(w);
            if (watch_sub(w, SUB_RELIST, deadline, err) < 0)
                return -1;
            continue;
        }
        if (w->timer)
            continue;
        if (cm_loop_now(w->c->loop) >= deadline)
            return 0;
        if (!w->active) {
            if (watch_start(w, deadline, err) < 0)
                return -1;
            continue;
        }
        return CM_K8S_PENDING;
    }
}

int cm_k8s_watch_next(cm_k8s_watch *w, int64_t deadline, cJSON **event, cm_k8s_error *err)
{
    for (;;) {
        int rc = cm_k8s_watch_poll(w, deadline, event, err);
        if (rc != CM_K8S_PENDING)
            return rc;
        enum cm_loop_result r = cm_loop_run_until(w->c->loop, deadline, &w->wake);
        if (r == CM_LOOP_CANCELLED)
            return cm_k8s_errorf(err, "Cancelled", "watch %s: cancelled", w->ref.kind);
        if (r == CM_LOOP_ERROR)
            return cm_k8s_errorf(err, "TransportError", "watch %s: the event loop failed", w->ref.kind);
        if (r == CM_LOOP_STALLED)
            return cm_k8s_errorf(err, "TransportError", "watch %s: nothing left that could send events",
                                 w->ref.kind);
    }
}
