/* podproc.c - cni-migrate's own pods as child processes of fake serve (see podproc.h). */
#define _GNU_SOURCE /* unshare, CLONE_NEWNS */
#include "podproc.h"

#include "json.h"
#include "k8s_config.h"
#include "noderun.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define SA_DIR_ENV "CNI_MIGRATE_SERVICEACCOUNT_DIR"
#define REAP_POLL_NS (20 * CM_NS_PER_S / 1000) /* real time between looks for an exit after EOF */
#define FALLBACK_LINES 80
#define FALLBACK_BYTES 2048

struct proc {
    cm_podproc *pp;
    struct proc *next;
    pid_t pid;
    int fd;              /* the read end of its stdout and stderr, -1 once at EOF */
    char uid[64];
    char dir[64];        /* the serviceaccount files */
    char msg[64];        /* the termination message file, at the container's terminationMessagePath */
    int fallback_logs;   /* terminationMessagePolicy FallbackToLogsOnError */
    int gone;            /* its pod is gone: its log goes when it ends */
    char *tail;          /* the last FALLBACK_BYTES of its output */
    size_t tail_len;
    cm_timer *timer;
};

struct cm_podproc {
    cm_sim *sim;
    cm_fake *f;
    cm_loop *loop;
    char *image, *host, *ca, *token;
    int port, authorize;
    char exe[PATH_MAX];
    struct proc *procs;
};

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *gets(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(get(o, k));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

cm_podproc *cm_podproc_new(cm_sim *sim, cm_fake *f, cm_loop *loop, const struct cm_podproc_opts *o,
                           char *err, size_t errsize)
{
    cm_podproc *pp = calloc(1, sizeof *pp);
    if (!pp)
        return snprintf(err, errsize, "out of memory"), NULL;
    ssize_t n = readlink("/proc/self/exe", pp->exe, sizeof pp->exe - 1);
    if (n <= 0) {
        snprintf(err, errsize, "--run-image: cannot read /proc/self/exe: %s", strerror(errno));
        free(pp);
        return NULL;
    }
    pp->exe[n] = '\0';
    pp->sim = sim;
    pp->f = f;
    pp->loop = loop;
    pp->image = dup_or_null(o->image);
    pp->host = dup_or_null(o->server_host);
    pp->ca = dup_or_null(o->ca_pem);
    pp->token = dup_or_null(o->token);
    pp->port = o->server_port;
    pp->authorize = o->authorize;
    if (!pp->image || !pp->host || (o->ca_pem && !pp->ca) || (o->token && !pp->token)) {
        cm_podproc_free(pp);
        return snprintf(err, errsize, "out of memory"), NULL;
    }
    return pp;
}

static const cJSON *first_container(const cJSON *pod)
{
    return cJSON_GetArrayItem(get(get(pod, "spec"), "containers"), 0);
}

int cm_podproc_matches(const cm_podproc *pp, const cJSON *pod)
{
    const char *image = gets(first_container(pod), "image");
    if (!pp || !image)
        return 0;
    size_t n = strlen(pp->image);
    const char *slash = strrchr(pp->image, '/');
    int tagged = strchr(slash ? slash : pp->image, ':') || strchr(pp->image, '@');
    return strcmp(image, pp->image) == 0 ||
           (!tagged && strncmp(image, pp->image, n) == 0 && (image[n] == ':' || image[n] == '@'));
}

int cm_podproc_running(const cm_podproc *pp)
{
    int n = 0;
    for (const struct proc *p = pp ? pp->procs : NULL; p; p = p->next)
        n++;
    return n;
}

static void note(const char *ns, const char *name, const char *what)
{
    fprintf(stderr, "cni-migrate: fake serve: pod %s/%s: %s\n", ns, name, what);
}

/* ---- what the container is given ---- */

struct strv {
    char **v;
    size_t n, cap;
};

static int strv_add(struct strv *s, char *str)
{
    if (!str)
        return -1;
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            free(str);
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
    return 0;
}

static int strv_addf(struct strv *s, const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *e = malloc(n);
    if (e)
        snprintf(e, n, "%s=%s", k, v);
    return strv_add(s, e);
}

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* "metadata.labels['k']" -> the label's value (NULL: none). */
static const char *map_ref(const cJSON *meta, const char *path, const char *field)
{
    size_t n = strlen(field);
    if (strncmp(path, field, n) != 0 || strncmp(path + n, "['", 2) != 0)
        return NULL;
    const char *k = path + n + 2, *end = strstr(k, "']");
    if (!end)
        return NULL;
    char key[320];
    snprintf(key, sizeof key, "%.*s", (int)(end - k), k);
    return gets(get(meta, field + strlen("metadata.")), key);
}

/* The downward API's value of fieldPath for pod on node, or NULL when it is not one. */
static const char *field_ref(const cJSON *pod, const char *node, const char *path)
{
    const cJSON *meta = get(pod, "metadata"), *spec = get(pod, "spec"), *st = get(pod, "status");
    static const struct { const char *path, *part, *key; } F[] = {
        {"metadata.name", "metadata", "name"},        {"metadata.namespace", "metadata", "namespace"},
        {"metadata.uid", "metadata", "uid"},          {"spec.serviceAccountName", "spec", "serviceAccountName"},
        {"status.hostIP", "status", "hostIP"},        {"status.podIP", "status", "podIP"}};
    if (strcmp(path, "spec.nodeName") == 0)
        return node;
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
        if (strcmp(path, F[i].path) == 0) {
            const cJSON *part = F[i].part[0] == 'm' ? meta : F[i].part[0] == 's' && F[i].part[1] == 'p' ? spec : st;
            const char *v = gets(part, F[i].key);
            return v ? v : "";
        }
    const char *v = map_ref(meta, path, "metadata.labels");
    return v ? v : map_ref(meta, path, "metadata.annotations");
}

/* The value of NAME=... in env, or NULL. */
static const char *env_get(const struct strv *env, const char *name, size_t len)
{
    for (size_t i = env->n; i-- > 0;)
        if (strncmp(env->v[i], name, len) == 0 && env->v[i][len] == '=')
            return env->v[i] + len + 1;
    return NULL;
}

/* Sets NAME=value, replacing an earlier NAME (a later definition wins, as the kubelet's map). */
static int env_set(struct strv *env, const char *name, const char *value)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], name, len) == 0 && env->v[i][len] == '=') {
            free(env->v[i]);
            memmove(env->v + i, env->v + i + 1, (env->n - i) * sizeof *env->v); /* the NULL too */
            env->n--;
            break;
        }
    return strv_addf(env, name, value);
}

/*
 * in with $(VAR) replaced by VAR's value in env, as the kubelet expands env values, command and
 * args (third_party/forked/golang/expansion): "$$" is a "$", a $(VAR) not defined stays as it is,
 * and so does a "$" before anything else. malloc'd; NULL when out of memory.
 */
static char *expand(const char *in, const struct strv *env)
{
    size_t cap = strlen(in) + 1, n = 0;
    char *out = malloc(cap);
    for (const char *p = in; out && *p;) {
        const char *piece = p, *close = NULL, *val = NULL;
        size_t len = 1;
        if (p[0] == '$' && p[1] == '$') {
            len = 1, p += 2;                         /* an escaped "$" */
        } else if (p[0] == '$' && p[1] == '(' && (close = strchr(p + 2, ')')) &&
                   (val = env_get(env, p + 2, (size_t)(close - p - 2)))) {
            piece = val, len = strlen(val), p = close + 1; /* a defined $(VAR) */
        } else {
            len = close ? (size_t)(close + 1 - p) : 1, p += len; /* anything else, as it is */
        }
        if (n + len + 1 > cap) {
            char *t = realloc(out, cap = 2 * (n + len + 1));
            if (!t)
                free(out);
            out = t;
            if (!out)
                break;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    if (out)
        out[n] = '\0';
    return out;
}

/* The object at path (an internal GET: the kubelet reads what the pod names), or NULL. */
static cJSON *get_object(cm_podproc *pp, const char *path)
{
    cm_fake_req req = {.method = "GET", .path = path, .internal = 1};
    cm_fake_resp resp = {0};
    cm_fake_handle(pp->f, &req, &resp);
    cJSON *doc = resp.status == 200 && resp.body ? cJSON_Parse(resp.body) : NULL;
    cm_fake_resp_clear(&resp);
    return doc;
}

/* A ConfigMap's ("configmaps") or Secret's ("secrets") data, values decoded: an object the caller
 * frees (empty without data), or NULL with why (the kubelet's words) when it is not there. */
static cJSON *source_data(cm_podproc *pp, const char *ns, const char *plural, const char *name, char *why,
                          size_t size)
{
    char path[700];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/%s/%s", ns, plural, name ? name : "");
    cJSON *obj = name ? get_object(pp, path) : NULL;
    if (!obj) {
        snprintf(why, size, "%s \"%s\" not found", plural[0] == 'c' ? "configmap" : "secret", name ? name : "");
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    const cJSON *e;
    cJSON_ArrayForEach(e, get(obj, "data")) {
        if (!cJSON_IsString(e))
            continue;
        size_t len = 0;
        char *v = plural[0] == 's' ? cm_base64_decode(e->valuestring, &len) : strdup(e->valuestring);
        if (v)
            cJSON_AddStringToObject(out, e->string, v);
        free(v);
    }
    cJSON_Delete(obj);
    return out;
}

/* An env entry's valueFrom: its value into *value (malloc'd; NULL: left out, optional or not
 * given, said in why when not given), or -1 with why when the container cannot start. */
static int value_from(cm_podproc *pp, const cJSON *pod, const char *node, const cJSON *from, char **value,
                      char *why, size_t size)
{
    const char *ns = gets(get(pod, "metadata"), "namespace");
    const char *path = gets(get(from, "fieldRef"), "fieldPath");
    const cJSON *ref = get(from, "configMapKeyRef");
    const char *plural = ref ? "configmaps" : "secrets", *kind = ref ? "ConfigMap" : "Secret";
    *value = NULL;
    if (path) {
        const char *v = field_ref(pod, node, path);
        *value = v ? strdup(v) : NULL;
        if (!v)
            snprintf(why, size, "fieldRef %s is not one the kubelet gives; left out", path);
        return 0;
    }
    if (!ref && !(ref = get(from, "secretKeyRef"))) {
        snprintf(why, size, "only fieldRef, configMapKeyRef and secretKeyRef values are given; left out");
        return 0;
    }
    int optional = cJSON_IsTrue(get(ref, "optional"));
    cJSON *data = source_data(pp, ns, plural, gets(ref, "name"), why, size);
    const char *key = gets(ref, "key"), *v = cJSON_GetStringValue(get(data, key ? key : ""));
    if (data && !v)
        snprintf(why, size, "couldn't find key %s in %s %s/%s", key ? key : "", kind, ns, gets(ref, "name"));
    *value = v ? strdup(v) : NULL;
    cJSON_Delete(data);
    if (!v && optional)
        why[0] = '\0';
    return v || optional ? 0 : -1;
}

/* envFrom: every key of each ConfigMap or Secret (with its prefix). -1 with why when one that is
 * not optional is not there. */
static int env_from(cm_podproc *pp, const cJSON *pod, struct strv *env, char *why, size_t size)
{
    const char *ns = gets(get(pod, "metadata"), "namespace");
    const cJSON *src;
    cJSON_ArrayForEach(src, get(first_container(pod), "envFrom")) {
        const cJSON *ref = get(src, "configMapRef");
        const char *plural = ref ? "configmaps" : "secrets", *prefix = gets(src, "prefix");
        if (!ref && !(ref = get(src, "secretRef")))
            continue;
        cJSON *data = source_data(pp, ns, plural, gets(ref, "name"), why, size);
        if (!data && !cJSON_IsTrue(get(ref, "optional")))
            return -1;
        why[0] = '\0';
        const cJSON *e;
        cJSON_ArrayForEach(e, data) {
            char name[600];
            snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", e->string);
            if (env_set(env, name, e->valuestring)) {
                cJSON_Delete(data);
                return snprintf(why, size, "out of memory"), -1;
            }
        }
        cJSON_Delete(data);
    }
    return 0;
}

/* The container's environment as the kubelet makes it: the service variables, envFrom, then env in
 * order, each value's $(VAR) expanded with what came before. -1 with why when it cannot start
 * (a ConfigMap, Secret or key that is not there and not optional). */
static int build_env(const cJSON *pod, const char *node, cm_podproc *pp, struct strv *env, char *why,
                     size_t size)
{
    const cJSON *c = first_container(pod), *meta = get(pod, "metadata");
    const char *ns = gets(meta, "namespace"), *name = gets(meta, "name");
    char port[16];
    snprintf(port, sizeof port, "%d", pp->port);
    int host_net = cJSON_IsTrue(get(get(pod, "spec"), "hostNetwork"));
    if (strv_addf(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") ||
        strv_addf(env, "HOSTNAME", host_net ? node : name) || strv_addf(env, "KUBERNETES_SERVICE_HOST", pp->host) ||
        strv_addf(env, "KUBERNETES_SERVICE_PORT", port))
        return snprintf(why, size, "out of memory"), -1;
    if (env_from(pp, pod, env, why, size) != 0)
        return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, get(c, "env")) {
        const char *k = gets(e, "name");
        const cJSON *from = get(e, "valueFrom");
        char *v = NULL, note_why[400] = "";
        if (!k)
            continue;
        if (from && value_from(pp, pod, node, from, &v, why, size) != 0)
            return -1;
        if (from && !v) {
            if (why[0]) {
                snprintf(note_why, sizeof note_why, "env %s: %.300s", k, why);
                note(ns, name, note_why);
                why[0] = '\0';
            }
            continue;
        }
        if (!from)
            v = expand(gets(e, "value") ? gets(e, "value") : "", env);
        int rc = v ? env_set(env, k, v) : -1;
        free(v);
        if (rc)
            return snprintf(why, size, "out of memory"), -1;
    }
    return 0;
}

/* command and args ($(VAR) expanded with env): the image's entrypoint is cni-migrate, which is this binary. */
static int build_argv(const cJSON *pod, const cm_podproc *pp, const struct strv *env, struct strv *argv, char *why,
                      size_t size)
{
    const cJSON *c = first_container(pod), *a;
    const cJSON *cmd = get(c, "command");
    if (cJSON_GetArraySize(cmd) > 0) {
        const char *c0 = cJSON_GetStringValue(cJSON_GetArrayItem(cmd, 0));
        const char *base = c0 ? strrchr(c0, '/') : NULL;
        base = base ? base + 1 : c0;
        if (!base || strcmp(base, "cni-migrate") != 0)
            return snprintf(why, size, "exec: \"%s\": only cni-migrate runs in this image", c0 ? c0 : ""), -1;
    }
    if (strv_add(argv, strdup(pp->exe)))
        return snprintf(why, size, "out of memory"), -1;
    int i = 0;
    cJSON_ArrayForEach(a, cmd)
        if (i++ > 0 && strv_add(argv, expand(cJSON_IsString(a) ? a->valuestring : "", env)))
            return snprintf(why, size, "out of memory"), -1;
    cJSON_ArrayForEach(a, get(c, "args"))
        if (strv_add(argv, expand(cJSON_IsString(a) ? a->valuestring : "", env)))
            return snprintf(why, size, "out of memory"), -1;
    return 0;
}

/* The ServiceAccount's token, as the kubelet gets it (a TokenRequest); NULL without one. */
static char *sa_token(cm_podproc *pp, const char *ns, const char *sa)
{
    if (!pp->authorize)
        return strdup(pp->token ? pp->token : "fake-serve-accepts-any-token");
    char path[600];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
    cm_fake_req req = {.method = "POST", .path = path, .body = "{}", .body_len = 2,
                       .content_type = "application/json", .internal = 1};
    cm_fake_resp resp = {0};
    cm_fake_handle(pp->f, &req, &resp);
    cJSON *doc = resp.status == 201 && resp.body ? cJSON_Parse(resp.body) : NULL;
    const char *t = gets(get(doc, "status"), "token");
    char *token = t ? strdup(t) : NULL;
    cJSON_Delete(doc);
    cm_fake_resp_clear(&resp);
    return token;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    return close(fd) == 0 && ok ? 0 : -1;
}

static void remove_dir(const char *dir)
{
    static const char *const NAMES[] = {"token", "ca.crt", "namespace"};
    char path[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, NAMES[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- the child, between fork and exec ---- */

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            int rc = mkdir(path, 0755);
            *p = '/';
            if (rc != 0 && errno != EEXIST)
                return -1;
        }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The files at the standard path in a private mount namespace: 0, or -1 (not permitted). */
static int mount_serviceaccount(const char *dir)
{
    char run[PATH_MAX], sa[PATH_MAX + 64];
    if (!realpath("/var/run", run) || unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", run, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0)
        return -1;
    snprintf(sa, sizeof sa, "%s%s", run, SA_DIR + strlen("/var/run"));
    return mkdirs(sa) == 0 && mount(dir, sa, NULL, MS_BIND, NULL) == 0 ? 0 : -1;
}

/* Binds the host's path (under hold, its /dev) onto the same name under the new /dev. */
static void bind_dev(const char *hold, const char *name, int dir)
{
    char src[128], dst[64];
    snprintf(src, sizeof src, "%s/%s", hold, name);
    snprintf(dst, sizeof dst, "/dev/%s", name);
    int fd = dir ? mkdir(dst, 0755) : open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (!dir && fd >= 0)
        close(fd);
    mount(src, dst, NULL, MS_BIND | (dir ? MS_REC : 0), NULL);
}

/* A /dev of the container's own (a tmpfs with the devices runc gives one), so that a file can be
 * put in it without touching the host's: 0, or -1. Runs in the private mount namespace. */
static int private_dev(void)
{
    static const char *const NODES[] = {"null", "zero", "full", "random", "urandom", "tty", "ptmx"};
    static const char *const DIRS[] = {"pts", "shm", "mqueue"};
    static const char *const LINKS[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
    const char *hold = "/run/.cni-migrate-host-dev";
    if (mkdir(hold, 0700) != 0 || mount("/dev", hold, NULL, MS_BIND | MS_REC, NULL) != 0 ||
        mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=755") != 0)
        return -1;
    for (size_t i = 0; i < sizeof NODES / sizeof *NODES; i++)
        bind_dev(hold, NODES[i], 0);
    for (size_t i = 0; i < sizeof DIRS / sizeof *DIRS; i++)
        bind_dev(hold, DIRS[i], 1);
    for (size_t i = 0; i < sizeof LINKS / sizeof *LINKS; i++) {
        char dst[64];
        snprintf(dst, sizeof dst, "/dev/%s", LINKS[i][0]);
        if (symlink(LINKS[i][1], dst) != 0)
            return -1;
    }
    umount2(hold, MNT_DETACH);
    rmdir(hold);
    return 0;
}

/* The termination message file (host path file) at the container's terminationMessagePath, in
 * its private /dev or /run: 0, or -1 (another place, or it failed: the container has none). */
static int mount_message(const char *file, const char *path)
{
    char parent[PATH_MAX];
    if (strncmp(path, "/dev/", 5) == 0) {
        if (strchr(path + 5, '/') || private_dev() != 0)
            return -1;
    } else if (strncmp(path, "/run/", 5) == 0 || strncmp(path, "/var/run/", 9) == 0) {
        snprintf(parent, sizeof parent, "%s", path);
        *strrchr(parent, '/') = '\0';
        if (mkdirs(parent) != 0)
            return -1;
    } else {
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    close(fd);
    return mount(file, path, NULL, MS_BIND, NULL);
}

static void child(const char *dir, const char *msg_file, const char *msg_path, int out, char **argv, struct strv *env)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setpgid(0, 0);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (mount_serviceaccount(dir) != 0)
        strv_addf(env, SA_DIR_ENV, dir); /* the documented fallback (podproc.h) */
    else if (msg_file[0])
        mount_message(msg_file, msg_path);
    execve(argv[0], argv, env->v);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* ---- running ---- */

static void proc_free(struct proc *p)
{
    if (p->timer)
        cm_loop_timer_cancel(p->pp->loop, p->timer);
    if (p->fd >= 0) {
        cm_loop_watch_fd(p->pp->loop, p->fd, 0, NULL, NULL);
        close(p->fd);
    }
    if (p->dir[0])
        remove_dir(p->dir);
    if (p->msg[0])
        unlink(p->msg);
    free(p->tail);
    free(p);
}

static void unlink_proc(struct proc *p)
{
    for (struct proc **q = &p->pp->procs; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            return;
        }
}

/* The log's last FALLBACK_LINES lines, at most FALLBACK_BYTES (the kubelet's fallback message). */
static const char *fallback_message(const struct proc *p)
{
    if (!p->tail_len)
        return NULL;
    const char *s = p->tail, *q = p->tail + p->tail_len;
    int lines = 0;
    if (q > s && q[-1] == '\n')
        q--;
    for (; q > s; q--)
        if (q[-1] == '\n' && ++lines == FALLBACK_LINES)
            break;
    return q;
}

/* The termination message file's last CM_TERMINATION_MESSAGE_MAX bytes (as a kubelet reads it),
 * into buf; NULL when it is empty or absent. */
static const char *message_file(const struct proc *p, char *buf, size_t size)
{
    int fd = p->msg[0] ? open(p->msg, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        off_t from = st.st_size > (off_t)(size - 1) ? st.st_size - (off_t)(size - 1) : 0;
        n = pread(fd, buf, size - 1, from);
    }
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static void ended(struct proc *p, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char file[CM_TERMINATION_MESSAGE_MAX + 1];
    const char *msg = message_file(p, file, sizeof file);
    if (!msg && code && p->fallback_logs)
        msg = fallback_message(p);
    if (p->gone)
        cm_fake_log_forget(p->pp->f, p->uid);
    else
        cm_fake_log_end(p->pp->f, p->uid);
    unlink_proc(p);
    cm_sim_pod_exit(p->pp->sim, p->uid, code, msg);
    proc_free(p);
}

static void look_for_exit(cm_loop *loop, void *ud)
{
    struct proc *p = ud;
    p->timer = NULL;
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD))
        ended(p, r == p->pid ? status : 0);
    else
        p->timer = cm_loop_timer(loop, cm_loop_after_real(loop, REAP_POLL_NS), look_for_exit, p);
}

static void keep_tail(struct proc *p, const char *buf, size_t n)
{
    if (n >= FALLBACK_BYTES) {
        buf += n - FALLBACK_BYTES;
        n = FALLBACK_BYTES;
    }
    if (p->tail_len + n > FALLBACK_BYTES) {
        size_t drop = p->tail_len + n - FALLBACK_BYTES;
        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
    }
    memcpy(p->tail + p->tail_len, buf, n);
    p->tail_len += n;
    p->tail[p->tail_len] = '\0';
}

static void on_output(cm_loop *loop, int fd, short revents, void *ud)
{
    (void)revents;
    struct proc *p = ud;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
        keep_tail(p, buf, (size_t)n);
        cm_fake_log_append(p->pp->f, p->uid, buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    cm_loop_watch_fd(loop, fd, 0, NULL, NULL); /* EOF: the process is ending */
    close(fd);
    p->fd = -1;
    look_for_exit(loop, p);
}

void cm_podproc_start(cm_podproc *pp, const char *node, const cJSON *pod)
{
    const cJSON *meta = get(pod, "metadata");
    const char *ns = gets(meta, "namespace"), *name = gets(meta, "name"), *uid = gets(meta, "uid");
    const char *sa = gets(get(pod, "spec"), "serviceAccountName");
    if (!ns || !name || !uid)
        return;
    struct strv argv = {0}, env = {0};
    char why[600] = "";
    struct proc *p = calloc(1, sizeof *p);
    int fds[2] = {-1, -1}, msg_fd = -1;
    char *token = NULL;
    const char *msg_path = gets(first_container(pod), "terminationMessagePath");
    msg_path = msg_path ? msg_path : "/dev/termination-log";
    if (!p || !(p->tail = malloc(FALLBACK_BYTES + 1)))
        snprintf(why, sizeof why, "out of memory");
    else if (build_env(pod, node, pp, &env, why, sizeof why) == 0)
        build_argv(pod, pp, &env, &argv, why, sizeof why);
    if (!why[0]) {
        snprintf(p->dir, sizeof p->dir, "/tmp/cni-migrate-pod-XXXXXX");
        if (!mkdtemp(p->dir)) {
            snprintf(why, sizeof why, "mkdtemp: %s", strerror(errno));
            p->dir[0] = '\0';
        } else if (!(token = sa_token(pp, ns, sa ? sa : "default"))) {
            snprintf(why, sizeof why, "serviceaccount \"%s\" not found: no token for it", sa ? sa : "default");
        } else if (write_file(p->dir, "token", token) || write_file(p->dir, "namespace", ns) ||
                   (pp->ca && write_file(p->dir, "ca.crt", pp->ca))) {
            snprintf(why, sizeof why, "writing %s: %s", p->dir, strerror(errno));
        } else if (snprintf(p->msg, sizeof p->msg, "/tmp/cni-migrate-msg-XXXXXX") < 0 ||
                   (msg_fd = mkstemp(p->msg)) < 0 || close(msg_fd) != 0 || chmod(p->msg, 0666) != 0) {
            snprintf(why, sizeof why, "termination message file: %s", strerror(errno));
            if (msg_fd < 0)
                p->msg[0] = '\0';
        } else if (pipe2(fds, O_CLOEXEC) != 0) {
            snprintf(why, sizeof why, "pipe: %s", strerror(errno));
        }
    }
    free(token);
    pid_t pid = -1;
    if (!why[0]) {
        fflush(NULL);
        pid = fork();
        if (pid == 0)
            child(p->dir, p->msg, msg_path, fds[1], argv.v, &env);
        if (pid > 0)
            setpgid(pid, pid); /* as the child does: either may run first */
        if (pid < 0)
            snprintf(why, sizeof why, "fork: %s", strerror(errno));
    }
    if (fds[1] >= 0)
        close(fds[1]);
    strv_free(&argv);
    strv_free(&env);
    if (why[0]) { /* the container cannot start: it ends at once, as an exec failure does */
        note(ns, name, why);
        if (fds[0] >= 0)
            close(fds[0]);
        if (p) {
            p->fd = -1;
            p->pp = pp;
            proc_free(p);
        }
        cm_fake_log_append(pp->f, uid, why, strlen(why));
        cm_fake_log_append(pp->f, uid, "\n", 1);
        cm_fake_log_end(pp->f, uid);
        cm_sim_pod_exit(pp->sim, uid, 128, why);
        return;
    }
    p->pp = pp;
    p->pid = pid;
    p->fd = fds[0];
    snprintf(p->uid, sizeof p->uid, "%s", uid);
    p->fallback_logs = strcmp(gets(first_container(pod), "terminationMessagePolicy")
                                  ? gets(first_container(pod), "terminationMessagePolicy") : "", "FallbackToLogsOnError") == 0;
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    p->next = pp->procs;
    pp->procs = p;
    cm_sim_pod_running(pp->sim, uid);
    cm_fake_log_forget(pp->f, uid);        /* a restarted container's log starts empty */
    cm_fake_log_append(pp->f, uid, "", 0); /* the log exists from now: kubectl logs -f follows it */
    if (cm_loop_watch_fd(pp->loop, p->fd, POLLIN, on_output, p) != 0) {
        kill(-pid, SIGKILL);
        close(p->fd);
        p->fd = -1;
        look_for_exit(pp->loop, p);
    }
}

void cm_podproc_stop(cm_podproc *pp, const cJSON *pod, int kill_it)
{
    const char *uid = gets(get(pod, "metadata"), "uid");
    for (struct proc *p = pp ? pp->procs : NULL; p && uid; p = p->next)
        if (strcmp(p->uid, uid) == 0) {
            p->gone = kill_it;
            kill(-p->pid, kill_it ? SIGKILL : SIGTERM);
            return;
        }
    if (pp && uid && kill_it)
        cm_fake_log_forget(pp->f, uid); /* it ended before: its log goes with the pod */
}

void cm_podproc_free(cm_podproc *pp)
{
    if (!pp)
        return;
    while (pp->procs) {
        struct proc *p = pp->procs;
        pp->procs = p->next;
        kill(-p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        proc_free(p);
    }
    free(pp->image);
    free(pp->host);
    free(pp->ca);
    free(pp->token);
    free(pp);
}
