/* Correctly rounded decimal -> float32; see numparse.h for the contract. */
#include "core/util/numparse.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 10^0..10^22 are exact in a double (5^22 < 2^53). */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define MAX_SIG_DIGITS 19 /* 10^19 - 1 < 2^64 */

static int nonfinite_word(const char *p, size_t n)
{
    if (n && (*p == '+' || *p == '-'))
        p++, n--;
    return (n == 3 && (strncasecmp(p, "nan", 3) == 0 || strncasecmp(p, "inf", 3) == 0)) ||
           (n == 8 && strncasecmp(p, "infinity", 8) == 0);
}

/* The slow, always-right path: strtof on a NUL-terminated copy. */
static ft_num_status parse_slow(const char *p, size_t n, float *out)
{
    char small[64], *buf = small;
    if (n >= sizeof small && !(buf = malloc(n + 1)))
        return FT_NUM_INVALID;
    memcpy(buf, p, n);
    buf[n] = '\0';
    errno = 0;
    char *end;
    float v = strtof(buf, &end);
    int bad = end != buf + n, range = errno == ERANGE && isinf(v);
    if (buf != small)
        free(buf);
    if (bad)
        return FT_NUM_INVALID;
    if (range)
        return FT_NUM_RANGE;
    *out = v; /* ERANGE on underflow still gives the right (tiny or zero) value */
    return FT_NUM_OK;
}

ft_num_status ft_parse_f32(const char *p, size_t n, float *out)
{
    if (n == 0)
        return FT_NUM_EMPTY;
    size_t i = 0;
    int neg = 0;
    if (p[0] == '+' || p[0] == '-')
        neg = p[i++] == '-';
    uint64_t m = 0;
    int sig = 0, digits = 0, truncated = 0;
    long e10 = 0;
    for (; i < n && (unsigned)(p[i] - '0') < 10; i++, digits++) {
        int d = p[i] - '0';
        if (sig < MAX_SIG_DIGITS) {
            m = m * 10 + (uint64_t)d;
            sig += sig || d;
        } else {
            e10++;
            truncated |= d;
        }
    }
    if (i < n && p[i] == '.') {
        for (i++; i < n && (unsigned)(p[i] - '0') < 10; i++, digits++) {
            int d = p[i] - '0';
            if (sig < MAX_SIG_DIGITS) {
                m = m * 10 + (uint64_t)d;
                sig += sig || d;
                e10--;
            } else {
                truncated |= d;
            }
        }
    }
    if (digits == 0)
        return nonfinite_word(p, n) ? FT_NUM_NONFINITE : FT_NUM_INVALID;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            eneg = p[i++] == '-';
        if (i == n || (unsigned)(p[i] - '0') >= 10)
            return FT_NUM_INVALID;
        long ex = 0;
        for (; i < n && (unsigned)(p[i] - '0') < 10; i++)
            if (ex < 100000) /* far past any float; keeps the sum from overflowing */
                ex = ex * 10 + (p[i] - '0');
        e10 += eneg ? -ex : ex;
    }
    if (i != n)
        return FT_NUM_INVALID;
    if (m == 0 && !truncated) {
        *out = neg ? -0.0f : 0.0f;
        return FT_NUM_OK;
    }
    if (!truncated && e10 >= -22 && e10 <= 22) {
        /* d approximates the value within ~2 double ulps (one rounding of m,
         * one of the product or quotient; 10^k itself is exact). Rounding d to
         * float gives the right answer unless a float midpoint -- a double
         * whose 29 low mantissa bits are exactly 0x10000000 -- lies within
         * that error: then the exact value and d could round differently. */
        double d = (double)m;
        d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
        if (d > 1.2e-38 && d < 3.4e38) { /* normal float range, clear of overflow */
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            int64_t low = (int64_t)(bits & 0x1FFFFFFFu) - 0x10000000;
            if (low > 8 || low < -8) {
                float f = (float)d;
                *out = neg ? -f : f;
                return FT_NUM_OK;
            }
        }
    }
    return parse_slow(p, n, out);
}

int ft_is_int_token(const char *p, size_t n)
{
    size_t i = 0;
    if (n && (p[0] == '+' || p[0] == '-'))
        i++;
    if (n - i < 1 || n - i > 9)
        return 0;
    for (; i < n; i++)
        if ((unsigned)(p[i] - '0') >= 10)
            return 0;
    return 1;
}
