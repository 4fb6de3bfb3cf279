/* strbuf.c - a growing byte buffer (see strbuf.h). */
#include "strbuf.h"

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
