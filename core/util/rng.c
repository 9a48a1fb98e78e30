#include "core/util/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ft_rng_seed(ft_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

void ft_rng_seed_key(ft_rng *rng, uint64_t seed, uint64_t a, uint64_t b)
{
    /* each part goes through the mixer before the next is folded in, so
     * (seed, a, b) and (seed, b, a) differ */
    uint64_t x = seed;
    x = splitmix64(&x) ^ a;
    x = splitmix64(&x) ^ b;
    ft_rng_seed(rng, splitmix64(&x));
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ft_rng_next(ft_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float ft_rng_uniform(ft_rng *rng)
{
    return (float)(ft_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

double ft_rng_normal(ft_rng *rng)
{
    /* u1 in (0, 1] so that log(u1) is finite. */
    double u1 = ((double)(ft_rng_next(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(ft_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t ft_rng_below(ft_rng *rng, uint64_t n)
{
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = ft_rng_next(rng);
    while (x >= limit);
    return x % n;
}

void ft_rng_shuffle(ft_rng *rng, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ft_rng_below(rng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
