/*
 * check.h — the unit-test harness: one header, no framework.
 *
 *     static void test_something(void) { CHECK(1 + 1 == 2); CHECK_EQ_INT(f(), 3); }
 *     int main(void) { RUN(test_something); return check_summary("value"); }
 *
 * Each test binary prints one "PASS/FAIL name" line per test and closes with
 * "<suite>: N passed, N failed", the line CI reads. Exit status is 1 if anything failed.
 */
#ifndef TIFFIN_TESTS_CHECK_H
#define TIFFIN_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures_in_test;
static int check_passed, check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            check_failures_in_test++;                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a,    \
                    #b, check_a_, check_b_);                                                       \
            check_failures_in_test++;                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,    \
                    #a, #b, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");       \
            check_failures_in_test++;                                                              \
        }                                                                                          \
    } while (0)

#define RUN(test)                                                                                  \
    do {                                                                                           \
        check_failures_in_test = 0;                                                                \
        test();                                                                                    \
        if (check_failures_in_test) {                                                              \
            check_failed++;                                                                        \
            printf("FAIL %s\n", #test);                                                            \
        } else {                                                                                   \
            check_passed++;                                                                        \
            printf("PASS %s\n", #test);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static inline int check_summary(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
