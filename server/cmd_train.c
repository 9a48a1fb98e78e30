/* finetuned train SPEC.json [--out MODEL.safetensors] [--threads N]
 *
 * Runs one job locally with the same core as the service. Datasets and the
 * base model may be local paths. stdout: one JSON line per epoch, then a
 * summary line; events and warnings go to stderr. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/fsutil.h"
#include "core/job/spec.h"
#include "server/cli.h"
#include "server/cli_util.h"

static ft_dataset *load_dataset(void *ctx, const ft_dataset_ref *ref, ft_error *err)
{
    (void)ctx;
    if (ref->id)
        return ft_fail(err, FT_EINVAL, NULL, "dataset id %s needs the service; give a local path", ref->id), NULL;
    return ft_cli_load_dataset(ref->path, ref->images, ref->labels, err);
}

static ft_model *load_model(void *ctx, const char *ref, ft_error *err)
{
    (void)ctx;
    return ft_model_load(ref, err);
}

static void print_json_line(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

static int on_epoch(void *ctx, ft_trainer *tr, const ft_epoch_metrics *m)
{
    (void)ctx, (void)tr;
    print_json_line(ft_epoch_metrics_json(m));
    return 0;
}

static void on_event(void *ctx, const char *level, const char *message, const json_t *data)
{
    (void)ctx, (void)data;
    fprintf(stderr, "%s: %s\n", level, message);
}

static int usage(void)
{
    fprintf(stderr, "usage: finetuned train SPEC.json [--out MODEL.safetensors] [--threads N]\n");
    return 2;
}

int ft_cmd_train(int argc, char **argv)
{
    const char *spec_path = NULL, *out_path = "model.safetensors";
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (argv[i][0] == '-' || spec_path)
            return usage();
        else
            spec_path = argv[i];
    }
    if (!spec_path || threads < 0)
        return usage();
    /* Threads are data-parallel shards of each batch; every shard calls a
     * single-threaded OpenBLAS (small per-layer sgemms scale badly across
     * BLAS threads). */
    openblas_set_num_threads(1);

    ft_error err = {0};
    json_error_t jerr;
    json_t *json = json_load_file(spec_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json) {
        fprintf(stderr, "finetuned train: %s:%d:%d: %s\n", spec_path, jerr.line, jerr.column, jerr.text);
        return 1;
    }
    ft_job_spec spec;
    ft_job_result res = {0};
    int status = 1;
    if (ft_job_spec_parse(json, &spec, &err) != 0) {
        json_decref(json);
        ft_cli_print_error("finetuned train", &err);
        return 1;
    }
    json_decref(json);
    if (threads > 0)
        spec.train.threads = threads;
    ft_job_env env = {
        .load_dataset = load_dataset,
        .load_model = load_model,
        .hooks = {.on_epoch = on_epoch, .on_event = on_event},
    };
    if (ft_job_run(&spec, &env, &res, &err) != 0) {
        ft_cli_print_error("finetuned train", &err);
        goto done;
    }
    size_t i;
    json_t *w;
    json_array_foreach(res.warnings, i, w)
        fprintf(stderr, "%s: %s\n", json_string_value(json_object_get(w, "level")),
                json_string_value(json_object_get(w, "message")));
    if (ft_model_save(res.model, out_path, &err) != 0) {
        ft_cli_print_error("finetuned train", &err);
        goto done;
    }
    json_t *summary = json_pack("{s:b, s:f, s:i, s:b, s:b, s:s, s:O, s:O}", "summary", 1, "train_seconds",
                                res.train_seconds, "epochs", res.epochs_done, "stopped_early",
                                res.stopped_early, "feature_cache", res.cached, "model", out_path,
                                "spec", spec.json, "warnings", res.warnings);
    if (res.test)
        json_object_set(summary, "test", res.test);
    print_json_line(summary);
    status = 0;
done:
    ft_job_result_free(&res);
    ft_job_spec_free(&spec);
    return status;
}
