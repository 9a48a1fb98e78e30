/* Error reporting for the core library.
 *
 * Every fallible core function returns 0 on success and -1 on failure, and on
 * failure fills the caller's ft_error. Nothing in core/ prints, exits or aborts
 * on a recoverable error: the caller (CLI or server) decides how to report it.
 */
#ifndef FT_ERROR_H
#define FT_ERROR_H

#include <stddef.h>

typedef enum {
    FT_OK = 0,
    FT_EINVAL,    /* a spec or argument is invalid (HTTP 422 / 400) */
    FT_EFORMAT,   /* a file is malformed (HTTP 400 / 422) */
    FT_ENOTFOUND, /* a referenced file, layer or id does not exist (404 / 422) */
    FT_ENOMEM,    /* an allocation failed or a size would overflow */
    FT_EIO,       /* reading or writing a file failed */
    FT_ENOSPC,    /* the disk is full (HTTP 507) */
    FT_ETOOBIG,   /* an input exceeds a configured limit (HTTP 413) */
    FT_ECANCELLED /* a cooperative cancel was observed */
} ft_errcode;

typedef struct {
    ft_errcode code;  /* what kind of failure */
    char param[128];  /* dotted path of the offending spec field, or "" */
    char msg[512];    /* human-readable sentence, no trailing newline */
} ft_error;

/* Fill err (if non-NULL) and return -1, so callers can `return ft_fail(...)`. */
int ft_fail(ft_error *err, ft_errcode code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix err->msg with a context string ("train.csv: ..."), keeping code and param. */
void ft_error_prefix(ft_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset err to "no error". */
void ft_error_clear(ft_error *err);

/* Stable lower-case name of a code ("invalid", "format", ...), for logs and APIs. */
const char *ft_errcode_name(ft_errcode code);

/* Multiply two sizes; return -1 (and leave *out untouched) on overflow. */
int ft_mul_size(size_t a, size_t b, size_t *out);

#endif
