/*
 * patch.h - the three patch formats of the API server, applied to cJSON trees:
 * JSON merge patch (RFC 7386), JSON patch (RFC 6902: add, remove, replace,
 * move, copy, test; "~0"/"~1" escapes; "-" appends) and strategic merge patch
 * for built-in kinds (lists merged by their merge keys, "$patch": delete /
 * replace / merge, "$retainKeys", "$deleteFromPrimitiveList/<field>", null
 * deletes).
 */
#ifndef CM_FAKE_PATCH_H
#define CM_FAKE_PATCH_H

#include "kinds.h"

#include <cJSON.h>
#include <stddef.h>

/* Returns the patched copy of target (target is untouched). NULL when out of memory. */
cJSON *cm_merge_patch(const cJSON *target, const cJSON *patch);

/*
 * Applies a JSON patch (an array of operations) to a copy of target.
 * Returns the result, or NULL with the reason in err; *bad_request is set
 * when the patch itself is malformed (400) rather than failing to apply (422).
 */
cJSON *cm_json_patch(const cJSON *target, const cJSON *patch, char *err, size_t errsize,
                     int *bad_request);

/*
 * Applies a strategic merge patch for an object of kind k to a copy of
 * target. Returns the result, or NULL with the reason in err.
 */
cJSON *cm_strategic_patch(const cm_kind *k, const cJSON *target, const cJSON *patch, char *err,
                          size_t errsize);

/* The merge key of the list at path in kind k's objects ("spec.containers",
 * "spec.containers[].env"): NULL for a list replaced whole, "" for a list of
 * primitives merged as a set. */
const char *cm_patch_merge_key(const cm_kind *k, const char *path);

#endif
