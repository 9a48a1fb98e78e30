#include "core/util/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct ft_pool {
    int n;                    /* shards, including the caller's */
    int started;              /* helper threads running */
    pthread_t *threads;       /* n - 1 helpers */
    pthread_mutex_t lock;
    pthread_cond_t go;        /* a new run (generation) or quit */
    pthread_cond_t finished;  /* pending reached 0 */
    unsigned long generation; /* bumped per run */
    int pending;              /* helpers still working on this run */
    bool quit;
    void (*fn)(void *ctx, int shard);
    void *ctx;
};

typedef struct {
    ft_pool *p;
    int shard;
} helper_arg;

static void *helper(void *arg)
{
    helper_arg a = *(helper_arg *)arg;
    free(arg);
    ft_pool *p = a.p;
    pthread_mutex_lock(&p->lock);
    /* Runs start at generation 1: a helper that starts late must not miss one. */
    unsigned long seen = 0;
    for (;;) {
        while (p->generation == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        p->fn(p->ctx, a.shard);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->finished);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

ft_pool *ft_pool_new(int threads, ft_error *err)
{
    if (threads < 1 || threads > 256) {
        ft_fail(err, FT_EINVAL, "threads", "threads must be between 1 and 256");
        return NULL;
    }
    ft_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc((size_t)threads, sizeof *p->threads))) {
        free(p);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    p->n = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->finished, NULL);
    for (int i = 1; i < threads; i++) {
        helper_arg *a = malloc(sizeof *a);
        if (a)
            *a = (helper_arg){p, i};
        if (!a || pthread_create(&p->threads[i - 1], NULL, helper, a) != 0) {
            free(a);
            ft_pool_free(p);
            ft_fail(err, FT_ENOMEM, NULL, "cannot start training thread %d", i);
            return NULL;
        }
        p->started++;
    }
    return p;
}

int ft_pool_size(const ft_pool *p) { return p->n; }

void ft_pool_run(ft_pool *p, void (*fn)(void *ctx, int shard), void *ctx)
{
    if (p->n > 1) {
        pthread_mutex_lock(&p->lock);
        p->fn = fn;
        p->ctx = ctx;
        p->pending = p->n - 1;
        p->generation++;
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->lock);
    }
    fn(ctx, 0);
    if (p->n > 1) {
        pthread_mutex_lock(&p->lock);
        while (p->pending > 0)
            pthread_cond_wait(&p->finished, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}

void ft_pool_free(ft_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->finished);
    free(p->threads);
    free(p);
}
