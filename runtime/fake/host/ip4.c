/* ip4.c - IPv4 addresses and prefixes (see ip4.h). */
#include "ip4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cm_ip4_parse(const char *s, size_t len, uint32_t *out)
{
    char buf[16];
    if (!s)
        return 0;
    if (!len)
        len = strlen(s);
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    unsigned a, b, c, d;
    char tail;
    if (sscanf(buf, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 ||
        d > 255)
        return 0;
    *out = a << 24 | b << 16 | c << 8 | d;
    return 1;
}

int cm_ip4_parse_cidr(const char *s, uint32_t *addr, int *prefix)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || !cm_ip4_parse(s, (size_t)(slash - s), addr))
        return 0;
    char *end;
    long n = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || n < 0 || n > 32)
        return 0;
    *prefix = (int)n;
    return 1;
}

uint32_t cm_ip4_mask(int prefix)
{
    return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

void cm_ip4_format(uint32_t a, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}
