/* test_k8s_config.c - kubeconfig merging as client-go does it, contexts, in-cluster configuration. */
#include "check.h"
#include "k8s_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

/* Writes text to root/name; returns the path (static buffer per call site use). */
static const char *put(const char *name, const char *text)
{
    static char paths[16][512];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 512, "%s/%s", root, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* root/name, in one of 8 rotating buffers so several fit in one call. */
static const char *path_of(const char *name)
{
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 512, "%s/%s", root, name);
    return path;
}

static const cJSON *named(const cJSON *merged, const char *section, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(merged, section)) {
        if (strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name) == 0)
            return e;
    }
    return NULL;
}

static const char *deep(const cJSON *e, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(e, a), b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char A[] =
    "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
    "clusters:\n- name: c1\n  cluster: {server: https://a.example:6443, certificate-authority: ca.crt}\n"
    "users:\n- name: u1\n  user: {token: token-a, exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin}}\n"
    "contexts:\n- name: a\n  context: {cluster: c1, user: u1, namespace: team-a}\n";

static const char B[] =
    "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
    "clusters:\n- name: c1\n  cluster: {server: https://b.example, insecure-skip-tls-verify: true}\n"
    "- name: c2\n  cluster: {server: https://c2.example/, certificate-authority: /abs/ca.crt}\n"
    "users:\n- name: u2\n  user: {client-certificate: sub/u2.crt, tokenFile: tok, exec: {command: kubectl}}\n"
    "contexts:\n- name: a\n  context: {cluster: c2, user: u2}\n- name: b\n  context: {cluster: c2, user: u2}\n";

static void test_merge_first_file_wins(void)
{
    const char *a = put("a.yaml", A);
    mkdir(path_of("b"), 0700);
    const char *b = put("b/b.yaml", B);
    const char *paths[] = {a, path_of("missing.yaml"), b};
    cm_k8s_error err = {0};
    int found;
    cJSON *m = cm_kubeconfig_merge(paths, 3, 0, &found, &err);
    CHECK(m != NULL);
    CHECK_INT(found, 2);
    CHECK_STR(cJSON_GetObjectItem(m, "current-context")->valuestring, "a");
    const cJSON *c1 = named(m, "clusters", "c1");
    CHECK_STR(deep(c1, "cluster", "server"), "https://a.example:6443");
    /* the later c1's extra field is dropped too: the whole entry is A's */
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(c1, "cluster"), "insecure-skip-tls-verify") == NULL);
    CHECK(named(m, "clusters", "c2") != NULL);
    CHECK_STR(deep(named(m, "contexts", "a"), "context", "cluster"), "c1");
    CHECK(named(m, "contexts", "b") != NULL);
    /* relative paths against the file naming them; absolute and bare commands untouched */
    char want[600];
    snprintf(want, sizeof want, "%s/ca.crt", root);
    CHECK_STR(deep(c1, "cluster", "certificate-authority"), want);
    CHECK_STR(deep(named(m, "clusters", "c2"), "cluster", "certificate-authority"), "/abs/ca.crt");
    const cJSON *u2 = cJSON_GetObjectItem(named(m, "users", "u2"), "user");
    snprintf(want, sizeof want, "%s/b/sub/u2.crt", root);
    CHECK_STR(cJSON_GetObjectItem(u2, "client-certificate")->valuestring, want);
    snprintf(want, sizeof want, "%s/b/tok", root);
    CHECK_STR(cJSON_GetObjectItem(u2, "tokenFile")->valuestring, want);
    CHECK_STR(deep(u2, "exec", "command"), "kubectl");
    snprintf(want, sizeof want, "%s/./plugin", root);
    CHECK_STR(deep(cJSON_GetObjectItem(named(m, "users", "u1"), "user"), "exec", "command"), want);
    cJSON_Delete(m);

    /* the other order: B wins */
    const char *rev[] = {b, a};
    m = cm_kubeconfig_merge(rev, 2, 0, &found, &err);
    CHECK_STR(cJSON_GetObjectItem(m, "current-context")->valuestring, "b");
    CHECK_STR(deep(named(m, "clusters", "c1"), "cluster", "server"), "https://b.example");
    CHECK_STR(deep(named(m, "contexts", "a"), "context", "cluster"), "c2");
    cJSON_Delete(m);

    /* must_exist (an explicit --kubeconfig) */
    const char *missing[] = {path_of("missing.yaml")};
    m = cm_kubeconfig_merge(missing, 1, 1, &found, &err);
    CHECK(m == NULL);
    CHECK_STR(err.code, "ENOENT");
}

static void test_load_contexts(void)
{
    put("ca.crt", "PEM-A");
    char list[2000];
    snprintf(list, sizeof list, "%s:%s:%s", path_of("a.yaml"), path_of("nope.yaml"), path_of("b/b.yaml"));
    cm_k8s_error err = {0};
    cm_k8s_config_opts o = {.env_kubeconfig = list, .home = "/nonexistent"};
    cm_k8s_config *cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_STR(cfg->context, "a");
        CHECK_STR(cfg->server, "https://a.example:6443");
        CHECK_STR(cfg->namespace, "team-a");
        CHECK_INT(cfg->ca_len, 5);
        CHECK(cfg->ca && memcmp(cfg->ca, "PEM-A", 5) == 0);
        CHECK_STR(cfg->token, "token-a");
        CHECK(cfg->exec != NULL);
        CHECK_INT(cfg->in_cluster, 0);
    }
    cm_k8s_config_free(cfg);

    /* --namespace over the context's; --context over current-context */
    o.namespace = "ns-x";
    cfg = cm_k8s_config_load(&o, &err);
    CHECK_STR(cfg ? cfg->namespace : NULL, "ns-x");
    cm_k8s_config_free(cfg);
    o.namespace = NULL;
    o.context = "b"; /* c2: its absolute CA path does not exist, an error when read */
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg == NULL);
    CHECK_STR(err.code, "ENOENT");
    CHECK(strstr(err.message, "/abs/ca.crt") != NULL);
    o.context = "nope";
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg == NULL);
    CHECK_STR(err.code, "InvalidConfig");
    CHECK(strstr(err.message, "context \"nope\" not found") != NULL);

    /* an explicit kubeconfig is used alone, KUBECONFIG ignored */
    o = (cm_k8s_config_opts){.kubeconfig = path_of("b/b.yaml"), .env_kubeconfig = list};
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg == NULL); /* b's current context names c2, whose CA file is missing */
    CHECK_STR(err.code, "ENOENT");
    CHECK(strstr(err.message, "/abs/ca.crt") != NULL);

    /* the default namespace, and ~/.kube/config when KUBECONFIG is empty */
    mkdir(path_of(".kube"), 0700);
    put(".kube/config", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://h', "
                        "certificate-authority-data: UEVNLUI=}}]\ncontexts: [{name: x, context: {cluster: c}}]\n");
    o = (cm_k8s_config_opts){.env_kubeconfig = "", .home = root};
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_STR(cfg->namespace, "default");
        CHECK(cfg->ca_len == 5 && memcmp(cfg->ca, "PEM-B", 5) == 0);
        CHECK(cfg->token == NULL && cfg->exec == NULL);
    }
    cm_k8s_config_free(cfg);

    /* bad YAML names the file and line */
    const char *bad = put("bad.yaml", "clusters:\n  - name: [\n");
    o = (cm_k8s_config_opts){.kubeconfig = bad};
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg == NULL);
    CHECK_STR(err.code, "InvalidConfig");
    CHECK(strstr(err.message, "bad.yaml:") != NULL);
}

static void test_in_cluster(void)
{
    mkdir(path_of("sa"), 0700);
    put("sa/token", "sa-token\n");
    put("sa/namespace", "kube-system\n");
    put("sa/ca.crt", "PEM-SA");
    cm_k8s_error err = {0};
    cm_k8s_config_opts o = {.env_kubeconfig = "", .home = "/nonexistent", .sa_dir = path_of("sa"),
                            .service_host = "fd00::1", .service_port = "443"};
    cm_k8s_config *cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_STR(cfg->server, "https://[fd00::1]:443");
        CHECK_STR(cfg->namespace, "kube-system");
        CHECK_STR(cfg->source, "in-cluster");
        CHECK_INT(cfg->in_cluster, 1);
        CHECK(cfg->token_file && strstr(cfg->token_file, "/sa/token"));
        CHECK(cfg->ca_len == 6 && memcmp(cfg->ca, "PEM-SA", 6) == 0);
    }
    cm_k8s_config_free(cfg);
    o.service_host = "10.96.0.1";
    cfg = cm_k8s_config_load(&o, &err);
    CHECK_STR(cfg ? cfg->server : NULL, "https://10.96.0.1:443");
    cm_k8s_config_free(cfg);
    o.service_host = "";
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg == NULL);
    CHECK_STR(err.code, "NoConfig");
    o.service_host = "10.96.0.1";
    o.sa_dir = path_of("no-sa");
    cfg = cm_k8s_config_load(&o, &err);
    CHECK(cfg == NULL);
    CHECK_STR(err.code, "ENOENT");
}

static void test_base64_and_time(void)
{
    size_t n;
    char *s = cm_base64_decode("aGVs\nbG8=", &n);
    CHECK_STR(s, "hello");
    CHECK_INT(n, 5);
    free(s);
    CHECK(cm_base64_decode("a*b", &n) == NULL);
    long long ns;
    CHECK_INT(cm_parse_rfc3339("1970-01-01T00:00:01Z", &ns), 0);
    CHECK_INT(ns, 1000000000LL);
    CHECK_INT(cm_parse_rfc3339("2026-11-29T05:33:20.5+01:00", &ns), 0);
    CHECK_INT(ns, 1795930400500000000LL - 3600000000000LL);
    CHECK_INT(cm_parse_rfc3339("2026-11-29 05:33", &ns), -1);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/cm-k8s-config-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    RUN(test_merge_first_file_wins);
    RUN(test_load_contexts);
    RUN(test_in_cluster);
    RUN(test_base64_and_time);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        return 1;
    return CHECK_DONE();
}
