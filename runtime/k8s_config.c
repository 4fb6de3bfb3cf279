/* k8s_config.c - kubeconfig merging and in-cluster configuration (see k8s_config.h). */
#include "k8s_config.h"

#include "yamldoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int cm_k8s_errorf(cm_k8s_error *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* The stable code for an errno value from reading a file. */
static const char *errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return "ENOENT";
    case EACCES:
        return "EACCES";
    case EISDIR:
        return "EISDIR";
    case ENOMEM:
        return "ENOMEM";
    default:
        return "EIO";
    }
}

/* ---- base64 and time ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

char *cm_base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            continue;
        if (*p == '=') {
            pad++;
            continue;
        }
        int v = b64_value(*p);
        if (v < 0 || pad) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

int cm_parse_rfc3339(const char *s, long long *ns)
{
    int y, mo, d, h, mi, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || !used)
        return -1;
    const char *p = s + used;
    long long frac = 0, scale = 1000000000;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            scale /= 10;
            frac += (*p - '0') * scale;
        }
    }
    long long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        off = (oh * 3600LL + om * 60LL) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    long long secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600LL + mi * 60LL + sec - off;
    *ns = secs * 1000000000LL + frac;
    return 0;
}

/* ---- merging ---- */

static int keep_first_doc(void *ud, cJSON *doc, int line)
{
    (void)line;
    cJSON **out = ud;
    if (*out) {
        cJSON_Delete(doc);
        return 0;
    }
    *out = doc;
    return 0;
}

/* Parses one kubeconfig file into a tree; NULL with err set. */
static cJSON *parse_file(const char *path, cm_k8s_error *err)
{
    size_t len;
    char *text = cm_read_file(path, &len);
    if (!text) {
        cm_k8s_errorf(err, errno_code(errno), "kubeconfig %s: %s", path, strerror(errno));
        return NULL;
    }
    cJSON *doc = NULL;
    cm_yaml_error yerr;
    cm_yaml_opts yo = {.document = keep_first_doc, .ud = &doc};
    int rc = cm_yaml_parse(text, len, &yo, &yerr);
    free(text);
    if (rc < 0) {
        cJSON_Delete(doc);
        cm_k8s_errorf(err, "InvalidConfig", "kubeconfig %s:%d:%d: %s", path, yerr.line, yerr.column,
                      yerr.message);
        return NULL;
    }
    if (!doc)
        doc = cJSON_CreateObject();
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        cm_k8s_errorf(err, "InvalidConfig", "kubeconfig %s: not a mapping", path);
        return NULL;
    }
    return doc;
}

/* Replaces the string field `key` of obj by dir/value when value is a relative path. */
static void resolve_field(cJSON *obj, const char *key, const char *dir, int only_with_slash)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || !*v->valuestring || v->valuestring[0] == '/')
        return;
    if (only_with_slash && !strchr(v->valuestring, '/'))
        return;
    size_t n = strlen(dir) + strlen(v->valuestring) + 2;
    char *p = malloc(n);
    if (!p)
        return;
    snprintf(p, n, "%s/%s", dir, v->valuestring);
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(p));
    free(p);
}

/* Resolves the relative paths of a named entry of a section against dir. */
static void resolve_paths(cJSON *entry, const char *section, const char *dir)
{
    if (strcmp(section, "clusters") == 0) {
        cJSON *c = cJSON_GetObjectItemCaseSensitive(entry, "cluster");
        resolve_field(c, "certificate-authority", dir, 0);
    } else if (strcmp(section, "users") == 0) {
        cJSON *u = cJSON_GetObjectItemCaseSensitive(entry, "user");
        resolve_field(u, "client-certificate", dir, 0);
        resolve_field(u, "client-key", dir, 0);
        resolve_field(u, "tokenFile", dir, 0);
        resolve_field(cJSON_GetObjectItemCaseSensitive(u, "exec"), "command", dir, 1);
    }
}

/* Finds the entry called name in a section array. */
static cJSON *find_named(const cJSON *arr, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return (cJSON *)e;
    }
    return NULL;
}

/* Adds the entries of one file's section that no earlier file named. */
static int merge_section(cJSON *merged, const cJSON *doc, const char *section, const char *dir,
                         const char *path, cm_k8s_error *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, section);
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return cm_k8s_errorf(err, "InvalidConfig", "kubeconfig %s: %s is not a list", path, section);
    cJSON *into = cJSON_GetObjectItemCaseSensitive(merged, section);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(name))
            return cm_k8s_errorf(err, "InvalidConfig", "kubeconfig %s: an entry of %s has no name",
                                 path, section);
        if (find_named(into, name->valuestring))
            continue; /* first file wins, field by field too */
        cJSON *copy = cJSON_Duplicate(e, 1);
        if (!copy)
            return cm_k8s_errorf(err, "ENOMEM", "out of memory");
        resolve_paths(copy, section, dir);
        cJSON_AddItemToArray(into, copy);
        if (strcmp(section, "users") == 0) /* where a refreshed OIDC token goes back to */
            cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(merged, "user-files"), name->valuestring,
                                    path);
    }
    return 0;
}

/* The directory part of path ("." when none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

cJSON *cm_kubeconfig_merge(const char *const *paths, size_t n, int must_exist, int *nfound,
                           cm_k8s_error *err)
{
    static const char *const SECTIONS[] = {"clusters", "users", "contexts"};
    cJSON *merged = cJSON_CreateObject();
    for (size_t s = 0; merged && s < 3; s++)
        cJSON_AddItemToObject(merged, SECTIONS[s], cJSON_CreateArray());
    if (merged)
        cJSON_AddItemToObject(merged, "user-files", cJSON_CreateObject());
    *nfound = 0;
    for (size_t i = 0; merged && i < n; i++) {
        if (!*paths[i] || (!must_exist && access(paths[i], F_OK) != 0))
            continue;
        cJSON *doc = parse_file(paths[i], err);
        char *dir = doc ? dir_of(paths[i]) : NULL;
        int rc = doc && dir ? 0 : -1;
        for (size_t s = 0; rc == 0 && s < 3; s++)
            rc = merge_section(merged, doc, SECTIONS[s], dir, paths[i], err);
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(doc, "current-context");
        if (rc == 0 && cJSON_IsString(cur) && *cur->valuestring &&
            !cJSON_GetObjectItemCaseSensitive(merged, "current-context"))
            cJSON_AddStringToObject(merged, "current-context", cur->valuestring);
        free(dir);
        cJSON_Delete(doc);
        if (rc != 0) {
            cJSON_Delete(merged);
            return NULL;
        }
        ++*nfound;
    }
    if (!merged)
        cm_k8s_errorf(err, "ENOMEM", "out of memory");
    return merged;
}

/* ---- resolving a context ---- */

static const char *str_field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

static int bool_field(const cJSON *obj, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Reads PEM data from key-data (base64) or from the file key names; an error names the kubeconfig. */
static int load_pem(const char *source, const cJSON *obj, const char *file_key, const char *data_key, char **out,
                    size_t *len, cm_k8s_error *err)
{
    const char *data = str_field(obj, data_key), *file = str_field(obj, file_key);
    if (data) {
        *out = cm_base64_decode(data, len);
        if (!*out)
            return cm_k8s_errorf(err, "InvalidConfig", "%s: %s is not valid base64", source, data_key);
    } else if (file) {
        *out = cm_read_file(file, len);
        if (!*out)
            return cm_k8s_errorf(err, errno_code(errno), "%s: %s %s: %s", source, file_key, file, strerror(errno));
    }
    return 0;
}

/* Appends one "Name: value" line to the NULL-terminated list *v. */
static int add_line(char ***v, size_t *n, const char *name, const char *value)
{
    char **p = realloc(*v, (*n + 2) * sizeof *p);
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = p ? malloc(len) : NULL;
    if (p)
        *v = p;
    if (!line)
        return -1;
    snprintf(line, len, "%s: %s", name, value);
    (*v)[(*n)++] = line;
    (*v)[*n] = NULL;
    return 0;
}

/* The Impersonate-* headers of a user's as, as-uid, as-groups and as-user-extra. */
static int impersonation(cm_k8s_config *cfg, const cJSON *user, cm_k8s_error *err)
{
    size_t n = 0;
    int rc = 0;
    const char *as = str_field(user, "as"), *uid = str_field(user, "as-uid");
    if (as)
        rc |= add_line(&cfg->impersonate, &n, "Impersonate-User", as);
    if (uid)
        rc |= add_line(&cfg->impersonate, &n, "Impersonate-Uid", uid);
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(user, "as-groups"))
        if (cJSON_IsString(g))
            rc |= add_line(&cfg->impersonate, &n, "Impersonate-Group", g->valuestring);
    const cJSON *extra;
    cJSON_ArrayForEach(extra, cJSON_GetObjectItemCaseSensitive(user, "as-user-extra")) {
        char name[300] = "Impersonate-Extra-";
        for (const char *k = extra->string; *k && strlen(name) < sizeof name - 4; k++) {
            size_t at = strlen(name); /* token characters but '%' stay, the rest %XX, as client-go */
            if ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
                (*k && strchr("!#$&'*+-.^_`|~", *k)))
                name[at] = *k, name[at + 1] = '\0';
            else
                snprintf(name + at, sizeof name - at, "%%%02X", (unsigned char)*k);
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, extra)
            if (cJSON_IsString(v))
                rc |= add_line(&cfg->impersonate, &n, name, v->valuestring);
    }
    return rc ? cm_k8s_errorf(err, "ENOMEM", "out of memory") : 0;
}

/* Fills cfg from the cluster and user sections. */
/*
 * The user's auth-provider: oidc is kept for the client; gcp and azure fail with the words of
 * client-go since it removed them, and any other name as client-go fails for it.
 */
static int auth_provider(cm_k8s_config *cfg, const cJSON *ap, cm_k8s_error *err)
{
    if (!cJSON_IsObject(ap))
        return 0;
    const char *name = str_field(ap, "name");
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(ap, "config");
    if (name && strcmp(name, "gcp") == 0)
        return cm_k8s_errorf(err, "InvalidConfig", "The gcp auth plugin has been removed.\n"
                             "Please use the \"gke-gcloud-auth-plugin\" kubectl/client-go credential plugin "
                             "instead.\nSee https://cloud.google.com/blog/products/containers-kubernetes/"
                             "kubectl-auth-changes-in-gke for further details");
    if (name && strcmp(name, "azure") == 0)
        return cm_k8s_errorf(err, "InvalidConfig", "The azure auth plugin has been removed.\n"
                             "Please use the https://github.com/Azure/kubelogin kubectl/client-go credential "
                             "plugin instead.\nSee https://kubernetes.io/docs/reference/access-authn-authz/"
                             "authentication/#client-go-credential-plugins for further details");
    if (!name || strcmp(name, "oidc") != 0)
        return cm_k8s_errorf(err, "InvalidConfig", "no Auth Provider found for name \"%s\"", name ? name : "");
    if (!str_field(conf, "idp-issuer-url"))
        return cm_k8s_errorf(err, "InvalidConfig", "Must provide idp-issuer-url");
    if (!str_field(conf, "client-id"))
        return cm_k8s_errorf(err, "InvalidConfig", "Must provide client-id");
    cfg->auth_provider = cJSON_Duplicate(conf, 1);
    return cfg->auth_provider ? 0 : cm_k8s_errorf(err, "ENOMEM", "out of memory");
}

/* Whether server is an http(s) URL with a host (client-go refuses the rest when it parses it). */
static int valid_server(const char *server)
{
    const char *host = strncmp(server, "https://", 8) == 0 ? server + 8
                       : strncmp(server, "http://", 7) == 0 ? server + 7 : NULL;
    if (!host || !*host || *host == '/' || *host == ':')
        return 0;
    for (const char *p = host; *p && *p != '/'; p++) /* host[:port] or [v6]:port: no spaces, no '!' */
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]%", *p))
            return 0;
    const char *open = strchr(host, '['), *close = strchr(host, ']');
    return (open == NULL) == (close == NULL) && (!open || open == host);
}

static int fill_from(cm_k8s_config *cfg, const cJSON *cluster, const cJSON *user, cm_k8s_error *err)
{
    const char *server = str_field(cluster, "server");
    if (!server)
        return cm_k8s_errorf(err, "InvalidConfig", "%s: the cluster has no server", cfg->source);
    if (!valid_server(server))
        return cm_k8s_errorf(err, "InvalidConfig", "%s: server \"%s\": not an http:// or https:// URL with a host",
                             cfg->source, server);
    cfg->server = strdup(server);
    size_t n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    cfg->insecure = bool_field(cluster, "insecure-skip-tls-verify");
    cfg->disable_compression = bool_field(cluster, "disable-compression");
    cfg->tls_server_name = dup_or_null(str_field(cluster, "tls-server-name"));
    cfg->proxy_url = dup_or_null(str_field(cluster, "proxy-url"));
    cfg->cluster = cJSON_Duplicate(cluster, 1);
    if (load_pem(cfg->source, cluster, "certificate-authority", "certificate-authority-data", &cfg->ca,
                 &cfg->ca_len, err) < 0)
        return -1;
    if (!user)
        return 0;
    if (load_pem(cfg->source, user, "client-certificate", "client-certificate-data", &cfg->cert, &cfg->cert_len,
                 err) < 0 ||
        load_pem(cfg->source, user, "client-key", "client-key-data", &cfg->key, &cfg->key_len, err) < 0)
        return -1;
    cfg->token = dup_or_null(str_field(user, "token"));
    cfg->token_file = dup_or_null(str_field(user, "tokenFile"));
    if (cfg->token_file && access(cfg->token_file, R_OK) != 0) /* read again for each request; here once */
        return cm_k8s_errorf(err, errno_code(errno), "%s: tokenFile %s: %s", cfg->source, cfg->token_file,
                             strerror(errno));
    cfg->username = dup_or_null(str_field(user, "username"));
    cfg->password = dup_or_null(str_field(user, "password"));
    if (impersonation(cfg, user, err) < 0)
        return -1;
    const cJSON *exec = cJSON_GetObjectItemCaseSensitive(user, "exec");
    if (cJSON_IsObject(exec)) {
        if (!str_field(exec, "command"))
            return cm_k8s_errorf(err, "InvalidConfig", "%s: exec has no command", cfg->source);
        cfg->exec = cJSON_Duplicate(exec, 1);
    }
    return auth_provider(cfg, cJSON_GetObjectItemCaseSensitive(user, "auth-provider"), err);
}

/* Picks the context from the merged tree and fills cfg. */
static int from_kubeconfig(cm_k8s_config *cfg, const cJSON *merged, const cm_k8s_config_opts *o,
                           cm_k8s_error *err)
{
    const char *ctx = o->context ? o->context : str_field(merged, "current-context");
    if (!ctx)
        return cm_k8s_errorf(err, "InvalidConfig", "%s: no current-context and no --context", cfg->source);
    const cJSON *c = find_named(cJSON_GetObjectItemCaseSensitive(merged, "contexts"), ctx);
    if (!c)
        return cm_k8s_errorf(err, "InvalidConfig", "%s: context \"%s\" not found", cfg->source, ctx);
    cfg->context = strdup(ctx);
    const cJSON *context = cJSON_GetObjectItemCaseSensitive(c, "context");
    const char *cname = str_field(context, "cluster"), *uname = str_field(context, "user");
    const cJSON *cl = cname ? find_named(cJSON_GetObjectItemCaseSensitive(merged, "clusters"), cname) : NULL;
    if (!cl)
        return cm_k8s_errorf(err, "InvalidConfig", "%s: cluster \"%s\" of context \"%s\" not found",
                             cfg->source, cname ? cname : "", ctx);
    const cJSON *u = uname ? find_named(cJSON_GetObjectItemCaseSensitive(merged, "users"), uname) : NULL;
    if (uname && !u)
        return cm_k8s_errorf(err, "InvalidConfig", "%s: user \"%s\" of context \"%s\" not found",
                             cfg->source, uname, ctx);
    const char *ns = o->namespace ? o->namespace : str_field(context, "namespace");
    cfg->namespace = strdup(ns ? ns : "default");
    if (uname) {
        cfg->user = strdup(uname);
        cfg->user_file = dup_or_null(str_field(cJSON_GetObjectItemCaseSensitive(merged, "user-files"), uname));
    }
    return fill_from(cfg, cJSON_GetObjectItemCaseSensitive(cl, "cluster"),
                     u ? cJSON_GetObjectItemCaseSensitive(u, "user") : NULL, err);
}

/* The first line of a small file, trimmed; NULL when unreadable. */
static char *read_trimmed(const char *path)
{
    char *s = cm_read_file(path, NULL);
    if (!s)
        return NULL;
    size_t n = strcspn(s, "\r\n");
    s[n] = '\0';
    return s;
}

/* The service-account configuration of a pod. */
static int from_cluster(cm_k8s_config *cfg, const char *host, const char *port,
                        const cm_k8s_config_opts *o, cm_k8s_error *err)
{
    const char *env_dir = getenv("CNI_MIGRATE_SERVICEACCOUNT_DIR"); /* fake serve's pods without a mount namespace */
    const char *dir = o->sa_dir ? o->sa_dir : env_dir && *env_dir ? env_dir : SA_DIR;
    char path[4096];
    size_t n = strlen(host) + strlen(port) + 16;
    cfg->server = malloc(n);
    if (!cfg->server)
        return cm_k8s_errorf(err, "ENOMEM", "out of memory");
    snprintf(cfg->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    cfg->in_cluster = 1;
    snprintf(path, sizeof path, "%s/token", dir);
    cfg->token_file = strdup(path);
    if (access(path, R_OK) != 0)
        return cm_k8s_errorf(err, errno_code(errno), "in-cluster token %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    cfg->ca = cm_read_file(path, &cfg->ca_len); /* a missing CA is not fatal, as in client-go */
    snprintf(path, sizeof path, "%s/namespace", dir);
    char *ns = o->namespace ? strdup(o->namespace) : read_trimmed(path);
    cfg->namespace = ns && *ns ? ns : (free(ns), strdup("default"));
    return 0;
}

/* Splits a ':' list into an array of strings (owned by *store). */
static size_t split_list(const char *list, char **store, const char ***out)
{
    *store = strdup(list);
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ':';
    *out = calloc(n, sizeof **out);
    if (!*store || !*out)
        return 0;
    size_t i = 0;
    for (char *tok = *store, *next; tok; tok = next) {
        next = strchr(tok, ':');
        if (next)
            *next++ = '\0';
        (*out)[i++] = tok;
    }
    return i;
}

/* The kubeconfig files to read, in order, and whether they must exist. */
static size_t config_files(const cm_k8s_config_opts *o, char **store, const char ***paths, int *must,
                           char *home_path, size_t size)
{
    const char *env = o->env_kubeconfig ? o->env_kubeconfig : getenv("KUBECONFIG");
    const char *home = o->home ? o->home : getenv("HOME");
    *must = 0;
    if (o->kubeconfig) {
        *must = 1;
        return split_list(o->kubeconfig, store, paths) ? 1 : 0;
    }
    if (env && *env)
        return split_list(env, store, paths);
    snprintf(home_path, size, "%s/.kube/config", home ? home : "");
    return split_list(home ? home_path : "", store, paths);
}

cm_k8s_config *cm_k8s_config_load(const cm_k8s_config_opts *opts, cm_k8s_error *err)
{
    cm_k8s_config_opts none = {0};
    const cm_k8s_config_opts *o = opts ? opts : &none;
    cm_k8s_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        cm_k8s_errorf(err, "ENOMEM", "out of memory");
        return NULL;
    }
    char *store = NULL, home_path[4096];
    const char **paths = NULL;
    int must, nfound = 0, rc = -1;
    size_t n = config_files(o, &store, &paths, &must, home_path, sizeof home_path);
    cJSON *merged = cm_kubeconfig_merge(paths, n, must, &nfound, err);
    if (merged && nfound > 0) {
        const char *env = o->env_kubeconfig ? o->env_kubeconfig : getenv("KUBECONFIG");
        const char *what = o->kubeconfig ? o->kubeconfig : env && *env ? env : home_path;
        size_t len = strlen(what) + 16;
        cfg->source = malloc(len);
        if (cfg->source)
            snprintf(cfg->source, len, "kubeconfig %s", what);
        rc = cfg->source ? from_kubeconfig(cfg, merged, o, err) : cm_k8s_errorf(err, "ENOMEM", "out of memory");
    } else if (merged) {
        const char *host = o->service_host ? o->service_host : getenv("KUBERNETES_SERVICE_HOST");
        const char *port = o->service_port ? o->service_port : getenv("KUBERNETES_SERVICE_PORT");
        cfg->source = strdup("in-cluster");
        if (host && *host && port && *port)
            rc = from_cluster(cfg, host, port, o, err);
        else
            cm_k8s_errorf(err, "NoConfig",
                          "no Kubernetes configuration: no kubeconfig (--kubeconfig, KUBECONFIG, "
                          "~/.kube/config) and not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)");
    }
    cJSON_Delete(merged);
    free(store);
    free(paths);
    if (rc != 0) {
        cm_k8s_config_free(cfg);
        return NULL;
    }
    return cfg;
}

cm_k8s_config *cm_k8s_config_fake(const char *source, const char *namespace)
{
    cm_k8s_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->source = strdup(source);
    cfg->server = strdup("https://fake-cluster.invalid");
    cfg->namespace = strdup(namespace ? namespace : "default");
    if (!cfg->source || !cfg->server || !cfg->namespace) {
        cm_k8s_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void cm_k8s_config_free(cm_k8s_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->context);
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->ca);
    free(cfg->cert);
    free(cfg->key);
    free(cfg->tls_server_name);
    free(cfg->proxy_url);
    free(cfg->token);
    free(cfg->token_file);
    free(cfg->username);
    free(cfg->password);
    cJSON_Delete(cfg->exec);
    cJSON_Delete(cfg->cluster);
    cJSON_Delete(cfg->auth_provider);
    free(cfg->user);
    free(cfg->user_file);
    for (size_t i = 0; cfg->impersonate && cfg->impersonate[i]; i++)
        free(cfg->impersonate[i]);
    free(cfg->impersonate);
    free(cfg);
}

/* ---- writing a refreshed token back ---- */

/* Replaces path by text atomically (a temporary file beside it, renamed), with path's mode. */
static int replace_file(const char *path, const char *text, size_t len, cm_k8s_error *err)
{
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0600;
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return cm_k8s_errorf(err, "ENOMEM", "out of memory");
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    int ok = fd >= 0 && fchmod(fd, mode) == 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        ok = w > 0;
        off += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok && fd >= 0)
        unlink(tmp);
    free(tmp);
    return ok ? 0 : cm_k8s_errorf(err, errno_code(e), "%s: %s", path, strerror(e));
}

int cm_kubeconfig_persist_auth_provider(const char *file, const char *user, const cJSON *config,
                                        cm_k8s_error *err)
{
    if (!file || !user)
        return cm_k8s_errorf(err, "InvalidConfig", "no kubeconfig file defines the user");
    cJSON *doc = parse_file(file, err);
    if (!doc)
        return -1;
    cJSON *entry = find_named(cJSON_GetObjectItemCaseSensitive(doc, "users"), user);
    cJSON *ap = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "user"), "auth-provider");
    cJSON *copy = cJSON_IsObject(ap) ? cJSON_Duplicate(config, 1) : NULL;
    int rc = -1;
    if (!cJSON_IsObject(ap)) {
        cm_k8s_errorf(err, "InvalidConfig", "%s: user \"%s\" has no auth-provider any more", file, user);
    } else if (copy) {
        if (cJSON_GetObjectItemCaseSensitive(ap, "config"))
            cJSON_ReplaceItemInObjectCaseSensitive(ap, "config", copy);
        else
            cJSON_AddItemToObject(ap, "config", copy);
        const cJSON *docs[] = {doc};
        size_t len;
        cm_yaml_error ye = {0};
        char *text = cm_yaml_emit(docs, 1, &len, &ye);
        rc = text ? replace_file(file, text, len, err) : cm_k8s_errorf(err, "EIO", "%s: %s", file, ye.message);
        free(text);
    } else {
        cm_k8s_errorf(err, "ENOMEM", "out of memory");
    }
    cJSON_Delete(doc);
    return rc;
}
