/*
 * proto.h - Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf),
 * decoded into the JSON object the same request would have carried as JSON.
 *
 * kubectl's typed generators (create namespace, configmap, secret, deployment,
 * ...) send protobuf. A body is the 4 bytes "k8s\0" and a runtime.Unknown
 * {typeMeta {apiVersion, kind}, raw, contentEncoding, contentType} whose raw
 * bytes are the kind's message. The messages are described by a table
 * (proto_schema.c), one entry per message: its name, as the kind for the
 * kinds, and its fields, as space-separated tokens [FLAG]NAME=NUMBER:TYPE:
 *   NAME    the JSON name;
 *   FLAG    '!' a zero scalar is kept (a Go pointer, or a field without
 *           omitempty), '^' the message is inlined in its parent's JSON
 *           (an embedded Go struct); otherwise a zero scalar is left out;
 *   TYPE    s string, b bytes (base64 in JSON), i int32/int64, t bool,
 *           T metav1.Time, U metav1.MicroTime, Q resource.Quantity,
 *           I intstr.IntOrString, F metav1.FieldsV1, or a message's name;
 *           '[' before it: repeated; '{' before it: a map from strings.
 * The JSON members come out in the table's order, which is the Go struct's.
 */
#ifndef CM_FAKE_PROTO_H
#define CM_FAKE_PROTO_H

#include <cJSON.h>
#include <stddef.h>

typedef struct cm_proto_msg {
    const char *name;   /* the message, sorted by strcmp */
    const char *fields; /* its fields, in the notation above */
} cm_proto_msg;

extern const cm_proto_msg cm_proto_msgs[];
extern const size_t cm_proto_nmsgs;

enum { CM_PROTO_MAX_NAME = 96 }; /* JSON names are shorter */

/* One field of a message, parsed from its token. */
typedef struct cm_proto_field {
    char flag;        /* '!', '^' or 0 */
    const char *name; /* the JSON name, nlen bytes */
    size_t nlen;
    unsigned long number;
    char shape;       /* '[' repeated, '{' map, 0 one value */
    const char *type; /* a one-letter code or a message's name, tlen bytes */
    size_t tlen;
} cm_proto_field;

/* The message named by the len bytes at name, or NULL. */
const cm_proto_msg *cm_proto_message(const char *name, size_t len);

/* Parses the field at *cursor (start at a message's fields) into f and moves
 * past it: 1, 0 at the end, -1 when malformed. */
int cm_proto_next_field(const char **cursor, cm_proto_field *f);

/* Whether the media type ct (parameters allowed) is application/vnd.kubernetes.protobuf. */
int cm_proto_media(const char *ct);

/*
 * Decodes a protobuf body of len bytes into a new JSON object: apiVersion and
 * kind from the envelope, then the message's fields. Returns NULL with the
 * reason in err: *unsupported set to 1 when the body is well formed but its
 * kind is not in the table (the server answers 415), 0 when the body is not
 * valid protobuf (400).
 */
cJSON *cm_proto_decode(const void *body, size_t len, int *unsupported, char *err, size_t errsize);

/* Checks the table: sorted, every token well formed, every message a field
 * names present. 0, or -1 with the first problem in err (for the tests). */
int cm_proto_check(char *err, size_t errsize);

#endif
