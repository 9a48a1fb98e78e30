/* The service's shared state, passed to every route handler and worker. */
#ifndef FT_APP_H
#define FT_APP_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "core/train/feature_store.h"
#include "server/app/config.h"
#include "server/http/http.h"
#include "server/store/store.h"

typedef struct ft_workers ft_workers;
typedef struct ft_prom ft_prom;

#define FT_MAX_WORKERS 64

struct ft_app {
    ft_config cfg;
    ft_store *store;
    ft_http *http;
    ft_workers *workers;
    ft_prom *prom;
    int lock_fd;                 /* flock on DATA_DIR/finetuned.lock: exclusive with SQLite, shared with PostgreSQL */
    time_t started_at;
    atomic_bool shutting_down;   /* SIGTERM seen: /readyz fails, workers requeue */
    atomic_int sse_streams;      /* open event streams */
    char dir_datasets[PATH_MAX], dir_models[PATH_MAX], dir_checkpoints[PATH_MAX], dir_tmp[PATH_MAX];
    char dir_features[PATH_MAX];
    ft_feature_store *features;  /* frozen-prefix features between jobs, or NULL when off */

    /* Jobs running in this process, so a cancel takes effect within a
     * batch without a database round trip, and event streams wake up when
     * something happens. */
    pthread_mutex_t lock;
    pthread_cond_t changed;      /* broadcast on every job event / status change */
    unsigned long generation;    /* bumped with each broadcast */
    struct {
        char id[64];             /* "" = free slot */
        atomic_bool cancel;
    } running[FT_MAX_WORKERS];
};

/* Open the state behind the service (cfg must be loaded): the data dir's
 * lock (FT_EINVAL, before anything is touched, if a server that may not
 * share it holds it),
 * data directories, the store with its migrations, the orphan sweep,
 * metrics. */
int ft_app_open(ft_app *app, ft_error *err);
void ft_app_close(ft_app *app);

/* Paths of stored files; names come only from generated ids. */
void ft_app_dataset_path(const ft_app *app, const char *id, char *out, size_t n);
void ft_app_model_path(const ft_app *app, const char *id, char *out, size_t n);
void ft_app_checkpoint_path(const ft_app *app, const char *id, char *out, size_t n);

/* A new id: prefix + 24 random hex digits ("job_3f9c..."). */
void ft_app_new_id(const char *prefix, char *out, size_t n);
/* True if s looks like an id with this prefix (prefix_ + 24 hex). */
bool ft_app_valid_id(const char *prefix, const char *s);

/* Something changed (event, status): wake event streams. */
void ft_app_notify(ft_app *app);
/* Wait up to ms for a change after `seen`; returns the current generation. */
unsigned long ft_app_wait(ft_app *app, unsigned long seen, int ms);

/* Register / unregister a job running in a worker; returns its cancel flag. */
atomic_bool *ft_app_job_started(ft_app *app, const char *id);
void ft_app_job_ended(ft_app *app, const char *id);
/* Ask a job running here to stop (no-op if it runs elsewhere). */
void ft_app_cancel(ft_app *app, const char *id);

/* Log one line to stderr (text or JSON per --log-format): an event name and
 * key/value pairs (NULL-terminated list of key, value strings). */
void ft_app_log(const ft_app *app, const char *event, ...);
/* The same with the pairs in a va_list. */
void ft_app_logv(const ft_app *app, const char *event, va_list kv);

/* Start the HTTP server on app's routes, configured from app->cfg, with
 * the app's logs, metrics, ids and change signal as its hooks (app_http.c). */
ft_http *ft_app_http_start(ft_app *app, const ft_route *routes, size_t nroutes, ft_error *err);

#endif
