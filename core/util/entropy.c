/* Random bytes from the kernel (entropy.h). */
#include "core/util/entropy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int ft_random_bytes(void *buf, size_t n, ft_error *err)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(p + got, n - got, 0);
        if (k < 0 && errno != EINTR)
            return ft_fail(err, FT_EIO, NULL, "getrandom: %s", strerror(errno));
        if (k > 0)
            got += (size_t)k;
    }
    return 0;
}

int ft_random_hex(char *out, size_t n, ft_error *err)
{
    unsigned char r[64];
    if (n > sizeof r)
        return ft_fail(err, FT_EINVAL, NULL, "at most %zu random bytes at once", sizeof r);
    if (ft_random_bytes(r, n, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    out[2 * n] = '\0';
    return 0;
}
