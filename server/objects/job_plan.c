#include "server/objects/job_plan.h"

#include "server/objects/objects.h"

/* A referenced dataset's summary; obj owns the strings info points into. */
static int stored_info(ft_app *app, const ft_dataset_ref *ref, const char *param, json_t **obj, ft_data_info *info,
                       ft_error *err)
{
    *obj = ref->id && ft_app_valid_id("ds", ref->id) ? ft_store_dataset_get(app->store, ref->id, err) : NULL;
    if (!*obj)
        return err->code && err->code != FT_ENOTFOUND
                   ? -1
                   : ft_fail(err, FT_ENOTFOUND, param, "no dataset with id '%s'", ref->id ? ref->id : "");
    return ft_data_info_from_summary(*obj, info, err);
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
    rc = ft_job_plan(spec, &info[0], base, &budget, NULL, warnings, err);
done:
    for (int i = 0; i < 3; i++) {
        ft_data_info_free(&info[i]);
        json_decref(obj[i]);
    }
    ft_model_free(base);
    return rc;
}
