/*
 * validate.h - the metadata checks the API server makes of every object it
 * is given (name, label keys and values, annotation keys and size), with its
 * messages (apimachinery's validation package, v1.32).
 */
#ifndef CM_FAKE_VALIDATE_H
#define CM_FAKE_VALIDATE_H

#include "kinds.h"

#include <cJSON.h>

/* Adds a cause to st (a 422 from cm_status_invalid) for each problem with obj's metadata, in the
 * server's order: metadata.name, metadata.labels, metadata.annotations. */
void cm_validate_meta(cJSON *st, const cm_kind *k, const cJSON *obj);

#endif
