/* Decimal text to float32, fast and correctly rounded.
 *
 * CSV ingest spends most of its time turning text into numbers, and strtof is
 * the bottleneck there (locale handling, arbitrary precision). This parser
 * accepts the plain decimal grammar only -- [+-] digits [. digits] [e [+-]
 * digits] -- and returns exactly what strtof returns for it: the nearest
 * float, ties to even. It computes a double approximation and proves from its
 * bits that no float rounding boundary lies within the approximation's error;
 * the rare inputs it cannot prove (about 1 in 10^7 random inputs, more than
 * 19 significant digits, huge exponents) go to strtof.
 */
#ifndef FT_NUMPARSE_H
#define FT_NUMPARSE_H

#include <stddef.h>

typedef enum {
    FT_NUM_OK,        /* *out holds the value */
    FT_NUM_EMPTY,     /* no characters */
    FT_NUM_INVALID,   /* not a decimal number ("abc", "1.2.3", "0x10") */
    FT_NUM_NONFINITE, /* "nan", "inf", "infinity" in any case, with a sign */
    FT_NUM_RANGE      /* a valid number beyond the float32 range ("1e39") */
} ft_num_status;

/* Parse exactly the n bytes at p (no surrounding spaces) into *out. */
ft_num_status ft_parse_f32(const char *p, size_t n, float *out);

/* Whether the n bytes at p are a plain integer: [+-] 1..9 digits. */
int ft_is_int_token(const char *p, size_t n);

#endif
