/* Enum names: the one way a name in JSON maps to an enum value and back.
 * A name table is an array of strings indexed by enum value; the registries
 * (core/nn/registry.h) build theirs from the same row that declares the
 * value, so a name can never drift from its value. */
#ifndef FT_NAMES_H
#define FT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The value whose name is s among names[0..n), or -1. */
int ft_names_find(const char *const *names, int n, const char *s);

/* The names (of the values `keep` accepts, or all when keep is NULL) joined
 * for a message: "a, b" ... `last` "z", with last ", ", " or " or " and ".
 * Writes at most cap bytes into buf (cut short if needed) and returns buf. */
const char *ft_names_join(const char *const *names, int n, bool (*keep)(int value), const char *last,
                          char *buf, size_t cap);

/* Define `int fn(const char *s, type *out)`: 0 and *out set if s names a
 * value of `names` (n entries), else -1 with *out untouched. */
#define FT_NAMES_PARSER(fn, type, names, n)                                                        \
    int fn(const char *s, type *out)                                                               \
    {                                                                                              \
        int v = ft_names_find(names, n, s);                                                        \
        if (v < 0)                                                                                 \
            return -1;                                                                             \
        *out = (type)v;                                                                            \
        return 0;                                                                                  \
    }

#endif
