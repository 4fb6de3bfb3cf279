/* check.h - a minimal C test harness: CHECK(...) records failures, RUN(fn) runs a test. */
#ifndef CM_CHECK_H
#define CM_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define CHECK_STR(actual, expected)                                                       \
    do {                                                                                  \
        const char *a_ = (actual), *e_ = (expected);                                      \
        if (!a_ || strcmp(a_, e_) != 0) {                                                 \
            fprintf(stderr, "%s:%d: expected \"%s\"\n%*s  actual   \"%s\"\n", __FILE__, \
                    __LINE__, e_, (int)strlen(__FILE__), "", a_ ? a_ : "(null)");        \
            check_failures++;                                                             \
        }                                                                                 \
    } while (0)

#define CHECK_INT(actual, expected)                                                       \
    do {                                                                                  \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                   \
        if (a_ != e_) {                                                                   \
            fprintf(stderr, "%s:%d: %s: expected %lld, actual %lld\n", __FILE__, __LINE__, \
                    #actual, e_, a_);                                                     \
            check_failures++;                                                             \
        }                                                                                 \
    } while (0)

#define RUN(fn)                          \
    do {                                 \
        int before_ = check_failures;    \
        fn();                            \
        printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

#define CHECK_DONE() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)

#endif
