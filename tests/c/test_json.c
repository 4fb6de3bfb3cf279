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

int main(void)
{
    RUN(test_exact_integers);
    RUN(test_floats);
    RUN(test_numbers_in_strings_do_not_confuse);
    RUN(test_malformed);
    RUN(test_parse_int64);
    RUN(test_pretty);
    return CHECK_DONE();
}
