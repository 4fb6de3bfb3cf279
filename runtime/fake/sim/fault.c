/*
 * fault.c - injected faults (see fault.h).
 *
 * Shape: rules in six sections, each with its own random stream; the API
 * server reaches them as the filter around its REST core (FILTER, the at_*
 * points), the simulation through the hooks, which find them as that
 * filter's ud; both draw only for what a rule matches,
 * so the same run and seed give the same faults. What the faults write to the
 * cluster (a node's conditions and taints, a failing pod's status and Events)
 * goes through cm_fake_handle(), as the simulation's own writes do.
 */
#include "fault.h"

#include "duration.h"
#include "fakeint.h"
#include "inproc.h"
#include "json.h"
#include "map.h"
#include "select.h"
#include "simint.h"
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cm_fault_names[CM_FAULT_KINDS] = {
    "error", "reset", "watchDrop", "slowStart", "failedStart", "nodeNotReady", "pdbBlocked",
    "stuckTerminating"};

enum section { S_REQUESTS, S_WATCH, S_PODS, S_NODES, S_PDBS, S_TERMINATING, S_CRASH, S_COUNT };

static const char *const SECTIONS[S_COUNT] = {"requests", "watchDrops", "pods", "nodes", "pdbs",
                                              "terminating", "crash"};

/* The fields each section accepts; anything else is an error. */
static const char *const FIELDS[S_COUNT][9] = {
    {"error", "rate", "verbs", "resources", "retryAfter", "times", "message", NULL},
    {"rate", "resources", "within", "times", NULL},
    {"imagePrefix", "selector", "namespace", "name", "rate", "startDelay", "fail", NULL},
    {"name", "notReadyAt", NULL},
    {"namespace", "name", NULL},
    {"imagePrefix", "selector", "namespace", "name", "rate", NULL},
    {"afterWrites", NULL},
};

/* Fields whose --fault value is a '+'-separated list. */
static int is_list_field(const char *key)
{
    return strcmp(key, "verbs") == 0 || strcmp(key, "resources") == 0;
}

enum failure { FAIL_NONE, FAIL_IMAGE, FAIL_CRASH };

/* Which pods a rule is about: every criterion given must hold. */
struct podsel {
    char *ns, *name, *image_prefix;
    cm_selector *sel;
};

struct rule {
    enum section section;
    double rate;
    uint64_t rng;
    long times, used;        /* times < 0: no limit */
    unsigned verbs;          /* requests: bits of CM_VERB_* */
    char **resources;        /* requests, watchDrops: NULL for every resource */
    size_t nresources;
    int code;                /* requests: 500, 429, 409; 0 for a reset */
    int retry_after;         /* requests: seconds, 0 for none */
    char *message;
    int64_t within;          /* watchDrops */
    struct podsel pods;      /* pods, terminating */
    int64_t start_delay;     /* pods */
    enum failure fail;
    char *name, *ns;         /* nodes, pdbs */
    int64_t at;              /* nodes */
};

/* A pod whose containers fail: the faults play its kubelet. */
struct failing {
    cm_faults *fl;
    struct failing *next;
    char ns[256], name[256], uid[64], node[256], ip[64];
    enum failure fail;
    int attempts;            /* pulls tried, or times the container started */
    int backing;             /* an image pull failed: reporting ImagePullBackOff now */
    int64_t backoff;
    char pull_error[1024];   /* what the container runtime said about the image */
    cm_timer *timer;
    char events[5][300];     /* the Events it made (by slot), so repeats count up */
    int64_t counts[5];
};

/* A node's NotReady time. */
struct downnode {
    cm_faults *fl;
    struct downnode *next;
    char name[256];
    int down;
    cm_timer *timer;
};

struct cm_faults {
    cm_fake *f;
    cm_loop *loop;
    struct rule *rules;
    size_t nrules;
    long counts[CM_FAULT_KINDS];
    cm_fault_note_fn note;
    void *note_ud;
    cm_map *failing_uids;    /* uids the pods rules chose to fail -> struct rule */
    struct failing *failing;
    struct downnode *nodes;
    uint64_t seed;
};

/* ---- the filter around the REST core (fake.h): the points the API server calls ---- */

static int at_request(void *ud, const cm_fake_req *req, cm_fake_resp *resp);
static int64_t at_watch_drop(void *ud, const char *resource);
static void at_watch_dropped(void *ud, const char *resource, const char *ns);
static int at_pdb_blocked(void *ud, const char *ns, const char *name);
static void at_eviction_refused(void *ud, const char *ns, const char *pdb, const char *pod);
static int at_pod_stuck(void *ud, const cJSON *pod);

static const cm_fake_filter FILTER = {at_request, at_watch_drop, at_watch_dropped, at_pdb_blocked,
                                      at_eviction_refused, at_pod_stuck};

/* The faults attached to f (the simulation's hooks below find them so), or NULL. */
static cm_faults *faults_of(const cm_fake *f)
{
    return cm_fake_filter_ud(f, &FILTER);
}

/* ---- small helpers ---- */

/* A uniform draw in [0, 1) from the rule's own stream. */
static double draw(struct rule *r)
{
    return (double)(cm_splitmix64(&r->rng) >> 11) / 9007199254740992.0;
}

/* Whether a rule fires now: it has uses left and its draw comes under its rate. */
static int fires(struct rule *r)
{
    if (r->times >= 0 && r->used >= r->times)
        return 0;
    if (r->rate < 1 && draw(r) >= r->rate)
        return 0;
    r->used++;
    return 1;
}

/* Counts a fault and tells the note function (what is consumed). */
static void noted(cm_faults *fl, enum cm_fault_kind kind, cJSON *what)
{
    fl->counts[kind]++;
    if (fl->note && what)
        fl->note(fl->note_ud, kind, what);
    cJSON_Delete(what);
}

/* A fault's description, starting with one string member. */
static cJSON *what_new(const char *key, const char *value)
{
    cJSON *w = cJSON_CreateObject();
    if (w && value)
        cJSON_AddStringToObject(w, key, value);
    return w;
}

/* ---- checking the rules ---- */

/* Where a rule comes from, for messages. */
struct origin {
    cm_fake *f;
    const char *fixture; /* the fixture file, or NULL for a flag */
    const char *flag;    /* the --fault text */
    char path[128];      /* "spec.faults.requests[0]" */
    char *err;
    size_t errsize;
};

/* "FILE:LINE: FakeCluster spec.faults.x[i].field: why", or "--fault 'text': field: why"; returns -1. */
static int bad(struct origin *o, const cJSON *node, const char *field, const char *fmt, ...)
{
    int n;
    if (o->fixture)
        n = snprintf(o->err, o->errsize, "%s:%d: FakeCluster %s%s%s: ", o->fixture,
                     cm_fake_settings_line(o->f, node), o->path, field ? "." : "", field ? field : "");
    else
        n = snprintf(o->err, o->errsize, "--fault '%s': %s%s", o->flag, field ? field : "", field ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < o->errsize)
        vsnprintf(o->err + n, o->errsize - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* A duration field (seconds, or "90s"); dflt when absent. */
static int read_duration(struct origin *o, const cJSON *item, const char *key, int64_t dflt, int64_t *out)
{
    const cJSON *v = sim_get(item, key);
    double d;
    *out = dflt;
    if (!v)
        return 0;
    if (cm_json_double(v, &d) && d >= 0) {
        *out = (int64_t)(d * (double)CM_NS_PER_S);
        return 0;
    }
    if (cJSON_IsString(v) && (*out = cm_parse_duration(v->valuestring)) >= 0)
        return 0;
    return bad(o, v, key, "expected a duration (seconds, or like 90s, 5m)");
}

/* A non-negative integer field; dflt when absent. */
static int read_count(struct origin *o, const cJSON *item, const char *key, long dflt, long *out)
{
    const cJSON *v = sim_get(item, key);
    int64_t n;
    *out = dflt;
    if (!v)
        return 0;
    if (!cm_json_int64(v, &n) || n < 0 || n > 1000000000)
        return bad(o, v, key, "expected a whole number >= 0");
    *out = (long)n;
    return 0;
}

/* A string field, copied (NULL when absent). */
static int read_string(struct origin *o, const cJSON *item, const char *key, char **out)
{
    const cJSON *v = sim_get(item, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !*v->valuestring)
        return bad(o, v, key, "expected a non-empty string");
    return (*out = strdup(v->valuestring)) ? 0 : bad(o, v, key, "out of memory");
}

/* rate: a probability, 1 when absent. */
static int read_rate(struct origin *o, const cJSON *item, struct rule *r)
{
    const cJSON *v = sim_get(item, "rate");
    r->rate = 1;
    if (v && (!cm_json_double(v, &r->rate) || r->rate < 0 || r->rate > 1))
        return bad(o, v, "rate", "expected a probability from 0 to 1");
    return 0;
}

/* Rejects fields the section does not have. */
static int known_fields(struct origin *o, const cJSON *item, enum section sec)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, item) {
        int ok = 0;
        for (size_t i = 0; FIELDS[sec][i] && !ok; i++)
            ok = strcmp(kv->string, FIELDS[sec][i]) == 0;
        if (!ok) {
            char known[200] = "";
            for (size_t i = 0; FIELDS[sec][i]; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", FIELDS[sec][i]);
            return bad(o, kv, kv->string, "unknown field (%s has %s)", SECTIONS[sec], known);
        }
    }
    return 0;
}

/* A list of strings: verbs or resources. */
static int read_words(struct origin *o, const cJSON *item, const char *key, char ***out, size_t *n)
{
    const cJSON *v = sim_get(item, key), *w;
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return bad(o, v, key, "expected a non-empty list of names");
    if (!(*out = calloc((size_t)cJSON_GetArraySize(v), sizeof **out)))
        return bad(o, v, key, "out of memory");
    cJSON_ArrayForEach(w, v) {
        if (!cJSON_IsString(w) || !*w->valuestring)
            return bad(o, w, key, "expected a list of names");
        if (!((*out)[(*n)++] = strdup(w->valuestring)))
            return bad(o, w, key, "out of memory");
    }
    return 0;
}

/* verbs: as the API server's audit log names them, into bits. */
static int read_verbs(struct origin *o, const cJSON *item, struct rule *r)
{
    char **words;
    size_t n;
    int rc = read_words(o, item, "verbs", &words, &n);
    r->verbs = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int v = -1;
        for (int k = 0; k < CM_VERB_COUNT; k++)
            if (strcmp(words[i], cm_verb_names[k]) == 0)
                v = k;
        if (v < 0)
            rc = bad(o, sim_get(item, "verbs"), "verbs", "unknown verb '%s' (get, list, watch, create, update, patch, delete)",
                     words[i]);
        else
            r->verbs |= 1u << v;
    }
    for (size_t i = 0; i < n; i++)
        free(words[i]);
    free(words);
    return rc;
}

/* requests: error, rate, verbs, resources, retryAfter, times, message. */
static int read_request(struct origin *o, const cJSON *item, struct rule *r)
{
    const cJSON *e = sim_get(item, "error");
    int64_t code = 0;
    if (cJSON_IsString(e) && strcmp(e->valuestring, "reset") == 0)
        r->code = 0;
    else if (cm_json_int64(e, &code) && (code == 500 || code == 429 || code == 409))
        r->code = (int)code;
    else
        return bad(o, e ? e : item, "error", e ? "expected 500, 429, 409 or reset" : "missing (500, 429, 409 or reset)");
    long retry;
    if (read_rate(o, item, r) || read_verbs(o, item, r) ||
        read_words(o, item, "resources", &r->resources, &r->nresources) || read_count(o, item, "retryAfter", 0, &retry) ||
        read_count(o, item, "times", -1, &r->times) || read_string(o, item, "message", &r->message))
        return -1;
    r->retry_after = (int)retry;
    unsigned writes = 1u << CM_VERB_UPDATE | 1u << CM_VERB_PATCH | 1u << CM_VERB_DELETE;
    if (r->code == 409 && !r->verbs)
        r->verbs = writes;
    if (r->code == 409 && (r->verbs & ~writes))
        return bad(o, sim_get(item, "verbs"), "verbs", "a 409 Conflict answers update, patch and delete only");
    if (retry && (r->code == 409 || r->code == 0))
        return bad(o, sim_get(item, "retryAfter"), "retryAfter", "only a 500 or 429 carries Retry-After");
    if (!r->verbs)
        r->verbs = (1u << CM_VERB_COUNT) - 1;
    return 0;
}

/* watchDrops: rate, resources, within, times. */
static int read_watch(struct origin *o, const cJSON *item, struct rule *r)
{
    if (read_rate(o, item, r) || read_words(o, item, "resources", &r->resources, &r->nresources) ||
        read_duration(o, item, "within", 30 * CM_NS_PER_S, &r->within) || read_count(o, item, "times", -1, &r->times))
        return -1;
    if (r->within <= 0)
        return bad(o, sim_get(item, "within"), "within", "expected a duration > 0");
    return 0;
}

/* imagePrefix, selector, namespace, name: at least one. */
static int read_podsel(struct origin *o, const cJSON *item, struct podsel *p)
{
    char *sel;
    if (read_string(o, item, "imagePrefix", &p->image_prefix) || read_string(o, item, "namespace", &p->ns) ||
        read_string(o, item, "name", &p->name) || read_string(o, item, "selector", &sel))
        return -1;
    if (sel) {
        char e[256];
        p->sel = cm_label_selector_parse(sel, e, sizeof e);
        free(sel);
        if (!p->sel)
            return bad(o, sim_get(item, "selector"), "selector", "%s", e);
    }
    if (!p->image_prefix && !p->ns && !p->name && !p->sel)
        return bad(o, item, NULL, "needs imagePrefix, selector, namespace or name to say which pods");
    return 0;
}

/* pods: which pods, rate, startDelay and/or fail. */
static int read_pods(struct origin *o, const cJSON *item, struct rule *r)
{
    const cJSON *f = sim_get(item, "fail");
    if (read_podsel(o, item, &r->pods) || read_rate(o, item, r) ||
        read_duration(o, item, "startDelay", 0, &r->start_delay))
        return -1;
    if (f && sim_is(cJSON_GetStringValue(f), "ErrImagePull"))
        r->fail = FAIL_IMAGE;
    else if (f && sim_is(cJSON_GetStringValue(f), "CrashLoopBackOff"))
        r->fail = FAIL_CRASH;
    else if (f)
        return bad(o, f, "fail", "expected ErrImagePull or CrashLoopBackOff");
    if (!r->fail && !r->start_delay)
        return bad(o, item, NULL, "needs startDelay or fail");
    r->times = -1;
    return 0;
}

/* nodes: name, notReadyAt. */
static int read_node(struct origin *o, const cJSON *item, struct rule *r)
{
    if (read_string(o, item, "name", &r->name) || read_duration(o, item, "notReadyAt", 0, &r->at))
        return -1;
    r->rate = 1;
    r->times = -1;
    return r->name ? 0 : bad(o, item, "name", "missing (the node's name)");
}

/* pdbs: namespace (default "default"), name. */
static int read_pdb(struct origin *o, const cJSON *item, struct rule *r)
{
    if (read_string(o, item, "name", &r->name) || read_string(o, item, "namespace", &r->ns))
        return -1;
    if (!r->ns && !(r->ns = strdup("default")))
        return bad(o, item, NULL, "out of memory");
    r->rate = 1;
    r->times = -1;
    return r->name ? 0 : bad(o, item, "name", "missing (the PodDisruptionBudget's name)");
}

/* terminating: which pods, rate. */
static int read_terminating(struct origin *o, const cJSON *item, struct rule *r)
{
    r->times = -1;
    return read_podsel(o, item, &r->pods) || read_rate(o, item, r) ? -1 : 0;
}

/* crash: afterWrites (>= 1), kept in times. */
static int read_crash(struct origin *o, const cJSON *item, struct rule *r)
{
    if (read_count(o, item, "afterWrites", -1, &r->times))
        return -1;
    if (r->times < 0)
        return bad(o, item, "afterWrites", "missing (how many of the script's API writes reach the cluster first)");
    return r->times == 0 ? bad(o, sim_get(item, "afterWrites"), "afterWrites", "expected a whole number >= 1") : 0;
}

/* One rule of a section, checked field by field. */
static int read_rule(struct origin *o, const cJSON *item, enum section sec, struct rule *r)
{
    static int (*const READ[S_COUNT])(struct origin *, const cJSON *, struct rule *) = {
        read_request, read_watch, read_pods, read_node, read_pdb, read_terminating, read_crash};
    r->section = sec;
    r->times = -1;
    if (!cJSON_IsObject(item))
        return bad(o, item, NULL, "expected a mapping");
    return known_fields(o, item, sec) || READ[sec](o, item, r) ? -1 : 0;
}

/* Frees what a pod selection owns. */
static void podsel_free(struct podsel *p)
{
    free(p->ns);
    free(p->name);
    free(p->image_prefix);
    cm_selector_free(p->sel);
}

/* Frees what a rule owns. */
static void rule_free(struct rule *r)
{
    for (size_t i = 0; i < r->nresources; i++)
        free(r->resources[i]);
    free(r->resources);
    free(r->message);
    podsel_free(&r->pods);
    free(r->name);
    free(r->ns);
}

/* ---- --fault flags ---- */

/* The section a flag names before its ':'; -1 when none. */
static int flag_section(const char *flag, const char **rest)
{
    const char *colon = strchr(flag, ':');
    for (int i = 0; colon && i < S_COUNT; i++) {
        if (strlen(SECTIONS[i]) == (size_t)(colon - flag) && strncmp(flag, SECTIONS[i], (size_t)(colon - flag)) == 0) {
            *rest = colon + 1;
            return i;
        }
    }
    return -1;
}

/* Whether text starts with "KEY=" for a field of the section (a new pair, not part of a value). */
static int starts_pair(const char *text, enum section sec)
{
    for (size_t i = 0; FIELDS[sec][i]; i++) {
        size_t n = strlen(FIELDS[sec][i]);
        if (strncmp(text, FIELDS[sec][i], n) == 0 && text[n] == '=')
            return 1;
    }
    return 0;
}

/* A flag's value as the fixture would give it: a list, a number, or a string. */
static cJSON *flag_value(const char *key, const char *v, size_t len)
{
    char *s = strndup(v, len);
    cJSON *out = NULL;
    char *end;
    if (s && is_list_field(key)) {
        out = cJSON_CreateArray();
        for (char *save = NULL, *w = strtok_r(s, "+", &save); w; w = strtok_r(NULL, "+", &save))
            cJSON_AddItemToArray(out, cJSON_CreateString(w));
    } else if (s && *s && (strtod(s, &end), !*end)) {
        out = cJSON_CreateNumber(strtod(s, NULL));
    } else if (s) {
        out = cJSON_CreateString(s);
    }
    free(s);
    return out;
}

/* Turns "SECTION:K=V,K=V" into the section and an item as the fixture would have it. */
static cJSON *flag_item(const char *flag, int *sec, struct origin *o)
{
    const char *p;
    if ((*sec = flag_section(flag, &p)) < 0) {
        bad(o, NULL, NULL, "expected SECTION:KEY=VALUE,... with SECTION one of requests, watchDrops, pods, "
            "nodes, pdbs, terminating, crash");
        return NULL;
    }
    cJSON *item = cJSON_CreateObject();
    while (item && *p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq == p || !starts_pair(p, (enum section)*sec)) {
            bad(o, NULL, NULL, "'%.*s' is not KEY=VALUE with a field of %s", (int)strcspn(p, ","), p, SECTIONS[*sec]);
            cJSON_Delete(item);
            return NULL;
        }
        const char *v = eq + 1, *end = v; /* a value runs to the next ",KEY=" (selectors have commas) */
        while (*end && !(*end == ',' && starts_pair(end + 1, (enum section)*sec)))
            end++;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
        if (sim_get(item, key)) {
            bad(o, NULL, key, "given twice");
            cJSON_Delete(item);
            return NULL;
        }
        cJSON_AddItemToObject(item, key, flag_value(key, v, (size_t)(end - v)));
        p = *end ? end + 1 : end;
    }
    return item;
}

int cm_fault_flag_check(const char *flag, char *err, size_t errsize)
{
    struct origin o = {.flag = flag, .err = err, .errsize = errsize};
    int sec;
    cJSON *item = flag_item(flag, &sec, &o);
    struct rule r = {0};
    int rc = item ? read_rule(&o, item, (enum section)sec, &r) : -1;
    rule_free(&r);
    cJSON_Delete(item);
    return rc;
}

/* ---- life cycle ---- */

static void node_timer(cm_loop *loop, void *ud);

/* Appends a rule (taking what it owns) with its own random stream. */
static int add_rule(cm_faults *fl, struct rule *r)
{
    struct rule *p = realloc(fl->rules, (fl->nrules + 1) * sizeof *p);
    if (!p)
        return -1;
    fl->rules = p;
    /* a stream of its own per rule: its section and place in it, mixed with the seed */
    size_t index = 0;
    for (size_t i = 0; i < fl->nrules; i++)
        index += fl->rules[i].section == r->section;
    r->rng = fl->seed ^ (UINT64_C(0x6a09e667f3bcc909) * (1 + (uint64_t)r->section * 64 + index));
    cm_splitmix64(&r->rng);
    fl->rules[fl->nrules++] = *r;
    return 0;
}

/* The rules of spec.faults. */
static int read_fixture(cm_faults *fl, const char *fixture, char *err, size_t errsize)
{
    const cJSON *spec = sim_get(cm_fake_settings(fl->f), "spec");
    const cJSON *faults = sim_get(spec, "faults");
    struct origin o = {.f = fl->f, .fixture = fixture, .err = err, .errsize = errsize};
    if (!faults)
        return 0;
    snprintf(o.path, sizeof o.path, "spec.faults");
    if (!cJSON_IsObject(faults))
        return bad(&o, faults, NULL, "expected a mapping of requests, watchDrops, pods, nodes, pdbs, terminating, crash");
    const cJSON *list;
    cJSON_ArrayForEach(list, faults) {
        int sec = -1;
        for (int i = 0; i < S_COUNT; i++)
            if (strcmp(list->string, SECTIONS[i]) == 0)
                sec = i;
        if (sec < 0)
            return bad(&o, list, list->string, "unknown section (requests, watchDrops, pods, nodes, pdbs, terminating, crash)");
        if (!cJSON_IsArray(list))
            return bad(&o, list, list->string, "expected a list");
        int i = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, list) {
            struct rule r = {0};
            snprintf(o.path, sizeof o.path, "spec.faults.%s[%d]", SECTIONS[sec], i++);
            if (read_rule(&o, item, (enum section)sec, &r) != 0 || add_rule(fl, &r) != 0) {
                rule_free(&r);
                return -1;
            }
        }
    }
    return 0;
}

/* The rules of the --fault flags, after the fixture's. */
static int read_flags(cm_faults *fl, const char *const *flags, size_t n, char *err, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        struct origin o = {.flag = flags[i], .err = err, .errsize = errsize};
        int sec;
        cJSON *item = flag_item(flags[i], &sec, &o);
        struct rule r = {0};
        int rc = item ? read_rule(&o, item, (enum section)sec, &r) : -1;
        cJSON_Delete(item);
        if (rc != 0 || add_rule(fl, &r) != 0) {
            rule_free(&r);
            return -1;
        }
    }
    return 0;
}

/* Arms each node's NotReady time (from the start of the run). */
static int arm_nodes(cm_faults *fl)
{
    for (size_t i = 0; i < fl->nrules; i++) {
        if (fl->rules[i].section != S_NODES)
            continue;
        struct downnode *d = calloc(1, sizeof *d);
        if (!d)
            return -1;
        d->fl = fl;
        snprintf(d->name, sizeof d->name, "%s", fl->rules[i].name);
        d->timer = cm_loop_timer(fl->loop, cm_loop_now(fl->loop) + fl->rules[i].at, node_timer, d);
        d->next = fl->nodes;
        fl->nodes = d;
    }
    return 0;
}

static int send(cm_faults *fl, const char *method, const char *path, cJSON *body);
static cm_obj *get_obj(cm_faults *fl, const char *av, const char *kind, const char *ns, const char *name);

/* The disruption controller's status for a PDB that never allows a disruption: every pod it
 * expects must stay (as with maxUnavailable 0). The simulation, when attached, keeps it so. */
static void block_pdbs(cm_faults *fl)
{
    for (size_t i = 0; i < fl->nrules; i++) {
        const struct rule *r = &fl->rules[i];
        cm_obj *pdb = r->section == S_PDBS ? get_obj(fl, "policy/v1", "PodDisruptionBudget", r->ns, r->name) : NULL;
        if (!pdb)
            continue;
        cJSON *next = cJSON_Duplicate(pdb->json, 1), *st = sim_get(next, "status");
        int64_t expected = 0, healthy = 0, desired = 0;
        cm_json_int64(sim_get(st, "currentHealthy"), &healthy);
        cm_json_int64(sim_get(st, "desiredHealthy"), &desired);
        if (!cm_json_int64(sim_get(st, "expectedPods"), &expected))
            expected = healthy;
        if (!cJSON_IsObject(st))
            st = cJSON_AddObjectToObject(next, "status");
        cJSON_DeleteItemFromObjectCaseSensitive(st, "desiredHealthy");
        cJSON_AddItemToObject(st, "desiredHealthy", cm_json_new_int64(desired > expected ? desired : expected));
        cJSON_DeleteItemFromObjectCaseSensitive(st, "disruptionsAllowed");
        cJSON_AddItemToObject(st, "disruptionsAllowed", cm_json_new_int64(0));
        char path[700];
        snprintf(path, sizeof path, "/apis/policy/v1/namespaces/%s/poddisruptionbudgets/%s/status", r->ns, r->name);
        send(fl, "PUT", path, next);
    }
}

cm_faults *cm_faults_new(cm_fake *fake, const char *fixture, const char *const *flags, size_t nflags,
                         uint64_t seed, char *err, size_t errsize)
{
    cm_faults *fl = calloc(1, sizeof *fl);
    if (!fl || !(fl->failing_uids = cm_map_new())) {
        snprintf(err, errsize, "out of memory");
        free(fl);
        return NULL;
    }
    fl->f = fake;
    fl->loop = fake->loop;
    fl->seed = seed;
    if (read_fixture(fl, fixture, err, errsize) != 0 || read_flags(fl, flags, nflags, err, errsize) != 0 ||
        arm_nodes(fl) != 0) {
        if (!err[0])
            snprintf(err, errsize, "out of memory");
        cm_faults_free(fl);
        return NULL;
    }
    cm_fake_set_filter(fake, &FILTER, fl);
    block_pdbs(fl);
    return fl;
}

/* Frees a failing pod's state and its timer. */
static void failing_free(cm_faults *fl, struct failing *p)
{
    if (p->timer)
        cm_loop_timer_cancel(fl->loop, p->timer);
    free(p);
}

void cm_faults_free(cm_faults *fl)
{
    if (!fl)
        return;
    if (fl->f && faults_of(fl->f) == fl)
        cm_fake_set_filter(fl->f, NULL, NULL);
    while (fl->failing) {
        struct failing *p = fl->failing;
        fl->failing = p->next;
        failing_free(fl, p);
    }
    while (fl->nodes) {
        struct downnode *d = fl->nodes;
        fl->nodes = d->next;
        if (d->timer)
            cm_loop_timer_cancel(fl->loop, d->timer);
        free(d);
    }
    for (size_t i = 0; i < fl->nrules; i++)
        rule_free(&fl->rules[i]);
    free(fl->rules);
    cm_map_free(fl->failing_uids);
    free(fl);
}

int cm_faults_any(const cm_faults *fl)
{
    return fl && fl->nrules > 0;
}

void cm_faults_set_note(cm_faults *fl, cm_fault_note_fn fn, void *ud)
{
    fl->note = fn;
    fl->note_ud = ud;
}

long cm_faults_crash_after(const cm_faults *fl)
{
    long n = 0;
    for (size_t i = 0; fl && i < fl->nrules; i++)
        if (fl->rules[i].section == S_CRASH && (n == 0 || fl->rules[i].times < n))
            n = fl->rules[i].times;
    return n;
}

long cm_faults_count(const cm_faults *fl, enum cm_fault_kind kind)
{
    return fl ? fl->counts[kind] : 0;
}

/* ---- requests ---- */

/* What a request's path addresses: /api/v1/namespaces/NS/RESOURCE/NAME/SUB, or under /apis/G/V. */
struct target {
    char group[128], resource[128], name[256], sub[64];
};

/* 0 when the path is not a resource's (discovery, /version, /openapi: never faulted). */
static int parse_target(const char *path, struct target *t)
{
    char buf[1024], *seg[12];
    size_t n = 0;
    memset(t, 0, sizeof *t);
    if (strlen(path) >= sizeof buf)
        return 0;
    strcpy(buf, path);
    for (char *save = NULL, *s = strtok_r(buf, "/", &save); s && n < 12; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    size_t i = n >= 3 && sim_is(seg[0], "api") ? 2 : n >= 4 && sim_is(seg[0], "apis") ? 3 : 0;
    if (!i)
        return 0;
    if (i == 3)
        snprintf(t->group, sizeof t->group, "%s", seg[1]);
    if (n - i >= 3 && sim_is(seg[i], "namespaces"))
        i += 2;
    snprintf(t->resource, sizeof t->resource, "%s", seg[i]);
    if (i + 1 < n)
        snprintf(t->name, sizeof t->name, "%s", seg[i + 1]);
    if (i + 2 < n)
        snprintf(t->sub, sizeof t->sub, "%s", seg[i + 2]);
    return 1;
}

/* "pods" matches the pods resource and its subresources; "pods/eviction" that subresource only. */
static int resource_matches(const struct rule *r, const struct target *t)
{
    if (!r->resources)
        return 1;
    for (size_t i = 0; i < r->nresources; i++) {
        const char *w = r->resources[i], *slash = strchr(w, '/');
        size_t n = slash ? (size_t)(slash - w) : strlen(w);
        if (strlen(t->resource) == n && strncmp(w, t->resource, n) == 0 && (!slash || sim_is(slash + 1, t->sub)))
            return 1;
    }
    return 0;
}

/* The Status the API server sends for the rule's error. */
static cJSON *error_status(cm_fake *f, const struct rule *r, const struct target *t, const char *path)
{
    cJSON *st;
    char msg[1024];
    if (r->code == 500) { /* apierrors.NewInternalError */
        const char *cause = r->message ? r->message : "etcdserver: request timed out";
        snprintf(msg, sizeof msg, "Internal error occurred: %s", cause);
        st = cm_status_new(500, "InternalError", msg);
        cm_status_cause(st, NULL, cause, NULL);
    } else if (r->code == 429 && r->retry_after) { /* apierrors.NewTooManyRequests */
        st = cm_status_new(429, "TooManyRequests", r->message ? r->message : "Too many requests, please try again later.");
    } else if (r->code == 429) { /* apierrors.NewTooManyRequestsError */
        snprintf(msg, sizeof msg, "Too many requests: %s", r->message ? r->message : "the server is overloaded");
        st = cm_status_new(429, "TooManyRequests", msg);
    } else { /* apierrors.NewConflict on the object's resource */
        const cm_kind *k = NULL;
        for (size_t i = 0; !k && i < cm_kinds_count(f->kinds); i++) {
            const cm_kind *c = cm_kinds_at(f->kinds, i);
            if (sim_is(c->plural, t->resource) && sim_is(c->group, t->group))
                k = c;
        }
        if (k)
            return cm_status_conflict(k, t->name, "the object has been modified; please apply your changes to the latest version and try again");
        snprintf(msg, sizeof msg, "Operation cannot be fulfilled on %s: the object has been modified", path);
        st = cm_status_new(409, "Conflict", msg);
    }
    if (r->retry_after)
        cm_status_retry_after(st, r->retry_after);
    return st;
}

/* The first request rule that matches and fires, or NULL. */
static struct rule *request_rule(cm_faults *fl, int verb, const struct target *t)
{
    for (size_t i = 0; i < fl->nrules; i++) {
        struct rule *r = &fl->rules[i];
        if (r->section == S_REQUESTS && (r->verbs & (1u << verb)) && resource_matches(r, t) && fires(r))
            return r;
    }
    return NULL;
}

/* The filter's request point: a client's request answered with an injected error or reset. */
static int at_request(void *ud, const cm_fake_req *req, cm_fake_resp *resp)
{
    struct target t;
    cm_faults *fl = ud;
    struct rule *r = NULL;
    int verb = cm_inproc_verb(req->method, req->path, req->query);
    if (!parse_target(req->path, &t) || !(r = request_rule(fl, verb, &t)))
        return 0;
    cJSON *what = what_new("verb", cm_verb_names[verb]);
    cJSON_AddStringToObject(what, "method", req->method);
    cJSON_AddStringToObject(what, "path", req->path);
    if (!r->code) {
        resp->reset = 1;
        noted(fl, CM_FAULT_RESET, what);
        return 1;
    }
    cJSON *st = error_status(fl->f, r, &t, req->path);
    resp->status = cm_status_code(st);
    resp->retry_after = r->retry_after;
    resp->content_type = "application/json";
    resp->body = cJSON_PrintUnformatted(st);
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    cJSON_Delete(st);
    cJSON_AddNumberToObject(what, "code", r->code);
    if (r->retry_after)
        cJSON_AddNumberToObject(what, "retryAfter", r->retry_after);
    noted(fl, CM_FAULT_ERROR, what);
    return 1;
}

/* ---- watches ---- */

/* The filter's watch_drop point. */
static int64_t at_watch_drop(void *ud, const char *resource)
{
    cm_faults *fl = ud;
    struct target t = {0};
    snprintf(t.resource, sizeof t.resource, "%s", resource);
    for (size_t i = 0; i < fl->nrules; i++) {
        struct rule *r = &fl->rules[i];
        if (r->section == S_WATCH && resource_matches(r, &t) && fires(r))
            return 1 + (int64_t)(draw(r) * (double)(r->within - 1)); /* in (0, within] */
    }
    return -1;
}

/* The filter's watch_dropped point. */
static void at_watch_dropped(void *ud, const char *resource, const char *ns)
{
    cJSON *what = what_new("resource", resource);
    if (ns)
        cJSON_AddStringToObject(what, "namespace", ns);
    noted(ud, CM_FAULT_WATCH_DROP, what);
}

/* ---- writes of the faults' own actors (node lifecycle, a failing pod's kubelet) ---- */

/* Sends method path with body (consumed); returns the status. */
static int send(cm_faults *fl, const char *method, const char *path, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    cm_fake_req req = {.method = method, .path = path, .content_type = "application/json",
                       .body = text, .body_len = text ? strlen(text) : 0, .internal = 1};
    cm_fake_resp resp;
    cm_fake_handle(fl->f, &req, &resp);
    free(text);
    cm_fake_resp_clear(&resp);
    return resp.status;
}

/* The stored object, or NULL. */
static cm_obj *get_obj(cm_faults *fl, const char *av, const char *kind, const char *ns, const char *name)
{
    const cm_kind *k = cm_kinds_by_kind(fl->f->kinds, av, kind);
    return k ? cm_store_get(fl->f->store, k, ns, name) : NULL;
}

/* Records an Event (or counts one up): slot keeps its name across repeats. */
static void event(cm_faults *fl, const char *ns, const cJSON *about, const struct cm_evspec *e, char *slot,
                  int64_t *count)
{
    char now[40], path[600];
    cm_fake_now(fl->f, now, sizeof now);
    cm_obj *old = slot[0] ? get_obj(fl, "v1", "Event", ns, slot) : NULL;
    if (old) {
        cJSON *next = cJSON_Duplicate(old->json, 1);
        cJSON_ReplaceItemInObjectCaseSensitive(next, "count", cm_json_new_int64(++*count));
        cm_set_str(next, "lastTimestamp", now);
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", ns, slot);
        send(fl, "PUT", path, next);
        return;
    }
    snprintf(slot, 300, "%.200s.%016llx", cm_meta_str(about, "name"), (unsigned long long)cm_splitmix64(&fl->seed));
    *count = 1;
    cJSON *ev = cm_fake_event_new(ns, slot, about, e, now);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", ns);
    send(fl, "POST", path, ev);
}

/* ---- nodes ---- */

int cm_fault_node_down(const cm_fake *f, const char *node)
{
    const cm_faults *fl = faults_of(f);
    for (const struct downnode *d = fl ? fl->nodes : NULL; d && node; d = d->next)
        if (d->down && strcmp(d->name, node) == 0)
            return 1;
    return 0;
}

/* The node lifecycle controller's view of a silent kubelet: every condition it owns Unknown. */
static void conditions_unknown(cJSON *status, const char *now)
{
    cJSON *c;
    cJSON_ArrayForEach(c, sim_get(status, "conditions")) {
        const char *type = sim_gets(c, "type");
        if (!sim_is(type, "Ready") && !sim_is(type, "MemoryPressure") && !sim_is(type, "DiskPressure") && !sim_is(type, "PIDPressure"))
            continue;
        if (!sim_is(sim_gets(c, "status"), "Unknown"))
            cm_set_str(c, "lastTransitionTime", now);
        cm_set_str(c, "message", "Kubelet stopped posting node status.");
        cm_set_str(c, "reason", "NodeStatusUnknown");
        cm_set_str(c, "status", "Unknown");
    }
}

/* Adds the unreachable taint with effect unless it is there (now: its timeAdded, NULL for none). */
static void add_taint(cJSON *spec, const char *effect, const char *now)
{
    cJSON *taints = sim_get(spec, "taints");
    if (!cJSON_IsArray(taints)) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "taints");
        taints = cJSON_AddArrayToObject(spec, "taints");
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, taints)
        if (sim_is(sim_gets(t, "key"), "node.kubernetes.io/unreachable") && sim_is(sim_gets(t, "effect"), effect))
            return;
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "effect", effect);
    cJSON_AddStringToObject(n, "key", "node.kubernetes.io/unreachable");
    if (now)
        cJSON_AddStringToObject(n, "timeAdded", now);
    cJSON_AddItemToArray(taints, n);
}

/* MarkPodsNotReady: the Ready condition of every pod on the node goes False. */
static void pods_not_ready(cm_faults *fl, const char *node, const char *now)
{
    cm_obj *const *on;
    size_t n = cm_store_pods_on_node(fl->f->store, node, &on);
    char (*keys)[2][256] = malloc((n ? n : 1) * sizeof *keys);
    for (size_t i = 0; keys && i < n; i++) {
        snprintf(keys[i][0], sizeof keys[i][0], "%s", on[i]->ns);
        snprintf(keys[i][1], sizeof keys[i][1], "%s", on[i]->name);
    }
    for (size_t i = 0; keys && i < n; i++) { /* the writes change the index: by name from a copy */
        cm_obj *pod = get_obj(fl, "v1", "Pod", keys[i][0], keys[i][1]);
        if (pod && cm_meta_str(pod->json, "deletionTimestamp"))
            continue; /* already going; left as it is */
        cJSON *c, *next = pod ? cJSON_Duplicate(pod->json, 1) : NULL;
        int changed = 0;
        cJSON_ArrayForEach(c, sim_get(sim_get(next, "status"), "conditions"))
            if (sim_is(sim_gets(c, "type"), "Ready") && !sim_is(sim_gets(c, "status"), "False")) {
                cm_set_str(c, "status", "False");
                cm_set_str(c, "lastTransitionTime", now);
                changed = 1;
            }
        char path[700];
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/status", keys[i][0], keys[i][1]);
        if (changed)
            send(fl, "PUT", path, next);
        else
            cJSON_Delete(next);
    }
    free(keys);
}

/* The node's time has come: conditions Unknown, the unreachable taints, its pods not ready. */
static void node_timer(cm_loop *loop, void *ud)
{
    (void)loop;
    struct downnode *d = ud;
    cm_faults *fl = d->fl;
    char now[40], path[400], slot[300] = "";
    int64_t count = 0;
    d->timer = NULL;
    d->down = 1;
    cm_obj *node = get_obj(fl, "v1", "Node", "", d->name);
    if (!node)
        return;
    cm_fake_now(fl->f, now, sizeof now);
    cJSON *next = cJSON_Duplicate(node->json, 1);
    conditions_unknown(sim_get(next, "status"), now);
    snprintf(path, sizeof path, "/api/v1/nodes/%s/status", d->name);
    send(fl, "PUT", path, next);
    node = get_obj(fl, "v1", "Node", "", d->name);
    if (!node)
        return;
    next = cJSON_Duplicate(node->json, 1);
    cJSON *spec = sim_get(next, "spec");
    if (!spec)
        spec = cJSON_AddObjectToObject(next, "spec");
    add_taint(spec, "NoSchedule", NULL);
    add_taint(spec, "NoExecute", now);
    snprintf(path, sizeof path, "/api/v1/nodes/%s", d->name);
    send(fl, "PUT", path, next);
    node = get_obj(fl, "v1", "Node", "", d->name);
    char msg[400];
    snprintf(msg, sizeof msg, "Node %s status is now: NodeNotReady", d->name);
    struct cm_evspec e = {"Node", "Normal", "NodeNotReady", msg, "node-controller", NULL, NULL};
    if (node)
        event(fl, "default", node->json, &e, slot, &count);
    pods_not_ready(fl, d->name, now);
    noted(fl, CM_FAULT_NODE_NOT_READY, what_new("node", d->name));
}

/* ---- pods: slow and failing starts ---- */

/* Whether every criterion given holds for the pod (an image prefix: any of its containers). */
static int podsel_match(const struct podsel *p, const cJSON *pod)
{
    const cJSON *meta = sim_get(pod, "metadata");
    if ((p->ns && !sim_is(sim_gets(meta, "namespace"), p->ns)) || (p->name && !sim_is(sim_gets(meta, "name"), p->name)))
        return 0;
    if (p->sel && !cm_selector_match_labels(p->sel, sim_get(meta, "labels")))
        return 0;
    if (!p->image_prefix)
        return 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(pod, "spec"), "containers"))
        if (sim_gets(c, "image") && strncmp(sim_gets(c, "image"), p->image_prefix, strlen(p->image_prefix)) == 0)
            return 1;
    return 0;
}

/* A pod fault's description: namespace, pod, node. */
static cJSON *pod_what(const cJSON *pod)
{
    cJSON *w = what_new("namespace", cm_meta_str(pod, "namespace"));
    cJSON_AddStringToObject(w, "pod", cm_meta_str(pod, "name") ? cm_meta_str(pod, "name") : "");
    const char *node = sim_gets(sim_get(pod, "spec"), "nodeName");
    if (node)
        cJSON_AddStringToObject(w, "node", node);
    return w;
}

int64_t cm_fault_pod_start_delay(cm_fake *f, const cJSON *pod)
{
    cm_faults *fl = faults_of(f);
    for (size_t i = 0; fl && i < fl->nrules; i++) {
        struct rule *r = &fl->rules[i];
        if (r->section != S_PODS || !podsel_match(&r->pods, pod) || !fires(r))
            continue;
        const char *uid = cm_meta_str(pod, "uid");
        if (r->fail && uid)
            cm_map_set(fl->failing_uids, uid, r);
        if (r->start_delay) {
            cJSON *w = pod_what(pod);
            cJSON_AddNumberToObject(w, "delay", (double)r->start_delay / 1e9);
            noted(fl, CM_FAULT_SLOW_START, w);
        }
        return r->start_delay;
    }
    return 0;
}

static void failing_timer(cm_loop *loop, void *ud);

/* A container's status while its start fails: waiting for reason, with lastState after a crash. */
static cJSON *failing_container(const struct failing *p, const cJSON *c, const char *reason, const char *now)
{
    const char *image = sim_gets(c, "image") ? sim_gets(c, "image") : "", *name = sim_gets(c, "name") ? sim_gets(c, "name") : "";
    int crash = p->fail == FAIL_CRASH;
    char msg[1024];
    cJSON *cs = cJSON_CreateObject();
    cJSON_AddStringToObject(cs, "image", image);
    cJSON_AddStringToObject(cs, "imageID", crash ? image : "");
    cJSON *last = cJSON_AddObjectToObject(cs, "lastState");
    cJSON_AddStringToObject(cs, "name", name);
    cJSON_AddFalseToObject(cs, "ready");
    cJSON_AddNumberToObject(cs, "restartCount", crash ? p->attempts : 0);
    cJSON_AddFalseToObject(cs, "started");
    cJSON *waiting = cJSON_AddObjectToObject(cJSON_AddObjectToObject(cs, "state"), "waiting");
    if (sim_is(reason, "ErrImagePull"))
        snprintf(msg, sizeof msg, "%s", p->pull_error);
    else if (!crash)
        snprintf(msg, sizeof msg, "Back-off pulling image \"%s\"", image);
    else
        snprintf(msg, sizeof msg, "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
                 (long long)(p->backoff / CM_NS_PER_S), name, p->name, p->ns, p->uid);
    cJSON_AddStringToObject(waiting, "message", msg);
    cJSON_AddStringToObject(waiting, "reason", reason);
    if (crash) {
        char id[80];
        snprintf(id, sizeof id, "containerd://%.24s%08x", p->uid, (unsigned)p->attempts);
        cJSON *term = cJSON_AddObjectToObject(last, "terminated");
        cJSON_AddStringToObject(term, "containerID", id);
        cJSON_AddNumberToObject(term, "exitCode", 1);
        cJSON_AddStringToObject(term, "finishedAt", now);
        cJSON_AddStringToObject(term, "reason", "Error");
        cJSON_AddStringToObject(term, "startedAt", now);
    }
    return cs;
}

/* The conditions of a pod whose containers are not ready, and which they are. */
static void not_ready_conditions(cJSON *status, const cJSON *pod, const char *now)
{
    char names[600] = "";
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(pod, "spec"), "containers"))
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? " " : "",
                 sim_gets(c, "name") ? sim_gets(c, "name") : "");
    char msg[700];
    snprintf(msg, sizeof msg, "containers with unready status: [%s]", names);
    cJSON *conds = cJSON_CreateArray();
    static const char *const TYPES[] = {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                        "PodScheduled"};
    for (size_t i = 0; i < 5; i++) {
        int unready = i == 2 || i == 3;
        const cJSON *old;
        const char *since = now;
        cJSON_ArrayForEach(old, sim_get(status, "conditions"))
            if (sim_is(sim_gets(old, "type"), TYPES[i]) && sim_is(sim_gets(old, "status"), unready ? "False" : "True"))
                since = sim_gets(old, "lastTransitionTime") ? sim_gets(old, "lastTransitionTime") : now;
        cJSON *cond = cJSON_CreateObject();
        cJSON_AddNullToObject(cond, "lastProbeTime");
        cJSON_AddStringToObject(cond, "lastTransitionTime", since);
        if (unready) {
            cJSON_AddStringToObject(cond, "message", msg);
            cJSON_AddStringToObject(cond, "reason", "ContainersNotReady");
        }
        cJSON_AddStringToObject(cond, "status", unready ? "False" : "True");
        cJSON_AddStringToObject(cond, "type", TYPES[i]);
        cJSON_AddItemToArray(conds, cond);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
    cJSON_AddItemToObject(status, "conditions", conds);
}

/* The pod's addresses: the node's InternalIP, and the sandbox's IP. */
static void addresses(cJSON *st, const struct failing *p, const cJSON *node)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, sim_get(sim_get(node, "status"), "addresses"))
        if (sim_is(sim_gets(a, "type"), "InternalIP") && !sim_get(st, "hostIP"))
            cJSON_AddStringToObject(st, "hostIP", sim_gets(a, "address"));
    if (!p->ip[0])
        return;
    cm_set_str(st, "podIP", p->ip);
    cJSON *ips = cJSON_CreateArray(), *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, "ip", p->ip);
    cJSON_AddItemToArray(ips, one);
    cJSON_DeleteItemFromObjectCaseSensitive(st, "podIPs");
    cJSON_AddItemToObject(st, "podIPs", ips);
}

/* Writes the failing pod's status: Pending (image) or Running (crash loop), not ready, waiting for reason. */
static void failing_status(cm_faults *fl, struct failing *p, cm_obj *pod, const char *reason)
{
    char now[40], path[600];
    cm_obj *node = get_obj(fl, "v1", "Node", "", p->node);
    cm_fake_now(fl->f, now, sizeof now);
    cJSON *next = cJSON_Duplicate(pod->json, 1);
    cJSON *st = sim_get(next, "status");
    if (!st)
        st = cJSON_AddObjectToObject(next, "status");
    not_ready_conditions(st, pod->json, now);
    cJSON *arr = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_get(sim_get(pod->json, "spec"), "containers"))
        cJSON_AddItemToArray(arr, failing_container(p, c, reason, now));
    cJSON_DeleteItemFromObjectCaseSensitive(st, "containerStatuses");
    cJSON_AddItemToObject(st, "containerStatuses", arr);
    addresses(st, p, node ? node->json : NULL);
    cm_set_str(st, "phase", p->fail == FAIL_CRASH ? "Running" : "Pending");
    if (!sim_get(st, "startTime"))
        cJSON_AddStringToObject(st, "startTime", now);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
    send(fl, "PUT", path, next);
}

/* One of the kubelet's Events about the pod's first container; slot keeps it for repeats. */
static void pod_event(cm_faults *fl, struct failing *p, const cJSON *pod, int slot, const char *type,
                      const char *reason, const char *message)
{
    char field[300];
    const char *name = sim_gets(cJSON_GetArrayItem(sim_get(sim_get(pod, "spec"), "containers"), 0), "name");
    snprintf(field, sizeof field, "spec.containers{%s}", name ? name : "");
    struct cm_evspec e = {"Pod", type, reason, message, "kubelet", p->node, field};
    event(fl, p->ns, pod, &e, p->events[slot], &p->counts[slot]);
}

/* One step of a failing start: an image pull that fails, the back-off after it, or a container that
 * starts and exits. Status and Events as the kubelet writes them; the next step on a timer. */
static void failing_step(cm_faults *fl, struct failing *p, cm_obj *pod)
{
    const cJSON *c = cJSON_GetArrayItem(sim_get(sim_get(pod->json, "spec"), "containers"), 0);
    char image[512], name[256], ns[256], pname[256], msg[2048]; /* copies: the writes replace the pod */
    snprintf(image, sizeof image, "%s", sim_gets(c, "image") ? sim_gets(c, "image") : "");
    snprintf(name, sizeof name, "%s", sim_gets(c, "name") ? sim_gets(c, "name") : "");
    const char *reason = p->fail == FAIL_CRASH ? "CrashLoopBackOff" : p->backing ? "ImagePullBackOff" : "ErrImagePull";
    snprintf(ns, sizeof ns, "%s", p->ns);
    snprintf(pname, sizeof pname, "%s", p->name);
    if (!p->backing)
        p->attempts++;
    failing_status(fl, p, pod, reason);
    if (!(pod = get_obj(fl, "v1", "Pod", ns, pname)))
        return;
    const cJSON *pj = pod->json;
    if (p->fail == FAIL_IMAGE && !p->backing) {
        snprintf(msg, sizeof msg, "Pulling image \"%s\"", image);
        pod_event(fl, p, pj, 0, "Normal", "Pulling", msg);
        snprintf(msg, sizeof msg, "Failed to pull image \"%s\": %s", image, p->pull_error);
        pod_event(fl, p, pj, 1, "Warning", "Failed", msg);
        pod_event(fl, p, pj, 2, "Warning", "Failed", "Error: ErrImagePull");
    } else if (p->fail == FAIL_IMAGE) {
        snprintf(msg, sizeof msg, "Back-off pulling image \"%s\"", image);
        pod_event(fl, p, pj, 3, "Normal", "BackOff", msg);
        pod_event(fl, p, pj, 4, "Warning", "Failed", "Error: ImagePullBackOff");
    } else {
        snprintf(msg, sizeof msg, "Container image \"%s\" already present on machine", image);
        pod_event(fl, p, pj, 0, "Normal", "Pulled", msg);
        snprintf(msg, sizeof msg, "Created container: %s", name);
        pod_event(fl, p, pj, 1, "Normal", "Created", msg);
        snprintf(msg, sizeof msg, "Started container %s", name);
        pod_event(fl, p, pj, 2, "Normal", "Started", msg);
        snprintf(msg, sizeof msg, "Back-off restarting failed container %s in pod %s_%s(%s)", name, p->name, p->ns, p->uid);
        pod_event(fl, p, pj, 3, "Warning", "BackOff", msg);
    }
    if (!p->backing) {
        cJSON *w = pod_what(pj);
        cJSON_AddStringToObject(w, "reason", p->fail == FAIL_CRASH ? "CrashLoopBackOff" : "ErrImagePull");
        cJSON_AddNumberToObject(w, "attempt", p->attempts);
        noted(fl, CM_FAULT_FAILED_START, w);
    }
    /* a failed pull is reported as ErrImagePull, then as ImagePullBackOff a moment later until the
     * back-off (10 s doubling up to 5 min, as the kubelet's) lets it try again */
    int64_t wait = p->fail == FAIL_IMAGE && !p->backing ? CM_NS_PER_S : p->backoff - (p->fail == FAIL_IMAGE ? CM_NS_PER_S : 0);
    if (p->fail == FAIL_CRASH || p->backing)
        p->backoff = p->backoff * 2 < 300 * CM_NS_PER_S ? p->backoff * 2 : 300 * CM_NS_PER_S;
    if (p->fail == FAIL_IMAGE)
        p->backing = !p->backing;
    p->timer = cm_loop_timer(fl->loop, cm_loop_now(fl->loop) + wait, failing_timer, p);
}

/* Forgets a failing pod. */
static void failing_unlink(cm_faults *fl, struct failing *p)
{
    for (struct failing **pp = &fl->failing; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    failing_free(fl, p);
}

/* The back-off is over: the next step, unless the pod went or its node's kubelet stopped. */
static void failing_timer(cm_loop *loop, void *ud)
{
    (void)loop;
    struct failing *p = ud;
    cm_faults *fl = p->fl;
    p->timer = NULL;
    cm_obj *pod = get_obj(fl, "v1", "Pod", p->ns, p->name);
    if (!pod || !sim_is(cm_meta_str(pod->json, "uid"), p->uid) || cm_meta_str(pod->json, "deletionTimestamp")) {
        failing_unlink(fl, p); /* gone or going: its kubelet stops trying */
        return;
    }
    if (cm_fault_node_down(fl->f, p->node)) { /* its kubelet has stopped: look again later */
        p->timer = cm_loop_timer(fl->loop, cm_loop_now(fl->loop) + p->backoff, failing_timer, p);
        return;
    }
    failing_step(fl, p, pod);
}

int cm_fault_pod_start(cm_fake *f, const cJSON *pod, const cJSON *node, const char *ip)
{
    cm_faults *fl = faults_of(f);
    const char *uid = cm_meta_str(pod, "uid");
    struct rule *r = fl && uid ? cm_map_del(fl->failing_uids, uid) : NULL;
    struct failing *p = r ? calloc(1, sizeof *p) : NULL;
    if (!p)
        return 0;
    p->fl = fl;
    p->fail = r->fail;
    p->backoff = 10 * CM_NS_PER_S;
    const char *image = sim_gets(cJSON_GetArrayItem(sim_get(sim_get(pod, "spec"), "containers"), 0), "image");
    image = image ? image : "";
    snprintf(p->pull_error, sizeof p->pull_error, "rpc error: code = NotFound desc = failed to pull and unpack image "
             "\"%.200s\": failed to resolve reference \"%.200s\": %.200s: not found", image, image, image);
    snprintf(p->ns, sizeof p->ns, "%s", cm_meta_str(pod, "namespace") ? cm_meta_str(pod, "namespace") : "");
    snprintf(p->name, sizeof p->name, "%s", cm_meta_str(pod, "name") ? cm_meta_str(pod, "name") : "");
    snprintf(p->uid, sizeof p->uid, "%s", uid);
    snprintf(p->node, sizeof p->node, "%s", cm_meta_str(node, "name") ? cm_meta_str(node, "name") : "");
    snprintf(p->ip, sizeof p->ip, "%s", ip ? ip : "");
    p->next = fl->failing;
    fl->failing = p;
    cm_obj *o = get_obj(fl, "v1", "Pod", p->ns, p->name);
    if (o)
        failing_step(fl, p, o);
    return 1;
}

/* ---- PDBs and pods stuck terminating ---- */

/* The filter's pdb_blocked point. */
static int at_pdb_blocked(void *ud, const char *ns, const char *name)
{
    const cm_faults *fl = ud;
    for (size_t i = 0; i < fl->nrules; i++)
        if (fl->rules[i].section == S_PDBS && sim_is(fl->rules[i].ns, ns) && sim_is(fl->rules[i].name, name))
            return 1;
    return 0;
}

int cm_fault_pdb_blocked(const cm_fake *f, const char *ns, const char *name)
{
    void *fl = faults_of(f);
    return fl && at_pdb_blocked(fl, ns, name);
}

/* The filter's eviction_refused point. */
static void at_eviction_refused(void *ud, const char *ns, const char *pdb, const char *pod)
{
    cJSON *w = what_new("namespace", ns);
    cJSON_AddStringToObject(w, "pdb", pdb);
    cJSON_AddStringToObject(w, "pod", pod);
    noted(ud, CM_FAULT_PDB_BLOCKED, w);
}

/* The filter's pod_stuck point. */
static int at_pod_stuck(void *ud, const cJSON *pod)
{
    cm_faults *fl = ud;
    for (size_t i = 0; i < fl->nrules; i++) {
        struct rule *r = &fl->rules[i];
        if (r->section == S_TERMINATING && podsel_match(&r->pods, pod) && fires(r)) {
            noted(fl, CM_FAULT_STUCK_TERMINATING, pod_what(pod));
            return 1;
        }
    }
    return 0;
}

int cm_fault_pod_stuck(cm_fake *f, const cJSON *pod)
{
    void *fl = faults_of(f);
    return fl && at_pod_stuck(fl, pod);
}
