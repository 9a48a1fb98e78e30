/* Opening the service's state: the data dir's lock, data directories, the store and its
 * migrations, the start-up orphan sweep, metrics. Shared by `finetuned
 * serve` and the HTTP fuzz harness. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/app/app.h"
#include "server/app/prom.h"

static int make_dir(const char *path, ft_error *err)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    return ft_fail(err, FT_EIO, "data-dir", "cannot create %s: %s", path, strerror(errno));
}

static int prepare_dirs(ft_app *app, ft_error *err)
{
    const char *d = app->cfg.data_dir;
    snprintf(app->dir_datasets, sizeof app->dir_datasets, "%s/datasets", d);
    snprintf(app->dir_models, sizeof app->dir_models, "%s/models", d);
    snprintf(app->dir_checkpoints, sizeof app->dir_checkpoints, "%s/checkpoints", d);
    snprintf(app->dir_tmp, sizeof app->dir_tmp, "%s/tmp", d);
    snprintf(app->dir_features, sizeof app->dir_features, "%s/features", d);
    return make_dir(d, err) || make_dir(app->dir_datasets, err) || make_dir(app->dir_models, err) ||
                   make_dir(app->dir_checkpoints, err) || make_dir(app->dir_tmp, err) ||
                   make_dir(app->dir_features, err)
               ? -1
               : 0;
}

/* Default migrations: beside the binary's tree (build/finetuned ->
 * migrations/) or an installed share directory. */
static void find_migrations(ft_config *c)
{
    if (c->migrations_dir[0])
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe);
        const char *candidates[] = {"%s/../migrations", "%s/../share/finetuned/migrations"};
        for (size_t i = 0; i < 2; i++) {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof path, candidates[i], dir);
            if (strlen(path) < sizeof c->migrations_dir && access(path, R_OK) == 0) {
                memcpy(c->migrations_dir, path, strlen(path) + 1);
                return;
            }
        }
    }
    snprintf(c->migrations_dir, sizeof c->migrations_dir, "/usr/share/finetuned/migrations");
}

static bool is_id_file(const char *name, const char *prefix, const char *suffix, char *id, size_t n)
{
    size_t len = strlen(name), sl = strlen(suffix);
    if (len <= sl || strcmp(name + len - sl, suffix) != 0 || len - sl >= n)
        return false;
    snprintf(id, n, "%.*s", (int)(len - sl), name);
    return ft_app_valid_id(prefix, id);
}

static bool in_list(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    return false;
}

/* Remove what a crash left behind: temp files, stored files whose row never
 * committed, checkpoints of jobs that are over. Only files last modified
 * before `cutoff` go (see sweep_orphans). Returns files removed. */
static int sweep_dir(ft_app *app, const char *dir, const char *prefix, const char *suffix, const json_t *ids,
                     time_t cutoff)
{
    DIR *d = opendir(dir);
    int removed = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char id[80], path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || st.st_mtime >= cutoff)
            continue;
        bool orphan = strstr(e->d_name, ".tmp.") != NULL || !ids;
        if (!orphan && prefix) {
            if (!is_id_file(e->d_name, prefix, suffix, id, sizeof id))
                continue; /* not ours: leave it alone */
            if (strcmp(prefix, "job") == 0) {
                ft_error err = {0};
                json_t *job = ft_store_job_get(app->store, id, &err);
                const char *st = json_string_value(json_object_get(job, "status"));
                orphan = !job || (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0);
                json_decref(job);
            } else {
                orphan = !in_list(ids, id);
            }
        }
        if (orphan && unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* How old a file must be before a sweep in a shared data dir may judge it. */
#define FT_SWEEP_SHARED_MIN_AGE_S 3600

/* The start-up sweep. Alone on the data dir (SQLite: the exclusive lock
 * proves that no other process writes here), every orphan goes. In a data
 * dir shared by other live processes (PostgreSQL), two kinds of file look
 * like orphans and are not: the temp file of a writer still at work (an
 * upload, a checkpoint, a model or features being saved), and a stored file just
 * renamed into place whose row has not committed yet (the row list was
 * read before the directory). Both are fresh: a writer touches its temp
 * file as it writes, and a file is renamed right after its last write and
 * its row commits right after the rename. So in a shared dir the sweep
 * only judges files untouched for an hour, which no live writer leaves
 * that long; orphans younger than that wait for a later start. Any role
 * may sweep then, and no coordination through the store is needed. A
 * checkpoint goes only if its job is over, which no writer can undo (a
 * checkpoint is published under the job's lease, and an ended job holds
 * none). */
static void sweep_orphans(ft_app *app)
{
    time_t cutoff = ft_store_shared(app->store) ? time(NULL) - FT_SWEEP_SHARED_MIN_AGE_S : (time_t)INT64_MAX;
    ft_error err = {0};
    json_t *ids = ft_store_all_file_ids(app->store, &err);
    if (!ids) {
        ft_app_log(app, "sweep_skipped", "detail", err.msg, NULL);
        return;
    }
    json_t *none = json_array();
    int removed = sweep_dir(app, app->dir_tmp, NULL, NULL, NULL, cutoff) +
                  sweep_dir(app, app->dir_datasets, "ds", ".safetensors", json_object_get(ids, "datasets"), cutoff) +
                  sweep_dir(app, app->dir_models, "mdl", ".safetensors", json_object_get(ids, "models"), cutoff) +
                  sweep_dir(app, app->dir_checkpoints, "job", ".ckpt", none, cutoff) +
                  sweep_dir(app, app->dir_features, NULL, NULL, none, cutoff);
    json_decref(none);
    json_decref(ids);
    char n[16];
    snprintf(n, sizeof n, "%d", removed);
    ft_app_log(app, "orphan_sweep", "removed", n, NULL);
}

/* The data dir's lock, held until ft_app_close or the process's end (the
 * kernel drops it even after kill -9). With SQLite it is exclusive: one
 * process per data dir, since two would sweep each other's files as
 * orphans and the database file belongs to one process. With PostgreSQL
 * it is shared: any number of API and worker processes use the dir
 * together (the store coordinates them, the sweep is careful), and an
 * SQLite process cannot start among them, nor they beside it. */
static int lock_data_dir(ft_app *app, bool shared, ft_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/finetuned.lock", app->cfg.data_dir);
    if (make_dir(app->cfg.data_dir, err) != 0)
        return -1;
    app->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (app->lock_fd < 0)
        return ft_fail(err, FT_EIO, "data-dir", "cannot open %s: %s", path, strerror(errno));
    if (flock(app->lock_fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
        return 0;
    int e = errno;
    close(app->lock_fd);
    app->lock_fd = -1;
    if (e == EWOULDBLOCK && shared)
        return ft_fail(err, FT_EINVAL, "data-dir",
                       "a finetuned server with the SQLite store is using the data dir %s (it holds %s); stop it "
                       "first or choose another --data-dir", app->cfg.data_dir, path);
    if (e == EWOULDBLOCK)
        return ft_fail(err, FT_EINVAL, "data-dir",
                       "another finetuned server is using the data dir %s (it holds %s); with the SQLite store "
                       "one process owns a data dir: stop it first, choose another --data-dir, or run every "
                       "process with --store postgres://... to share it", app->cfg.data_dir, path);
    return ft_fail(err, FT_EIO, "data-dir", "cannot lock %s: %s", path, strerror(e));
}

int ft_app_open(ft_app *app, ft_error *err)
{
    find_migrations(&app->cfg);
    pthread_mutex_init(&app->lock, NULL);
    pthread_cond_init(&app->changed, NULL);
    app->started_at = time(NULL);
    app->lock_fd = -1;
    bool shared = app->cfg.store[0] != '\0';
    if (lock_data_dir(app, shared, err) != 0 || prepare_dirs(app, err) != 0)
        return -1;
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/finetuned.db", app->cfg.data_dir);
    if (!(app->store = ft_store_open(shared ? app->cfg.store : db, app->cfg.migrations_dir, err)))
        return -1;
    sweep_orphans(app);
    if (app->cfg.feature_store_bytes &&
        !(app->features = ft_feature_store_open(app->dir_features, app->cfg.feature_store_bytes, err))) {
        ft_store_close(app->store);
        return -1;
    }
    if (!(app->prom = ft_prom_new())) {
        ft_store_close(app->store);
        ft_feature_store_free(app->features);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    return 0;
}

void ft_app_close(ft_app *app)
{
    ft_store_close(app->store);
    ft_prom_free(app->prom);
    ft_feature_store_free(app->features);
    app->features = NULL;
    app->store = NULL;
    app->prom = NULL;
    if (app->lock_fd >= 0)
        close(app->lock_fd);
    app->lock_fd = -1;
}
