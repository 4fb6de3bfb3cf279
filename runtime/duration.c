/* duration.c - Go-style durations (see duration.h). */
#include "duration.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Nanoseconds per unit named at s; *len gets the unit's length, 0 if none. */
static double unit_ns(const char *s, size_t *len)
{
    static const struct { const char *name; double ns; } UNITS[] = {
        {"ms", 1e6}, {"us", 1e3}, {"ns", 1}, {"h", 3600e9}, {"m", 60e9}, {"s", 1e9},
    };
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
        size_t n = strlen(UNITS[i].name);
        if (strncmp(s, UNITS[i].name, n) == 0) {
            *len = n;
            return UNITS[i].ns;
        }
    }
    *len = 0;
    return 0;
}

int64_t cm_parse_duration(const char *s)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    double total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0 || *p == '-' || *p == '+' || strchr("iInN", *p))
            return -1;
        size_t ulen;
        double ns = unit_ns(end, &ulen);
        if (ulen == 0) {
            if (*end || p != s) /* a bare number is only allowed alone */
                return -1;
            ns = 1e9;
        }
        total += v * ns;
        p = end + ulen;
    }
    if (total >= 9.2e18)
        return -1;
    return (int64_t)total;
}
