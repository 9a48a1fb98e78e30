/* A minimal unit-test harness.
 *
 * Each test binary runs its test functions with RUN(); every test prints one
 * "PASS name" or "FAIL name" line, and main ends with TEST_SUMMARY(), which
 * prints "N passed, N failed" and returns non-zero if anything failed.
 * tests/run.sh adds the counts of all binaries and suites together.
 */
#ifndef FT_TEST_H
#define FT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_checks_failed, t_tests_passed, t_tests_failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            t_checks_failed++;                                                   \
        }                                                                        \
    } while (0)

/* Like CHECK, with a printf-style explanation printed on failure. */
#define CHECKF(cond, ...)                                                        \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            t_checks_failed++;                                                   \
        }                                                                        \
    } while (0)

/* |a - b| <= rtol * max(|a|, |b|, floor); floor keeps near-zero values from
 * demanding impossible relative precision. */
#define CHECK_CLOSE(a, b, rtol, floor)                                           \
    do {                                                                         \
        double t_a = (double)(a), t_b = (double)(b);                             \
        double t_s = fmax(fmax(fabs(t_a), fabs(t_b)), (floor));                  \
        CHECKF(fabs(t_a - t_b) <= (rtol) * t_s, "%s = %.9g, %s = %.9g", #a, t_a, #b, t_b); \
    } while (0)

static inline void t_run(const char *name, void (*fn)(void))
{
    int before = t_checks_failed;
    fn();
    int ok = t_checks_failed == before;
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    fflush(stdout);
    if (ok)
        t_tests_passed++;
    else
        t_tests_failed++;
}

#define RUN(fn) t_run(#fn, fn)

#define TEST_SUMMARY()                                                           \
    (printf("%d passed, %d failed\n", t_tests_passed, t_tests_failed), t_tests_failed != 0)

#endif
