/* map.c - chained string hash map (see map.h). */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    uint64_t hash;
    void *value;
    char key[];
};

struct cm_map {
    struct entry **buckets;
    size_t nbuckets, count;
};

/* FNV-1a: short keys, no adversary. */
static uint64_t hash_key(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

cm_map *cm_map_new(void)
{
    cm_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void cm_map_free(cm_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->buckets);
    free(m);
}

static struct entry **find(const cm_map *m, const char *key, uint64_t h)
{
    struct entry **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
        p = &(*p)->next;
    return p;
}

void *cm_map_get(const cm_map *m, const char *key)
{
    struct entry **p = find(m, key, hash_key(key));
    return *p ? (*p)->value : NULL;
}

/* Doubles the bucket array once the load passes 1. */
static int grow(cm_map *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int cm_map_set(cm_map *m, const char *key, void *value)
{
    uint64_t h = hash_key(key);
    struct entry **p = find(m, key, h);
    if (*p) {
        (*p)->value = value;
        return 0;
    }
    if (m->count >= m->nbuckets && grow(m) == 0)
        p = find(m, key, h);
    size_t n = strlen(key);
    struct entry *e = malloc(sizeof *e + n + 1);
    if (!e)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, n + 1);
    *p = e;
    m->count++;
    return 0;
}

void *cm_map_del(cm_map *m, const char *key)
{
    struct entry **p = find(m, key, hash_key(key));
    if (!*p)
        return NULL;
    struct entry *e = *p;
    void *v = e->value;
    *p = e->next;
    free(e);
    m->count--;
    return v;
}

size_t cm_map_count(const cm_map *m)
{
    return m->count;
}

void cm_map_each(const cm_map *m, void (*fn)(void *ud, const char *key, void *value), void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i]; e; e = e->next)
            fn(ud, e->key, e->value);
}
