/* The feature store: frozen-prefix outputs kept on disk between jobs.
 *
 * A job whose base is frozen runs the frozen layers once over its rows (the
 * feature cache, train.c). When a later job uses the same base model, the
 * same rows, the same cut and the same preprocessing, those outputs are the
 * same numbers, so they are kept in a directory, one file per key, and the
 * second job skips the backbone entirely. The caller makes the key: any
 * string that names everything the features depend on (core/job builds it
 * from the spec). Files are written atomically (core/util/fsutil.h), carry
 * their whole key (a digest collision is a miss, not wrong features), and
 * the directory is kept under a byte budget by removing the least recently
 * used files. Several processes may share one directory: a reader holds an
 * open descriptor, so an eviction never cuts a read short. */
#ifndef FT_FEATURE_STORE_H
#define FT_FEATURE_STORE_H

#include <stddef.h>

#include "core/util/error.h"

typedef struct ft_feature_store ft_feature_store;

/* A store in directory dir (created if missing) holding at most budget_bytes
 * of files. */
ft_feature_store *ft_feature_store_open(const char *dir, size_t budget_bytes, ft_error *err);
void ft_feature_store_free(ft_feature_store *fs);

/* Read the features stored under key into dst (exactly `floats` values) and
 * the seconds it took to compute them into *build_seconds. Returns 1 on a
 * hit, 0 on a miss: no file, or one of another size or key, or one that
 * cannot be read (a damaged file is removed). A hit counts as a use for
 * eviction. */
int ft_feature_store_get(ft_feature_store *fs, const char *key, float *dst, size_t floats,
                         double *build_seconds);

/* Store `floats` values under key (replacing any), then evict the least
 * recently used files until the directory fits the budget again. Features
 * larger than the whole budget are not stored (returns 1; 0 when stored). */
int ft_feature_store_put(ft_feature_store *fs, const char *key, const float *src, size_t floats,
                         double build_seconds, ft_error *err);

/* ft_feature_store_lock's answer when stop asked it to give up waiting. */
#define FT_FEATURE_LOCK_STOPPED (-2)

/* Hold the build lock of key (an flock on "<digest>.lock" in the
 * directory, so it holds between threads and between processes sharing the
 * directory): a second caller with the same key waits here until the first
 * unlocks, then finds the first's features with ft_feature_store_get, so
 * two jobs on the same frozen part run it once. While it waits, stop(ctx)
 * (unless stop is NULL) is asked every FT_FEATURE_LOCK_POLL_MS whether to
 * give up: FT_FEATURE_LOCK_STOPPED then. Returns the lock (>= 0), or -1 if
 * none could be taken: the caller builds unlocked (at worst twice). */
int ft_feature_store_lock(ft_feature_store *fs, const char *key, int (*stop)(void *ctx), void *ctx);
#define FT_FEATURE_LOCK_POLL_MS 50
/* Release a lock from ft_feature_store_lock (-1: nothing to release). */
void ft_feature_store_unlock(ft_feature_store *fs, const char *key, int lock);

/* Bytes the store's files take now. */
size_t ft_feature_store_bytes(const ft_feature_store *fs);

#endif
