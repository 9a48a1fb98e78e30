#include "core/util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ft_fail_errno(ft_error *err, int errnum, const char *what, const char *path)
{
    ft_errcode code = FT_EIO;
    if (errnum == ENOSPC || errnum == EDQUOT)
        code = FT_ENOSPC;
    else if (errnum == ENOENT)
        code = FT_ENOTFOUND;
    else if (errnum == ENOMEM)
        code = FT_ENOMEM;
    return ft_fail(err, code, NULL, "%s %s: %s", what, path, strerror(errnum));
}

static int fsync_parent_dir(const char *path, ft_error *err)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ft_fail_errno(err, errno, "cannot open directory", dir);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0 && saved != EINVAL) /* some filesystems cannot fsync directories */
        return ft_fail_errno(err, saved, "cannot fsync directory", dir);
    return 0;
}

int ft_atomic_open(ft_atomic_file *f, const char *path, ft_error *err)
{
    f->fd = -1;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path ||
        snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.XXXXXX", path) >= (int)sizeof f->tmp_path)
        return ft_fail(err, FT_EINVAL, NULL, "path too long: %s", path);
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (f->fd < 0)
        return ft_fail_errno(err, errno, "cannot create", f->tmp_path);
    return 0;
}

int ft_atomic_write(ft_atomic_file *f, const void *buf, size_t len, ft_error *err)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ft_fail_errno(err, errno, "cannot write", f->path);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ft_atomic_commit(ft_atomic_file *f, ft_error *err)
{
    if (fsync(f->fd) != 0) {
        int saved = errno;
        ft_atomic_abort(f);
        return ft_fail_errno(err, saved, "cannot fsync", f->path);
    }
    if (close(f->fd) != 0) {
        int saved = errno;
        f->fd = -1;
        ft_atomic_abort(f);
        return ft_fail_errno(err, saved, "cannot close", f->path);
    }
    f->fd = -1;
    if (rename(f->tmp_path, f->path) != 0) {
        int saved = errno;
        ft_atomic_abort(f);
        return ft_fail_errno(err, saved, "cannot rename into", f->path);
    }
    f->tmp_path[0] = '\0';
    return fsync_parent_dir(f->path, err);
}

void ft_atomic_abort(ft_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path[0])
        unlink(f->tmp_path);
    f->tmp_path[0] = '\0';
}

int ft_commit_file(const char *tmp_path, const char *path, ft_error *err)
{
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ft_fail_errno(err, errno, "cannot open", tmp_path);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return ft_fail_errno(err, saved, "cannot fsync", tmp_path);
    if (rename(tmp_path, path) != 0)
        return ft_fail_errno(err, errno, "cannot rename into", path);
    return fsync_parent_dir(path, err);
}

int ft_write_file_atomic(const char *path, const void *buf, size_t len, ft_error *err)
{
    ft_atomic_file f;
    if (ft_atomic_open(&f, path, err) != 0)
        return -1;
    if (ft_atomic_write(&f, buf, len, err) != 0) {
        ft_atomic_abort(&f);
        return -1;
    }
    return ft_atomic_commit(&f, err);
}

int ft_read_file(const char *path, size_t max_len, unsigned char **buf, size_t *len, ft_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ft_fail_errno(err, errno, "cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return ft_fail_errno(err, saved, "cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ft_fail(err, FT_EINVAL, NULL, "%s is not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_len) {
        close(fd);
        return ft_fail(err, FT_ETOOBIG, NULL, "%s is larger than %zu bytes", path, max_len);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *data = malloc(size + 1);
    if (!data) {
        close(fd);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            free(data);
            close(fd);
            return ft_fail_errno(err, saved, "cannot read", path);
        }
        got += (size_t)n;
    }
    close(fd);
    data[size] = '\0';
    *buf = data;
    *len = size;
    return 0;
}

int ft_pread_all(int fd, void *dst, size_t len, uint64_t off)
{
    unsigned char *p = dst;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}
