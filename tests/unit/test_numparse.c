/* ft_parse_f32 must return exactly what strtof returns (correct rounding,
 * ties to even) on every decimal input, and classify the rest. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/util/numparse.h"
#include "tests/unit/test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    /* splitmix64: deterministic, good enough to spray digits */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Compare with strtof; returns 1 if they agree bit for bit. */
static int agrees(const char *s)
{
    float a = 0, b;
    ft_num_status st = ft_parse_f32(s, strlen(s), &a);
    errno = 0;
    b = strtof(s, NULL);
    if (errno == ERANGE && isinf(b))
        return st == FT_NUM_RANGE;
    if (st != FT_NUM_OK)
        return 0;
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y;
}

static int mismatches;

static void check_value(const char *s)
{
    if (!agrees(s) && mismatches++ < 10) {
        float a = 0;
        ft_parse_f32(s, strlen(s), &a);
        fprintf(stderr, "mismatch on '%s': ours %.9g, strtof %.9g\n", s, a, strtof(s, NULL));
    }
}

static void test_grammar(void)
{
    float v;
    struct {
        const char *s;
        ft_num_status st;
        float v;
    } cases[] = {
        {"0", FT_NUM_OK, 0},        {"-0", FT_NUM_OK, -0.0f},     {"+1.5", FT_NUM_OK, 1.5f},
        {"1.", FT_NUM_OK, 1},       {".5", FT_NUM_OK, 0.5f},      {"1e3", FT_NUM_OK, 1000},
        {"1E-3", FT_NUM_OK, 1e-3f}, {"2.5e+2", FT_NUM_OK, 250},   {"007", FT_NUM_OK, 7},
        {"", FT_NUM_EMPTY, 0},      {".", FT_NUM_INVALID, 0},     {"-", FT_NUM_INVALID, 0},
        {"1e", FT_NUM_INVALID, 0},  {"1e+", FT_NUM_INVALID, 0},   {"e5", FT_NUM_INVALID, 0},
        {"1.2.3", FT_NUM_INVALID, 0}, {"0x10", FT_NUM_INVALID, 0}, {"1 2", FT_NUM_INVALID, 0},
        {" 1", FT_NUM_INVALID, 0},  {"1,5", FT_NUM_INVALID, 0},   {"abc", FT_NUM_INVALID, 0},
        {"nan", FT_NUM_NONFINITE, 0}, {"NaN", FT_NUM_NONFINITE, 0}, {"-inf", FT_NUM_NONFINITE, 0},
        {"Infinity", FT_NUM_NONFINITE, 0}, {"+INF", FT_NUM_NONFINITE, 0}, {"nanx", FT_NUM_INVALID, 0},
        {"1e39", FT_NUM_RANGE, 0},  {"-3.5e38", FT_NUM_RANGE, 0}, {"1e-50", FT_NUM_OK, 0},
        {"0e999999999999", FT_NUM_OK, 0}, {"1e-99999999999", FT_NUM_OK, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v = 12345;
        ft_num_status st = ft_parse_f32(cases[i].s, strlen(cases[i].s), &v);
        CHECKF(st == cases[i].st, "'%s': status %d, expected %d", cases[i].s, st, cases[i].st);
        if (st == FT_NUM_OK)
            CHECKF(v == cases[i].v && signbit(v) == signbit(cases[i].v), "'%s' -> %g", cases[i].s, v);
    }
    /* Only the n bytes given are parsed (fields are not NUL-terminated). */
    CHECK(ft_parse_f32("12,34", 2, &v) == FT_NUM_OK && v == 12);
    CHECK(ft_is_int_token("42", 2) && ft_is_int_token("-7", 2) && ft_is_int_token("+0", 2));
    CHECK(!ft_is_int_token("4.0", 3) && !ft_is_int_token("1e2", 3) && !ft_is_int_token("", 0) &&
          !ft_is_int_token("-", 1) && !ft_is_int_token("1234567890", 10));
}

/* Random decimals in the shapes data files use. */
static void test_random_against_strtof(void)
{
    char s[64];
    mismatches = 0;
    for (int i = 0; i < 400000; i++) {
        uint64_t r = next();
        int digits = 1 + (int)(r % 19), point = (int)((r >> 8) % (unsigned)(digits + 1));
        int exp = (int)((r >> 16) % 81) - 40, kind = (int)((r >> 24) % 4);
        size_t w = 0;
        if ((r >> 30) & 1)
            s[w++] = '-';
        uint64_t m = next();
        for (int d = 0; d < digits; d++) {
            if (d == point && kind != 0)
                s[w++] = '.';
            s[w++] = (char)('0' + (m % 10));
            m /= 10;
        }
        if (kind >= 2)
            w += (size_t)snprintf(s + w, sizeof s - w, "e%d", exp);
        s[w] = '\0';
        check_value(s);
    }
    /* Python / numpy repr of doubles: 17 significant digits. */
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = next();
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d) || fabs(d) > 1e30 || fabs(d) < 1e-30)
            continue;
        snprintf(s, sizeof s, "%.17g", d);
        check_value(s);
    }
    CHECKF(mismatches == 0, "%d mismatches with strtof", mismatches);
}

/* Values at and next to float rounding boundaries: the midpoint between two
 * adjacent floats, written exactly and perturbed in the last digit. These are
 * the inputs a double-based shortcut gets wrong. */
static void test_midpoints(void)
{
    char s[128];
    mismatches = 0;
    for (int i = 0; i < 100000; i++) {
        uint32_t bits = (uint32_t)(next() % 0x7F000000u) + 0x00800000u; /* normal floats */
        float f, g;
        memcpy(&f, &bits, 4);
        g = nextafterf(f, INFINITY);
        if (!isfinite(g))
            continue;
        double mid = ((double)f + (double)g) / 2; /* exact in double */
        for (int digits = 9; digits <= 25; digits += 4) {
            snprintf(s, sizeof s, "%.*e", digits, mid);
            check_value(s);
        }
        snprintf(s, sizeof s, "%.60g", mid); /* exactly the midpoint: a tie */
        check_value(s);
        /* The midpoint cut to 17-19 digits, and one unit above / below. */
        snprintf(s, sizeof s, "%.18e", mid);
        check_value(s);
        char *e = strchr(s, 'e');
        if (e && e[-1] != '.') {
            char t[128];
            memcpy(t, s, sizeof t);
            size_t k = (size_t)(e - s) - 1;
            t[k] = t[k] == '9' ? '8' : (char)(t[k] + 1);
            check_value(t);
            t[k] = s[k] == '0' ? '1' : (char)(s[k] - 1);
            check_value(t);
        }
    }
    CHECKF(mismatches == 0, "%d mismatches at midpoints", mismatches);
    /* Known ties: 2^24 + 1 rounds to even (2^24), 2^24 + 3 rounds up. */
    CHECK(agrees("16777217") && agrees("16777219") && agrees("16777217.000000000000001"));
    CHECK(agrees("3.4028235677973366e38") && agrees("3.4028235677973367e38")); /* overflow edge */
    CHECK(agrees("1.17549435e-38") && agrees("1.4e-45") && agrees("7e-46") && agrees("1e-46"));
    CHECK(agrees("0.1") && agrees("123456789012345678901234567890") && agrees("9999999999999999999"));
}

int main(void)
{
    RUN(test_grammar);
    RUN(test_random_against_strtof);
    RUN(test_midpoints);
    return TEST_SUMMARY();
}
