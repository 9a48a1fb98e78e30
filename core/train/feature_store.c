/* The on-disk feature store (feature_store.h). One file per key:
 *   "FTFEAT01", u64 floats, f64 build seconds, u64 key length, the key,
 *   then the floats (host order: the files never leave the data directory). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "core/train/feature_store.h"
#include "core/util/fsutil.h"
#include "core/util/stream.h"

#define MAGIC "FTFEAT01"
#define SUFFIX ".feat"
#define LOCK_SUFFIX ".lock"
#define MAX_KEY 65536

struct ft_feature_store {
    char dir[PATH_MAX - 80]; /* room for "/<64 hex digits>.feat" */
    size_t budget;           /* bytes the directory may hold */
};

typedef struct {
    char magic[8];
    uint64_t floats;
    double build_seconds;
    uint64_t key_len;
} header;

ft_feature_store *ft_feature_store_open(const char *dir, size_t budget_bytes, ft_error *err)
{
    if (strlen(dir) >= sizeof ((ft_feature_store *)0)->dir) {
        ft_fail(err, FT_EINVAL, NULL, "feature store path too long: %s", dir);
        return NULL;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        ft_fail_errno(err, errno, "create the feature store", dir);
        return NULL;
    }
    ft_feature_store *fs = calloc(1, sizeof *fs);
    if (!fs) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    snprintf(fs->dir, sizeof fs->dir, "%s", dir);
    fs->budget = budget_bytes;
    return fs;
}

void ft_feature_store_free(ft_feature_store *fs) { free(fs); }

/* <dir>/<sha256 of key><suffix> */
static void key_file(const ft_feature_store *fs, const char *key, const char *suffix, char out[PATH_MAX])
{
    uint8_t digest[FT_SHA256_SIZE];
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, strlen(key), (const uint8_t *)key);
    sha256_digest(&c, sizeof digest, digest);
    char hex[2 * FT_SHA256_SIZE + 1];
    ft_sha256_hex(digest, hex);
    snprintf(out, PATH_MAX, "%s/%s%s", fs->dir, hex, suffix);
}

/* <dir>/<sha256 of key>.feat */
static void key_path(const ft_feature_store *fs, const char *key, char out[PATH_MAX])
{
    key_file(fs, key, SUFFIX, out);
}

int ft_feature_store_lock(ft_feature_store *fs, const char *key, int (*stop)(void *ctx), void *ctx)
{
    char path[PATH_MAX];
    key_file(fs, key, LOCK_SUFFIX, path);
    /* The holder unlinks the file when done: a waiter then holds a lock
     * on a name that is gone, and a newcomer takes a new file. Both look in
     * the store after locking, so both find the features the holder put. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    /* flock has no timeout: without a stop to ask, block; with one, poll. */
    int how = stop ? LOCK_EX | LOCK_NB : LOCK_EX;
    const struct timespec poll = {0, FT_FEATURE_LOCK_POLL_MS * 1000000L};
    while (flock(fd, how) != 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        int rc = e != EWOULDBLOCK ? -1 : stop(ctx) ? FT_FEATURE_LOCK_STOPPED : 0;
        if (rc != 0) {
            close(fd);
            return rc;
        }
        nanosleep(&poll, NULL);
    }
    return fd;
}

void ft_feature_store_unlock(ft_feature_store *fs, const char *key, int lock)
{
    if (lock < 0)
        return;
    char path[PATH_MAX];
    key_file(fs, key, LOCK_SUFFIX, path);
    unlink(path);
    close(lock); /* releases the flock */
}

/* What a file holds for a key. */
typedef enum { FILE_HIT, FILE_OTHER, FILE_DAMAGED } file_state;

static file_state read_features(int fd, const char *key, float *dst, size_t floats, double *build_seconds)
{
    header h;
    size_t klen = strlen(key);
    if (ft_pread_all(fd, &h, sizeof h, 0) != 0 || memcmp(h.magic, MAGIC, 8) != 0 || h.key_len > MAX_KEY)
        return FILE_DAMAGED;
    if (h.key_len != klen)
        return FILE_OTHER; /* another key with the same digest */
    char *stored = malloc(klen + 1);
    if (!stored || ft_pread_all(fd, stored, klen, sizeof h) != 0) {
        free(stored);
        return stored ? FILE_DAMAGED : FILE_OTHER;
    }
    bool same_key = memcmp(stored, key, klen) == 0;
    free(stored);
    if (!same_key)
        return FILE_OTHER;
    /* The key names the shapes, so a size that differs means a damaged file. */
    if (h.floats != floats || ft_pread_all(fd, dst, floats * sizeof *dst, sizeof h + klen) != 0)
        return FILE_DAMAGED;
    *build_seconds = h.build_seconds;
    return FILE_HIT;
}

int ft_feature_store_get(ft_feature_store *fs, const char *key, float *dst, size_t floats,
                         double *build_seconds)
{
    char path[PATH_MAX];
    key_path(fs, key, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    file_state st = read_features(fd, key, dst, floats, build_seconds);
    if (st == FILE_HIT)
        futimens(fd, NULL); /* most recently used: evicted last */
    else if (st == FILE_DAMAGED)
        unlink(path);
    close(fd);
    return st == FILE_HIT;
}

typedef struct {
    char name[80];
    size_t bytes;
    struct timespec used;
} entry;

static int older_first(const void *a, const void *b)
{
    const struct timespec *x = &((const entry *)a)->used, *y = &((const entry *)b)->used;
    return x->tv_sec != y->tv_sec ? (x->tv_sec < y->tv_sec ? -1 : 1)
                                  : (x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec);
}

/* The store's files with size and last use; *total gets their bytes. */
static entry *list_files(const ft_feature_store *fs, size_t *n, size_t *total)
{
    *n = *total = 0;
    DIR *d = opendir(fs->dir);
    if (!d)
        return NULL;
    entry *list = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        struct stat st;
        if (len < sizeof SUFFIX || len >= sizeof list->name ||
            strcmp(e->d_name + len - strlen(SUFFIX), SUFFIX) != 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (*n == cap) {
            entry *grown = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof *list);
            if (!grown)
                break;
            list = grown;
        }
        memcpy(list[*n].name, e->d_name, len + 1); /* len < sizeof name, checked above */
        list[*n].bytes = (size_t)st.st_size;
        list[*n].used = st.st_mtim;
        *total += (size_t)st.st_size;
        (*n)++;
    }
    closedir(d);
    return list;
}

size_t ft_feature_store_bytes(const ft_feature_store *fs)
{
    size_t n, total;
    free(list_files(fs, &n, &total));
    return total;
}

/* Remove least recently used files until the directory fits the budget. */
static void evict(const ft_feature_store *fs)
{
    size_t n, total;
    entry *list = list_files(fs, &n, &total);
    if (list)
        qsort(list, n, sizeof *list, older_first);
    for (size_t i = 0; i < n && total > fs->budget; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", fs->dir, list[i].name);
        if (unlink(path) == 0)
            total -= list[i].bytes;
    }
    free(list);
}

int ft_feature_store_put(ft_feature_store *fs, const char *key, const float *src, size_t floats,
                         double build_seconds, ft_error *err)
{
    size_t klen = strlen(key);
    if (klen > MAX_KEY)
        return ft_fail(err, FT_EINVAL, NULL, "feature store key too long");
    if (floats > (SIZE_MAX - sizeof(header) - klen) / sizeof *src ||
        sizeof(header) + klen + floats * sizeof *src > fs->budget)
        return 1;
    header h = {.floats = floats, .build_seconds = build_seconds, .key_len = klen};
    memcpy(h.magic, MAGIC, 8);
    char path[PATH_MAX];
    key_path(fs, key, path);
    ft_atomic_file f;
    if (ft_atomic_open(&f, path, err) != 0)
        return -1;
    if (ft_atomic_write(&f, &h, sizeof h, err) != 0 || ft_atomic_write(&f, key, klen, err) != 0 ||
        ft_atomic_write(&f, src, floats * sizeof *src, err) != 0 || ft_atomic_commit(&f, err) != 0) {
        ft_atomic_abort(&f);
        return -1;
    }
    evict(fs);
    return 0;
}
