/* finetuned import-onnx MODEL.onnx OUT.safetensors [--preprocess imagenet|JSON]
 * finetuned forward MODEL.safetensors INPUT.f32 OUTPUT.f32 [--batch N]
 * finetuned export MODEL.safetensors OUT.onnx [--format onnx]
 *
 * import-onnx converts an ONNX file to our model file exactly as an upload
 * would and prints the layer and parameter counts as JSON; export does the
 * reverse, as GET /v1/models/{id}/content?format=onnx would. forward runs a
 * model on raw little-endian float32 samples (the input shape, one after the
 * other) and writes the last layer's outputs the same way: what the
 * whole-network tests compare with PyTorch and ONNX Runtime. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/image_preproc.h"
#include "core/nn/infer.h"
#include "core/onnx/onnx_export.h"
#include "core/onnx/onnx_import.h"
#include "core/util/fsutil.h"
#include "server/cli.h"
#include "server/cli_util.h"

/* ONNX files up to this size (ResNet-50 is about 100 MB). */
#define MAX_ONNX_BYTES ((size_t)1 << 31)

int ft_cmd_import_onnx(int argc, char **argv)
{
    const char *preprocess = argc == 5 && strcmp(argv[3], "--preprocess") == 0 ? argv[4] : NULL;
    if (argc != 3 && !preprocess) {
        fprintf(stderr, "usage: finetuned import-onnx MODEL.onnx OUT.safetensors [--preprocess imagenet|JSON]\n");
        return 2;
    }
    ft_error err = {0};
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_model *m = NULL;
    if (ft_read_file(argv[1], MAX_ONNX_BYTES, &buf, &len, &err) == 0)
        m = ft_onnx_import_bytes(buf, len, NULL, NULL, &err);
    free(buf);
    json_t *pp = m && preprocess ? ft_image_preproc_for_input(preprocess, ft_model_input_shape(m), &err) : NULL;
    int rc = m && (!preprocess || (pp && ft_model_set_preprocessing(m, pp, &err) == 0)) ? ft_model_save(m, argv[2], &err)
                                                                                        : -1;
    json_decref(pp);
    if (rc == 0)
        printf("{\"layers\": %d, \"params\": %zu}\n", ft_model_num_layers(m), ft_model_num_params(m));
    else
        ft_cli_print_error("finetuned import-onnx", &err);
    ft_model_free(m);
    return rc == 0 ? 0 : 1;
}

int ft_cmd_export(int argc, char **argv)
{
    const char *format = argc == 5 && strcmp(argv[3], "--format") == 0 ? argv[4] : argc == 3 ? "onnx" : NULL;
    if (!format || strcmp(format, "onnx") != 0) {
        fprintf(stderr, "usage: finetuned export MODEL.safetensors OUT.onnx [--format onnx]%s\n",
                format ? " (onnx is the only format)" : "");
        return 2;
    }
    ft_error err = {0};
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_model *m = ft_model_load(argv[1], &err);
    int rc = m ? ft_onnx_export(m, &buf, &len, &err) : -1;
    if (rc == 0)
        rc = ft_write_file_atomic(argv[2], buf, len, &err);
    if (rc == 0)
        printf("{\"layers\": %d, \"params\": %zu, \"bytes\": %zu}\n", ft_model_num_layers(m), ft_model_num_params(m), len);
    else
        ft_cli_print_error("finetuned export", &err);
    free(buf);
    ft_model_free(m);
    return rc == 0 ? 0 : 1;
}

static size_t shape_count(ft_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= (size_t)s.dim[i];
    return n;
}

/* Run every sample of in (n of them) through m, batch at a time, into out,
 * each batch split over OPENBLAS_NUM_THREADS threads (core/nn/infer.h),
 * each with a single-threaded OpenBLAS. */
static int forward_all(ft_model *m, const float *in, size_t n, int batch, float *out, ft_error *err)
{
    size_t per_in = shape_count(ft_model_input_shape(m)), per_out = shape_count(ft_model_output_shape(m));
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    ft_infer *inf = ft_infer_new(m, 0, ft_model_num_layers(m), batch, threads, err);
    if (!inf)
        return -1;
    for (size_t at = 0; at < n; at += (size_t)batch) {
        int b = n - at < (size_t)batch ? (int)(n - at) : batch;
        const float *y = ft_infer_run(inf, m, in + at * per_in, b, 0);
        memcpy(out + at * per_out, y, (size_t)b * per_out * sizeof *out);
    }
    ft_infer_free(inf);
    return 0;
}

int ft_cmd_forward(int argc, char **argv)
{
    int batch = argc == 6 && strcmp(argv[4], "--batch") == 0 ? atoi(argv[5]) : 8;
    if ((argc != 4 && argc != 6) || batch < 1) {
        fprintf(stderr, "usage: finetuned forward MODEL.safetensors INPUT.f32 OUTPUT.f32 [--batch N]\n");
        return 2;
    }
    ft_error err = {0};
    unsigned char *buf = NULL;
    size_t len = 0, n = 0;
    float *out = NULL;
    ft_model *m = ft_model_load(argv[1], &err);
    int rc = m ? ft_read_file(argv[2], SIZE_MAX, &buf, &len, &err) : -1;
    size_t per_in = m ? shape_count(ft_model_input_shape(m)) * sizeof(float) : 1;
    if (rc == 0 && (len == 0 || len % per_in))
        rc = ft_fail(&err, FT_EINVAL, NULL, "%s: %zu bytes is not a whole number of %zu-byte samples", argv[2], len,
                     per_in);
    if (rc == 0) {
        n = len / per_in;
        out = calloc(n * shape_count(ft_model_output_shape(m)), sizeof *out);
        rc = out ? forward_all(m, (const float *)buf, n, batch, out, &err)
                 : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
    }
    if (rc == 0)
        rc = ft_write_file_atomic(argv[3], out, n * shape_count(ft_model_output_shape(m)) * sizeof *out, &err);
    if (rc != 0)
        ft_cli_print_error("finetuned forward", &err);
    free(out);
    free(buf);
    ft_model_free(m);
    return rc == 0 ? 0 : 1;
}
