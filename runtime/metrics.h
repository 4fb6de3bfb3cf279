/*
 * metrics.h - a run's Prometheus metrics: counters, gauges and histograms by
 * name and label set, rendered in the text exposition format (version 0.0.4),
 * and served on /metrics by libmicrohttpd's own thread, so a scrape never
 * waits on the run's loop nor the loop on a scrape (a mutex guards the series).
 *
 * Labels are passed preformatted ("method=\"GET\",code=\"200\""); callers
 * escape values with cm_metrics_label().
 */
#ifndef CM_METRICS_H
#define CM_METRICS_H

#include <stddef.h>

typedef struct cm_metrics cm_metrics;

enum cm_metric_type { CM_COUNTER, CM_GAUGE, CM_HISTOGRAM };

/* A new registry, or NULL when out of memory. */
cm_metrics *cm_metrics_new(void);

/* Stops the server, if any, and frees everything. NULL is fine. */
void cm_metrics_free(cm_metrics *m);

/*
 * Declares a metric (again: nothing happens). A histogram gets these upper
 * bounds (sorted, +Inf added), or default ones for step durations in seconds
 * when nbounds is 0. Returns 0, or -1 when out of memory or the name is
 * declared with another type.
 */
int cm_metrics_declare(cm_metrics *m, const char *name, enum cm_metric_type type, const char *help,
                       const double *bounds, size_t nbounds);

/* Adds v to a counter or gauge (labels may be NULL or ""). 0, or -1 (undeclared, wrong type, no memory). */
int cm_metrics_add(cm_metrics *m, const char *name, const char *labels, double v);

/* Sets a gauge. 0, or -1. */
int cm_metrics_set(cm_metrics *m, const char *name, const char *labels, double v);

/* Observes v in a histogram. 0, or -1. */
int cm_metrics_observe(cm_metrics *m, const char *name, const char *labels, double v);

/* The value of a counter or gauge series (0 when it has none yet), for tests. */
double cm_metrics_value(cm_metrics *m, const char *name, const char *labels);

/* Appends key="value" to buf (with a ',' first when buf is not empty), value escaped as the
 * exposition format wants (\\, \", \n). Returns 0, or -1 when it does not fit. */
int cm_metrics_label(char *buf, size_t size, const char *key, const char *value);

/* The exposition text of every series (malloc'd; NULL when out of memory). */
char *cm_metrics_render(cm_metrics *m);

/*
 * Serves GET /metrics on address:port (address NULL: every interface; port 0:
 * any free one) from a thread of its own, until cm_metrics_free. Returns the
 * port bound, or -1 with why in err.
 */
int cm_metrics_serve(cm_metrics *m, const char *address, int port, char *err, size_t errsize);

#endif
