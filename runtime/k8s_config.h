/*
 * k8s_config.h - where the Kubernetes client connects and as whom, read the
 * way kubectl reads it (client-go tools/clientcmd and rest.InClusterConfig).
 *
 * Order: an explicit kubeconfig (used alone, must exist); else the KUBECONFIG
 * list (':'-separated, missing files skipped, merged first-file-wins per
 * cluster/user/context name, current-context from the first file that sets
 * it); else ~/.kube/config; and when none of those exists, the in-cluster
 * service account (KUBERNETES_SERVICE_HOST/PORT). Relative paths in a file
 * (certificate-authority, client-certificate, client-key, tokenFile, an exec
 * command with a '/') resolve against the directory of the file naming them.
 * File contents (CA, certificate, key) are read into memory here; nothing is
 * ever written to a temporary file.
 */
#ifndef CM_K8S_CONFIG_H
#define CM_K8S_CONFIG_H

#include "strbuf.h" /* cm_read_file, for the files a configuration names */

#include <cJSON.h>
#include <stddef.h>

/* A failure of the world: a stable code and a message naming the cause. */
typedef struct cm_k8s_error {
    const char *code; /* e.g. NoConfig, InvalidConfig, NotFound, Timeout */
    char message[512];
} cm_k8s_error;

/* Fills err (printf-style) and returns -1. */
int cm_k8s_errorf(cm_k8s_error *err, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Where to look; every field is optional (NULL: the environment or default). */
typedef struct cm_k8s_config_opts {
    const char *kubeconfig;     /* --kubeconfig: this file only, which must exist */
    const char *context;        /* --context: instead of current-context */
    const char *namespace;      /* --namespace: instead of the context's */
    const char *env_kubeconfig; /* NULL: getenv("KUBECONFIG") */
    const char *home;           /* NULL: getenv("HOME") */
    const char *sa_dir;         /* NULL: /var/run/secrets/kubernetes.io/serviceaccount */
    const char *service_host;   /* NULL: getenv("KUBERNETES_SERVICE_HOST") */
    const char *service_port;   /* NULL: getenv("KUBERNETES_SERVICE_PORT") */
} cm_k8s_config_opts;

/* The resolved configuration of one client. Strings are owned (malloc'd). */
typedef struct cm_k8s_config {
    char *source;    /* "kubeconfig /a:/b, context x" or "in-cluster" */
    char *context;   /* NULL in cluster */
    char *server;    /* https://host:port, no trailing '/' */
    char *namespace; /* default namespace of the run: never NULL */
    int in_cluster;
    /* TLS */
    char *ca, *cert, *key; /* PEM data */
    size_t ca_len, cert_len, key_len;
    int insecure;
    char *tls_server_name;
    char *proxy_url;
    int disable_compression;
    /* credentials */
    char *token;
    char *token_file; /* re-read at least every minute and on a 401 */
    char *username, *password;
    cJSON *exec;    /* the user's exec section (command resolved), or NULL */
    char **impersonate; /* "Impersonate-User: ..." header lines (as, as-uid, as-groups,
                           as-user-extra), NULL-terminated, or NULL */
    cJSON *cluster; /* the cluster section, for exec's provideClusterInfo */
    cJSON *auth_provider; /* the user's auth-provider config (oidc: id-token, refresh-token,
                             idp-issuer-url, client-id, ...), or NULL */
    char *user;      /* the user's name, and the kubeconfig file that defined it: where */
    char *user_file; /* a refreshed OIDC token is written back, as client-go does */
} cm_k8s_config;

/* Loads the configuration. Returns it, or NULL with err filled (NoConfig,
 * InvalidConfig, or the errno name of a file that cannot be read). */
cm_k8s_config *cm_k8s_config_load(const cm_k8s_config_opts *opts, cm_k8s_error *err);

/*
 * The configuration of a client of the simulated cluster (--fake): no
 * credentials, the given namespace and a source naming the fixture.
 * NULL when out of memory.
 */
cm_k8s_config *cm_k8s_config_fake(const char *source, const char *namespace);

/* Frees a configuration; NULL is accepted. */
void cm_k8s_config_free(cm_k8s_config *cfg);

/*
 * Merges kubeconfig files the way client-go does (first file wins per name
 * and for current-context; missing files skipped unless must_exist), resolving
 * relative paths against each file's directory. Returns a new tree
 * {"current-context", "clusters", "users", "contexts", "user-files"} (empty
 * when no file existed; *nfound says how many did; "user-files" maps each
 * user's name to the file that defined it), or NULL with err filled.
 */
cJSON *cm_kubeconfig_merge(const char *const *paths, size_t n, int must_exist, int *nfound,
                           cm_k8s_error *err);

/*
 * Writes an auth-provider's config back into the kubeconfig file that defines
 * user (client-go persists refreshed OIDC tokens so): the file is read, the
 * user's auth-provider.config replaced by config, and the file replaced
 * atomically, keeping its mode (comments and formatting are not kept, as with
 * client-go). Returns 0, or -1 with err filled.
 */
int cm_kubeconfig_persist_auth_provider(const char *file, const char *user, const cJSON *config,
                                        cm_k8s_error *err);

/* Decodes base64 (standard alphabet, padding and white space allowed). NULL when invalid. */
char *cm_base64_decode(const char *s, size_t *len);

/* Parses an RFC 3339 time ("2026-11-29T05:33:20Z", fractions and offsets allowed) into
 * ns since the Unix epoch. Returns 0, or -1 when it is not one. */
int cm_parse_rfc3339(const char *s, long long *ns);

#endif
