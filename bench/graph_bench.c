/* The graph forward pass on a resnet18-shaped model with random weights:
 * images/s at batch 16 and 32 through the forward-only workspace, with the
 * OpenBLAS core in use. `make graph-bench`; OPENBLAS_NUM_THREADS picks the
 * threads (1 for the comparison with ONNX Runtime and PyTorch at 1 thread). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/resnet_json.h"
#include "core/nn/model.h"

char *openblas_get_corename(void);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int size = argc > 1 ? atoi(argv[1]) : 224, reps = argc > 2 ? atoi(argv[2]) : 3;
    json_t *arch = resnet18_json(size, 1000);
    ft_error err = {0};
    ft_model *m = ft_model_from_json(arch, "", &err);
    json_decref(arch);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_model_init(m, 0, FT_INIT_HE_NORMAL, 0, &rng);
    printf("openblas core: %s, resnet18 %dx%d, %zu parameters\n", openblas_get_corename(), size, size,
           ft_model_num_params(m));
    const int batches[] = {16, 32};
    for (int k = 0; k < 2; k++) {
        int b = batches[k];
        size_t in = (size_t)b * 3 * (size_t)size * (size_t)size;
        float *x = malloc(sizeof *x * in);
        ft_workspace *ws = x ? ft_workspace_new_range(m, 0, ft_model_num_layers(m), b, &err) : NULL;
        if (!ws) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < in; i++)
            x[i] = (float)ft_rng_normal(&rng);
        ft_model_forward(m, ws, x, b, 0, NULL); /* warm-up: first touches of the buffers */
        double t0 = now();
        for (int r = 0; r < reps; r++)
            ft_model_forward(m, ws, x, b, 0, NULL);
        double dt = now() - t0;
        printf("batch %d: %.1f images/s (workspace %.0f MiB)\n", b, (double)(b * reps) / dt,
               (double)ft_workspace_floats_of(ws) * sizeof(float) / 1048576.0);
        ft_workspace_free(ws);
        free(x);
    }
    ft_model_free(m);
    return 0;
}
