/* Forward-only runs split over threads by rows. In inference every row's
 * computation is independent of the others' (batchnorm is in its inference
 * form, dropout is off), so T threads each run the whole graph on a slice of
 * the batch with a single-threaded BLAS. On resnet18 that scales nearly
 * linearly, where a T-threaded BLAS on each layer's small products (the 36
 * of a Winograd run, the late layers' 7x7 planes) did not, and the
 * transforms, pools and im2col between them ran on one core.
 *
 * The caller keeps BLAS single-threaded (openblas_set_num_threads(1)) when
 * it asks for more than one thread here, so that the two never multiply.
 * The model's weights must not change while a runner lives: it transforms
 * the convolutions' kernels once, when it is made. */
#ifndef FT_INFER_H
#define FT_INFER_H

#include "core/nn/model.h"

typedef struct ft_infer ft_infer;

/* A runner of layers [from, to) of m (see ft_workspace_new_range) on up to
 * max_batch rows over `threads` threads (1 to 256; one forward-only
 * workspace of ceil(max_batch / threads) rows each, and the layers'
 * prepared weights, shared). */
ft_infer *ft_infer_new(const ft_model *m, int from, int to, int max_batch, int threads, ft_error *err);
void ft_infer_free(ft_infer *r);

/* Floats ft_infer_new's buffers take (SIZE_MAX if out of memory to plan
 * them): job memory estimates. */
size_t ft_infer_floats(const ft_model *m, int from, int to, int max_batch, int threads);

/* Run the layers of m (the runner's, weights unchanged) on batch
 * (<= max_batch) rows of x, each thread taking a
 * contiguous slice; flags as ft_model_forward's, without FT_FWD_TRAIN.
 * Returns the output of layer to - 1, the batch's rows in order, valid
 * until the next run. The same values as one thread's, up to the last
 * bits of the BLAS's sums. */
const float *ft_infer_run(ft_infer *r, ft_model *m, const float *x, int batch, int flags);

#endif
