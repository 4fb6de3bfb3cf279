/* serve.c - the fake serve command's core (see serve.h). */
#include "serve.h"

#include "fake.h"
#include "fault.h"
#include "http.h"
#include "loop.h"
#include "strbuf.h"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "host:port"; 0, or -1 when it is not one. */
static int parse_listen(const char *s, char *host, size_t size, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= size)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return -1;
    snprintf(host, size, "%.*s", (int)(colon - s), s);
    *port = (int)p;
    return 0;
}

static int is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0;
}

/* Writes PEM text base64-encoded (for *-data kubeconfig fields). */
static void put_base64(FILE *fp, const char *s)
{
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        fputc(B64[(v >> 18) & 63], fp);
        fputc(B64[(v >> 12) & 63], fp);
        fputc(i + 1 < n ? B64[(v >> 6) & 63] : '=', fp);
        fputc(i + 2 < n ? B64[v & 63] : '=', fp);
    }
}

/* Writes a kubeconfig with one cluster, user and context named "fake". */
static int write_kubeconfig(const char *path, const char *url, const char *ca_pem, const char *token,
                            char *err, size_t errsize)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        snprintf(err, errsize, "--kubeconfig-out %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(fp, "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n", url);
    if (ca_pem) {
        fputs("    certificate-authority-data: ", fp);
        put_base64(fp, ca_pem);
        fputc('\n', fp);
    }
    fputs("users:\n- name: fake\n  user:", fp);
    if (token)
        fprintf(fp, "\n    token: %s\n", token);
    else
        fputs(" {}\n", fp);
    fputs("contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n"
          "current-context: fake\n", fp);
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errsize, "--kubeconfig-out %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Loads the fixture into f; 2 with "file:line: why" on bad input. */
static int load_fixture(cm_fake *f, const char *path, char *err, size_t errsize)
{
    size_t len;
    char *text = cm_read_file(path, &len);
    if (!text) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return 2;
    }
    int rc = cm_fake_load(f, path, text, len, err, errsize) == 0 ? 0 : 2;
    free(text);
    return rc;
}

/* Each injected fault, on stderr as it happens: "fault reset {"verb":"get",...}". */
static void print_fault(void *ud, enum cm_fault_kind kind, const cJSON *what)
{
    (void)ud;
    char *w = cJSON_PrintUnformatted(what);
    fprintf(stderr, "fault %s %s\n", cm_fault_names[kind], w ? w : "{}");
    free(w);
}

struct server {
    cm_loop *loop;
    cm_fake *fake;
    cm_faults *faults;
    cm_http *http;
    struct cm_tls tls;
};

static void server_free(struct server *s)
{
    cm_http_stop(s->http);
    cm_faults_free(s->faults);
    cm_fake_free(s->fake);
    cm_loop_free(s->loop);
    cm_tls_free(&s->tls);
}

/* Everything up to listening: checks, fixture, TLS, socket, kubeconfig. */
static int start(struct server *s, const struct cm_serve_opts *o, char *url, size_t urlsize,
                 char *err, size_t errsize)
{
    char host[256];
    int port;
    const char *listen = o->listen ? o->listen : "127.0.0.1:0";
    if (parse_listen(listen, host, sizeof host, &port) != 0)
        return snprintf(err, errsize, "--listen: '%s' is not HOST:PORT (e.g. 127.0.0.1:0)", listen), 2;
    if (!is_loopback(host) && !o->allow_remote)
        return snprintf(err, errsize, "--listen: %s is not a loopback address; the fake cluster "
                        "has no authorization, so serving it beyond this host needs --allow-remote", host), 2;
    s->loop = cm_loop_new(CM_CLOCK_REAL, 0);
    s->fake = s->loop ? cm_fake_new(s->loop) : NULL;
    if (!s->fake)
        return snprintf(err, errsize, "out of memory"), 1;
    if (o->token)
        cm_fake_set_token(s->fake, o->token);
    int rc = load_fixture(s->fake, o->fixture, err, errsize);
    if (rc)
        return rc;
    if (!(s->faults = cm_faults_new(s->fake, o->fixture, o->faults, o->nfaults, o->seed, err, errsize)))
        return 2;
    cm_faults_set_note(s->faults, print_fault, NULL);
    if (o->tls && cm_tls_generate(&s->tls, host, err, errsize) != 0)
        return 1;
    s->http = cm_http_start(s->fake, s->loop, host, port, o->tls ? s->tls.cert_pem : NULL,
                            o->tls ? s->tls.key_pem : NULL, err, errsize);
    if (!s->http)
        return 1;
    snprintf(url, urlsize, "%s://%s:%d", o->tls ? "https" : "http", host, cm_http_port(s->http));
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", host, cm_http_port(s->http));
    cm_fake_set_address(s->fake, addr);
    if (o->kubeconfig_out &&
        write_kubeconfig(o->kubeconfig_out, url, o->tls ? s->tls.ca_pem : NULL, o->token, err, errsize) != 0)
        return 1;
    return 0;
}

int cm_fake_serve(const struct cm_serve_opts *o, volatile sig_atomic_t *cancel, int wake_fd,
                  cm_serve_ready_fn ready, void *ud, char *err, size_t errsize)
{
    struct server s = {0};
    char url[300];
    int rc = start(&s, o, url, sizeof url, err, errsize);
    if (rc == 0) {
        cm_loop_set_cancel(s.loop, cancel, wake_fd);
        if (ready)
            ready(ud, url);
        if (cm_loop_run_until(s.loop, CM_TIME_NEVER, NULL) == CM_LOOP_ERROR) {
            snprintf(err, errsize, "poll: %s", strerror(errno));
            rc = 1;
        }
    }
    server_free(&s);
    return rc;
}
