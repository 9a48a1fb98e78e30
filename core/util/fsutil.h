/* Crash-safe file creation.
 *
 * A file is written under a temporary name beside its final path
 * ("<path>.tmp.XXXXXX"), fsynced, renamed into place and the directory fsynced,
 * so a reader sees either the old state or the complete new file, never half
 * of one. Start-up sweeps remove leftover "*.tmp.*" files of a crashed writer.
 */
#ifndef FT_FSUTIL_H
#define FT_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

typedef struct {
    int fd;              /* open descriptor of the temporary file, or -1 */
    char tmp_path[4096]; /* temporary name */
    char path[4096];     /* final name */
} ft_atomic_file;

/* Create the temporary file for `path`. */
int ft_atomic_open(ft_atomic_file *f, const char *path, ft_error *err);

/* Append len bytes (retrying short writes; ENOSPC becomes FT_ENOSPC). */
int ft_atomic_write(ft_atomic_file *f, const void *buf, size_t len, ft_error *err);

/* fsync, rename over the final path, fsync the directory. On failure the
 * temporary file is removed. */
int ft_atomic_commit(ft_atomic_file *f, ft_error *err);

/* Give up: close and remove the temporary file (safe to call twice). */
void ft_atomic_abort(ft_atomic_file *f);

/* Write a whole buffer to path atomically. */
int ft_write_file_atomic(const char *path, const void *buf, size_t len, ft_error *err);

/* Make an already written file durable under its final name: fsync it,
 * rename it over `path`, fsync the directory (both in the same filesystem). */
int ft_commit_file(const char *tmp_path, const char *path, ft_error *err);

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience),
 * refusing files larger than max_len with FT_ETOOBIG. */
int ft_read_file(const char *path, size_t max_len, unsigned char **buf, size_t *len, ft_error *err);

/* pread() exactly len bytes at offset off (retrying short reads and EINTR);
 * -1 on an error or end of file. */
int ft_pread_all(int fd, void *dst, size_t len, uint64_t off);

/* Map an errno from a failed write or open to an ft_error with context. */
int ft_fail_errno(ft_error *err, int errnum, const char *what, const char *path);

#endif
