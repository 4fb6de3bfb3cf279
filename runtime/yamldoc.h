/*
 * yamldoc.h - YAML to cJSON and back, with libyaml, typed the way Kubernetes
 * reads manifests (sigs.k8s.io/yaml, that is go-yaml v2, YAML 1.1 scalars).
 *
 * Plain scalars resolve to null (~, null, empty), booleans (true/false and the
 * YAML 1.1 forms y/yes/on, n/no/off in their three casings), integers
 * (decimal, 0x, 0o, 0b, leading-0 octal, '_' separators; exact over int64),
 * floats (1.5, 1e3, .5, .inf, .nan) or strings. Quoted and block scalars are
 * always strings; the explicit tags !!str, !!int, !!float, !!bool and !!null
 * are honoured. Differences from go-yaml, on purpose: mapping keys are always
 * their text (`on:` is the key "on", not "true"), and timestamps stay strings.
 * Anchors and aliases, merge keys (<<) and multi-document streams are
 * supported; a duplicate key is an error, as it is for kubectl.
 */
#ifndef CM_YAMLDOC_H
#define CM_YAMLDOC_H

#include <cJSON.h>
#include <stddef.h>

typedef struct cm_yaml_error {
    int line, column; /* 1-based; 0 when unknown */
    char message[256];
} cm_yaml_error;

typedef struct cm_yaml_opts {
    /* Receives each non-empty document and the line it starts on, and owns it.
     * Returns 0 to go on, non-zero to stop parsing (cm_yaml_parse returns 1). */
    int (*document)(void *ud, cJSON *doc, int line);
    /* Optional: called for every mapping with the line it starts on, so a
     * caller can point errors at the object at fault. */
    void (*mapping)(void *ud, const cJSON *map, int line);
    void *ud;
    /* Optional: called for every node (scalar, sequence, mapping) with the line
     * it starts on, so a caller can point errors at one field. */
    void (*node)(void *ud, const cJSON *node, int line);
} cm_yaml_opts;

/*
 * Parses a YAML stream of len bytes. Returns 0 when the whole stream was read,
 * 1 when a callback stopped it, -1 on error with *err filled.
 */
int cm_yaml_parse(const char *text, size_t len, const cm_yaml_opts *opts, cm_yaml_error *err);

/*
 * Writes the n documents as one YAML stream (block style, keys in object
 * order, strings quoted where YAML would read them as another type).
 * Returns malloc'd text with *len set, or NULL with *err filled.
 */
char *cm_yaml_emit(const cJSON *const *docs, size_t n, size_t *len, cm_yaml_error *err);

#endif
