/*
 * podview.h - the pods of one node, from one list and one watch (fieldSelector
 * spec.nodeName=NODE, all namespaces), shared by the operations on that node
 * (node.h: a drain, pod waits, node-run pods): a node's migration reads its pods
 * once and follows them on one stream instead of a list and a watch per step.
 * A view may instead (or also) be of a namespace and a label selector: the
 * node-run pods of one script on every node, say.
 *
 * A subscription hands over events as a watch does ({"type", "object"}): first
 * {"type": "RELIST", "initial": true, "object": {"metadata": {"resourceVersion"},
 * "items": [..]}} with the pods as the view has them, then every ADDED, MODIFIED
 * and DELETED the view sees, and a RELIST (without "initial") when the watch had to
 * list again (410 Gone). The view lags the API server by its watch's delay: a pod
 * created a moment ago may come after the initial RELIST, as an ADDED.
 *
 * Everything runs on the loop: the view takes its watch's news at the loop's next
 * turn, then calls each subscription's notify function that has something new.
 */
#ifndef CM_PODVIEW_H
#define CM_PODVIEW_H

#include "k8s_client.h"
#include "loop.h"

#include <cJSON.h>

typedef struct cm_pod_view cm_pod_view;
typedef struct cm_pod_sub cm_pod_sub;

/* Starts the view of the pods on node, in namespace, matching label_selector (each NULL: any): its
 * list goes out now. NULL when out of memory. */
cm_pod_view *cm_pod_view_new(cm_k8s_client *c, cm_loop *loop, const char *node, const char *namespace,
                             const char *label_selector);

/* The node the view is of (NULL: any). */
const char *cm_pod_view_node(const cm_pod_view *v);

/* The namespace the view is of (NULL: all). */
const char *cm_pod_view_namespace(const cm_pod_view *v);

/* Whether the view is of all pods of its node (no namespace, no selector). */
int cm_pod_view_whole_node(const cm_pod_view *v);

/* 1 once the list has come, 0 before, -1 when the list or the watch failed (err filled). */
int cm_pod_view_state(const cm_pod_view *v, cm_k8s_error *err);

/* A copy of the pods as the view has them (an array, owned by the caller); NULL before its list
 * has come or when out of memory. */
cJSON *cm_pod_view_pods(const cm_pod_view *v);

/* Sets the function called (from the loop) when the view changes or fails (NULL: none). */
void cm_pod_view_set_notify(cm_pod_view *v, void (*fn)(void *ud), void *ud);

/* Stops the view and frees it; its subscriptions fail with Closed from then on. NULL is accepted. */
void cm_pod_view_free(cm_pod_view *v);

/* Subscribes to the view: fn(ud) is called from the loop when the subscription has events. NULL
 * when out of memory. */
cm_pod_sub *cm_pod_view_subscribe(cm_pod_view *v, void (*fn)(void *ud), void *ud);

/* The next event: 1 with *event (owned by the caller), CM_K8S_PENDING while there is none, -1 with
 * err filled when the view failed or was closed. */
int cm_pod_sub_poll(cm_pod_sub *s, cJSON **event, cm_k8s_error *err);

/* Sets the subscription's notify function (NULL: none, events still queue). */
void cm_pod_sub_set_notify(cm_pod_sub *s, void (*fn)(void *ud), void *ud);

/* Ends a subscription; NULL is accepted. */
void cm_pod_sub_free(cm_pod_sub *s);

#endif
