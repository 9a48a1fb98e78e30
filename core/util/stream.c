/* Buffered, optionally gunzipped byte streams that hash what they read.
 *
 * Two buffers: `raw` holds original bytes (hashed the moment they arrive),
 * `out` holds inflated bytes when the stream decodes gzip. Without gzip the
 * raw buffer is what callers see. Both are fixed-size, so memory does not
 * grow with the file. */
#include "core/util/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/util/fsutil.h"

#define RAW_CAP (256u << 10)
#define OUT_CAP (256u << 10)
#define PEEK_MAX (64u << 10)

struct ft_stream {
    int fd;                   /* file descriptor, or -1 for a memory source */
    const unsigned char *mem; /* memory source, or NULL */
    size_t mem_len, mem_pos;  /* its size and read position */
    struct sha256_ctx sha;    /* digest of every original byte read so far */
    uint64_t raw_total;       /* original bytes read so far */
    int raw_eof;              /* the source has no more bytes */
    int finished;             /* ft_stream_finish ran: no more reading */
    unsigned char *raw;       /* RAW_CAP original bytes */
    size_t raw_pos, raw_len;  /* unread window [raw_pos, raw_len) */
    int gz;                   /* decoding gzip */
    int z_live;               /* inflateInit2 succeeded (needs inflateEnd) */
    int z_end;                /* the last gzip member has ended */
    z_stream z;               /* inflate state */
    uint64_t max_out;         /* cap on decoded bytes */
    uint64_t out_total;       /* decoded bytes produced so far */
    unsigned char *out;       /* OUT_CAP decoded bytes (gzip only) */
    size_t out_pos, out_len;  /* unread window [out_pos, out_len) */
    uint64_t consumed;        /* decoded bytes handed to the caller */
};

static ft_stream *stream_alloc(ft_error *err)
{
    ft_stream *s = calloc(1, sizeof *s);
    if (s && !(s->raw = malloc(RAW_CAP))) {
        free(s);
        s = NULL;
    }
    if (!s) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s->fd = -1;
    sha256_init(&s->sha);
    return s;
}

ft_stream *ft_stream_open_file(const char *path, ft_error *err)
{
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused just below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        ft_fail_errno(err, errno, "cannot open", path);
        return NULL;
    }
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) != 0) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        if (dir) /* an image folder, most likely: say how to send it */
            ft_fail(err, FT_EINVAL, NULL,
                    "%s is a directory; pack an image folder as a tar first (tar czf data.tar.gz -C %s .)", path,
                    path);
        else
            ft_fail(err, FT_EINVAL, NULL, "%s is not a regular file", path);
        return NULL;
    }
    ft_stream *s = stream_alloc(err);
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    return s;
}

ft_stream *ft_stream_open_mem(const void *data, size_t len, ft_error *err)
{
    ft_stream *s = stream_alloc(err);
    if (s) {
        s->mem = data;
        s->mem_len = len;
    }
    return s;
}

void ft_stream_close(ft_stream *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->z_live)
        inflateEnd(&s->z);
    free(s->raw);
    free(s->out);
    free(s);
}

int ft_stream_is_gzip(const ft_stream *s) { return s->gz; }
uint64_t ft_stream_tell(const ft_stream *s) { return s->consumed; }

/* Read up to n original bytes from the source into dst, hashing them. */
static int source_read(ft_stream *s, unsigned char *dst, size_t n, size_t *got, ft_error *err)
{
    *got = 0;
    if (s->raw_eof || n == 0)
        return 0;
    if (s->mem) {
        size_t take = s->mem_len - s->mem_pos < n ? s->mem_len - s->mem_pos : n;
        memcpy(dst, s->mem + s->mem_pos, take);
        s->mem_pos += take;
        *got = take;
    } else if (s->fd >= 0) {
        ssize_t r;
        do
            r = read(s->fd, dst, n);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            return ft_fail(err, FT_EIO, NULL, "read error: %s", strerror(errno));
        *got = (size_t)r;
    }
    if (*got == 0) {
        s->raw_eof = 1;
        return 0;
    }
    sha256_update(&s->sha, *got, dst);
    s->raw_total += *got;
    return 0;
}

/* Append more original bytes to the raw window (compacting it first). */
static int raw_more(ft_stream *s, ft_error *err)
{
    if (s->raw_pos > 0) {
        memmove(s->raw, s->raw + s->raw_pos, s->raw_len - s->raw_pos);
        s->raw_len -= s->raw_pos;
        s->raw_pos = 0;
    }
    size_t got;
    if (source_read(s, s->raw + s->raw_len, RAW_CAP - s->raw_len, &got, err) != 0)
        return -1;
    s->raw_len += got;
    return 0;
}

/* Ensure at least `want` unread raw bytes, or as many as remain. */
static int raw_fill(ft_stream *s, size_t want, ft_error *err)
{
    while (s->raw_len - s->raw_pos < want && !s->raw_eof)
        if (raw_more(s, err) != 0)
            return -1;
    return 0;
}

int ft_stream_gunzip(ft_stream *s, uint64_t max_out, ft_error *err)
{
    if (s->gz || s->consumed)
        return ft_fail(err, FT_EINVAL, NULL, "gunzip must start before reading");
    if (!(s->out = malloc(OUT_CAP)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    /* 16 + MAX_WBITS: a gzip wrapper (not zlib, not raw deflate). */
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
        return ft_fail(err, FT_ENOMEM, NULL, "cannot start the gzip decoder");
    s->z_live = 1;
    s->gz = 1;
    s->max_out = max_out;
    return 0;
}

/* After a gzip member ends: another member may follow (concatenated gzip),
 * or zero padding (tape-style); anything else is an error. */
static int after_member(ft_stream *s, ft_error *err)
{
    if (raw_fill(s, 2, err) != 0)
        return -1;
    size_t avail = s->raw_len - s->raw_pos;
    if (avail == 0) {
        s->z_end = 1;
        return 0;
    }
    if (avail >= 2 && s->raw[s->raw_pos] == 0x1f && s->raw[s->raw_pos + 1] == 0x8b) {
        inflateReset(&s->z);
        return 0;
    }
    for (;;) {
        for (size_t i = s->raw_pos; i < s->raw_len; i++)
            if (s->raw[i] != 0)
                return ft_fail(err, FT_EFORMAT, NULL, "unexpected data after the end of the gzip stream");
        s->raw_pos = s->raw_len;
        if (s->raw_eof)
            break;
        if (raw_more(s, err) != 0)
            return -1;
    }
    s->z_end = 1;
    return 0;
}

/* Inflate more bytes into the out window (compacting it first). */
static int inflate_more(ft_stream *s, ft_error *err)
{
    if (s->out_pos > 0) {
        memmove(s->out, s->out + s->out_pos, s->out_len - s->out_pos);
        s->out_len -= s->out_pos;
        s->out_pos = 0;
    }
    if (s->raw_pos == s->raw_len && raw_more(s, err) != 0)
        return -1;
    size_t in_avail = s->raw_len - s->raw_pos;
    s->z.next_in = s->raw + s->raw_pos;
    s->z.avail_in = (uInt)in_avail;
    s->z.next_out = s->out + s->out_len;
    s->z.avail_out = (uInt)(OUT_CAP - s->out_len);
    int rc = inflate(&s->z, Z_NO_FLUSH);
    size_t used = in_avail - s->z.avail_in;
    size_t made = OUT_CAP - s->out_len - s->z.avail_out;
    s->raw_pos += used;
    s->out_len += made;
    s->out_total += made;
    if (s->out_total > s->max_out)
        return ft_fail(err, FT_ETOOBIG, NULL,
                       "decompressed data exceeds the limit of %llu bytes",
                       (unsigned long long)s->max_out);
    switch (rc) {
    case Z_STREAM_END:
        return after_member(s, err);
    case Z_OK:
    case Z_BUF_ERROR:
        if (used == 0 && made == 0 && s->raw_eof)
            return ft_fail(err, FT_EFORMAT, NULL, "gzip data ends early (truncated file)");
        return 0;
    case Z_MEM_ERROR:
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory in the gzip decoder");
    default:
        return ft_fail(err, FT_EFORMAT, NULL, "corrupt gzip data (%s)",
                       s->z.msg ? s->z.msg : "invalid deflate stream");
    }
}

/* The window callers read from. */
static unsigned char *view(ft_stream *s, size_t **pos, size_t **len)
{
    if (s->gz) {
        *pos = &s->out_pos;
        *len = &s->out_len;
        return s->out;
    }
    *pos = &s->raw_pos;
    *len = &s->raw_len;
    return s->raw;
}

/* Ensure at least `want` unread decoded bytes, or as many as remain. */
static int fill(ft_stream *s, size_t want, ft_error *err)
{
    if (s->finished)
        return ft_fail(err, FT_EINVAL, NULL, "stream read after finish");
    if (!s->gz)
        return raw_fill(s, want, err);
    while (s->out_len - s->out_pos < want && !s->z_end)
        if (inflate_more(s, err) != 0)
            return -1;
    return 0;
}

int ft_stream_peek(ft_stream *s, size_t n, const unsigned char **p, size_t *avail, ft_error *err)
{
    if (n > PEEK_MAX)
        n = PEEK_MAX;
    if (fill(s, n, err) != 0)
        return -1;
    size_t *pos, *len;
    unsigned char *b = view(s, &pos, &len);
    *p = b + *pos;
    *avail = *len - *pos < n ? *len - *pos : n;
    return 0;
}

int ft_stream_read(ft_stream *s, void *dst, size_t n, size_t *got, ft_error *err)
{
    unsigned char *d = dst;
    size_t done = 0;
    while (done < n) {
        size_t *pos, *len;
        unsigned char *b = view(s, &pos, &len);
        size_t avail = *len - *pos;
        if (avail == 0 && !s->gz && n - done >= RAW_CAP && !s->finished) {
            /* Large read of a plain stream: straight into dst, no copy. */
            size_t r;
            if (source_read(s, d + done, n - done, &r, err) != 0)
                return -1;
            if (r == 0)
                break;
            done += r;
            continue;
        }
        if (avail == 0) {
            if (fill(s, 1, err) != 0)
                return -1;
            avail = *len - *pos;
            if (avail == 0)
                break;
        }
        size_t take = avail < n - done ? avail : n - done;
        memcpy(d + done, b + *pos, take);
        *pos += take;
        done += take;
    }
    s->consumed += done;
    *got = done;
    return 0;
}

int ft_stream_read_full(ft_stream *s, void *dst, size_t n, const char *what, ft_error *err)
{
    size_t got;
    if (ft_stream_read(s, dst, n, &got, err) != 0)
        return -1;
    if (got < n)
        return ft_fail(err, FT_EFORMAT, NULL, "the file ends inside %s (truncated)", what);
    return 0;
}

int ft_stream_skip(ft_stream *s, uint64_t n, uint64_t *skipped, ft_error *err)
{
    uint64_t done = 0;
    while (done < n) {
        if (fill(s, 1, err) != 0)
            return -1;
        size_t *pos, *len;
        view(s, &pos, &len);
        size_t avail = *len - *pos;
        if (avail == 0)
            break;
        size_t take = (uint64_t)avail < n - done ? avail : (size_t)(n - done);
        *pos += take;
        done += take;
    }
    s->consumed += done;
    if (skipped)
        *skipped = done;
    return 0;
}

int ft_stream_finish(ft_stream *s, uint8_t sha256[FT_SHA256_SIZE], uint64_t *bytes, ft_error *err)
{
    /* Everything in the raw window was hashed on arrival: only the unread
     * remainder of the source is left to hash. */
    while (!s->raw_eof) {
        s->raw_pos = s->raw_len = 0;
        if (raw_more(s, err) != 0)
            return -1;
    }
    s->raw_pos = s->raw_len = 0;
    s->out_pos = s->out_len = 0;
    s->finished = 1;
    struct sha256_ctx copy = s->sha; /* keep s->sha usable for a second call */
    sha256_digest(&copy, FT_SHA256_SIZE, sha256);
    *bytes = s->raw_total;
    return 0;
}

void ft_sha256_hex(const uint8_t sha256[FT_SHA256_SIZE], char out[2 * FT_SHA256_SIZE + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < FT_SHA256_SIZE; i++) {
        out[2 * i] = hex[sha256[i] >> 4];
        out[2 * i + 1] = hex[sha256[i] & 15];
    }
    out[2 * FT_SHA256_SIZE] = '\0';
}
