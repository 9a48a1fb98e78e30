#include "core/util/names.h"

#include <stdio.h>
#include <string.h>

int ft_names_find(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *ft_names_join(const char *const *names, int n, bool (*keep)(int value), const char *last,
                          char *buf, size_t cap)
{
    int total = 0, done = 0;
    for (int i = 0; i < n; i++)
        total += !keep || keep(i);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        if (keep && !keep(i))
            continue;
        const char *sep = done == 0 ? "" : done == total - 1 ? last : ", ";
        int w = snprintf(buf + used, cap - used, "%s%s", sep, names[i]);
        used += w < 0 ? cap - used : (size_t)w;
        done++;
    }
    return buf;
}
