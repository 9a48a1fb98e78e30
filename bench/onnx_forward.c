/* finetuned's side of bench/onnx_bench.sh: import an ONNX file with the
 * importer (core/onnx/onnx_import.h) and time the forward-only workspace.
 *
 *   onnx_forward MODEL.onnx BATCH RUNS
 *       the whole network on a [BATCH, C, H, W] input: the best of RUNS timed
 *       runs after one warm-up run (the rule of ort_bench.js and
 *       torch_infer.py too)
 *   onnx_forward --features MODEL.onnx BATCH BATCHES
 *       feature extraction: every layer but the last over BATCHES batches,
 *       as the frozen-prefix cache runs it, with the process's peak RSS
 *   onnx_forward --corename
 *       OpenBLAS's kernel family
 *
 * Each mode prints one JSON line. Threads come from OPENBLAS_NUM_THREADS, as
 * for the other engines: the batch is split over that many threads
 * (core/nn/infer.h), each calling a single-threaded OpenBLAS.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/nn/infer.h"
#include "core/onnx/onnx_import.h"
#include "core/util/fsutil.h"

/* Bigger than any ONNX file of the torchvision families (vgg: 550 MB). */
#define MAX_FILE ((size_t)1 << 30)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Fills x with the fixed pseudo-random sequence ort_bench.js uses, in [-1, 1). */
static void fill(float *x, size_t n)
{
    unsigned long long s = 1;
    for (size_t i = 0; i < n; i++) {
        s = (s * 1103515245ULL + 12345ULL) % 2147483648ULL;
        x[i] = (float)((double)s / 1073741824.0 - 1.0);
    }
}

static ft_model *import_file(const char *path, ft_error *err)
{
    unsigned char *bytes;
    size_t len;
    if (ft_read_file(path, MAX_FILE, &bytes, &len, err) != 0)
        return NULL;
    ft_model *m = ft_onnx_import_bytes(bytes, len, NULL, NULL, err);
    free(bytes);
    return m;
}

/* Runs layers [0, to) of m on `batches` batches of `batch` rows, or (with
 * best set) `batches` timed runs after a warm-up run on one batch. Returns
 * images per second (of the best run, or over all batches), -1 on error. */
static double run(ft_model *m, int to, int batch, int batches, int best, int threads, ft_error *err)
{
    size_t per = ft_shape_size(ft_model_input_shape(m)), n;
    if (ft_mul_size(per, (size_t)batch, &n) != 0) {
        ft_fail(err, FT_EINVAL, "", "batch %d is too large", batch);
        return -1;
    }
    float *x = malloc(n * sizeof *x);
    ft_infer *inf = x ? ft_infer_new(m, 0, to, batch, threads, err) : NULL;
    double rate = -1;
    if (!x)
        ft_fail(err, FT_ENOMEM, "", "out of memory for the input batch");
    if (inf) {
        fill(x, n);
        double fastest = 1e300, t0 = now();
        if (best)
            ft_infer_run(inf, m, x, batch, 0);
        for (int r = 0; r < batches; r++) {
            double t = now();
            ft_infer_run(inf, m, x, batch, 0);
            t = now() - t;
            fastest = t < fastest ? t : fastest;
        }
        rate = best ? batch / fastest : (double)batch * batches / (now() - t0);
    }
    ft_infer_free(inf);
    free(x);
    return rate;
}

static int usage(void)
{
    fprintf(stderr, "usage: onnx_forward MODEL.onnx BATCH RUNS\n"
                    "       onnx_forward --features MODEL.onnx BATCH BATCHES\n"
                    "       onnx_forward --corename\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--corename") == 0) {
        printf("{\"corename\": \"%s\", \"threads\": %d}\n", openblas_get_corename(), openblas_get_num_threads());
        return 0;
    }
    int features = argc == 5 && strcmp(argv[1], "--features") == 0;
    if (argc != 4 + features)
        return usage();
    int batch = atoi(argv[2 + features]), count = atoi(argv[3 + features]);
    if (batch < 1 || batch > 4096 || count < 1 || count > 100000)
        return usage();
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    ft_error err = {0};
    ft_model *m = import_file(argv[1 + features], &err);
    int layers = m ? ft_model_num_layers(m) : 0;
    double rate = m ? run(m, layers - features, batch, count, !features, threads, &err) : -1;
    if (rate < 0) {
        fprintf(stderr, "onnx_forward: %s\n", err.msg);
        ft_model_free(m);
        return 1;
    }
    if (features) {
        ft_layer_info top;
        ft_model_layer_info(m, layers - 2, &top);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"engine\": \"finetuned\", \"batch\": %d, \"images\": %d, \"features\": %zu, "
               "\"images_per_s\": %.3f, \"peak_rss_mb\": %.1f}\n",
               batch, batch * count, ft_shape_size(top.output), rate, (double)ru.ru_maxrss / 1024.0);
    } else {
        printf("{\"engine\": \"finetuned\", \"batch\": %d, \"threads\": %d, \"images_per_s\": %.3f}\n", batch,
               threads, rate);
    }
    ft_model_free(m);
    return 0;
}
