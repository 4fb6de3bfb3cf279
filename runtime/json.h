/*
 * json.h - cJSON with exact numbers.
 *
 * cJSON keeps every number as a double, which is exact only up to 2^53;
 * Calico's IPAMBlock sequenceNumber (about 1.8e18) is past that. cm_json_parse()
 * parses with cJSON and then re-reads each number's literal from the source
 * text: a number whose literal a double cannot reproduce (an integer past
 * 2^53, or an integral value written as a float such as 1.0 or 1e3) becomes a
 * cJSON_Raw item holding its literal, which cJSON prints back verbatim. Code
 * that reads numbers uses cm_json_int64()/cm_json_double(), which understand
 * both forms; cm_json_new_int64() builds exact integers the same way.
 */
#ifndef CM_JSON_H
#define CM_JSON_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Where and why a text is not JSON. */
typedef struct cm_json_error {
    size_t offset;      /* byte offset of the fault; the length when input ended early */
    const char *reason; /* static text, e.g. "expected ',' or '}'" */
} cm_json_error;

/*
 * Parses len bytes of JSON (a single value, optionally surrounded by white
 * space). Returns the tree, or NULL with *err set.
 */
cJSON *cm_json_parse(const char *text, size_t len, cm_json_error *err);

/*
 * Reads an integral number item (cJSON_Number holding an integer, or a Raw
 * integer literal) into *out. Returns 1, or 0 when item is not an integer
 * that fits in int64.
 */
int cm_json_int64(const cJSON *item, int64_t *out);

/* Reads any number item into *out (Raw literals via strtod). Returns 1 or 0. */
int cm_json_double(const cJSON *item, double *out);

/* Whether item is a number, in either form. */
int cm_json_is_number(const cJSON *item);

/* Whether a Raw number item was written as an integer literal. */
int cm_json_raw_is_integer(const cJSON *item);

/*
 * Whether a and b are equal exactly as cJSON_Compare(a, b, 1) decides it (the
 * same answer in every case: numbers within a relative DBL_EPSILON, members
 * found by first name match, duplicate names included), in time linear in the
 * trees: cJSON_Compare compares each object member twice, once from each
 * side, which doubles at every level of nesting (2^depth on a pod template).
 */
int cm_json_equal(const cJSON *a, const cJSON *b);

/* Creates an exact integer item. NULL when out of memory. */
cJSON *cm_json_new_int64(int64_t v);

/* Creates a float item that prints so that it reads back as the same float
 * (and as a float: 1.0, not 1). NULL when out of memory or v is not finite. */
cJSON *cm_json_new_double(double v);

/*
 * Parses an integer literal (optional sign, decimal digits) of exactly len
 * bytes into *out. Returns 1, or 0 when it is not one or overflows int64.
 */
int cm_parse_int64(const char *s, size_t len, int64_t *out);

/*
 * Prints item indented by two spaces per level, one member per line ("[]"
 * and "{}" when empty). Returns malloc'd text, or NULL when out of memory.
 */
char *cm_json_print_pretty(const cJSON *item);

/* Formats v as the shortest %.Ng that reads back exactly; buf of >= 32 bytes. */
void cm_format_double(char *buf, size_t size, double v);

#endif
