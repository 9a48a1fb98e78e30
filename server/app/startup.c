/* Opening the service's state: the data dir's lock, data directories, the store and its
 * migrations, the start-up orphan sweep, metrics. Shared by `finetuned
 * serve` and the HTTP fuzz harness. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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
 * committed, checkpoints of jobs that are over. Returns files removed. */
static int sweep_dir(ft_app *app, const char *dir, const char *prefix, const char *suffix, const json_t *ids)
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

static void sweep_orphans(ft_app *app)
{
    ft_error err = {0};
    json_t *ids = ft_store_all_file_ids(app->store, &err);
    if (!ids) {
        ft_app_log(app, "sweep_skipped", "detail", err.msg, NULL);
        return;
    }
    json_t *none = json_array();
    int removed = sweep_dir(app, app->dir_tmp, NULL, NULL, NULL) +
                  sweep_dir(app, app->dir_datasets, "ds", ".safetensors", json_object_get(ids, "datasets")) +
                  sweep_dir(app, app->dir_models, "mdl", ".safetensors", json_object_get(ids, "models")) +
                  sweep_dir(app, app->dir_checkpoints, "job", ".ckpt", none) +
                  sweep_dir(app, app->dir_features, NULL, NULL, none);
    json_decref(none);
    json_decref(ids);
    char n[16];
    snprintf(n, sizeof n, "%d", removed);
    ft_app_log(app, "orphan_sweep", "removed", n, NULL);
}

/* One server per data dir: two would sweep each other's files as orphans
 * and run the same jobs. The lock is held until ft_app_close or the
 * process's end (the kernel drops it even after kill -9). */
static int lock_data_dir(ft_app *app, ft_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/finetuned.lock", app->cfg.data_dir);
    if (make_dir(app->cfg.data_dir, err) != 0)
        return -1;
    app->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (app->lock_fd < 0)
        return ft_fail(err, FT_EIO, "data-dir", "cannot open %s: %s", path, strerror(errno));
    if (flock(app->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    int e = errno;
    close(app->lock_fd);
    app->lock_fd = -1;
    if (e == EWOULDBLOCK)
        return ft_fail(err, FT_EINVAL, "data-dir",
                       "another finetuned server is using the data dir %s (it holds %s); stop it first or "
                       "choose another --data-dir", app->cfg.data_dir, path);
    return ft_fail(err, FT_EIO, "data-dir", "cannot lock %s: %s", path, strerror(e));
}

int ft_app_open(ft_app *app, ft_error *err)
{
    find_migrations(&app->cfg);
    pthread_mutex_init(&app->lock, NULL);
    pthread_cond_init(&app->changed, NULL);
    app->started_at = time(NULL);
    app->lock_fd = -1;
    if (lock_data_dir(app, err) != 0 || prepare_dirs(app, err) != 0)
        return -1;
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/finetuned.db", app->cfg.data_dir);
    if (!(app->store = ft_store_open(db, app->cfg.migrations_dir, err)))
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
