/*
 * select.h - label and field selectors, parsed and matched as the API server
 * does (k8s.io/apimachinery labels.Parse and fields.ParseSelector grammars,
 * with their error messages).
 */
#ifndef CM_FAKE_SELECT_H
#define CM_FAKE_SELECT_H

#include "kinds.h"

#include <cJSON.h>
#include <stddef.h>

typedef struct cm_selector cm_selector;

/*
 * Parses a label selector ("a=b,c!=d,e in (f,g),!h,i"). Returns the selector
 * (an empty text gives one that matches everything), or NULL with the API
 * server's message in err.
 */
cm_selector *cm_label_selector_parse(const char *text, char *err, size_t errsize);

/* Builds a selector from a LabelSelector object (matchLabels, matchExpressions).
 * NULL json gives NULL (matches nothing, as for a PDB with no selector). */
cm_selector *cm_label_selector_from_json(const cJSON *json, char *err, size_t errsize);

/*
 * Parses a field selector for kind k ("spec.nodeName=n1,status.phase!=Failed").
 * Fields the real server does not support for that kind are refused with its
 * message.
 */
cm_selector *cm_field_selector_parse(const char *text, const cm_kind *k, char *err, size_t errsize);

/* Whether an object's labels (metadata.labels, may be NULL) match. */
int cm_selector_match_labels(const cm_selector *s, const cJSON *labels);

/* Whether the object matches a field selector. */
int cm_selector_match_fields(const cm_selector *s, const cJSON *obj);

/* The value a field selector sees for `field` of obj, into buf ("" when absent). */
void cm_field_value(const cJSON *obj, const char *field, char *buf, size_t size);

/* If the selector requires field == value (an "=" term), that value, else NULL. */
const char *cm_selector_exact(const cm_selector *s, const char *field);

/* Whether the selector has no terms (matches everything). */
int cm_selector_empty(const cm_selector *s);

void cm_selector_free(cm_selector *s);

#endif
