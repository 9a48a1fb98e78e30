#include "server/objects/job_plan.h"

#include <stdlib.h>
#include <string.h>

#include "server/objects/objects.h"

int ft_data_info_from_object(const json_t *obj, ft_data_info *info, ft_error *err)
{
    memset(info, 0, sizeof *info);
    if (ft_shape_from_json(json_object_get(obj, "input_shape"), &info->shape) != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "the stored dataset has no valid input_shape");
    info->rows = (size_t)json_integer_value(json_object_get(obj, "rows"));
    const char *dtype = json_string_value(json_object_get(obj, "dtype"));
    info->xtype = dtype && strcmp(dtype, "uint8") == 0 ? FT_X_U8 : FT_X_F32;
    json_t *classes = json_object_get(obj, "classes");
    if (!json_is_array(classes)) {
        info->kind = FT_TARGET_VALUES;
        info->target_dim = (int)json_integer_value(json_object_get(json_object_get(obj, "targets"), "dim"));
        return info->target_dim > 0 ? 0 : ft_fail(err, FT_EFORMAT, NULL, "the stored dataset has no targets");
    }
    size_t k = json_array_size(classes);
    const char **names = malloc(sizeof *names * (k ? k : 1));
    uint64_t *counts = malloc(sizeof *counts * (k ? k : 1));
    if (!names || !counts) {
        free(names), free(counts);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        json_t *c = json_array_get(classes, i);
        names[i] = json_string_value(json_object_get(c, "name"));
        counts[i] = (uint64_t)json_integer_value(json_object_get(c, "count"));
        if (!names[i]) {
            free(names), free(counts);
            return ft_fail(err, FT_EFORMAT, NULL, "the stored dataset's class %zu has no name", i);
        }
    }
    info->kind = FT_TARGET_CLASSES;
    info->target_dim = (int)k;
    info->class_names = names;
    info->class_counts = counts;
    return 0;
}

/* A referenced dataset's summary; obj owns the strings info points into. */
static int stored_info(ft_app *app, const ft_dataset_ref *ref, const char *param, json_t **obj, ft_data_info *info,
                       ft_error *err)
{
    *obj = ref->id && ft_app_valid_id("ds", ref->id) ? ft_store_dataset_get(app->store, ref->id, err) : NULL;
    if (!*obj)
        return err->code && err->code != FT_ENOTFOUND
                   ? -1
                   : ft_fail(err, FT_ENOTFOUND, param, "no dataset with id '%s'", ref->id ? ref->id : "");
    return ft_data_info_from_object(*obj, info, err);
}

int ft_job_plan_stored(ft_app *app, ft_job_spec *spec, json_t **warnings, ft_error *err)
{
    json_t *obj[3] = {NULL, NULL, NULL};
    ft_data_info info[3] = {{0}};
    ft_model *base = NULL;
    bool val = spec->val_kind == FT_VAL_SET;
    int rc = -1;
    *warnings = NULL;
    if (stored_info(app, &spec->dataset, "dataset", &obj[0], &info[0], err) != 0 ||
        (val && stored_info(app, &spec->val, "validation", &obj[1], &info[1], err) != 0) ||
        (spec->has_test && stored_info(app, &spec->test, "test", &obj[2], &info[2], err) != 0))
        goto done;
    if (spec->base_model &&
        !(base = ft_stored_model_load(app, spec->base_model, FT_STORED_LAYOUT, "base_model", err))) {
        if (!err->code || err->code == FT_ENOTFOUND)
            ft_fail(err, FT_ENOTFOUND, "base_model", "no model with id '%s'", spec->base_model);
        goto done;
    }
    /* The run will use these; the estimate depends on them. */
    spec->train.cache_limit_bytes = app->cfg.cache_limit_bytes;
    spec->train.threads = app->cfg.blas_threads;
    ft_job_budget budget = {.limit = app->cfg.max_job_memory, .val = val ? &info[1] : NULL,
                            .test = spec->has_test ? &info[2] : NULL};
    rc = ft_job_plan(spec, &info[0], base, &budget, warnings, err);
done:
    for (int i = 0; i < 3; i++) {
        ft_data_info_free(&info[i]);
        json_decref(obj[i]);
    }
    ft_model_free(base);
    return rc;
}
