/* Reading tar and zip archives with libarchive (internal to core/data).
 *
 * It only reads: entry names are reported to the caller and never used as
 * file system paths, and nothing is extracted. A tar is read from an
 * ft_stream, so a .tar.gz has already been gunzipped by the stream (with its
 * decompression cap) and libarchive needs no filters. A zip is read from
 * the upload's file or memory buffer with seeking, so that its central
 * directory, not the local headers, says what each entry is (a symbolic
 * link is only marked there). Data reads are capped: the bytes an entry
 * really decompresses to are counted, whatever its header declares. Sparse
 * tar files are read as the whole files they stand for, holes as zeros,
 * and those bytes count too. */
#ifndef FT_ARCHIVE_H
#define FT_ARCHIVE_H

#include <stdint.h>

#include "core/util/stream.h"

/* What an entry is. */
typedef enum {
    FT_ENTRY_FILE,      /* regular file */
    FT_ENTRY_DIR,       /* directory */
    FT_ENTRY_SYMLINK,   /* symbolic link */
    FT_ENTRY_HARDLINK,  /* hard link (tar) */
    FT_ENTRY_DEVICE,    /* character or block device */
    FT_ENTRY_FIFO,      /* named pipe */
    FT_ENTRY_ENCRYPTED, /* a file whose data is encrypted (zip) */
    FT_ENTRY_OTHER      /* sockets and anything else */
} ft_entry_type;

typedef struct {
    const char *name;   /* the raw entry name (owned by the reader, valid until the next call) */
    ft_entry_type type; /* what the entry is */
    uint64_t size;      /* data bytes its header declares */
    uint64_t index;     /* 1-based entry number */
} ft_archive_entry;

typedef struct ft_archive ft_archive;

/* A tar archive read from `in` (borrowed). */
ft_archive *ft_archive_open_tar(ft_stream *in, ft_error *err);

/* A zip archive: the file at `path`, or else len bytes at data (borrowed). */
ft_archive *ft_archive_open_zip(const char *path, const void *data, size_t len, ft_error *err);

void ft_archive_free(ft_archive *a);

/* Whether a 512-byte block is a tar header: "ustar" magic at 257, or (old
 * v7 archives) a correct header checksum. */
int ft_tar_block_is_header(const unsigned char *block);

/* Advance to the next entry: 1 with *e filled, 0 at the end, -1 on error. */
int ft_archive_next(ft_archive *a, ft_archive_entry *e, ft_error *err);

/* Read the current entry's data whole into *buf (grown as needed, *cap its
 * size); *len gets the byte count. More than max bytes is FT_ETOOBIG, and
 * every byte counts against max_total over the archive (the zip bomb
 * guard: declared sizes are not trusted). */
int ft_archive_read(ft_archive *a, uint64_t max, uint64_t max_total, unsigned char **buf, size_t *cap,
                    size_t *len, ft_error *err);

#endif
