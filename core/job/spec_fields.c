/* Reading one field of a job spec object, and the fields a phase may give
 * again (spec_fields.h). */
#include <stdio.h>
#include <string.h>

#include "core/job/spec_fields.h"
#include "core/train/train.h"
#include "core/util/names.h"

int ft_spec_keys(const json_t *obj, const char *path, const char *const *allowed, ft_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char p[160];
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
            return ft_fail(err, FT_EINVAL, p, "unknown field '%s'", key);
        }
    }
    return 0;
}

void ft_spec_path(char *out, size_t n, const char *path, const char *key)
{
    snprintf(out, n, "%s%s%s", path, *path ? "." : "", key);
}

int ft_spec_int(const json_t *obj, const char *path, const char *key, long long lo, long long hi, long long *out,
                ft_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ft_fail(err, FT_EINVAL, p, "%s must be an integer between %lld and %lld", p, lo, hi);
    *out = json_integer_value(v);
    return 0;
}

int ft_spec_num(const json_t *obj, const char *path, const char *key, double lo, double hi, double *out,
                ft_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, key);
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi))
        return ft_fail(err, FT_EINVAL, p, "%s must be a number between %g and %g", p, lo, hi);
    *out = json_number_value(v);
    return 0;
}

int ft_spec_bool(const json_t *obj, const char *path, const char *key, bool *out, ft_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, key);
    if (!json_is_boolean(v))
        return ft_fail(err, FT_EINVAL, p, "%s must be true or false", p);
    *out = json_is_true(v);
    return 0;
}


int ft_spec_metric(const json_t *obj, const char *path, char *out, size_t n, ft_error *err)
{
    json_t *v = json_object_get(obj, "metric");
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, "metric");
    if (!json_is_string(v) || !ft_train_metric_known(json_string_value(v)))
        return ft_fail(err, FT_EINVAL, p, "%s must be train_ or val_ followed by loss, accuracy, mae or rmse, or val_macro_recall", p);
    snprintf(out, n, "%s", json_string_value(v));
    return 0;
}

/* The layer name of {"trainable_from": ...} is checked against the base
 * model by the plan (ft_model_transfer_layout). */
int ft_spec_freeze(const json_t *v, ft_transfer *t, ft_error *err)
{
    ft_freeze_policy f;
    json_t *from = json_object_get(v, "trainable_from");
    /* "trainable_last" and "trainable_from" take an argument, so they are only valid as objects. */
    if (json_is_string(v) && ft_freeze_parse(json_string_value(v), &f) == 0 && f != FT_FREEZE_TRAINABLE_LAST &&
        f != FT_FREEZE_TRAINABLE_FROM)
        t->freeze = f;
    else if (json_is_object(v) && json_object_size(v) == 1 && from) {
        if (!json_is_string(from) || json_string_length(from) == 0 || json_string_length(from) > FT_NAME_MAX)
            return ft_fail(err, FT_EINVAL, "freeze.trainable_from", "trainable_from must be a layer name");
        t->freeze = FT_FREEZE_TRAINABLE_FROM;
        t->trainable_from = json_string_value(from);
    } else if (json_is_object(v) && json_object_size(v) == 1 &&
               json_is_integer(json_object_get(v, "trainable_last"))) {
        t->freeze = FT_FREEZE_TRAINABLE_LAST;
        json_int_t k = json_integer_value(json_object_get(v, "trainable_last"));
        if (k < 0 || k > 4096)
            return ft_fail(err, FT_EINVAL, "freeze.trainable_last", "trainable_last must be between 0 and the number of kept layers");
        t->trainable_last = (int)k;
    } else {
        return ft_fail(err, FT_EINVAL, "freeze",
                       "freeze must be \"base\", \"none\", {\"trainable_last\": k} or {\"trainable_from\": \"<layer>\"}");
    }
    return 0;
}

#define MAX_OPTIM_KEYS 32

static bool optim_takes(ft_optim_type t, const char *key)
{
    for (const ft_optim_key *k = ft_optim_keys(t); k->name; k++)
        if (strcmp(k->name, key) == 0)
            return true;
    return false;
}

/* "type", then every key some optimiser takes, each once; NULL-terminated. */
static void optim_keys_all(const char **out)
{
    int n = 0;
    out[n++] = "type";
    for (int t = 0; t < FT_OPT_COUNT; t++)
        for (const ft_optim_key *k = ft_optim_keys((ft_optim_type)t); k->name; k++)
            if (ft_names_find(out, n, k->name) < 0 && n < MAX_OPTIM_KEYS - 1)
                out[n++] = k->name;
    out[n] = NULL;
}

/* Keys given that only other optimisers take: "beta1, beta2 and eps apply
 * to adam and adamw, not sgd" (naming every such key and their owners). */
static int foreign_optim_keys(const json_t *v, ft_optim_type t, const char *const *all, ft_error *err)
{
    const char *keys[MAX_OPTIM_KEYS], *owners[FT_OPT_COUNT];
    int nkeys = 0, nowners = 0;
    bool given = false;
    for (const char *const *a = all + 1; *a; a++)
        if (!optim_takes(t, *a)) {
            keys[nkeys++] = *a;
            given |= json_object_get(v, *a) != NULL;
        }
    if (!given)
        return 0;
    for (int o = 0; o < FT_OPT_COUNT; o++) {
        bool owns = false;
        for (int i = 0; i < nkeys && !owns; i++)
            owns = optim_takes((ft_optim_type)o, keys[i]);
        if (owns)
            owners[nowners++] = ft_optim_name((ft_optim_type)o);
    }
    char klist[256], olist[128];
    return ft_fail(err, FT_EINVAL, "optimizer", "%s apply to %s, not %s",
                   ft_names_join(keys, nkeys, NULL, " and ", klist, sizeof klist),
                   ft_names_join(owners, nowners, NULL, " and ", olist, sizeof olist), ft_optim_name(t));
}

/* Every other key at its default. */
int ft_spec_optimizer(const json_t *v, ft_optim_config *o, ft_error *err)
{
    const char *all[MAX_OPTIM_KEYS];
    if (!json_is_object(v))
        return ft_fail(err, FT_EINVAL, "optimizer", "optimizer must be an object such as {\"type\": \"sgd\", \"lr\": 0.01}");
    json_t *type = json_object_get(v, "type");
    ft_optim_type t = o->type;
    if (type && (!json_is_string(type) || ft_optim_parse(json_string_value(type), &t) != 0)) {
        char list[128];
        return ft_fail(err, FT_EINVAL, "optimizer.type", "optimizer.type must be %s",
                       ft_names_join(ft_optim_names, FT_OPT_COUNT, NULL, " or ", list, sizeof list));
    }
    optim_keys_all(all);
    if (ft_spec_keys(v, "optimizer", all, err) != 0)
        return -1;
    ft_optim_defaults(o, t);
    if (foreign_optim_keys(v, t, all, err) != 0)
        return -1;
    for (const ft_optim_key *k = ft_optim_keys(t); k->name; k++) {
        char *field = (char *)o + k->offset;
        if (k->flag ? ft_spec_bool(v, "optimizer", k->name, (bool *)field, err)
                    : ft_spec_num(v, "optimizer", k->name, k->lo, k->hi, (double *)field, err))
            return -1;
    }
    return ft_optim_check(o, "optimizer", err);
}

int ft_spec_augment(const json_t *v, ft_augment *a, ft_error *err)
{
    static const char *const keys[] = {"hflip", "crop", "brightness", "contrast", "views", NULL};
    static const char *const crop_keys[] = {"padding", NULL};
    memset(a, 0, sizeof *a);
    if (json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return ft_fail(err, FT_EINVAL, "augment",
                       "augment must be an object such as {\"hflip\": true, \"crop\": {\"padding\": 4}}, or null");
    if (ft_spec_keys(v, "augment", keys, err) != 0)
        return -1;
    json_t *crop = json_object_get(v, "crop");
    long long padding = 0, views = 0;
    if (crop && !json_is_null(crop) && (!json_is_object(crop) || !json_object_get(crop, "padding")))
        return ft_fail(err, FT_EINVAL, "augment.crop", "augment.crop must be {\"padding\": p} (or null)");
    if ((crop && (ft_spec_keys(crop, "augment.crop", crop_keys, err) != 0 ||
                  ft_spec_int(crop, "augment.crop", "padding", 1, 1024, &padding, err) != 0)) ||
        ft_spec_bool(v, "augment", "hflip", &a->hflip, err) != 0 ||
        ft_spec_num(v, "augment", "brightness", 0, 10, &a->brightness, err) != 0 ||
        ft_spec_num(v, "augment", "contrast", 0, 10, &a->contrast, err) != 0 ||
        ft_spec_int(v, "augment", "views", 0, FT_AUGMENT_MAX_VIEWS, &views, err) != 0)
        return -1;
    a->crop_padding = (int)padding;
    a->views = (int)views;
    if (!json_object_get(v, "views") && ft_augment_active(a)) /* 0 (fresh draws every epoch) only when asked */
        a->views = FT_AUGMENT_DEFAULT_VIEWS;
    return 0;
}

int ft_spec_early_stopping(const json_t *v, ft_train_config *c, ft_error *err)
{
    static const char *const keys[] = {"metric", "patience", "min_delta", "restore_best", NULL};
    if (json_is_null(v))
        return 0;
    if (!json_is_object(v) || ft_spec_keys(v, "early_stopping", keys, err) != 0)
        return err && err->code ? -1 : ft_fail(err, FT_EINVAL, "early_stopping", "early_stopping must be an object or null");
    c->early_stopping = true;
    snprintf(c->es_metric, sizeof c->es_metric, "val_loss");
    c->es_patience = 5;
    c->es_restore_best = true;
    long long patience = c->es_patience;
    if (ft_spec_metric(v, "early_stopping", c->es_metric, sizeof c->es_metric, err) != 0 ||
        ft_spec_int(v, "early_stopping", "patience", 1, 100000, &patience, err) != 0 ||
        ft_spec_num(v, "early_stopping", "min_delta", 0, 1e9, &c->es_min_delta, err) != 0 ||
        ft_spec_bool(v, "early_stopping", "restore_best", &c->es_restore_best, err) != 0)
        return -1;
    c->es_patience = (int)patience;
    return 0;
}
