/*
 * table.h - meta.k8s.io/v1 Table for `kubectl get`: the columns the API
 * server's printers give nodes, pods, namespaces, deployments, daemonsets,
 * configmaps and PodDisruptionBudgets, and "Name, Created At" for the rest.
 */
#ifndef CM_FAKE_TABLE_H
#define CM_FAKE_TABLE_H

#include "kinds.h"

#include <cJSON.h>
#include <stdint.h>

enum cm_include { CM_INCLUDE_NONE, CM_INCLUDE_METADATA, CM_INCLUDE_OBJECT };

/* A Table with this kind's column definitions and no rows. */
cJSON *cm_table_new(const cm_kind *k);

/* Appends the row for obj; now_wall_ns dates the Age column. */
void cm_table_add_row(cJSON *table, const cm_kind *k, const cJSON *obj, int64_t now_wall_ns,
                      enum cm_include include);

/* duration.HumanDuration: "45s", "3m20s", "5h", "12d". */
void cm_human_duration(int64_t seconds, char *buf, size_t size);

/* Parses an RFC 3339 UTC time ("2026-11-29T05:33:20Z") to seconds since the epoch; -1 if not one. */
int64_t cm_parse_time(const char *s);

/* Formats seconds since the epoch as RFC 3339 UTC without fraction. */
void cm_format_time(int64_t secs, char *buf, size_t size);

#endif
