/* Connecting to PostgreSQL with backoff, and the listener thread that
 * turns NOTIFY into wake-ups: a job queued in one process wakes the idle
 * workers of every process at once, a job event wakes the event streams of
 * every API process, a cancel reaches the worker running the job within a
 * batch. Notifications are hints, never the only path: the workers and the
 * streams still poll on a bounded timer, so a notification lost with a
 * connection costs latency, not a job.
 */
#include "server/store/postgres/store_pg_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* First wait after a failed connection attempt; doubled up to the cap. */
#define PG_BACKOFF_FIRST_MS 50
#define PG_BACKOFF_MAX_MS 2000
/* How often the listener looks at its stop flag while nothing arrives. */
#define PG_LISTEN_POLL_MS 250
/* How long the listener keeps trying to get its connection back at a time
 * (then it tells its callback and starts over). */
#define PG_LISTEN_PATIENCE_MS 5000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Server notices (CREATE TABLE IF NOT EXISTS says "skipping") are chatter,
 * not errors: errors come back with the results. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

PGconn *ft_pg_connect(const char *conninfo, int patience_ms, const atomic_bool *give_up, ft_error *err)
{
    int64_t deadline = mono_ms() + patience_ms;
    int delay = PG_BACKOFF_FIRST_MS;
    /* The default timeout comes first: a connect_timeout in the conninfo
     * (expanded from dbname) overrides it, and PGCONNECT_TIMEOUT replaces it. */
    const char *keys[] = {"connect_timeout", "dbname", NULL}, *values[] = {PG_CONNECT_TIMEOUT_S, conninfo, NULL};
    int from = getenv("PGCONNECT_TIMEOUT") ? 1 : 0;
    for (;;) {
        PGconn *pg = PQconnectdbParams(keys + from, values + from, 1);
        if (pg && PQstatus(pg) == CONNECTION_OK) {
            PQsetNoticeProcessor(pg, ignore_notice, NULL);
            return pg;
        }
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        PQfinish(pg);
        if (mono_ms() + delay > deadline || atomic_load(give_up)) {
            ft_fail(err, FT_EIO, NULL, "cannot connect to PostgreSQL: %s", msg);
            return NULL;
        }
        sleep_ms(delay);
        delay = delay * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : delay * 2;
    }
}

/* A connection that listens on every topic, or NULL (retried with backoff
 * for a while; the caller checks the stop flag between tries). */
static PGconn *listen_connect(ft_db_backend *b)
{
    ft_error err = {0};
    PGconn *pg = ft_pg_connect(b->conninfo, PG_LISTEN_PATIENCE_MS, &b->listener.stop, &err);
    if (!pg)
        return NULL;
    PGresult *res = PQexec(pg, "LISTEN " FT_TOPIC_QUEUE "; LISTEN " FT_TOPIC_EVENTS "; LISTEN " FT_TOPIC_CANCEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static void *listen_main(void *p)
{
    ft_db_backend *b = p;
    pg_listener *l = &b->listener;
    PGconn *pg = NULL;
    while (!atomic_load(&l->stop)) {
        if (!pg) {
            if (!(pg = listen_connect(b)))
                continue;
            /* Whatever was announced while we were away is lost: let the
             * callback look at everything once. */
            l->cb(l->ctx, NULL, NULL);
        }
        struct pollfd fd = {.fd = PQsocket(pg), .events = POLLIN};
        int n = poll(&fd, 1, PG_LISTEN_POLL_MS);
        if (n < 0 && errno != EINTR)
            n = 1; /* let PQconsumeInput report what is wrong */
        if (n <= 0)
            continue;
        if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        PGnotify *note;
        while ((note = PQnotifies(pg))) {
            l->cb(l->ctx, note->relname, note->extra);
            PQfreemem(note);
        }
    }
    PQfinish(pg);
    return NULL;
}

int ft_pg_listen(ft_db_backend *b, ft_store_notify_fn cb, void *ctx, ft_error *err)
{
    pg_listener *l = &b->listener;
    if (!cb) {
        ft_pg_listen_stop(b);
        return 0;
    }
    if (l->running)
        return ft_fail(err, FT_EINVAL, NULL, "the store already has a listener");
    l->cb = cb;
    l->ctx = ctx;
    atomic_store(&l->stop, false);
    if (pthread_create(&l->thread, NULL, listen_main, b) != 0)
        return ft_fail(err, FT_ENOMEM, NULL, "cannot start the PostgreSQL listener thread");
    l->running = true;
    return 0;
}

void ft_pg_listen_stop(ft_db_backend *b)
{
    pg_listener *l = &b->listener;
    if (!l->running)
        return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    l->running = false;
}
