/* Tar and zip archives through libarchive; see archive.h. */
#include "core/data/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/parse_helpers.h"

#define READ_BLOCK (64u << 10)
#define BLOCK 512               /* a tar header */
#define MAX_SIZE (1ull << 62)   /* largest tar size field taken */

struct ft_archive {
    struct archive *ar;      /* libarchive's reader */
    ft_stream *in;           /* tar: where the bytes come from; NULL for a zip */
    unsigned char *block;    /* tar: the read callback's buffer */
    ft_error in_err;         /* tar: why the stream failed, reported instead of libarchive's echo of it */
    const char *name;        /* current entry name */
    uint64_t count;          /* entries returned so far */
    uint64_t total;          /* data bytes read over the whole archive */
};

static la_ssize_t on_read(struct archive *ar, void *ud, const void **buf)
{
    ft_archive *a = ud;
    size_t got;
    (void)ar;
    if (ft_stream_read(a->in, a->block, READ_BLOCK, &got, &a->in_err) != 0)
        return -1;
    *buf = a->block;
    return (la_ssize_t)got;
}

static ft_archive *archive_new(ft_error *err)
{
    ft_archive *a = calloc(1, sizeof *a);
    if (a && !(a->ar = archive_read_new())) {
        free(a);
        a = NULL;
    }
    if (!a)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return a;
}

/* libarchive's complaint as an ft_error (the stream's own error first). */
static int lib_fail(ft_archive *a, ft_error *err, const char *fmt, const char *what)
{
    if (a->in_err.code) {
        *err = a->in_err;
        return -1;
    }
    const char *msg = archive_error_string(a->ar);
    return ft_fail(err, FT_EFORMAT, NULL, fmt, what, msg ? msg : "unreadable archive");
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

ft_archive *ft_archive_open_tar(ft_stream *in, ft_error *err)
{
    /* libarchive would only say "Unrecognized archive format". */
    const unsigned char *head;
    size_t n;
    if (ft_stream_peek(in, BLOCK, &head, &n, err) != 0)
        return NULL;
    if (n == BLOCK && !all_zero(head) && !ft_tar_block_is_header(head)) {
        ft_fail(err, FT_EFORMAT, NULL, "not a tar archive (the first header's checksum is wrong)");
        return NULL;
    }
    ft_archive *a = archive_new(err);
    if (!a)
        return NULL;
    a->in = in;
    if (!(a->block = malloc(READ_BLOCK))) {
        ft_archive_free(a);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if (archive_read_support_format_tar(a->ar) != ARCHIVE_OK ||
        archive_read_open(a->ar, a, NULL, on_read, NULL) != ARCHIVE_OK) {
        lib_fail(a, err, "%s%s", "not a tar archive: ");
        ft_archive_free(a);
        return NULL;
    }
    return a;
}

ft_archive *ft_archive_open_zip(const char *path, const void *data, size_t len, ft_error *err)
{
    ft_archive *a = archive_new(err);
    if (!a)
        return NULL;
    int rc = archive_read_support_format_zip_seekable(a->ar);
    if (rc == ARCHIVE_OK)
        rc = path ? archive_read_open_filename(a->ar, path, READ_BLOCK) : archive_read_open_memory(a->ar, data, len);
    if (rc != ARCHIVE_OK) {
        /* The seekable reader starts from the central directory at the end. */
        lib_fail(a, err, "%s%s)", "not a zip archive, or a truncated one (");
        ft_archive_free(a);
        return NULL;
    }
    return a;
}

void ft_archive_free(ft_archive *a)
{
    if (!a)
        return;
    archive_read_free(a->ar);
    free(a->block);
    free(a);
}

static ft_entry_type type_of(struct archive_entry *e)
{
    if (archive_entry_hardlink(e))
        return FT_ENTRY_HARDLINK;
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return archive_entry_is_encrypted(e) ? FT_ENTRY_ENCRYPTED : FT_ENTRY_FILE;
    case AE_IFDIR: return FT_ENTRY_DIR;
    case AE_IFLNK: return FT_ENTRY_SYMLINK;
    case AE_IFCHR: case AE_IFBLK: return FT_ENTRY_DEVICE;
    case AE_IFIFO: return FT_ENTRY_FIFO;
    default: return FT_ENTRY_OTHER;
    }
}

int ft_archive_next(ft_archive *a, ft_archive_entry *e, ft_error *err)
{
    struct archive_entry *ae;
    int rc = archive_read_next_header(a->ar, &ae);
    if (rc == ARCHIVE_EOF)
        return 0;
    char where[32];
    snprintf(where, sizeof where, "entry %llu: ", (unsigned long long)a->count + 1);
    /* libarchive's tar reader says EINVAL ("Damaged tar archive") for a bad header checksum. */
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) /* a warning: a name in another charset, say */
        return a->in && !a->in_err.code && archive_errno(a->ar) == EINVAL
                   ? ft_fail(err, FT_EFORMAT, NULL, "%sbad tar header checksum (corrupt archive)", where)
                   : lib_fail(a, err, "%s%s", where);
    a->name = archive_entry_pathname(ae);
    if (!a->name)
        a->name = archive_entry_pathname_utf8(ae);
    if (!a->name)
        return ft_fail(err, FT_EFORMAT, NULL, "%sthe name cannot be read", where);
    e->name = a->name;
    e->type = type_of(ae);
    e->size = archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0 ? (uint64_t)archive_entry_size(ae) : 0;
    e->index = ++a->count;
    return 1;
}

static int entry_fail(const ft_archive *a, ft_error *err, ft_errcode code, const char *what, uint64_t n)
{
    char text[256];
    ft_msg_text(text, sizeof text, a->name, strlen(a->name));
    return ft_fail(err, code, NULL, "entry '%s': %s%llu%s", text, what, (unsigned long long)n,
                   code == FT_ETOOBIG ? " bytes" : "");
}

int ft_archive_read(ft_archive *a, uint64_t max, uint64_t max_total, unsigned char **buf, size_t *cap,
                    size_t *len, ft_error *err)
{
    size_t n = 0;
    for (;;) {
        if (*cap - n < READ_BLOCK) { /* grow by half, so a big file costs few copies */
            size_t grow = *cap / 2 > READ_BLOCK ? *cap / 2 : READ_BLOCK;
            unsigned char *b = *cap <= SIZE_MAX - grow ? realloc(*buf, *cap + grow) : NULL;
            if (!b)
                return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            *buf = b;
            *cap += grow;
        }
        la_ssize_t got = archive_read_data(a->ar, *buf + n, *cap - n);
        if (got < 0) {
            if (a->in_err.code) {
                *err = a->in_err;
                return -1;
            }
            char text[256];
            ft_msg_text(text, sizeof text, a->name, strlen(a->name));
            /* The tar reader's only data error is input that ends too early. */
            if (a->in)
                return ft_fail(err, FT_EFORMAT, NULL, "entry '%s': the archive ends inside its data (truncated)", text);
            const char *msg = archive_error_string(a->ar);
            return ft_fail(err, FT_EFORMAT, NULL, "entry '%s': %s", text, msg ? msg : "unreadable data");
        }
        if (got == 0)
            break;
        n += (size_t)got;
        a->total += (uint64_t)got;
        if (n > max)
            return entry_fail(a, err, FT_ETOOBIG, "the file decompresses to more than the limit for one file of ",
                              max);
        if (a->total > max_total)
            return entry_fail(a, err, FT_ETOOBIG, "the archive's files decompress to more than the limit of ",
                              max_total);
    }
    *len = n;
    return 0;
}
