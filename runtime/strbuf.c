/* strbuf.c - a growing byte buffer (see strbuf.h). */
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cm_buf_add(cm_buf *b, const void *data, size_t len)
{
    if (b->oom)
        return -1;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
    return 0;
}

int cm_buf_adds(cm_buf *b, const char *s)
{
    return cm_buf_add(b, s, strlen(s));
}

void cm_buf_free(cm_buf *b)
{
    free(b->p);
    *b = (cm_buf){0};
}

char *cm_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    cm_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && cm_buf_add(&b, chunk, n) == 0) {
    }
    int failed = b.oom ? ENOMEM : ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (failed) {
        cm_buf_free(&b);
        errno = failed;
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.p ? b.p : calloc(1, 1);
}
