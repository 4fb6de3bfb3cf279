/* test_json.c - cJSON with exact numbers: parsing, printing, malformed input. */
#include "check.h"
#include "json.h"

#include <stdlib.h>

/* Parses text and prints it back compactly; NULL (errpos set) when it does not parse. */
static char *roundtrip(const char *text, cm_json_error *err)
{
    cJSON *t = cm_json_parse(text, strlen(text), err);
    if (!t)
        return NULL;
    char *out = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    return out;
}

static void check_roundtrip(const char *text, const char *expected)
{
    cm_json_error err;
    char *out = roundtrip(text, &err);
    CHECK_STR(out, expected);
    free(out);
}

static void check_invalid(const char *text, size_t expected_pos, const char *reason)
{
    cm_json_error err = {12345, NULL};
    char *out = roundtrip(text, &err);
    if (out)
        fprintf(stderr, "parsed invalid JSON %s as %s\n", text, out);
    CHECK(out == NULL);
    CHECK_INT(err.offset, expected_pos);
    CHECK_STR(err.reason, reason);
    free(out);
}

static void test_exact_integers(void)
{
    check_roundtrip("{\"sequenceNumber\":1764240000123456789}", "{\"sequenceNumber\":1764240000123456789}");
    check_roundtrip("[9223372036854775807,-9223372036854775808]", "[9223372036854775807,-9223372036854775808]");
    check_roundtrip("[9007199254740993]", "[9007199254740993]"); /* 2^53 + 1 */
    check_roundtrip("[9223372036854775808]", "[9223372036854775808]"); /* past int64: kept verbatim */
    cm_json_error pos;
    cJSON *t = cm_json_parse("[1764240000123456789, 42, -7]", 29, &pos);
    int64_t v = 0;
    CHECK(t && cm_json_int64(t->child, &v) && v == INT64_C(1764240000123456789));
    CHECK(cm_json_int64(t->child->next, &v) && v == 42);
    CHECK(cm_json_int64(t->child->next->next, &v) && v == -7);
    CHECK(cm_json_is_number(t->child));
    cJSON_Delete(t);
    t = cm_json_parse("[9223372036854775808]", 21, &pos);
    CHECK(t && !cm_json_int64(t->child, &v));
    double d = 0;
    CHECK(cm_json_double(t->child, &d) && d == 9223372036854775808.0);
    cJSON_Delete(t);
}

static void test_floats(void)
{
    check_roundtrip("[1.0,1e3,1.5,-0.25,2.5e-3]", "[1.0,1e3,1.5,-0.25,0.0025]");
    cJSON *f = cm_json_new_double(1.0);
    char *s = cJSON_PrintUnformatted(f);
    CHECK_STR(s, "1.0");
    free(s);
    cJSON_Delete(f);
    f = cm_json_new_double(0.1);
    s = cJSON_PrintUnformatted(f);
    CHECK_STR(s, "0.1");
    free(s);
    cJSON_Delete(f);
    CHECK(cm_json_new_double(1.0 / 0.0) == NULL);
    cJSON *i = cm_json_new_int64(INT64_MIN);
    s = cJSON_PrintUnformatted(i);
    CHECK_STR(s, "-9223372036854775808");
    free(s);
    cJSON_Delete(i);
}

static void test_numbers_in_strings_do_not_confuse(void)
{
    check_roundtrip("{\"a\":\"12 \\\"34\\\" 5\",\"b\":[\"-1\",9007199254740993],\"c\":{\"d\":\"e1\"}}",
                    "{\"a\":\"12 \\\"34\\\" 5\",\"b\":[\"-1\",9007199254740993],\"c\":{\"d\":\"e1\"}}");
    check_roundtrip("{\"a\":[],\"b\":{},\"c\":null,\"d\":true}", "{\"a\":[],\"b\":{},\"c\":null,\"d\":true}");
}

static void test_malformed(void)
{
    check_invalid("", 0, "unexpected end of input");
    check_invalid("  {", 3, "unexpected end of input");
    check_invalid("[1,]", 3, "unexpected character");
    check_invalid("{\"a\":01}", 5, "invalid number");
    check_invalid("[1.]", 1, "invalid number");
    check_invalid("[-]", 1, "invalid number");
    check_invalid("{\"a\":1} x", 8, "unexpected data after the value");
    check_invalid("\"abc", 4, "unexpected end of input");
    check_invalid("[1 2]", 3, "expected ',' or ']'");
    check_invalid("{\"a\" 1}", 5, "expected ':'");
    check_invalid("{1:2}", 1, "expected a string key");
    check_invalid("[\"a\tb\"]", 3, "control character in string");
    check_invalid("[\"\\x\"]", 3, "invalid escape in string");
    check_invalid("[\"\\u12G4\"]", 6, "invalid \\u escape");
    check_invalid("[tru]", 1, "unexpected character");
    char deep[1101];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    check_invalid(deep, 1000, "nested too deeply");
}

static void test_parse_int64(void)
{
    int64_t v;
    CHECK(cm_parse_int64("9223372036854775807", 19, &v) && v == INT64_MAX);
    CHECK(!cm_parse_int64("9223372036854775808", 19, &v));
    CHECK(cm_parse_int64("-9223372036854775808", 20, &v) && v == INT64_MIN);
    CHECK(!cm_parse_int64("-", 1, &v));
    CHECK(!cm_parse_int64("1.0", 3, &v));
    CHECK(!cm_parse_int64("", 0, &v));
}

static void test_pretty(void)
{
    cm_json_error pos;
    const char *in = "{\"a\":[1,{\"b\":\"x\\\"y\"}],\"c\":{},\"d\":[],\"e\":1764240000123456789}";
    cJSON *t = cm_json_parse(in, strlen(in), &pos);
    char *s = cm_json_print_pretty(t);
    CHECK_STR(s, "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x\\\"y\"\n    }\n  ],\n  \"c\": {},\n"
                 "  \"d\": [],\n  \"e\": 1764240000123456789\n}");
    free(s);
    cJSON_Delete(t);
}

/* A small random tree from a few names and values, so that equal parts, duplicate
 * names, unnamed members and numbers a rounding apart all come up. */
static uint64_t rnd_state = 42;

static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (unsigned)(rnd_state >> 33) % n;
}

static cJSON *random_tree(int depth)
{
    static const char *const NAMES[] = {"a", "b", "c", "name"};
    static const double NUMS[] = {0, 1, 1.0000000000000002, -1, 1e300, 2.5};
    switch (rnd(depth > 0 ? 9 : 6)) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool(rnd(2));
    case 2: return cJSON_CreateNumber(NUMS[rnd(6)]);
    case 3: return cJSON_CreateString(NAMES[rnd(4)]);
    case 4: return cJSON_CreateRaw(rnd(2) ? "1764240000123456789" : "1.0");
    case 5: return cJSON_CreateNumber(rnd(2) ? 0.0 / 0.0 : 3);
    case 6: {
        cJSON *arr = cJSON_CreateArray();
        for (unsigned i = 0, n = rnd(4); i < n; i++)
            cJSON_AddItemToArray(arr, random_tree(depth - 1));
        return arr;
    }
    default: {
        cJSON *obj = cJSON_CreateObject();
        for (unsigned i = 0, n = rnd(5); i < n; i++) {
            if (rnd(20) == 0)
                cJSON_AddItemToArray(obj, random_tree(depth - 1)); /* a member without a name */
            else
                cJSON_AddItemToObject(obj, NAMES[rnd(4)], random_tree(depth - 1));
        }
        return obj;
    }
    }
}

/* A copy of t with one leaf perhaps changed, or members perhaps reordered. */
static cJSON *perturbed(const cJSON *t)
{
    cJSON *c = cJSON_Duplicate(t, 1);
    if (cJSON_IsObject(c) && c->child && c->child->string && rnd(4) == 0) { /* a second member of a name */
        cJSON *dup = rnd(2) ? cJSON_Duplicate(c->child, 1) : random_tree(1);
        cJSON_AddItemToObject(c, c->child->string, dup);
    } else if (cJSON_IsObject(c) && c->child && c->child->next && rnd(2)) {
        cJSON *first = cJSON_DetachItemViaPointer(c, c->child);
        cJSON_AddItemToArray(c, first); /* keeps its name */
    } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && c->child && rnd(2)) {
        cJSON *old = c->child;
        cJSON *rep = perturbed(old);
        cJSON_ReplaceItemViaPointer(c, old, rep);
    } else if (rnd(3) == 0) {
        cJSON_Delete(c);
        c = random_tree(2);
    }
    return c;
}

static void test_equal_as_cjson_compare(void)
{
    int agree = 1, equal = 0;
    for (int i = 0; i < 20000 && agree; i++) {
        cJSON *a = random_tree(4), *b = rnd(3) ? perturbed(a) : random_tree(4);
        int want = cJSON_Compare(a, b, 1) != 0, got = cm_json_equal(a, b);
        if (want != got) {
            char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
            fprintf(stderr, "cJSON_Compare %d, cm_json_equal %d:\n%s\n%s\n", want, got, x, y);
            free(x);
            free(y);
            agree = 0;
        }
        equal += want;
        CHECK(cm_json_equal(a, a) == (cJSON_Compare(a, a, 1) != 0));
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    CHECK(agree);
    CHECK(equal > 2000); /* the equal case is exercised, not only the easy unequal one */
    CHECK(!cm_json_equal(NULL, NULL));
    /* deep nesting stays linear (cJSON_Compare takes 2^depth steps here) */
    cJSON *x = cJSON_CreateObject(), *y = cJSON_CreateObject(), *px = x, *py = y;
    for (int i = 0; i < 60; i++) {
        px = cJSON_AddObjectToObject(px, "k");
        py = cJSON_AddObjectToObject(py, "k");
    }
    CHECK(cm_json_equal(x, y));
    cJSON_AddNumberToObject(py, "n", 1);
    CHECK(!cm_json_equal(x, y));
    cJSON_Delete(x);
    cJSON_Delete(y);
}

int main(void)
{
    RUN(test_exact_integers);
    RUN(test_floats);
    RUN(test_numbers_in_strings_do_not_confuse);
    RUN(test_malformed);
    RUN(test_parse_int64);
    RUN(test_pretty);
    RUN(test_equal_as_cjson_compare);
    return CHECK_DONE();
}
