/*
 * map.h - a string-keyed hash map (chained, power-of-two buckets) for the
 * fake cluster's indexes. Keys are copied; values are borrowed pointers.
 */
#ifndef CM_FAKE_MAP_H
#define CM_FAKE_MAP_H

#include <stddef.h>

typedef struct cm_map cm_map;

/* Creates an empty map. NULL when out of memory. */
cm_map *cm_map_new(void);

/* Frees the map and its keys (not the values). NULL is accepted. */
void cm_map_free(cm_map *m);

/* The value under key, or NULL. */
void *cm_map_get(const cm_map *m, const char *key);

/* Sets key to value (replacing any). Returns 0, or -1 when out of memory. */
int cm_map_set(cm_map *m, const char *key, void *value);

/* Removes key; returns its value, or NULL when absent. */
void *cm_map_del(cm_map *m, const char *key);

/* Number of entries. */
size_t cm_map_count(const cm_map *m);

/* Calls fn for every entry, in no particular order; fn must not change the map. */
void cm_map_each(const cm_map *m, void (*fn)(void *ud, const char *key, void *value), void *ud);

#endif
