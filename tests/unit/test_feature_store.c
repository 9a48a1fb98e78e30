/* The on-disk feature store: round trip, misses, damaged files, eviction of
 * the least recently used files under the budget, the build lock between
 * processes. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/train/feature_store.h"
#include "tests/unit/test.h"

#define FLOATS 1000
/* A file: header (32 bytes) + key + floats. */
#define FILE_BYTES(key) (32 + strlen(key) + FLOATS * sizeof(float))

static char dir[] = "/tmp/ft-featstore-XXXXXX";

static void fill(float *x, float seed)
{
    for (int i = 0; i < FLOATS; i++)
        x[i] = seed + (float)i * 0.5f;
}

/* Names of the store's files, and how many. */
static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void empty_dir(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    if (d)
        closedir(d);
}

static void test_round_trip_and_misses(void)
{
    empty_dir();
    ft_error err = {0};
    ft_feature_store *fs = ft_feature_store_open(dir, 1 << 20, &err);
    CHECK(fs != NULL);
    float in[FLOATS], out[FLOATS];
    fill(in, 1.0f);
    double secs = -1;
    CHECK(ft_feature_store_get(fs, "a", out, FLOATS, &secs) == 0); /* nothing yet */
    CHECK(ft_feature_store_put(fs, "a", in, FLOATS, 2.5, &err) == 0);
    CHECK(ft_feature_store_get(fs, "a", out, FLOATS, &secs) == 1);
    CHECK(memcmp(in, out, sizeof in) == 0 && secs == 2.5);
    CHECK(ft_feature_store_get(fs, "b", out, FLOATS, &secs) == 0);       /* another key */
    CHECK(ft_feature_store_bytes(fs) == FILE_BYTES("a"));
    ft_feature_store_free(fs);
}

static void test_damaged_file_is_a_miss_and_removed(void)
{
    empty_dir();
    ft_error err = {0};
    ft_feature_store *fs = ft_feature_store_open(dir, 1 << 20, &err);
    float in[FLOATS], out[FLOATS];
    fill(in, 3.0f);
    CHECK(ft_feature_store_put(fs, "key", in, FLOATS, 1, &err) == 0);
    /* Cut the file short, as a disk that lost its tail would. */
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            CHECK(truncate(p, (off_t)FILE_BYTES("key") - 100) == 0);
        }
    closedir(d);
    double secs;
    CHECK(ft_feature_store_get(fs, "key", out, FLOATS, &secs) == 0);
    CHECK(count_files() == 0);
    /* A request for another size under the same key is also a damaged entry. */
    CHECK(ft_feature_store_put(fs, "key", in, FLOATS, 1, &err) == 0);
    CHECK(ft_feature_store_get(fs, "key", out, FLOATS - 1, &secs) == 0);
    CHECK(count_files() == 0);
    ft_feature_store_free(fs);
}

static void test_least_recently_used_is_evicted(void)
{
    empty_dir();
    ft_error err = {0};
    /* Room for two files, not three. */
    ft_feature_store *fs = ft_feature_store_open(dir, 2 * FILE_BYTES("k1") + 10, &err);
    float a[FLOATS], b[FLOATS], c[FLOATS], out[FLOATS];
    fill(a, 1), fill(b, 2), fill(c, 3);
    double secs;
    CHECK(ft_feature_store_put(fs, "k1", a, FLOATS, 1, &err) == 0);
    struct timespec pause = {0, 20 * 1000 * 1000}; /* mtimes must differ */
    nanosleep(&pause, NULL);
    CHECK(ft_feature_store_put(fs, "k2", b, FLOATS, 1, &err) == 0);
    nanosleep(&pause, NULL);
    CHECK(ft_feature_store_get(fs, "k1", out, FLOATS, &secs) == 1); /* k1 is now the most recent */
    nanosleep(&pause, NULL);
    CHECK(ft_feature_store_put(fs, "k3", c, FLOATS, 1, &err) == 0);
    CHECK(count_files() == 2);
    CHECK(ft_feature_store_get(fs, "k2", out, FLOATS, &secs) == 0); /* evicted */
    CHECK(ft_feature_store_get(fs, "k1", out, FLOATS, &secs) == 1 && memcmp(out, a, sizeof a) == 0);
    CHECK(ft_feature_store_get(fs, "k3", out, FLOATS, &secs) == 1 && memcmp(out, c, sizeof c) == 0);
    CHECK(ft_feature_store_bytes(fs) <= 2 * FILE_BYTES("k1") + 10);
    ft_feature_store_free(fs);
}

static void test_larger_than_the_budget_is_not_stored(void)
{
    empty_dir();
    ft_error err = {0};
    ft_feature_store *fs = ft_feature_store_open(dir, 100, &err);
    float a[FLOATS];
    fill(a, 1);
    CHECK(ft_feature_store_put(fs, "k", a, FLOATS, 1, &err) == 1);
    CHECK(count_files() == 0);
    ft_feature_store_free(fs);
}

/* Two processes on one key: the child locks, tells the parent, and stores
 * the features only after a pause; the parent's lock waits for the child's
 * unlock, so its look into the store after locking hits (without the lock
 * it would miss and build them again). The lock file is gone afterwards. */
static void test_build_lock_makes_a_second_process_wait_for_the_features(void)
{
    empty_dir();
    ft_error err = {0};
    ft_feature_store *fs = ft_feature_store_open(dir, 1 << 20, &err);
    float in[FLOATS], out[FLOATS];
    fill(in, 3.0f);
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t child = fork();
    if (child == 0) {
        int lock = ft_feature_store_lock(fs, "k", NULL, NULL);
        char one = 1;
        if (write(ready[1], &one, 1) != 1)
            _exit(2);
        usleep(200 * 1000); /* the window in which an unlocked reader would miss */
        int rc = ft_feature_store_put(fs, "k", in, FLOATS, 1.5, &err);
        ft_feature_store_unlock(fs, "k", lock);
        ft_feature_store_free(fs);
        _exit(lock >= 0 && rc == 0 ? 0 : 1);
    }
    char got = 0;
    CHECK(child > 0 && read(ready[0], &got, 1) == 1 && got == 1);
    int lock = ft_feature_store_lock(fs, "k", NULL, NULL);
    CHECK(lock >= 0);
    double secs = 0;
    CHECK(ft_feature_store_get(fs, "k", out, FLOATS, &secs) == 1);
    CHECK(memcmp(in, out, sizeof in) == 0 && secs == 1.5);
    ft_feature_store_unlock(fs, "k", lock);
    int status = -1;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(count_files() == 1); /* the features; no lock file left */
    ft_feature_store_unlock(fs, "k", -1); /* no lock: nothing to do */
    close(ready[0]);
    close(ready[1]);
    ft_feature_store_free(fs);
}

/* Stops asked while waiting: the first few say go on, then stop. */
static int stop_after(void *ctx)
{
    int *asked = ctx;
    return ++*asked >= 3;
}

/* A waiter that is told to stop (a cancelled job) gives up the wait while
 * the holder still builds, and takes nothing; once the lock is free, a
 * waiter with a stop it never uses gets it at once. */
static void test_waiting_for_the_build_lock_can_be_stopped(void)
{
    empty_dir();
    ft_error err = {0};
    ft_feature_store *fs = ft_feature_store_open(dir, 1 << 20, &err);
    int held = ft_feature_store_lock(fs, "k", NULL, NULL); /* another holder: flock locks are per open file */
    CHECK(held >= 0);
    int asked = 0;
    CHECK(ft_feature_store_lock(fs, "k", stop_after, &asked) == FT_FEATURE_LOCK_STOPPED);
    CHECK(asked == 3);
    ft_feature_store_unlock(fs, "k", held);
    asked = -1000;
    int lock = ft_feature_store_lock(fs, "k", stop_after, &asked);
    CHECK(lock >= 0 && asked == -1000);
    ft_feature_store_unlock(fs, "k", lock);
    CHECK(count_files() == 0);
    ft_feature_store_free(fs);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        printf("FAIL test_feature_store (mkdtemp)\n");
        return 1;
    }
    RUN(test_round_trip_and_misses);
    RUN(test_damaged_file_is_a_miss_and_removed);
    RUN(test_least_recently_used_is_evicted);
    RUN(test_larger_than_the_budget_is_not_stored);
    RUN(test_build_lock_makes_a_second_process_wait_for_the_features);
    RUN(test_waiting_for_the_build_lock_can_be_stopped);
    empty_dir();
    rmdir(dir);
    return TEST_SUMMARY();
}
