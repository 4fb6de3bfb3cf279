/*
 * object.h - the small readers and builders of Kubernetes objects (cJSON trees) that the
 * API server's files and the simulation share: metadata strings, setting a member, an Event.
 * No cluster state: everything here works on the tree it is given. (fakeint.h includes it.)
 */
#ifndef CM_FAKE_OBJECT_H
#define CM_FAKE_OBJECT_H

#include <cJSON.h>

/* Strings of an object's metadata; NULL when absent. */
const char *cm_meta_str(const cJSON *obj, const char *field);
cJSON *cm_meta(cJSON *obj);

/* Sets a string member, replacing any. */
void cm_set_str(cJSON *obj, const char *key, const char *value);

/* What an Event says, and about what kind of object (Pod, Node, ...); host and field_path may be NULL. */
struct cm_evspec {
    const char *kind, *type, *reason, *message, *component, *host, *field_path;
};

/* A new core/v1 Event named name in namespace ns about the object about (its name, uid and
 * resourceVersion; the namespace unless it is a Node), count 1, first and last seen at now. */
cJSON *cm_fake_event_new(const char *ns, const char *name, const cJSON *about, const struct cm_evspec *e,
                         const char *now);

#endif
