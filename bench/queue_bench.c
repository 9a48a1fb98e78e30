/* The queue's own throughput, without training: N empty jobs queued, then
 * T threads each claim a job and complete it (ft_store_job_claim +
 * ft_store_job_succeed, the two calls a worker makes per job; calls that
 * threads make at once share a transaction, as in the service), until none
 * is left. Prints one JSON line: jobs per second, how many jobs were
 * claimed more than once (must be 0) and how many calls failed and were
 * retried.
 *
 * usage: queue_bench TARGET MIGRATIONS_DIR THREADS JOBS
 *   TARGET: an SQLite file (created) or a PostgreSQL keyword string/URI
 * bench/queue_bench.sh runs it for 1, 4 and 16 threads on both stores. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/store/store.h"

typedef struct {
    ft_store *s;              /* the store under test */
    int jobs;                 /* queued at the start */
    atomic_int done;          /* jobs completed */
    atomic_int *claims;       /* per job: times claimed */
    atomic_int errors;        /* failed calls, retried as a worker would */
    char first_error[sizeof(((ft_error *)0)->msg)];
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *p)
{
    bench *b = p;
    char name[32];
    snprintf(name, sizeof name, "bench-%lu", (unsigned long)pthread_self() % 100000);
    while (atomic_load(&b->done) < b->jobs) {
        ft_error err = {0};
        ft_claim c = {0};
        int got = ft_store_job_claim(b->s, name, 600, &c, &err);
        if (got == 1) {
            int index = atoi(c.id + 2); /* "j_000123" */
            if (index >= 0 && index < b->jobs)
                atomic_fetch_add(&b->claims[index], 1);
            /* A failed success (SQLite's "database is locked" past its busy
             * timeout) changed nothing: try again, as the lease still holds. */
            int held;
            while ((held = ft_store_job_succeed(b->s, c.id, c.lease, NULL, NULL, &err)) < 0)
                if (atomic_fetch_add(&b->errors, 1) == 0)
                    snprintf(b->first_error, sizeof b->first_error, "%s", err.msg);
            atomic_fetch_add(&b->done, held == 1);
        } else if (got < 0 && atomic_fetch_add(&b->errors, 1) == 0) {
            snprintf(b->first_error, sizeof b->first_error, "%s", err.msg);
        }
        /* got == 0: every runnable row was locked by another claimer at
         * that instant (SKIP LOCKED); just ask again. */
        ft_claim_free(&c);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s TARGET MIGRATIONS_DIR THREADS JOBS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[3]), jobs = atoi(argv[4]);
    if (threads < 1 || threads > 256 || jobs < 1) {
        fprintf(stderr, "queue_bench: THREADS must be 1..256 and JOBS positive\n");
        return 2;
    }
    ft_error err = {0};
    bench b = {.jobs = jobs, .claims = calloc((size_t)jobs, sizeof(atomic_int))};
    if (!b.claims || !(b.s = ft_store_open(argv[1], argv[2], &err))) {
        fprintf(stderr, "queue_bench: %s\n", b.claims ? err.msg : "out of memory");
        return 1;
    }
    for (int i = 0; i < jobs; i++) {
        char id[32];
        snprintf(id, sizeof id, "j_%06d", i);
        json_t *o = json_pack("{ss s{ss}}", "id", id, "spec", "dataset", "ds_bench");
        json_t *existing = NULL;
        int rc = ft_store_job_insert(b.s, o, NULL, NULL, &existing, &err);
        json_decref(o);
        if (rc != 0) {
            fprintf(stderr, "queue_bench: insert: %s\n", err.msg);
            return 1;
        }
    }
    pthread_t t[256];
    double start = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, &b);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double secs = now_s() - start;
    int twice = 0, never = 0;
    for (int i = 0; i < jobs; i++) {
        twice += atomic_load(&b.claims[i]) > 1;
        never += atomic_load(&b.claims[i]) == 0;
    }
    printf("{\"store\": \"%s\", \"workers\": %d, \"jobs\": %d, \"seconds\": %.3f, \"per_second\": %.1f, "
           "\"claimed_twice\": %d, \"never_claimed\": %d, \"errors\": %d}\n",
           ft_store_shared(b.s) ? "postgres" : "sqlite", threads, jobs, secs, atomic_load(&b.done) / secs, twice,
           never, atomic_load(&b.errors));
    if (b.errors)
        fprintf(stderr, "queue_bench: first error: %s\n", b.first_error);
    ft_store_close(b.s);
    free(b.claims);
    return twice || never ? 1 : 0;
}
