/* The worker pool: threads that claim queued jobs and hand each to
 * worker_job.c, and the heartbeat thread that keeps their leases. */
#include "server/worker/worker.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/sweeps/sweep.h"
#include "server/worker/worker_job.h"

struct ft_workers {
    ft_app *app;
    int n;
    pthread_t threads[FT_MAX_WORKERS];
    bool running[FT_MAX_WORKERS];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    unsigned long wakeups;
    pthread_t beat;              /* the heartbeat thread */
    bool beat_running, beat_stop;
    pthread_cond_t beat_wake;
    /* The job each worker holds (id "" when idle), for the heartbeat and so
     * a stuck shutdown can still requeue it. Guarded by lock; `lost` is set
     * by the heartbeat and read by the worker without it. */
    struct {
        char id[64], lease[64];
        atomic_bool *cancel;
        atomic_bool lost;
    } held[FT_MAX_WORKERS];
};

typedef struct {
    ft_workers *w;
    int index;
} worker_arg;

/* Record (or clear, with NULL) the job worker `index` holds. */
static void hold(ft_workers *w, int index, const ft_claim *c, atomic_bool *cancel)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->held[index].id, sizeof w->held[index].id, "%s", c ? c->id : "");
    snprintf(w->held[index].lease, sizeof w->held[index].lease, "%s", c ? c->lease : "");
    w->held[index].cancel = cancel;
    atomic_store(&w->held[index].lost, false);
    pthread_mutex_unlock(&w->lock);
}

static void deadline_in(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* The idle workers' poll: every second alone on SQLite (as cheap as a
 * read); with a shared store, where submits are announced, only as often
 * as lease expiry needs, a quarter of a lease, 1 to 5 s. */
static long idle_poll_ms(const ft_app *app)
{
    if (!ft_store_shared(app->store))
        return 1000;
    long ms = app->cfg.lease_seconds * 1000L / 4;
    return ms < 1000 ? 1000 : ms > 5000 ? 5000 : ms;
}

static void *worker_main(void *p)
{
    worker_arg *a = p;
    ft_workers *w = a->w;
    int index = a->index;
    free(a);
    ft_app *app = w->app;
    char name[32];
    snprintf(name, sizeof name, "worker-%d-%d", (int)getpid(), index);
    while (!atomic_load(&app->shutting_down)) {
        ft_error err = {0};
        ft_claim claim = {0};
        pthread_mutex_lock(&w->lock);
        unsigned long seen = w->wakeups;
        pthread_mutex_unlock(&w->lock);
        int got = ft_store_job_claim(app->store, name, app->cfg.lease_seconds, &claim, &err);
        /* Dead jobs the claim ended for good never resume: their checkpoints go
         * now, not at the next start-up sweep. */
        size_t i;
        json_t *dead;
        json_array_foreach(claim.settled, i, dead) {
            char ckpt[PATH_MAX];
            ft_app_checkpoint_path(app, json_string_value(dead), ckpt, sizeof ckpt);
            unlink(ckpt);
            ft_sweep_job_ended(app, json_string_value(dead));
        }
        if (got == 1) {
            ft_app_log(app, "job_started", "job", claim.id, "worker", name, NULL);
            atomic_bool *cancel = ft_app_job_started(app, claim.id);
            hold(w, index, &claim, cancel);
            ft_worker_run_job(app, index, &claim, cancel, &w->held[index].lost);
            hold(w, index, NULL, NULL);
            ft_app_job_ended(app, claim.id);
            ft_claim_free(&claim);
            continue;
        }
        ft_claim_free(&claim);
        if (got < 0)
            ft_app_log(app, "claim_failed", "detail", err.msg, NULL);
        /* Idle: wait for a submit (this process's, or with PostgreSQL any
         * process's, through the store's NOTIFY), or poll again for expired
         * leases, which nothing announces. */
        struct timespec until;
        deadline_in(&until, idle_poll_ms(app));
        pthread_mutex_lock(&w->lock);
        while (w->wakeups == seen && !atomic_load(&app->shutting_down))
            if (pthread_cond_timedwait(&w->wake, &w->lock, &until) != 0)
                break;
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/* The heartbeat, on its own timer: every lease/3 it extends the lease of
 * every job this pool holds, whatever the job is doing (loading data,
 * building the feature cache, training, testing, saving). It flags a job
 * whose lease was lost, and passes on a cancel requested through another
 * process. */
static void *heartbeat_main(void *p)
{
    ft_workers *w = p;
    ft_app *app = w->app;
    long period_ms = app->cfg.lease_seconds * 1000L / 3;
    struct {
        char id[64], lease[64];
    } jobs[FT_MAX_WORKERS];
    pthread_mutex_lock(&w->lock);
    while (!w->beat_stop) {
        struct timespec until;
        deadline_in(&until, period_ms);
        while (!w->beat_stop && pthread_cond_timedwait(&w->beat_wake, &w->lock, &until) == 0)
            ;
        if (w->beat_stop)
            break;
        for (int i = 0; i < w->n; i++) {
            memcpy(jobs[i].id, w->held[i].id, sizeof jobs[i].id);
            memcpy(jobs[i].lease, w->held[i].lease, sizeof jobs[i].lease);
        }
        pthread_mutex_unlock(&w->lock); /* no lock across database calls */
        for (int i = 0; i < w->n; i++) {
            if (!jobs[i].id[0])
                continue;
            ft_error err = {0};
            int held = ft_store_job_heartbeat(app->store, jobs[i].id, jobs[i].lease, app->cfg.lease_seconds, &err);
            if (held < 0)
                ft_app_log(app, "heartbeat_failed", "job", jobs[i].id, "detail", err.msg, NULL);
            bool cancel = held == 1 && ft_store_job_cancel_requested(app->store, jobs[i].id);
            pthread_mutex_lock(&w->lock);
            if (strcmp(w->held[i].lease, jobs[i].lease) == 0) { /* still the same attempt */
                if (held == 0)
                    atomic_store(&w->held[i].lost, true);
                if (cancel)
                    atomic_store(w->held[i].cancel, true);
            }
            pthread_mutex_unlock(&w->lock);
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

ft_workers *ft_workers_start(ft_app *app, ft_error *err)
{
    ft_workers *w = calloc(1, sizeof *w);
    if (!w) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    w->app = app;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->beat_wake, NULL);
    for (int i = 0; i < app->cfg.workers && i < FT_MAX_WORKERS; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (a)
            *a = (worker_arg){w, i};
        if (!a || pthread_create(&w->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            ft_fail(err, FT_ENOMEM, NULL, "cannot start worker thread %d", i);
            atomic_store(&app->shutting_down, true);
            ft_workers_stop(w);
            return NULL;
        }
        pthread_mutex_lock(&w->lock);
        w->running[i] = true;
        w->n = i + 1;
        pthread_mutex_unlock(&w->lock);
    }
    if (pthread_create(&w->beat, NULL, heartbeat_main, w) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "cannot start the heartbeat thread");
        atomic_store(&app->shutting_down, true);
        ft_workers_stop(w);
        return NULL;
    }
    w->beat_running = true;
    return w;
}

void ft_workers_wake(ft_workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->wakeups++;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

bool ft_workers_stop(ft_workers *w)
{
    if (!w)
        return true;
    ft_workers_wake(w);
    struct timespec until;
    deadline_in(&until, 9000);
    bool stuck = false;
    for (int i = 0; i < w->n; i++)
        if (w->running[i] && pthread_timedjoin_np(w->threads[i], NULL, &until) != 0)
            stuck = true;
    /* The heartbeat ran on while workers checkpointed; it stops last. */
    pthread_mutex_lock(&w->lock);
    w->beat_stop = true;
    pthread_cond_broadcast(&w->beat_wake);
    pthread_mutex_unlock(&w->lock);
    if (w->beat_running)
        pthread_join(w->beat, NULL);
    if (stuck) {
        /* A worker still loading data or building its cache: hand its job
         * back to the queue ourselves; the process exits right after. */
        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < w->n; i++)
            if (w->held[i].id[0]) {
                ft_error err = {0};
                ft_store_job_requeue(w->app->store, w->held[i].id, w->held[i].lease, &err);
                ft_app_log(w->app, "job_requeued", "job", w->held[i].id, "reason", "shutdown", NULL);
            }
        pthread_mutex_unlock(&w->lock);
        return false; /* threads are left to die with the process, and w with them */
    }
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->beat_wake);
    free(w);
    return true;
}
