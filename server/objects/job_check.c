/* The checks of a job spec before it is queued (job_check.h). */
#include "server/objects/job_check.h"

#include <string.h>

#include "server/objects/job_plan.h"

/* A spec's dataset references must name stored datasets: paths are only for
 * `finetuned train` (the service never opens a path a client chose). */
static int ref_is_id(const ft_dataset_ref *ref, const char *param, ft_error *err, const char **code)
{
    if (ref->id)
        return 0;
    *code = "invalid_value";
    return ft_fail(err, FT_EINVAL, param,
                   "%s must be a dataset id (ds_...) or an object with \"id\"; local paths only work with `finetuned train`",
                   param);
}

/* Look up a referenced dataset (unknown is a 422, not a 404: the id is in
 * the body). */
static json_t *referenced_dataset(ft_app *app, const ft_dataset_ref *ref, const char *param, ft_error *err,
                                  const char **code)
{
    json_t *ds = ft_app_valid_id("ds", ref->id) ? ft_store_dataset_get(app->store, ref->id, err) : NULL;
    if (!ds && (!err->code || err->code == FT_ENOTFOUND)) {
        *code = "unknown_dataset";
        ft_fail(err, FT_EINVAL, param, "no dataset with id '%s'", ref->id);
    }
    return ds;
}

/* The validation or test set must select what the training set selects. */
static int compatible(const ft_dataset_ref *ref, const json_t *ds, const ft_data_info *train_info, int train_classes,
                      const char *param, ft_error *err, const char **code)
{
    ft_data_info info;
    size_t rows;
    int classes, nnames;
    const char *names[1];
    if (ft_data_info_from_summary(ds, &info, err) != 0)
        return -1;
    int rc = ft_dataset_ref_check(ref, &info, param, &rows, &classes, names, 1, &nnames, err);
    /* Images of other sizes are for the plan to judge: a base model with
     * image preprocessing resizes every set to its input. */
    bool images = info.xtype == FT_X_U8 && train_info->xtype == FT_X_U8 && info.shape.rank == 3 &&
                  train_info->shape.rank == 3;
    bool same_shape = (images || ft_shape_equal(info.shape, train_info->shape)) && info.kind == train_info->kind;
    ft_data_info_free(&info);
    if (rc != 0)
        return -1;
    if (!same_shape || classes != train_classes) {
        *code = "incompatible_dataset";
        return ft_fail(err, FT_EINVAL, param, "the %s set must have the training set's row shape and %d %s (it has %d)",
                       param, train_classes, train_info->kind == FT_TARGET_CLASSES ? "classes" : "targets", classes);
    }
    return 0;
}

/* The plan's refusals: an over-budget job and unknown base model are named
 * as such; the rest are invalid values of the field. */
static const char *plan_error_code(const ft_error *err)
{
    if (err->code == FT_ETOOBIG)
        return "job_too_large";
    if (err->code == FT_ENOTFOUND && strcmp(err->param, "base_model") == 0)
        return "unknown_model";
    return NULL;
}

int ft_job_check_stored(ft_app *app, const json_t *body, ft_job_spec *spec, json_t **warnings, ft_error *err,
                        const char **code)
{
    ft_data_info info = {0};
    json_t *train_ds = NULL, *val_ds = NULL, *test_ds = NULL;
    *code = NULL;
    *warnings = NULL;
    if (ft_job_spec_parse(body, spec, err) != 0)
        return -1;
    int rc = -1;
    /* Cheap checks first (references, selectors, set compatibility); the
     * plan builds only a layout and estimates memory from shapes. */
    if (ref_is_id(&spec->dataset, "dataset", err, code) != 0 ||
        (spec->val_kind == FT_VAL_SET && ref_is_id(&spec->val, "validation", err, code) != 0) ||
        (spec->has_test && ref_is_id(&spec->test, "test", err, code) != 0))
        goto done;
    if (!(train_ds = referenced_dataset(app, &spec->dataset, "dataset", err, code)) ||
        (spec->val_kind == FT_VAL_SET && !(val_ds = referenced_dataset(app, &spec->val, "validation", err, code))) ||
        (spec->has_test && !(test_ds = referenced_dataset(app, &spec->test, "test", err, code))))
        goto done;
    size_t rows;
    int classes, nnames;
    const char *names[1];
    if (ft_data_info_from_summary(train_ds, &info, err) != 0 ||
        ft_dataset_ref_check(&spec->dataset, &info, "dataset", &rows, &classes, names, 1, &nnames, err) != 0)
        goto done;
    if ((val_ds && compatible(&spec->val, val_ds, &info, classes, "validation", err, code) != 0) ||
        (test_ds && compatible(&spec->test, test_ds, &info, classes, "test", err, code) != 0))
        goto done;
    if (ft_job_plan_stored(app, spec, warnings, err) != 0) {
        *code = plan_error_code(err);
        goto done;
    }
    rc = 0;
done:
    ft_data_info_free(&info);
    json_decref(train_ds);
    json_decref(val_ds);
    json_decref(test_ds);
    return rc;
}
