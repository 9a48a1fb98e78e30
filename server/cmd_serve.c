/* finetuned serve: start-up, the orphan sweep, and graceful shutdown. */
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "server/cli.h"
#include "server/prom.h"
#include "server/routes.h"
#include "server/version.h"
#include "server/worker.h"

static int make_dir(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "finetuned serve: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

static int prepare_dirs(ft_app *app)
{
    const char *d = app->cfg.data_dir;
    snprintf(app->dir_datasets, sizeof app->dir_datasets, "%s/datasets", d);
    snprintf(app->dir_models, sizeof app->dir_models, "%s/models", d);
    snprintf(app->dir_checkpoints, sizeof app->dir_checkpoints, "%s/checkpoints", d);
    snprintf(app->dir_tmp, sizeof app->dir_tmp, "%s/tmp", d);
    return make_dir(d) || make_dir(app->dir_datasets) || make_dir(app->dir_models) ||
                   make_dir(app->dir_checkpoints) || make_dir(app->dir_tmp)
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
        char id[80], path[2400];
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
                  sweep_dir(app, app->dir_checkpoints, "job", ".ckpt", none);
    json_decref(none);
    json_decref(ids);
    char n[16];
    snprintf(n, sizeof n, "%d", removed);
    ft_app_log(app, "orphan_sweep", "removed", n, NULL);
}

int ft_cmd_serve(int argc, char **argv)
{
    static ft_app app; /* lives for the whole process */
    int rc = ft_config_load(&app.cfg, argc, argv, stdout, stderr);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    find_migrations(&app.cfg);
    pthread_mutex_init(&app.lock, NULL);
    pthread_cond_init(&app.changed, NULL);
    app.started_at = time(NULL);
    if (prepare_dirs(&app) != 0)
        return 1;

    /* SIGTERM / SIGINT are taken by sigwait below; every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ft_error err = {0};
    char db[2200];
    snprintf(db, sizeof db, "%s/finetuned.db", app.cfg.data_dir);
    if (!(app.store = ft_store_open(db, app.cfg.migrations_dir, &err))) {
        fprintf(stderr, "finetuned serve: %s\n", err.msg);
        return 1;
    }
    sweep_orphans(&app);
    /* Each worker trains with --blas-threads data-parallel shards, each
     * calling a single-threaded OpenBLAS. */
    openblas_set_num_threads(1);
    app.prom = ft_prom_new();
    if (!(app.workers = ft_workers_start(&app, &err)) ||
        !(app.http = ft_http_start(&app, ft_routes, ft_nroutes, &err))) {
        fprintf(stderr, "finetuned serve: %s\n", err.msg);
        atomic_store(&app.shutting_down, true);
        ft_workers_stop(app.workers);
        return 1;
    }
    char port[16], workers[16];
    snprintf(port, sizeof port, "%d", ft_http_port(app.http));
    snprintf(workers, sizeof workers, "%d", app.cfg.workers);
    if (app.cfg.port_file[0] && ft_write_file_atomic(app.cfg.port_file, port, strlen(port), &err) != 0)
        fprintf(stderr, "finetuned serve: %s\n", err.msg);
    ft_app_log(&app, "listening", "address", app.cfg.listen_host, "port", port, "data_dir", app.cfg.data_dir,
               "workers", workers, "version", FT_VERSION, "auth", app.cfg.api_key[0] ? "on" : "off", NULL);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    ft_app_log(&app, "shutting_down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    atomic_store(&app.shutting_down, true);
    ft_http_quiesce(app.http);
    ft_app_notify(&app); /* end event streams */
    ft_workers_stop(app.workers);
    ft_http_stop(app.http);
    ft_store_close(app.store);
    ft_prom_free(app.prom);
    ft_app_log(&app, "stopped", NULL);
    return 0;
}
