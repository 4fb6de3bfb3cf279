/*
 * ssa.h - field ownership (metadata.managedFields) and server-side apply.
 *
 * A field set is a FieldsV1 tree as the API server writes it: "f:name" for a
 * member, "k:{\"name\":\"c\"}" for a list item found by its merge key, "v:..."
 * for a value of a set-like list, "." for an item itself, {} for a leaf.
 * Each write records which manager set which fields; an apply that would
 * change a field another manager set is a conflict, unless forced.
 */
#ifndef CM_FAKE_SSA_H
#define CM_FAKE_SSA_H

#include "kinds.h"

#include <cJSON.h>

/*
 * Applies the configuration `applied` of manager over `live` (NULL when the
 * object does not exist yet). Returns the merged object with its
 * managedFields (live untouched), or NULL with *conflict set to the 409
 * Status that lists the conflicts.
 */
cJSON *cm_ssa_apply(const cm_kind *k, const cJSON *live, const cJSON *applied, const char *manager,
                    int force, const char *now, cJSON **conflict);

/* Records in next's managedFields that manager (operation Update) set the fields
 * that differ from old (NULL for a create). */
void cm_ssa_update(const cm_kind *k, const cJSON *old, cJSON *next, const char *manager, const char *now);

#endif
