/* Combining: the threads of one process that make the same kind of store
 * call at the same moment share one transaction (see ft_db_combine in
 * store_db.h). Each transaction costs the database a COMMIT and a few
 * round trips whatever it holds, so under load (many workers, short jobs)
 * one transaction for k calls is close to k times cheaper; a call that
 * comes alone runs alone, with no wait added.
 */
#include "server/store/store_db.h"

void ft_db_combiner_init(ft_db_combiner *cb)
{
    pthread_mutex_init(&cb->lock, NULL);
    pthread_cond_init(&cb->done, NULL);
    cb->head = NULL;
    cb->tail = &cb->head;
    cb->running = false;
    cb->batches = 0;
}

void ft_db_combiner_destroy(ft_db_combiner *cb)
{
    pthread_cond_destroy(&cb->done);
    pthread_mutex_destroy(&cb->lock);
}

int ft_db_combine(ft_store *s, ft_db_combiner *cb, ft_db_batch run, void *ctx, ft_error *err)
{
    ft_db_request me = {.ctx = ctx};
    pthread_mutex_lock(&cb->lock);
    *cb->tail = &me;
    cb->tail = &me.next;
    while (!me.done) {
        if (cb->running) {
            pthread_cond_wait(&cb->done, &cb->lock);
            continue;
        }
        /* Lead: take the oldest waiting calls (this one among them unless
         * more than a batch came first, when it waits for the next). */
        ft_db_request *batch[FT_DB_BATCH_MAX];
        int n = 0;
        while (cb->head && n < FT_DB_BATCH_MAX) {
            batch[n++] = cb->head;
            cb->head = cb->head->next;
        }
        if (!cb->head)
            cb->tail = &cb->head;
        cb->running = true;
        cb->batches++;
        pthread_mutex_unlock(&cb->lock);
        run(s, batch, n);
        pthread_mutex_lock(&cb->lock);
        /* A request lives on its caller's stack: once done is set, the
         * caller may return, so nothing touches it after. */
        for (int i = 0; i < n; i++)
            batch[i]->done = true;
        cb->running = false;
        pthread_cond_broadcast(&cb->done);
    }
    pthread_mutex_unlock(&cb->lock);
    if (me.rc < 0)
        *err = me.err;
    return me.rc;
}
