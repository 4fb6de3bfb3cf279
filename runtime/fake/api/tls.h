/*
 * tls.h - a throwaway CA and a serving certificate for `fake serve --tls`,
 * made with GnuTLS (the library libmicrohttpd already uses) at start.
 */
#ifndef CM_FAKE_TLS_H
#define CM_FAKE_TLS_H

#include <stddef.h>

struct cm_tls {
    char *ca_pem;   /* the CA certificate, for the kubeconfig */
    char *cert_pem; /* the server's certificate, signed by the CA */
    char *key_pem;  /* the server's private key */
};

/*
 * Generates an ECDSA P-256 CA and a certificate for host (an IP address or
 * a name), valid for a day, with localhost and 127.0.0.1 as well. Returns 0,
 * or -1 with why in err.
 */
int cm_tls_generate(struct cm_tls *t, const char *host, char *err, size_t errsize);

/* Frees the PEM texts. */
void cm_tls_free(struct cm_tls *t);

#endif
