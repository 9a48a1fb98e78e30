/* A tiny fork-join thread pool for data-parallel training: run one function
 * on shards 0..n-1, the caller's thread taking shard 0, and wait for all. */
#ifndef FT_POOL_H
#define FT_POOL_H

#include "core/util/error.h"

typedef struct ft_pool ft_pool;

/* A pool of `threads` shards (threads - 1 helper threads are started). */
ft_pool *ft_pool_new(int threads, ft_error *err);
void ft_pool_free(ft_pool *p);
int ft_pool_size(const ft_pool *p);

/* Call fn(ctx, shard) for every shard in parallel and return when all are done. */
void ft_pool_run(ft_pool *p, void (*fn)(void *ctx, int shard), void *ctx);

#endif
