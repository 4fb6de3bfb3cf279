#define _XOPEN_SOURCE 700 /* realpath */
/* hostops_real.c - the real host of the host seam (hostops.h): netlink (nl.c), /proc/sys,
 * the filesystem, and the iptables tools of this system or image. */
#include "hostops.h"
#include "nl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int cm_hostcall_fail(cm_hostcall *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->err = err ? err : EIO;
    return -1;
}

const char *cm_errno_name(int err)
{
    static const struct { int e; const char *name; } NAMES[] = {
        {EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"}, {EINTR, "EINTR"}, {EIO, "EIO"},
        {ENXIO, "ENXIO"}, {E2BIG, "E2BIG"}, {EBADF, "EBADF"}, {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"},
        {EACCES, "EACCES"}, {EBUSY, "EBUSY"}, {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"},
        {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"}, {ENFILE, "ENFILE"},
        {EMFILE, "EMFILE"}, {EFBIG, "EFBIG"}, {ENOSPC, "ENOSPC"}, {EROFS, "EROFS"}, {EMLINK, "EMLINK"},
        {ERANGE, "ERANGE"}, {ENAMETOOLONG, "ENAMETOOLONG"}, {ENOTEMPTY, "ENOTEMPTY"},
        {ELOOP, "ELOOP"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {EAFNOSUPPORT, "EAFNOSUPPORT"},
        {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ENETDOWN, "ENETDOWN"},
        {ENETUNREACH, "ENETUNREACH"}, {ETIMEDOUT, "ETIMEDOUT"}, {EHOSTUNREACH, "EHOSTUNREACH"},
        {EPROTO, "EPROTO"}, {EBADMSG, "EBADMSG"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
        {ENOBUFS, "ENOBUFS"}, {EXDEV, "EXDEV"}, {ENOTSUP, "ENOTSUP"},
    };
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (NAMES[i].e == err)
            return NAMES[i].name;
    static _Thread_local char buf[24];
    snprintf(buf, sizeof buf, "E%d", err);
    return buf;
}

const char *cm_hostcall_code(const cm_hostcall *c)
{
    return c->code ? c->code : cm_errno_name(c->err);
}

/* ---- files ---- */

static int cmp_entries(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(cJSON_GetObjectItemCaseSensitive(x, "name")->valuestring,
                  cJSON_GetObjectItemCaseSensitive(y, "name")->valuestring);
}

/* Sorts an array of {name, ...} by name, in place. */
static void sort_by_name(cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    if (n < 2)
        return;
    cJSON **v = malloc((size_t)n * sizeof *v);
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        v[i] = cJSON_DetachItemFromArray(arr, 0);
    qsort(v, (size_t)n, sizeof *v, cmp_entries);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, v[i]);
    free(v);
}

static int real_file_list(cm_hostcall *c, const char *dir, cJSON **out)
{
    DIR *d = opendir(dir);
    if (!d)
        return cm_hostcall_fail(c, errno, "%s: %s", dir, strerror(errno));
    cJSON *arr = cJSON_CreateArray();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        int type = CM_FT_OTHER;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            type = S_ISREG(st.st_mode) ? CM_FT_FILE : S_ISDIR(st.st_mode) ? CM_FT_DIR
                   : S_ISLNK(st.st_mode) ? CM_FT_LINK : CM_FT_OTHER;
        static const char *const TYPES[] = {"file", "dir", "link", "other"};
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", e->d_name);
        cJSON_AddStringToObject(item, "type", TYPES[type]);
        cJSON_AddItemToArray(arr, item);
    }
    closedir(d);
    sort_by_name(arr);
    *out = arr;
    return 0;
}

static int real_file_read(cm_hostcall *c, const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ELOOP)
        return cm_hostcall_fail(c, ELOOP, "%s: is a symlink (not followed)", path);
    if (fd < 0)
        return cm_hostcall_fail(c, errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cm_hostcall_fail(c, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return cm_hostcall_fail(c, EFBIG, "%s: %lld bytes, more than the %zu allowed", path,
                                (long long)st.st_size, max);
    }
    char *buf = malloc(max + 1);
    size_t n = 0;
    ssize_t got = 0;
    while (buf && n <= max && (got = read(fd, buf + n, max + 1 - n)) > 0)
        n += (size_t)got;
    int err = got < 0 ? errno : 0;
    close(fd);
    if (!buf || err || n > max) {
        free(buf);
        return cm_hostcall_fail(c, !buf ? ENOMEM : err ? err : EFBIG, "%s: %s", path,
                                !buf ? "out of memory" : err ? strerror(err) : "grew past the size allowed");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Creates dir and its missing parents (0755). */
static int make_dirs(cm_hostcall *c, const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return cm_hostcall_fail(c, ENAMETOOLONG, "%s: path too long", dir);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return cm_hostcall_fail(c, errno, "mkdir %s: %s", tmp, strerror(errno));
            *p = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

/* Splits path into its directory (in dir) and returns its base name. */
static const char *split(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, size, ".");
        return path;
    }
    snprintf(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return slash + 1;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int real_file_write(cm_hostcall *c, const char *path, const char *data, size_t len)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 32];
    const char *base = split(path, dir, sizeof dir);
    if (!*base)
        return cm_hostcall_fail(c, EINVAL, "%s: not a file name", path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return cm_hostcall_fail(c, ELOOP, "%s: is a symlink (not replaced)", path);
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return cm_hostcall_fail(c, EISDIR, "%s: exists and is not a regular file", path);
    if (make_dirs(c, dir) != 0)
        return -1;
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        snprintf(tmp, sizeof tmp, "%s/.%s.cm-%06ld", dir, base, (long)((unsigned)rand() ^ (unsigned)getpid()) % 1000000);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return cm_hostcall_fail(c, errno, "%s: %s", tmp, strerror(errno));
    }
    if (fd < 0)
        return cm_hostcall_fail(c, EEXIST, "%s: no free temporary name", path);
    size_t done = 0;
    int err = fchmod(fd, 0644) == 0 ? 0 : errno;
    while (!err && done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        return cm_hostcall_fail(c, err, "%s: %s", path, strerror(err));
    }
    if (fsync_dir(dir) != 0)
        return cm_hostcall_fail(c, errno, "%s: fsync: %s", dir, strerror(errno));
    return 0;
}

static int real_file_remove(cm_hostcall *c, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return cm_hostcall_fail(c, errno, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cm_hostcall_fail(c, EISDIR, "%s: is a directory", path);
    if (unlink(path) != 0)
        return cm_hostcall_fail(c, errno, "%s: %s", path, strerror(errno));
    char dir[PATH_MAX];
    split(path, dir, sizeof dir);
    fsync_dir(dir);
    return 0;
}

static int real_file_resolve(cm_hostcall *c, const char *path, char **out)
{
    char *r = realpath(path, NULL);
    if (!r)
        return cm_hostcall_fail(c, errno, "%s: %s", path, strerror(errno));
    *out = r;
    return 0;
}

/* ---- sysctls ---- */

static int real_sysctl_get(cm_hostcall *c, const char *key, char **out)
{
    char path[512];
    snprintf(path, sizeof path, "/proc/sys/%s", key);
    size_t len;
    if (real_file_read(c, path, 65536, out, &len) != 0) {
        /* /proc files report size 0: read_file's size check passes, the read is bounded */
        return -1;
    }
    while (len && ((*out)[len - 1] == '\n'))
        (*out)[--len] = '\0';
    return 0;
}

static int real_sysctl_set(cm_hostcall *c, const char *key, const char *value)
{
    char path[512];
    snprintf(path, sizeof path, "/proc/sys/%s", key);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return cm_hostcall_fail(c, errno, "sysctl %s: %s", key, strerror(errno));
    size_t n = strlen(value);
    ssize_t w = write(fd, value, n);
    int err = w < 0 ? errno : (size_t)w != n ? EIO : 0;
    close(fd);
    if (err)
        return cm_hostcall_fail(c, err, "sysctl %s = %s: %s", key, value, strerror(err));
    return 0;
}

/* ---- iptables tools ---- */

/* The full path of a tool on PATH or in the sbin directories, or NULL. */
static int find_tool(const char *name, char *buf, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(buf, size, "%s/%s", d, name);
        if (*d && access(buf, X_OK) == 0)
            return 1;
    }
    return 0;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * SIGPIPE (a tool that exits before reading all its input) is blocked in this thread while a
 * tool runs, then a pending one is taken: the process's own disposition (an embedding
 * program's) is left alone.
 */
static void sigpipe_block(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

static void sigpipe_restore(const sigset_t *old)
{
    sigset_t s, pending;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) && !sigismember(old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&s, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int run_tool_io(cm_hostcall *c, char *const argv[], const char *input, char **out);

/* Runs argv (argv[0] a full path) with input on stdin; its stdout in *out; fails on a non-zero exit. */
static int run_tool(cm_hostcall *c, char *const argv[], const char *input, char **out)
{
    sigset_t old;
    sigpipe_block(&old);
    int rc = run_tool_io(c, argv, input, out);
    sigpipe_restore(&old);
    return rc;
}

static int run_tool_io(cm_hostcall *c, char *const argv[], const char *input, char **out)
{
    int in[2], o[2], e[2];
    if (pipe(in) != 0)
        return cm_hostcall_fail(c, errno, "%s: pipe: %s", argv[0], strerror(errno));
    if (pipe(o) != 0 || pipe(e) != 0) {
        close(in[0]);
        close(in[1]);
        return cm_hostcall_fail(c, errno, "%s: pipe: %s", argv[0], strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    for (int i = 0; i < 2; i++) {
        posix_spawn_file_actions_addclose(&fa, in[i]);
        posix_spawn_file_actions_addclose(&fa, o[i]);
        posix_spawn_file_actions_addclose(&fa, e[i]);
    }
    posix_spawnattr_t attr; /* the tool starts with no signal blocked (run_tool blocks SIGPIPE here) */
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(o[1]);
    close(e[1]);
    if (rc != 0) {
        close(in[1]);
        close(o[0]);
        close(e[0]);
        return cm_hostcall_fail(c, rc, "%s: %s", argv[0], strerror(rc));
    }
    size_t inlen = input ? strlen(input) : 0, inoff = 0;
    if (!inlen)
        close(in[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, caps[2] = {0, 0};
    int fds[2] = {o[0], e[0]}, open_in = inlen > 0, open_n = 2, timed_out = 0;
    long long until = mono_ms() + (c->timeout_ms > 0 ? c->timeout_ms : 30000);
    while (open_n > 0 || open_in) {
        struct pollfd p[3];
        int np = 0, idx[3];
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0) {
                p[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                idx[np++] = i;
            }
        if (open_in) {
            p[np] = (struct pollfd){.fd = in[1], .events = POLLOUT};
            idx[np++] = 2;
        }
        long long left = until - mono_ms();
        int n = left > 0 ? poll(p, (nfds_t)np, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            timed_out = 1;
            break;
        }
        for (int k = 0; k < np; k++) {
            if (!p[k].revents)
                continue;
            int i = idx[k];
            if (i == 2) {
                ssize_t w = write(in[1], input + inoff, inlen - inoff);
                if (w > 0)
                    inoff += (size_t)w;
                if (w < 0 || inoff == inlen) {
                    close(in[1]);
                    open_in = 0;
                }
                continue;
            }
            if (caps[i] - lens[i] < 4096) {
                caps[i] = caps[i] ? caps[i] * 2 : 8192;
                bufs[i] = realloc(bufs[i], caps[i]);
            }
            ssize_t r = bufs[i] ? read(fds[i], bufs[i] + lens[i], caps[i] - lens[i] - 1) : -1;
            if (r <= 0) {
                close(fds[i]);
                fds[i] = -1;
                open_n--;
            } else {
                lens[i] += (size_t)r;
            }
        }
    }
    if (open_in)
        close(in[1]);
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        if (!bufs[i])
            bufs[i] = calloc(1, 1);
        if (bufs[i])
            bufs[i][lens[i]] = '\0';
    }
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *err = bufs[1] ? bufs[1] : (char *)"";
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        c->code = timed_out ? "Timeout" : "ToolFailed";
        cm_hostcall_fail(c, timed_out ? ETIMEDOUT : EIO, "%s: %s%s", argv[0],
                         timed_out ? "no end within the time allowed" : "failed: ", timed_out ? "" : err);
        free(bufs[0]);
        free(bufs[1]);
        return -1;
    }
    free(bufs[1]);
    *out = bufs[0];
    return 0;
}

/* The tool of a family, backend and verb ("save", "restore", "" for the command itself). */
static int tool_path(cm_hostcall *c, const char *family, const char *backend, const char *verb, char *buf, size_t size)
{
    int v6 = strcmp(family, "ipv6") == 0;
    if ((!v6 && strcmp(family, "ipv4") != 0) || (strcmp(backend, "legacy") != 0 && strcmp(backend, "nft") != 0))
        return cm_hostcall_fail(c, EINVAL, "iptables: family ipv4|ipv6 and backend legacy|nft, got %s %s", family,
                                backend);
    char name[64];
    snprintf(name, sizeof name, "%s-%s%s%s", v6 ? "ip6tables" : "iptables", backend, *verb ? "-" : "", verb);
    if (!find_tool(name, buf, size))
        return cm_hostcall_fail(c, ENOENT, "%s: not installed", name);
    return 0;
}

static int real_ipt_save(cm_hostcall *c, const char *family, const char *backend, char **out)
{
    char path[4200];
    if (tool_path(c, family, backend, "save", path, sizeof path) != 0)
        return -1;
    char *argv[] = {path, NULL};
    return run_tool(c, argv, NULL, out);
}

static int real_ipt_restore(cm_hostcall *c, const char *family, const char *backend, const char *text)
{
    char path[4200];
    if (tool_path(c, family, backend, "restore", path, sizeof path) != 0)
        return -1;
    char noflush[] = "--noflush", wait[] = "--wait";
    char *argv[] = {path, wait, noflush, NULL};
    char *out = NULL;
    int rc = run_tool(c, argv, text, &out);
    free(out);
    return rc;
}

/* ---- nftables tables ---- */

static int real_nft_tables(cm_hostcall *c, cJSON **out)
{
    char path[4200];
    if (!find_tool("nft", path, sizeof path))
        return cm_hostcall_fail(c, ENOENT, "nft: not installed");
    char j[] = "-j", list[] = "list", tables[] = "tables";
    char *argv[] = {path, j, list, tables, NULL};
    char *text = NULL;
    if (run_tool(c, argv, NULL, &text) != 0)
        return -1;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cJSON *arr = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "nftables"))
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "table");
        const char *fam = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "family"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
        if (!fam || !name)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "family", fam);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_Delete(doc);
    *out = arr;
    return 0;
}

static int real_nft_delete_table(cm_hostcall *c, const char *family, const char *name)
{
    char path[4200];
    if (!find_tool("nft", path, sizeof path))
        return cm_hostcall_fail(c, ENOENT, "nft: not installed");
    char del[] = "delete", table[] = "table";
    char *argv[] = {path, del, table, (char *)family, (char *)name, NULL};
    char *out = NULL;
    int rc = run_tool(c, argv, NULL, &out);
    free(out);
    return rc;
}

const cm_hostops cm_hostops_real = {
    .name = "real",
    .links = cm_nl_links,
    .link_add = cm_nl_link_add,
    .link_del = cm_nl_link_del,
    .link_set = cm_nl_link_set,
    .addrs = cm_nl_addrs,
    .addr_add = cm_nl_addr_add,
    .addr_del = cm_nl_addr_del,
    .routes = cm_nl_routes,
    .route_add = cm_nl_route_add,
    .route_del = cm_nl_route_del,
    .neighs = cm_nl_neighs,
    .neigh_add = cm_nl_neigh_add,
    .neigh_del = cm_nl_neigh_del,
    .sysctl_get = real_sysctl_get,
    .sysctl_set = real_sysctl_set,
    .file_list = real_file_list,
    .file_read = real_file_read,
    .file_write = real_file_write,
    .file_remove = real_file_remove,
    .file_resolve = real_file_resolve,
    .ipt_save = real_ipt_save,
    .ipt_restore = real_ipt_restore,
    .nft_tables = real_nft_tables,
    .nft_delete_table = real_nft_delete_table,
};
