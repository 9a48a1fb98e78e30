/* Chunked byte store, string interning, UTF-8 checks, warnings and gunzip
 * for the format parsers. */
#include "core/data/parse_helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "812 bytes", "48.0 MiB", "3072.0 GiB". */
static void size_text(char *out, size_t cap, double bytes)
{
    if (bytes >= (1 << 30))
        snprintf(out, cap, "%.1f GiB", bytes / (1 << 30));
    else if (bytes >= (1 << 20))
        snprintf(out, cap, "%.1f MiB", bytes / (1 << 20));
    else
        snprintf(out, cap, "%.0f bytes", bytes);
}

int ft_ingest_budget(uint64_t rows, uint64_t row_bytes, uint64_t limit, ft_error *err)
{
    if (rows > UINT32_MAX)
        return ft_fail(err, FT_ETOOBIG, NULL, "%llu rows are more than a dataset holds (%u)",
                       (unsigned long long)rows, UINT32_MAX);
    if (row_bytes == 0 || rows <= limit / row_bytes) /* rows * row_bytes <= limit, without overflow */
        return 0;
    char would[32], max[32];
    size_text(would, sizeof would, (double)rows * (double)row_bytes);
    size_text(max, sizeof max, (double)limit);
    return ft_fail(err, FT_ETOOBIG, NULL,
                   "%llu rows of %llu bytes would take %s stored, more than the dataset limit of %s",
                   (unsigned long long)rows, (unsigned long long)row_bytes, would, max);
}

void ft_chunkbuf_init(ft_chunkbuf *b, size_t chunk_size)
{
    memset(b, 0, sizeof *b);
    b->chunk_size = chunk_size;
}

void *ft_chunkbuf_reserve(ft_chunkbuf *b, size_t bytes, ft_error *err)
{
    ft_chunk *last = b->n ? &b->chunk[b->n - 1] : NULL;
    if (!last || last->size - last->used < bytes) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            ft_chunk *c = realloc(b->chunk, cap * sizeof *c);
            if (!c) {
                ft_fail(err, FT_ENOMEM, NULL, "out of memory");
                return NULL;
            }
            b->chunk = c;
            b->cap = cap;
        }
        last = &b->chunk[b->n];
        /* Chunks grow 64 KiB, 128 KiB, ... up to chunk_size, so a small
         * dataset does not pay for a large chunk. */
        size_t grow = b->n ? b->chunk[b->n - 1].size * 2 : (64u << 10);
        last->size = grow < b->chunk_size ? grow : b->chunk_size;
        if (bytes > last->size)
            last->size = bytes;
        last->used = 0;
        if (!(last->data = malloc(last->size ? last->size : 1))) {
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            return NULL;
        }
        b->n++;
    }
    void *p = last->data + last->used;
    last->used += bytes;
    b->total += bytes;
    return p;
}

void ft_chunkbuf_drain(ft_chunkbuf *b, void *dst)
{
    unsigned char *d = dst;
    for (size_t i = 0; i < b->n; i++) {
        if (b->chunk[i].used)
            memcpy(d, b->chunk[i].data, b->chunk[i].used);
        d += b->chunk[i].used;
        free(b->chunk[i].data);
        b->chunk[i].data = NULL;
    }
    b->n = 0;
}

void ft_chunkbuf_free(ft_chunkbuf *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->chunk[i].data);
    free(b->chunk);
    memset(b, 0, sizeof *b);
}

struct ft_strtab {
    char **str;       /* strings by id */
    size_t *len;      /* their lengths (they may contain NUL bytes) */
    size_t n, cap;    /* count, slots in str */
    uint32_t *slot;   /* open-addressing table of id + 1 (0 = empty) */
    size_t nslots;    /* a power of two, at least 2n */
};

ft_strtab *ft_strtab_new(void) { return calloc(1, sizeof(ft_strtab)); }

void ft_strtab_free(ft_strtab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->str[i]);
    free(t->str);
    free(t->len);
    free(t->slot);
    free(t);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int rehash(ft_strtab *t, size_t nslots)
{
    uint32_t *slot = calloc(nslots, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = hash_bytes(t->str[id], t->len[id]) & (nslots - 1);
        while (slot[i])
            i = (i + 1) & (nslots - 1);
        slot[i] = (uint32_t)id + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslots = nslots;
    return 0;
}

int ft_strtab_intern(ft_strtab *t, const char *s, size_t n, uint32_t *id, int *added, ft_error *err)
{
    *added = 0;
    if (t->nslots < 2 * (t->n + 1) && rehash(t, t->nslots ? t->nslots * 2 : 64) != 0)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    size_t i = hash_bytes(s, n) & (t->nslots - 1);
    while (t->slot[i]) {
        uint32_t k = t->slot[i] - 1;
        if (t->len[k] == n && memcmp(t->str[k], s, n) == 0) {
            *id = k;
            return 0;
        }
        i = (i + 1) & (t->nslots - 1);
    }
    if (t->n == UINT32_MAX - 1)
        return ft_fail(err, FT_ETOOBIG, NULL, "too many distinct strings");
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **str = realloc(t->str, cap * sizeof *str);
        if (str)
            t->str = str;
        size_t *len = str ? realloc(t->len, cap * sizeof *len) : NULL;
        if (!len)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        t->len = len;
        t->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->str[t->n] = copy;
    t->len[t->n] = n;
    t->slot[i] = (uint32_t)t->n + 1;
    *id = (uint32_t)t->n++;
    *added = 1;
    return 0;
}

size_t ft_strtab_count(const ft_strtab *t) { return t->n; }
const char *ft_strtab_get(const ft_strtab *t, uint32_t id) { return id < t->n ? t->str[id] : NULL; }

int ft_utf8_valid(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp;
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07;
        else
            return 0;
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return 0;
        i += len;
    }
    return 1;
}

char *ft_msg_text(char *dst, size_t cap, const char *p, size_t n)
{
    const size_t max_bytes = 40;
    size_t w = 0, i = 0;
    while (i < n && i < max_bytes && w + 5 < cap) {
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (len > 1 && len <= n - i && ft_utf8_valid(p + i, len)) {
            memcpy(dst + w, p + i, len); /* a whole character, never half of one */
            w += len;
            i += len;
            continue;
        }
        dst[w++] = (len == 1 && c >= 0x20 && c != 0x7F) ? (char)c : '?';
        i++;
    }
    if (i < n && w + 4 <= cap) {
        memcpy(dst + w, "...", 3);
        w += 3;
    }
    dst[w] = '\0';
    return dst;
}

void ft_info_warn(json_t *info, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *w = json_object_get(info, "warnings");
    if (!w) {
        w = json_array();
        json_object_set_new(info, "warnings", w);
    }
    json_array_append_new(w, json_string(msg));
}

int ft_stream_auto_gunzip(ft_stream *s, const ft_ingest_options *opt, ft_error *err)
{
    const unsigned char *p;
    size_t n;
    if (ft_stream_peek(s, 2, &p, &n, err) != 0)
        return -1;
    if (n == 2 && p[0] == 0x1f && p[1] == 0x8b)
        return ft_stream_gunzip(s, opt->max_decompressed_bytes, err);
    return 0;
}

ft_stream *ft_format_file_open(const ft_format_file *f, ft_error *err)
{
    return f->data ? ft_stream_open_mem(f->data, f->len, err) : ft_stream_open_file(f->path, err);
}
