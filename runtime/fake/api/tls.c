/* tls.c - CA and serving certificate generation with GnuTLS (see tls.h). */
#include "tls.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALID_S (24 * 3600)

void cm_tls_free(struct cm_tls *t)
{
    free(t->ca_pem);
    free(t->cert_pem);
    free(t->key_pem);
    memset(t, 0, sizeof *t);
}

/* Takes an exported datum (rc: the export's result) as a malloc'd string. */
static char *datum_string(int rc, gnutls_datum_t *d)
{
    char *s = rc < 0 ? NULL : strndup((const char *)d->data, d->size);
    gnutls_free(d->data);
    return s;
}

/* Exports a certificate or key as PEM into a malloc'd string. */
static char *pem_cert(gnutls_x509_crt_t crt)
{
    gnutls_datum_t d = {NULL, 0};
    return datum_string(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), &d);
}

static char *pem_key(gnutls_x509_privkey_t key)
{
    gnutls_datum_t d = {NULL, 0};
    return datum_string(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d), &d);
}

/* Fills the fields both certificates share: serial, validity, subject, key. */
static int base(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, unsigned serial)
{
    unsigned char sn[4] = {(unsigned char)(serial >> 24), (unsigned char)(serial >> 16),
                           (unsigned char)(serial >> 8), (unsigned char)serial};
    time_t now = time(NULL);
    int rc = gnutls_x509_crt_set_version(crt, 3);
    if (rc >= 0) rc = gnutls_x509_crt_set_serial(crt, sn, sizeof sn);
    if (rc >= 0) rc = gnutls_x509_crt_set_activation_time(crt, now - 300);
    if (rc >= 0) rc = gnutls_x509_crt_set_expiration_time(crt, now + VALID_S);
    if (rc >= 0) rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn));
    if (rc >= 0) rc = gnutls_x509_crt_set_key(crt, key);
    return rc;
}

/* The names the serving certificate is valid for. */
static int add_names(gnutls_x509_crt_t crt, const char *host)
{
    unsigned char ip[16];
    unsigned char lo[4] = {127, 0, 0, 1};
    int rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND);
    if (rc >= 0) rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, lo, 4, GNUTLS_FSAN_APPEND);
    if (rc >= 0 && strcmp(host, "127.0.0.1") != 0) {
        if (inet_pton(AF_INET, host, ip) == 1)
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
        else
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host, (unsigned)strlen(host), GNUTLS_FSAN_APPEND);
    }
    return rc;
}

struct pair {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
};

static int new_pair(struct pair *p)
{
    int rc = gnutls_x509_crt_init(&p->crt);
    if (rc >= 0) rc = gnutls_x509_privkey_init(&p->key);
    if (rc >= 0) rc = gnutls_x509_privkey_generate(p->key, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    return rc;
}

static void free_pair(struct pair *p)
{
    if (p->crt)
        gnutls_x509_crt_deinit(p->crt);
    if (p->key)
        gnutls_x509_privkey_deinit(p->key);
}

static int make_ca(struct pair *ca)
{
    int rc = new_pair(ca);
    if (rc >= 0) rc = base(ca->crt, ca->key, "cni-migrate fake cluster CA", 1);
    if (rc >= 0) rc = gnutls_x509_crt_set_basic_constraints(ca->crt, 1, 0);
    if (rc >= 0) rc = gnutls_x509_crt_set_key_usage(ca->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
                                                              GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (rc >= 0) rc = gnutls_x509_crt_sign2(ca->crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0);
    return rc;
}

static int make_server(struct pair *srv, const struct pair *ca, const char *host)
{
    int rc = new_pair(srv);
    if (rc >= 0) rc = base(srv->crt, srv->key, "cni-migrate fake cluster", 2);
    if (rc >= 0) rc = gnutls_x509_crt_set_basic_constraints(srv->crt, 0, -1);
    if (rc >= 0) rc = gnutls_x509_crt_set_key_usage(srv->crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (rc >= 0) rc = gnutls_x509_crt_set_key_purpose_oid(srv->crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    if (rc >= 0) rc = add_names(srv->crt, host);
    if (rc >= 0) rc = gnutls_x509_crt_sign2(srv->crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0);
    return rc;
}

int cm_tls_generate(struct cm_tls *t, const char *host, char *err, size_t errsize)
{
    struct pair ca = {0}, srv = {0};
    memset(t, 0, sizeof *t);
    int rc = make_ca(&ca);
    if (rc >= 0)
        rc = make_server(&srv, &ca, host);
    if (rc >= 0) {
        t->ca_pem = pem_cert(ca.crt);
        t->cert_pem = pem_cert(srv.crt);
        t->key_pem = pem_key(srv.key);
        if (!t->ca_pem || !t->cert_pem || !t->key_pem)
            rc = GNUTLS_E_MEMORY_ERROR;
    }
    free_pair(&ca);
    free_pair(&srv);
    if (rc < 0) {
        snprintf(err, errsize, "--tls: generating certificates: %s", gnutls_strerror(rc));
        cm_tls_free(t);
        return -1;
    }
    return 0;
}
