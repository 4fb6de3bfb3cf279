/* duration.h - reading durations as operators write them ("90", "90s", "1h30m", "250ms"). */
#ifndef CM_DURATION_H
#define CM_DURATION_H

#include <stdint.h>

/*
 * Parses a duration: a plain number of seconds ("90", "1.5") or a sequence of
 * number+unit pairs in Go's syntax ("1h30m", "2m30s", "500ms"; units h, m, s,
 * ms, us, ns). Returns nanoseconds, or -1 when s is not a duration or is
 * negative or overflows.
 */
int64_t cm_parse_duration(const char *s);

#endif
