/* A streaming tar reader (internal): ustar, GNU long names and pax headers.
 *
 * It only reads: entry names are reported to the caller and never used as
 * file system paths. It understands POSIX ustar (name + prefix), GNU 'L'
 * long names, pax 'x' records (path, size), and base-256 sizes; pax global
 * headers and GNU long link names are read and ignored. Sizes and header
 * lengths are capped so a crafted header cannot make it allocate much. */
#ifndef FT_TAR_H
#define FT_TAR_H

#include <stdint.h>

#include "core/util/stream.h"

typedef enum {
    FT_TAR_FILE,     /* regular file ('0', '\0', '7') */
    FT_TAR_DIR,      /* directory ('5') */
    FT_TAR_SYMLINK,  /* '2' */
    FT_TAR_HARDLINK, /* '1' */
    FT_TAR_DEVICE,   /* '3', '4' */
    FT_TAR_FIFO,     /* '6' */
    FT_TAR_OTHER     /* volume labels, sparse files, unknown types */
} ft_tar_type;

typedef struct {
    char *name;       /* full entry name (owned by the reader, valid until the next call) */
    ft_tar_type type; /* what the entry is */
    char typeflag;    /* the raw type byte */
    uint64_t size;    /* data bytes */
    uint64_t index;   /* 1-based entry number (headers of long names not counted) */
} ft_tar_entry;

typedef struct ft_tar ft_tar;

/* Read the archive on `in` (borrowed). */
ft_tar *ft_tar_new(ft_stream *in, ft_error *err);
void ft_tar_free(ft_tar *t);

/* Advance to the next entry, skipping the unread data of the current one:
 * 1 with *e filled, 0 at the end of the archive, -1 on error. */
int ft_tar_next(ft_tar *t, ft_tar_entry *e, ft_error *err);

/* Read the current entry's data; n must not exceed what is left of it. */
int ft_tar_read(ft_tar *t, void *dst, size_t n, ft_error *err);

/* Whether a 512-byte block is a tar header: "ustar" magic at 257, or (old
 * v7 archives) a correct header checksum. */
int ft_tar_block_is_header(const unsigned char *block);

#endif
