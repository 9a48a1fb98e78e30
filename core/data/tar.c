/* Streaming tar reader; see tar.h. */
#include "core/data/tar.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK 512
#define MAX_LONG_NAME (64u << 10) /* GNU 'L' and pax path values */
#define MAX_PAX (1u << 20)        /* one pax extended header */
#define MAX_SIZE (1ull << 62)     /* keeps padding arithmetic far from overflow */

struct ft_tar {
    ft_stream *in;       /* the archive */
    uint64_t remaining;  /* unread data bytes of the current entry */
    uint64_t padding;    /* zero bytes after them, up to the block boundary */
    char *name;          /* current entry name */
    char *long_name;     /* name from a GNU 'L' or pax header for the next entry */
    int have_pax_size;   /* a pax "size" applies to the next entry */
    uint64_t pax_size;   /* that size */
    uint64_t count;      /* entries returned so far */
    int done;            /* the end-of-archive marker was seen */
};

ft_tar *ft_tar_new(ft_stream *in, ft_error *err)
{
    ft_tar *t = calloc(1, sizeof *t);
    if (!t)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    else
        t->in = in;
    return t;
}

void ft_tar_free(ft_tar *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->long_name);
    free(t);
}

/* A numeric header field: octal text, or GNU base-256 (high bit set). */
static int tar_number(const unsigned char *f, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80) /* negative, or bits above the field's value */
            return -1;
        for (size_t i = 1; i < len; i++) {
            if (v > (MAX_SIZE >> 8))
                return -1;
            v = v << 8 | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v > (MAX_SIZE >> 3))
            return -1;
        v = v << 3 | (uint64_t)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return 0;
}

static int checksum_ok(const unsigned char *b)
{
    uint64_t stored;
    if (tar_number(b + 148, 8, &stored) != 0)
        return 0;
    /* The checksum is the sum of the header bytes with its own field read as
     * spaces; some old tars summed signed chars, so accept either. */
    long usum = 0, ssum = 0;
    for (int i = 0; i < BLOCK; i++) {
        int in_field = i >= 148 && i < 156;
        usum += in_field ? ' ' : b[i];
        ssum += in_field ? ' ' : (signed char)b[i];
    }
    return (long)stored == usum || (long)stored == ssum;
}

static int all_zero(const unsigned char *b)
{
    for (int i = 0; i < BLOCK; i++)
        if (b[i])
            return 0;
    return 1;
}

int ft_tar_block_is_header(const unsigned char *b)
{
    if (all_zero(b))
        return 0;
    return memcmp(b + 257, "ustar", 5) == 0 || checksum_ok(b);
}

static const char *entry_label(const ft_tar *t)
{
    return t->name ? t->name : "?";
}

static int skip_exact(ft_tar *t, uint64_t n, ft_error *err)
{
    uint64_t got;
    if (ft_stream_skip(t->in, n, &got, err) != 0)
        return -1;
    if (got < n)
        return ft_fail(err, FT_EFORMAT, NULL, "entry '%s': the archive ends inside its data (truncated)",
                       entry_label(t));
    return 0;
}

/* Read a metadata entry's data (long name, pax records) into a new buffer. */
static int read_meta(ft_tar *t, uint64_t size, uint64_t cap, const char *what, char **out, ft_error *err)
{
    if (size > cap)
        return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: %s of %llu bytes is too long",
                       (unsigned long long)t->count + 1, what, (unsigned long long)size);
    char *buf = malloc((size_t)size + 1);
    if (!buf)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    size_t got = 0;
    uint64_t pad = (BLOCK - size % BLOCK) % BLOCK, skipped = 0;
    if (ft_stream_read(t->in, buf, (size_t)size, &got, err) != 0 ||
        (got == size && ft_stream_skip(t->in, pad, &skipped, err) != 0)) {
        free(buf);
        return -1;
    }
    if (got < size || skipped < pad) {
        free(buf);
        return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: the archive ends inside a %s (truncated)",
                       (unsigned long long)t->count + 1, what);
    }
    buf[size] = '\0';
    *out = buf;
    return 0;
}

static int set_long_name(ft_tar *t, const char *s, size_t n, ft_error *err)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    free(t->long_name);
    t->long_name = copy;
    return 0;
}

/* pax records: "<len> <key>=<value>\n", len counting the whole record. */
static int parse_pax(ft_tar *t, const char *buf, size_t size, ft_error *err)
{
    size_t pos = 0;
    while (pos < size) {
        size_t len = 0, i = pos;
        while (i < size && buf[i] >= '0' && buf[i] <= '9' && len <= size)
            len = len * 10 + (size_t)(buf[i++] - '0');
        if (i == pos || i >= size || buf[i] != ' ' || len < i - pos + 3 || len > size - pos ||
            buf[pos + len - 1] != '\n')
            return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: malformed pax extended header",
                           (unsigned long long)t->count + 1);
        const char *key = buf + i + 1, *end = buf + pos + len - 1;
        const char *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq)
            return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: malformed pax extended header",
                           (unsigned long long)t->count + 1);
        const char *val = eq + 1;
        size_t klen = (size_t)(eq - key), vlen = (size_t)(end - val);
        if (klen == 4 && memcmp(key, "path", 4) == 0) {
            if (vlen > MAX_LONG_NAME)
                return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: pax path is too long",
                               (unsigned long long)t->count + 1);
            if (set_long_name(t, val, strnlen(val, vlen), err) != 0)
                return -1;
        } else if (klen == 4 && memcmp(key, "size", 4) == 0) {
            uint64_t v = 0;
            if (vlen == 0)
                return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: bad pax size", (unsigned long long)t->count + 1);
            for (size_t k = 0; k < vlen; k++) {
                if (val[k] < '0' || val[k] > '9' || v > MAX_SIZE / 10)
                    return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: bad pax size",
                                   (unsigned long long)t->count + 1);
                v = v * 10 + (uint64_t)(val[k] - '0');
            }
            t->pax_size = v;
            t->have_pax_size = 1;
        }
        pos += len;
    }
    return 0;
}

static ft_tar_type type_of(char flag)
{
    switch (flag) {
    case '0': case '\0': case '7': return FT_TAR_FILE;
    case '5': return FT_TAR_DIR;
    case '2': return FT_TAR_SYMLINK;
    case '1': return FT_TAR_HARDLINK;
    case '3': case '4': return FT_TAR_DEVICE;
    case '6': return FT_TAR_FIFO;
    default: return FT_TAR_OTHER;
    }
}

/* The entry name: a pending long name, else ustar prefix + "/" + name. */
static int take_name(ft_tar *t, const unsigned char *b, ft_error *err)
{
    free(t->name);
    t->name = NULL;
    if (t->long_name) {
        t->name = t->long_name;
        t->long_name = NULL;
        return 0;
    }
    size_t nlen = strnlen((const char *)b, 100);
    size_t plen = memcmp(b + 257, "ustar\0", 6) == 0 ? strnlen((const char *)b + 345, 155) : 0;
    if (!(t->name = malloc(plen + 1 + nlen + 1)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    size_t w = 0;
    if (plen) {
        memcpy(t->name, b + 345, plen);
        t->name[plen] = '/';
        w = plen + 1;
    }
    memcpy(t->name + w, b, nlen);
    t->name[w + nlen] = '\0';
    return 0;
}

int ft_tar_next(ft_tar *t, ft_tar_entry *e, ft_error *err)
{
    if (t->done)
        return 0;
    if (skip_exact(t, t->remaining + t->padding, err) != 0)
        return -1;
    t->remaining = t->padding = 0;
    for (;;) {
        unsigned char b[BLOCK];
        size_t got;
        if (ft_stream_read(t->in, b, BLOCK, &got, err) != 0)
            return -1;
        if (got == 0 || (got == BLOCK && all_zero(b))) {
            /* End of archive (a missing end marker is tolerated, as GNU tar does). */
            if (t->long_name || t->have_pax_size)
                return ft_fail(err, FT_EFORMAT, NULL, "the archive ends after an extended header (truncated)");
            t->done = 1;
            return 0;
        }
        if (got < BLOCK)
            return ft_fail(err, FT_EFORMAT, NULL, "the archive ends inside the header of entry %llu (truncated)",
                           (unsigned long long)t->count + 1);
        if (!checksum_ok(b))
            return t->count == 0 && !t->long_name
                       ? ft_fail(err, FT_EFORMAT, NULL, "not a tar archive (the first header's checksum is wrong)")
                       : ft_fail(err, FT_EFORMAT, NULL,
                                 "entry %llu: bad tar header checksum (corrupt archive)",
                                 (unsigned long long)t->count + 1);
        uint64_t size;
        if (tar_number(b + 124, 12, &size) != 0)
            return ft_fail(err, FT_EFORMAT, NULL, "entry %llu: bad size field", (unsigned long long)t->count + 1);
        char flag = (char)b[156];
        if (flag == 'L' || flag == 'x' || flag == 'K' || flag == 'g') {
            char *data = NULL;
            uint64_t cap = flag == 'L' || flag == 'K' ? MAX_LONG_NAME : MAX_PAX;
            const char *what = flag == 'L' ? "GNU long name" : flag == 'K' ? "GNU long link name" : "pax header";
            if (read_meta(t, size, cap, what, &data, err) != 0)
                return -1;
            int rc = 0;
            if (flag == 'L')
                rc = set_long_name(t, data, strnlen(data, (size_t)size), err);
            else if (flag == 'x')
                rc = parse_pax(t, data, (size_t)size, err);
            free(data); /* 'K' (link targets) and 'g' (global defaults) are not needed */
            if (rc != 0)
                return -1;
            continue;
        }
        if (t->have_pax_size) {
            size = t->pax_size;
            t->have_pax_size = 0;
        }
        if (take_name(t, b, err) != 0)
            return -1;
        e->name = t->name;
        e->typeflag = flag;
        e->type = type_of(flag);
        e->size = size;
        e->index = ++t->count;
        /* Directories, links and devices carry no data in practice; skip any. */
        t->remaining = size;
        t->padding = (BLOCK - size % BLOCK) % BLOCK;
        return 1;
    }
}

int ft_tar_read(ft_tar *t, void *dst, size_t n, ft_error *err)
{
    if (n > t->remaining)
        return ft_fail(err, FT_EINVAL, NULL, "entry '%s': read past its end", entry_label(t));
    size_t got;
    if (ft_stream_read(t->in, dst, n, &got, err) != 0)
        return -1;
    t->remaining -= got;
    if (got < n)
        return ft_fail(err, FT_EFORMAT, NULL, "entry '%s': the archive ends inside its data (truncated)",
                       entry_label(t));
    return 0;
}
