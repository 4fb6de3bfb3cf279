/* sysctl.c - sysctl names to /proc/sys paths (see sysctl.h). */
#include "sysctl.h"

#include <stdio.h>
#include <string.h>

static int allowed(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("_.@:+-", ch);
}

int cm_sysctl_path(const char *name, char *buf, size_t size, char *err, size_t errsize)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || n >= size) {
        snprintf(err, errsize, "sysctl name: expected 1 to 255 bytes");
        return -1;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        if (ch == '.' || ch == '\0') {
            size_t len = i - start;
            const char *comp = buf + start;
            buf[i] = '\0';
            if (len == 0 || (len == 1 && comp[0] == '.') || (len == 2 && comp[0] == '.' && comp[1] == '.')) {
                snprintf(err, errsize, "sysctl name '%s': empty, '.' or '..' component", name);
                return -1;
            }
            if (ch == '.')
                buf[i] = '/';
            start = i + 1;
            continue;
        }
        if (ch != '/' && !allowed(ch)) {
            snprintf(err, errsize, "sysctl name '%s': character '%c' not allowed", name, ch);
            return -1;
        }
        buf[i] = ch == '/' ? '.' : ch;
    }
    return 0;
}
