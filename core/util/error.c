#include "core/util/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int ft_fail(ft_error *err, ft_errcode code, const char *param, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void ft_error_prefix(ft_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char joined[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof joined, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* Append ": <old message>", truncating the tail if the whole is too long. */
    size_t used = strlen(joined);
    size_t room = sizeof joined - 1 - used;
    size_t old_len = strnlen(err->msg, sizeof err->msg);
    const char sep[] = ": ";
    size_t sep_len = room < 2 ? room : 2;
    memcpy(joined + used, sep, sep_len);
    used += sep_len;
    room -= sep_len;
    size_t take = old_len < room ? old_len : room;
    memcpy(joined + used, err->msg, take);
    joined[used + take] = '\0';
    memcpy(err->msg, joined, sizeof joined);
}

void ft_error_clear(ft_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

const char *ft_errcode_name(ft_errcode code)
{
    switch (code) {
    case FT_OK: return "ok";
    case FT_EINVAL: return "invalid";
    case FT_EFORMAT: return "format";
    case FT_ENOTFOUND: return "not_found";
    case FT_ENOMEM: return "out_of_memory";
    case FT_EIO: return "io";
    case FT_ENOSPC: return "no_space";
    case FT_ETOOBIG: return "too_big";
    case FT_ECANCELLED: return "cancelled";
    }
    return "unknown";
}

int ft_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}
