/* bundled.h - the Lua files of lua/, compiled in by cmake/embed_lua.cmake. */
#ifndef CM_BUNDLED_H
#define CM_BUNDLED_H

#include <stddef.h>

struct cm_bundled {
    const char *path; /* "lua/cm/flannel.lua": relative to the source tree */
    const unsigned char *data;
    size_t len;
};

/* Sorted by path; ends with an entry whose path is NULL. */
extern const struct cm_bundled cm_bundled_lua[];

#endif
