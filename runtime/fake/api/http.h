/*
 * http.h - the HTTP(S) front of the fake cluster, on libmicrohttpd.
 *
 * MHD runs without threads of its own, in epoll mode: the runtime's loop
 * watches MHD's epoll descriptor (cm_loop_watch_fd) and calls MHD_run() when
 * it is ready or when MHD's own timeout is due (a loop timer). A watch
 * request is a chunked response whose connection is suspended while no event
 * is queued and resumed when one arrives, so every watch, request and timer
 * of the fake runs on the loop's one thread.
 */
#ifndef CM_FAKE_HTTP_H
#define CM_FAKE_HTTP_H

#include "fake.h"
#include "loop.h"

#include <stddef.h>

typedef struct cm_http cm_http;

/*
 * Serves f on host:port (port 0 picks a free one) through loop. cert_pem and
 * key_pem, when given, make it HTTPS. Returns the server, or NULL with why in err.
 */
cm_http *cm_http_start(cm_fake *f, cm_loop *loop, const char *host, int port,
                       const char *cert_pem, const char *key_pem, char *err, size_t errsize);

/* The port the server listens on. */
int cm_http_port(const cm_http *h);

/* Stops serving: closes every connection and watch. NULL is accepted. */
void cm_http_stop(cm_http *h);

#endif
