/* strbuf.h - a growing string: append, and check once at the end whether memory ran out. */
#ifndef CM_STRBUF_H
#define CM_STRBUF_H

#include <stddef.h>

typedef struct cm_strbuf {
    char *s;    /* NUL-terminated once anything was appended; malloc'd, the caller frees it */
    size_t len, cap;
    int oom;    /* set when an append failed; later appends do nothing */
} cm_strbuf;

/* Appends n bytes of s. */
void cm_strbuf_put(cm_strbuf *b, const char *s, size_t n);

/* Appends a C string. */
void cm_strbuf_puts(cm_strbuf *b, const char *s);

#endif
