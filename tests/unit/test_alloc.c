/* No allocation inside the per-step loop: every buffer a training step
 * needs (workspaces, gradients, optimiser state, shard scratch) is allocated
 * when the trainer is made. This binary counts every malloc of the process
 * and checks that none happens between two consecutive steps of an epoch,
 * for each optimiser, with dropout, with 1 and 2 data-parallel shards, and
 * on the frozen-prefix cache path.
 *
 * Counting: in a plain build the test defines malloc and friends itself
 * (they take precedence over the C library's, whose __libc_* entry points
 * do the work); under AddressSanitizer, which owns malloc, it installs the
 * sanitizer's allocation hook instead. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/train/train.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

static atomic_long allocations;

#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizers' allocator interface (libasan exports it; gcc ships
 * no header for it). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
    atomic_fetch_add(&allocations, 1);
}

static void on_free(const volatile void *ptr) { (void)ptr; }

/* ASan's hook also sees the runtime's own bookkeeping when a thread starts,
 * which happens asynchronously after pthread_create. OpenBLAS starts its
 * server thread when its thread count is set, just before this; give it
 * time to come up so that it is not counted in a training step. (The
 * trainer's own shard threads have all run by the end of the first step,
 * and steps are compared from the second one on.) */
static void start_counting(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void __libc_free(void *ptr);

void *malloc(size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_realloc(ptr, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    *out = __libc_memalign(alignment, size);
    return *out ? 0 : 12; /* ENOMEM */
}

void free(void *ptr) { __libc_free(ptr); }

static void start_counting(void) {}
#endif

typedef struct {
    long last;       /* allocations seen at the previous step */
    int last_epoch;  /* its epoch */
    int steps_checked;
    long worst;      /* most allocations between two steps of one epoch */
} step_watch;

static int on_step(void *ctx, ft_trainer *tr, const ft_progress *p)
{
    (void)tr;
    step_watch *w = ctx;
    long now = atomic_load(&allocations);
    /* Between two steps of the same epoch: only training happened. (Epoch
     * ends compute metrics and call hooks, which may allocate.) */
    if (p->epoch == w->last_epoch && p->step > 1) {
        if (now - w->last > w->worst)
            w->worst = now - w->last;
        w->steps_checked++;
    }
    w->last = now;
    w->last_epoch = p->epoch;
    return 0;
}

static const char *CNN =
    "{\"input\": [1, 8, 8], \"layers\": ["
    "{\"name\": \"conv1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"type\": \"maxpool2d\", \"size\": 2},"
    "{\"name\": \"conv2\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"tanh\"},"
    "{\"type\": \"avgpool2d\", \"size\": 2}, {\"type\": \"flatten\"},"
    "{\"name\": \"hidden\", \"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
    "{\"type\": \"dropout\", \"rate\": 0.2},"
    "{\"name\": \"out\", \"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

/* An activation that keeps its pre-activation for backward (gelu), in a
 * convolution and in a dense layer. */
static const char *GELU_CNN =
    "{\"input\": [1, 8, 8], \"layers\": ["
    "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"gelu\"},"
    "{\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"flatten\"},"
    "{\"type\": \"dense\", \"units\": 16, \"activation\": \"gelu\"},"
    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

/* Trains `m` for 3 epochs and checks that no step allocated. */
static void expect_no_step_allocations(const char *what, ft_model *m, ft_optim_type opt, int threads, bool cached)
{
    ft_dataset *train = blobs_dataset(200, 3, 1), *val = blobs_dataset(40, 3, 2);
    ft_preproc pp;
    ft_preproc_init(&pp, train);
    ft_error err = {0};
    ft_train_config c = {.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = 3, .seed = 4,
                         .optim = {.type = opt, .lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4,
                                   .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
                         .threads = threads, .cache_limit_bytes = cached ? 1 << 20 : 0};
    ft_trainer *tr = ft_trainer_new(m, train, val, &pp, &c, &err);
    CHECKF(tr != NULL, "%s: %s", what, err.msg);
    step_watch w = {.last_epoch = -1};
    ft_train_hooks hooks = {.ctx = &w, .on_step = on_step};
    if (tr) {
        CHECKF(ft_trainer_run(tr, &hooks, &err) == 0, "%s: %s", what, err.msg);
        CHECKF(ft_trainer_cached(tr) == cached, "%s: feature cache %d", what, ft_trainer_cached(tr));
    }
    CHECKF(w.steps_checked >= 3 * 11, "%s: only %d steps checked", what, w.steps_checked);
    CHECKF(w.worst == 0, "%s: %ld allocations inside one training step", what, w.worst);
    ft_trainer_free(tr);
    ft_dataset_free(train);
    ft_dataset_free(val);
}

static void test_scratch_training_steps_do_not_allocate(void)
{
    static const ft_optim_type opts[] = {FT_OPT_SGD, FT_OPT_ADAM, FT_OPT_ADAMW};
    static const char *const names[] = {"sgd", "adam", "adamw"};
    for (int o = 0; o < 3; o++)
        for (int threads = 1; threads <= 2; threads++) {
            char what[64];
            snprintf(what, sizeof what, "%s, %d shard(s)", names[o], threads);
            ft_model *m = init_model(CNN, 77);
            expect_no_step_allocations(what, m, opts[o], threads, false);
            ft_model_free(m);
        }
}

static void test_gelu_training_steps_do_not_allocate(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        ft_model *m = init_model(GELU_CNN, 78);
        expect_no_step_allocations(threads == 1 ? "gelu, 1 shard" : "gelu, 2 shards", m, FT_OPT_ADAM, threads, false);
        ft_model_free(m);
    }
}

/* Fine-tuning: frozen convolutions (cached, then not), a new head. */
static void test_transfer_training_steps_do_not_allocate(void)
{
    for (int cached = 0; cached <= 1; cached++) {
        ft_model *base = init_model(CNN, 77);
        ft_rng rng;
        ft_rng_seed(&rng, 12);
        ft_transfer t = {.drop_layers = 3, .freeze = FT_FREEZE_BASE, .nhidden = 1, .hidden = {12},
                         .hidden_activation = FT_ACT_RELU, .output = FT_ACT_SOFTMAX, .units = 3,
                         .init = FT_INIT_HE_NORMAL};
        ft_error err = {0};
        ft_model *m = ft_model_transfer(base, &t, &rng, NULL, &err);
        CHECKF(m != NULL, "transfer: %s", err.msg);
        if (m)
            expect_no_step_allocations(cached ? "transfer, cached" : "transfer, not cached", m, FT_OPT_SGD, 2,
                                       cached);
        ft_model_free(m);
        ft_model_free(base);
    }
}

int main(void)
{
    /* As `finetuned train` and `serve` run it: the shards are the
     * parallelism. (Left multi-threaded, OpenBLAS would start its threads
     * lazily, mid-step, and under ASan their start-up allocates.) */
    openblas_set_num_threads(1);
    start_counting();
    RUN(test_scratch_training_steps_do_not_allocate);
    RUN(test_gelu_training_steps_do_not_allocate);
    RUN(test_transfer_training_steps_do_not_allocate);
    return TEST_SUMMARY();
}
