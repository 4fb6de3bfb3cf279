/*
 * fields.h - the unknown and duplicate fields of an object a client sends,
 * found as the API server's strict decoding finds them (fieldValidation).
 *
 * A built-in kind's fields are those of its protobuf message (proto_schema.c,
 * which has their JSON names); a custom kind's those of its CRD's structural
 * schema, where x-kubernetes-preserve-unknown-fields keeps what it covers and
 * additionalProperties makes a map. apiVersion and kind are known at the root,
 * and metadata is an ObjectMeta for every kind.
 */
#ifndef CM_FAKE_FIELDS_H
#define CM_FAKE_FIELDS_H

#include "kinds.h"

#include <cJSON.h>

/* What ?fieldValidation asks for. */
enum cm_field_validation { CM_FV_IGNORE, CM_FV_WARN, CM_FV_STRICT };

/*
 * Checks obj, an object of kind k, in document order. Returns a new array of
 * the errors, each a string `unknown field "spec.foo"` or `duplicate field
 * "spec.replicas"` (paths as the server writes them: "a.b[0].c"), and changes
 * obj as decoding into the Go type does: unknown fields dropped, a duplicated
 * field left with its last value. NULL when out of memory.
 */
cJSON *cm_fields_check(const cm_kind *k, cJSON *obj);

/* Whether kind k has a schema for its fields (a built-in kind in the table, or a custom kind with one). */
int cm_fields_known(const cm_kind *k);

#endif
