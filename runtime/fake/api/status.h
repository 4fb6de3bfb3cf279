/*
 * status.h - metav1.Status bodies, shaped field for field as the API server
 * writes them: kind, apiVersion, metadata, status, message, reason, details
 * (name, group, kind, uid, causes, retryAfterSeconds), code.
 */
#ifndef CM_FAKE_STATUS_H
#define CM_FAKE_STATUS_H

#include "kinds.h"

#include <cJSON.h>

/* A Status with status "Failure" (or "Success" for 2xx codes), message and
 * reason (omitted when NULL or empty); no details. NULL when out of memory. */
cJSON *cm_status_new(int code, const char *reason, const char *message);

/* Adds details {name, group, kind} (each omitted when NULL or empty). */
void cm_status_details(cJSON *st, const char *name, const char *group, const char *kind);

/* Appends a cause {reason, message, field} to details.causes (NULLs omitted). */
void cm_status_cause(cJSON *st, const char *reason, const char *message, const char *field);

/* Sets details.retryAfterSeconds. */
void cm_status_retry_after(cJSON *st, int seconds);

/* The code of a Status body. */
int cm_status_code(const cJSON *st);

/* The errors of the generic registry, as apimachinery's errors package builds them. */
cJSON *cm_status_not_found(const cm_kind *k, const char *name);
cJSON *cm_status_already_exists(const cm_kind *k, const char *name);
cJSON *cm_status_conflict(const cm_kind *k, const char *name, const char *why);
cJSON *cm_status_bad_request(const char *message);
cJSON *cm_status_method_not_allowed(const char *method, const cm_kind *k);
cJSON *cm_status_forbidden(const cm_kind *k, const char *name, const char *why);
cJSON *cm_status_gone(const char *message);
/* 422: "Kind \"name\" is invalid: ..." from the causes added afterwards with
 * cm_status_invalid_cause(); call cm_status_invalid_done() to set the message. */
cJSON *cm_status_invalid(const cm_kind *k, const char *name);
void cm_status_invalid_cause(cJSON *st, const char *type, const char *field, const char *detail);
void cm_status_invalid_done(cJSON *st, const cm_kind *k, const char *name);

#endif
