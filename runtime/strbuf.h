/*
 * strbuf.h - a growing byte buffer, always NUL-terminated once anything was
 * appended. Appends return 0, or -1 when out of memory; the failure also
 * sticks in `oom` (later appends do nothing), so a writer of many small
 * pieces may check once at the end.
 */
#ifndef CM_STRBUF_H
#define CM_STRBUF_H

#include <stddef.h>

typedef struct cm_buf {
    char *p;       /* malloc'd; the owner frees it (cm_buf_free) */
    size_t n, cap;
    int oom;
} cm_buf;

/* Appends len bytes. */
int cm_buf_add(cm_buf *b, const void *data, size_t len);

/* Appends a C string. */
int cm_buf_adds(cm_buf *b, const char *s);

/* Frees the bytes and empties the buffer. */
void cm_buf_free(cm_buf *b);

/* Reads a whole file into malloc'd memory (NUL-terminated); *len (when len is not NULL) gets its
 * length. NULL with errno set on failure. */
char *cm_read_file(const char *path, size_t *len);

#endif
