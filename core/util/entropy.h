/* Random bytes from the kernel, for ids, tokens and secrets (not for the
 * seeded, reproducible draws of training: see rng.h). */
#ifndef FT_UTIL_ENTROPY_H
#define FT_UTIL_ENTROPY_H

#include <stddef.h>

#include "core/util/error.h"

/* Fill buf with n bytes from getrandom(2); FT_EIO if the kernel refuses. */
int ft_random_bytes(void *buf, size_t n, ft_error *err);
/* n random bytes as 2n hex digits and a NUL in out (2n + 1 chars). */
int ft_random_hex(char *out, size_t n, ft_error *err);

#endif
