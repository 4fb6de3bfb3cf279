/*
 * k8s_transport.h - how the Kubernetes client sends an HTTP request.
 *
 * The client (k8s_client.c) builds requests; a transport carries them. The
 * libcurl transport (cm_curl_transport_new) speaks HTTP(S) on one curl multi
 * handle driven by the run's loop, so connections are reused and every wait
 * is a cm_loop_run_until(). The simulation's in-process transport implements
 * the same three operations over the fake cluster's REST handler.
 *
 * The contract, for an implementer:
 *   - start() takes a call whose request fields are set and returns 0, or -1
 *     with error_code/error filled (the call is then done).
 *   - Later, from inside cm_loop_run_until(), the transport fills status,
 *     headers and body (or error_code/error), sets done = 1 and calls
 *     on_done when set. Body bytes go to on_data instead of body when on_data
 *     is set (watch and log streams); status is already known when on_data is
 *     first called. on_data and on_done may start and cancel calls: they are
 *     called from the loop, never from inside the transport's own machinery
 *     (libcurl refuses requests started from its callbacks).
 *   - cancel() abandons a call that is not done: no callback follows; status is
 *     the answer's if its headers came (a watch's stream), else 0.
 *   - The call and everything it points to belong to the caller and stay
 *     valid until done or cancelled.
 */
#ifndef CM_K8S_TRANSPORT_H
#define CM_K8S_TRANSPORT_H

#include "loop.h"
#include "strbuf.h"

#include <stddef.h>


/* TLS and proxy settings of a call; all optional. Data is PEM in memory. */
typedef struct cm_tls {
    const char *ca;   /* certificate authority; NULL: the system's */
    size_t ca_len;
    const char *cert; /* client certificate */
    size_t cert_len;
    const char *key;  /* client key */
    size_t key_len;
    int insecure;     /* insecure-skip-tls-verify */
    const char *server_name; /* tls-server-name: the name to verify (and send as SNI) */
    const char *proxy; /* proxy-url; NULL: HTTPS_PROXY/NO_PROXY from the environment */
    int no_compression; /* disable-compression */
} cm_tls;

typedef struct cm_http_call cm_http_call;

struct cm_http_call {
    /* request: set by the caller */
    const char *method;
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    const char *body; /* NULL: none */
    size_t body_len;
    const cm_tls *tls;
    void (*on_data)(cm_http_call *call, const char *data, size_t len);
    void (*on_done)(cm_http_call *call);
    void *ud;

    /* response: set by the transport */
    int done;
    long status;        /* HTTP status; 0 when the transport failed */
    cm_buf headers_in;  /* the final response's header lines, "name: value\r\n" */
    cm_buf body_in;     /* the body, unless on_data is set */
    const char *error_code; /* NULL, or Timeout, ConnectFailed, TLS, ConnectionReset, TransportError */
    char error[256];
    void *priv; /* the transport's */
};

typedef struct cm_transport cm_transport;

struct cm_transport_ops {
    int (*start)(cm_transport *t, cm_http_call *call);
    void (*cancel)(cm_transport *t, cm_http_call *call);
    void (*free)(cm_transport *t);
};

struct cm_transport {
    const struct cm_transport_ops *ops;
};

/*
 * The libcurl transport on the real clock of loop: one multi handle, HTTP/2
 * when the server offers it, keep-alive, gzip. Returns NULL when out of memory
 * or when loop is not on the real clock.
 */
cm_transport *cm_curl_transport_new(cm_loop *loop);

/*
 * One request outside the loop, waiting for it (at most timeout_ms): for the
 * rare exchanges of a credential provider with its own server (an OIDC
 * issuer), not for the API. Fills call's response fields as a transport does
 * (on_data and on_done are not used). Returns 0, or -1 with error_code set.
 */
int cm_http_fetch(cm_http_call *call, long timeout_ms);

/* The value of response header name (case-insensitive) of a done call, copied
 * into buf; returns buf, or NULL when absent. */
const char *cm_http_header(const cm_http_call *call, const char *name, char *buf, size_t size);

/*
 * Calls fn(ud, value) for every response header called name, in order
 * (Warning headers come several at a time).
 */
void cm_http_headers_each(const cm_http_call *call, const char *name,
                          void (*fn)(void *ud, const char *value, size_t len), void *ud);

#endif
