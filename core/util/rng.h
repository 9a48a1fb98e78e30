/* Seedable pseudo-random generator (xoshiro256**, seeded through splitmix64).
 *
 * One generator per model or job, never a process-wide one, so that runs are
 * reproducible and a checkpoint can carry the exact state. The struct is public
 * because it is a plain value: it is copied into checkpoints and compared.
 */
#ifndef FT_RNG_H
#define FT_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* generator state; never all zero */
} ft_rng;

/* Initialise from a 64-bit seed; equal seeds give equal streams. */
void ft_rng_seed(ft_rng *rng, uint64_t seed);

/* Initialise from a key (seed, a, b): a counter-based stream, so the
 * numbers for one key do not depend on what was drawn before (per-sample
 * augmentation keyed by epoch and row). Equal keys give equal streams. */
void ft_rng_seed_key(ft_rng *rng, uint64_t seed, uint64_t a, uint64_t b);

/* Next raw 64-bit value. */
uint64_t ft_rng_next(ft_rng *rng);

/* Uniform float in [0, 1), 24 random bits. */
float ft_rng_uniform(ft_rng *rng);

/* Standard normal sample (Box-Muller on two uniforms, computed in double). */
double ft_rng_normal(ft_rng *rng);

/* Uniform integer in [0, n), without modulo bias; n must be > 0. */
uint64_t ft_rng_below(ft_rng *rng, uint64_t n);

/* Fisher-Yates shuffle of idx[0..n). */
void ft_rng_shuffle(ft_rng *rng, uint32_t *idx, size_t n);

#endif
