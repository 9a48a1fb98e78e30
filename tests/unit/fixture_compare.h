/* Reading fixture arrays and comparing results with them (the fixture tests). */
#ifndef FT_TEST_FIXTURE_COMPARE_H
#define FT_TEST_FIXTURE_COMPARE_H

#include <jansson.h>

#include "tests/unit/test.h"

/* A JSON array of numbers as floats (caller frees); *n gets the count. */
static inline float *fixture_floats(const json_t *a, size_t *n)
{
    *n = json_array_size(a);
    float *v = malloc(sizeof *v * (*n ? *n : 1));
    for (size_t i = 0; i < *n; i++)
        v[i] = (float)json_number_value(json_array_get(a, i));
    return v;
}

/* Compare got[0..n) with the reference array to a relative error of rtol,
 * the denominator floored at `floor` times the array's largest value (so
 * entries near zero are compared on the array's scale); reports the worst
 * entry. */
static inline void fixture_compare(const char *what, const char *name, const float *got, const json_t *ref,
                                   double rtol, double floor)
{
    size_t n = json_array_size(ref);
    double scale = 0, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(json_number_value(json_array_get(ref, i))));
    for (size_t i = 0; i < n; i++) {
        double want = json_number_value(json_array_get(ref, i));
        double rel = fabs(got[i] - want) / fmax(fabs(want), fmax(floor * scale, 1e-30));
        if (rel > worst)
            worst = rel, at = i;
    }
    CHECKF(worst <= rtol, "%s %s: relative error %.3g at [%zu] (got %.9g, want %.9g)", name, what, worst, at,
           n ? got[at] : 0.0, n ? json_number_value(json_array_get(ref, at)) : 0.0);
}

#endif
