/*
 * serve.h - `cni-migrate fake serve`: load a fixture, serve it over HTTP(S)
 * on the loop until cancelled, write a kubeconfig for clients.
 */
#ifndef CM_FAKE_SERVE_H
#define CM_FAKE_SERVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct cm_serve_opts {
    const char *fixture;        /* path of the fixture (YAML) */
    const char *listen;         /* "127.0.0.1:0" by default */
    const char *kubeconfig_out; /* NULL: none */
    const char *token;          /* NULL: no authentication */
    int tls;                    /* generate a CA and a serving certificate */
    int allow_remote;           /* permit a non-loopback --listen */
    const char *const *faults;  /* --fault rules (fault.h), nfaults of them */
    size_t nfaults;
    uint64_t seed;              /* --seed: what the faults are drawn from */
};

/* Told the URL once the server is listening (and the kubeconfig written). */
typedef void (*cm_serve_ready_fn)(void *ud, const char *url);

/*
 * Serves until *cancel is set (wake_fd: the read end of the pipe the
 * canceller writes to). Returns 0 after a clean stop, 2 for bad input
 * (fixture, --listen) and 1 for other failures, with why in err.
 */
int cm_fake_serve(const struct cm_serve_opts *o, volatile sig_atomic_t *cancel, int wake_fd,
                  cm_serve_ready_fn ready, void *ud, char *err, size_t errsize);

#endif
