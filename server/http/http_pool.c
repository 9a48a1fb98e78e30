/* Heavy handlers (routes marked `heavy`: upload parsing, predict, evaluate,
 * job planning) run on a small bounded pool, not on the HTTP threads: their
 * connection is suspended while a pool thread runs the handler, and resumed
 * when the reply is ready (libmicrohttpd then calls on_request again, which
 * queues it). A full pool answers 503 with Retry-After at once, so a burst
 * of costly requests can neither stall /healthz nor queue without bound. */
#include <stdlib.h>

#include "server/http/http_internal.h"

struct ft_http_pool {
    ft_http *http;
    pthread_mutex_t lock;
    pthread_cond_t work;             /* a request was queued, or stopping */
    ft_req **queue;                  /* ring of waiting requests */
    size_t cap, head, count;
    size_t running;                  /* taken by a thread, not yet replied */
    bool stopping;
    pthread_t *threads;
    int nthreads;
};

static void *pool_main(void *arg)
{
    ft_http_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->count && !p->stopping)
            pthread_cond_wait(&p->work, &p->lock);
        if (!p->count)
            break; /* stopping, and nothing left to run */
        ft_req *r = p->queue[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->running++;
        pthread_mutex_unlock(&p->lock);
        ft_run_handler(r);
        /* The request leaves the pool before its reply can reach the
         * client: once a client has its answer, the pool no longer counts
         * it (finetuned_heavy_requests, the 503 threshold). */
        pthread_mutex_lock(&p->lock);
        p->running--;
        pthread_mutex_unlock(&p->lock);
        /* The reply is set: hand the connection back to libmicrohttpd. */
        MHD_resume_connection(r->conn);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

ft_http_pool *ft_http_pool_start(ft_http *h, int nthreads, int queue, ft_error *err)
{
    ft_http_pool *p = calloc(1, sizeof *p);
    if (p) {
        p->threads = calloc((size_t)nthreads, sizeof *p->threads);
        p->queue = calloc((size_t)nthreads + (size_t)queue, sizeof *p->queue);
    }
    if (!p || !p->threads || !p->queue) {
        if (p) {
            free(p->threads);
            free(p->queue);
        }
        free(p);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    p->http = h;
    /* Accepted at most: one request per thread plus `queue` waiting. */
    p->cap = (size_t)nthreads + (size_t)queue;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    for (; p->nthreads < nthreads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) != 0) {
            ft_http_pool_stop(p);
            ft_fail(err, FT_ENOMEM, NULL, "cannot start the request pool threads");
            return NULL;
        }
    return p;
}

bool ft_http_pool_submit(ft_http_pool *p, ft_req *r)
{
    pthread_mutex_lock(&p->lock);
    bool full = p->stopping || p->running + p->count >= p->cap;
    if (!full) {
        /* Suspend before a thread can take it: the thread's resume must
         * come after the suspend. */
        MHD_suspend_connection(r->conn);
        p->queue[(p->head + p->count) % p->cap] = r;
        p->count++;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return !full;
}

int ft_http_heavy_requests(ft_http *h)
{
    ft_http_pool *p = h ? h->pool : NULL;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->lock);
    int n = (int)(p->running + p->count);
    pthread_mutex_unlock(&p->lock);
    return n;
}

void ft_http_pool_stop(ft_http_pool *p)
{
    if (!p)
        return;
    /* Threads finish the queued requests first: each was accepted and its
     * connection waits suspended, and libmicrohttpd must not be stopped
     * with suspended connections. */
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    free(p->threads);
    free(p->queue);
    free(p);
}
