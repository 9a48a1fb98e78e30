/* Job spec parsing: types, ranges and defaults, with field paths in errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job/spec.h"
#include "core/job/spec_fields.h"
#include "core/util/names.h"

#define MAX_SELECTED_CLASSES 4096

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void ft_dataset_ref_free(ft_dataset_ref *r)
{
    free(r->id);
    free(r->path);
    free(r->images);
    free(r->labels);
    free(r->class_ids);
    if (r->class_names)
        for (size_t i = 0; i < r->sel.nclasses; i++)
            free(r->class_names[i]);
    free(r->class_names);
    memset(r, 0, sizeof *r);
}

static int parse_classes(const json_t *a, const char *path, ft_dataset_ref *r, ft_error *err)
{
    char p[160];
    ft_spec_path(p, sizeof p, path, "classes");
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n < 1 || n > MAX_SELECTED_CLASSES)
        return ft_fail(err, FT_EINVAL, p, "%s must be a list of 1 to %d class indices or names", p,
                       MAX_SELECTED_CLASSES);
    bool names = json_is_string(json_array_get(a, 0));
    if (names)
        r->class_names = calloc(n, sizeof *r->class_names);
    else
        r->class_ids = calloc(n, sizeof *r->class_ids);
    if (!r->class_names && !r->class_ids)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    r->sel.nclasses = n;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(a, i);
        char pi[176];
        snprintf(pi, sizeof pi, "%s[%zu]", p, i);
        if (names && json_is_string(c)) {
            if (!(r->class_names[i] = strdup(json_string_value(c))))
                return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        } else if (!names && json_is_integer(c) && json_integer_value(c) >= 0 &&
                   json_integer_value(c) < (1 << 20)) {
            r->class_ids[i] = (int)json_integer_value(c);
        } else {
            return ft_fail(err, FT_EINVAL, pi, "%s: classes must be all indices (>= 0) or all names", pi);
        }
        /* A class selected twice would get two labels for the same rows. */
        for (size_t k = 0; k < i; k++)
            if (names ? strcmp(r->class_names[k], r->class_names[i]) == 0 : r->class_ids[k] == r->class_ids[i])
                return ft_fail(err, FT_EINVAL, pi, "%s repeats %s[%zu]: select each class once", pi, p, k);
    }
    r->sel.class_ids = r->class_ids;
    r->sel.class_names = (const char *const *)r->class_names;
    return 0;
}

/* A dataset reference: "ds_..." / "path", or an object with id | path |
 * images+labels plus an optional selector. */
int ft_dataset_ref_parse(const json_t *v, const char *path, ft_dataset_ref *r, ft_error *err)
{
    static const char *const keys[] = {"id", "path", "images", "labels", "classes", "per_class", "seed", NULL};
    memset(r, 0, sizeof *r);
    r->sel.per_class = -1;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!*s)
            return ft_fail(err, FT_EINVAL, path, "%s must not be empty", path);
        r->id = strncmp(s, "ds_", 3) == 0 ? strdup(s) : NULL;
        r->path = r->id ? NULL : strdup(s);
        return r->id || r->path ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    if (!json_is_object(v))
        return ft_fail(err, FT_EINVAL, path,
                       "%s must be a dataset id, or an object with id (or images and labels) and an optional selector",
                       path);
    if (ft_spec_keys(v, path, keys, err) != 0)
        return -1;
    const char *id = json_string_value(json_object_get(v, "id"));
    const char *file = json_string_value(json_object_get(v, "path"));
    const char *images = json_string_value(json_object_get(v, "images"));
    const char *labels = json_string_value(json_object_get(v, "labels"));
    int sources = (id != NULL) + (file != NULL) + (images != NULL || labels != NULL);
    if (sources != 1 || (images && !labels) || (labels && !images))
        return ft_fail(err, FT_EINVAL, path, "%s needs exactly one of id, path, or images with labels", path);
    if (id && strncmp(id, "ds_", 3) != 0) {
        char p[160];
        ft_spec_path(p, sizeof p, path, "id");
        return ft_fail(err, FT_EINVAL, p, "%s must be a dataset id (ds_...)", p);
    }
    r->id = dup_or_null(id);
    r->path = dup_or_null(file);
    r->images = dup_or_null(images);
    r->labels = dup_or_null(labels);
    json_t *classes = json_object_get(v, "classes");
    if (classes && parse_classes(classes, path, r, err) != 0)
        return -1;
    long long per_class = -1, seed = 0;
    if (ft_spec_int(v, path, "per_class", 1, 1 << 30, &per_class, err) != 0 ||
        ft_spec_int(v, path, "seed", 0, INT64_MAX, &seed, err) != 0)
        return -1;
    r->sel.per_class = (long)per_class;
    r->sel.seed = (uint64_t)seed;
    r->has_selector = classes || per_class >= 0;
    return 0;
}

/* Activations a hidden layer can take besides linear: all but the row-wise (softmax). */
static bool hidden_activation(int a) { return a != FT_ACT_LINEAR && !ft_activation_rowwise((ft_activation)a); }

static int parse_head(json_t *head, ft_job_spec *s, ft_error *err)
{
    static const char *const keys[] = {"hidden", "activation", "dropout", "output", "units", NULL};
    ft_transfer *t = &s->transfer;
    if (!json_is_object(head))
        return ft_fail(err, FT_EINVAL, "head", "head must be an object");
    if (ft_spec_keys(head, "head", keys, err) != 0)
        return -1;
    json_t *hidden = json_object_get(head, "hidden");
    if (hidden) {
        size_t n = json_array_size(hidden);
        if (!json_is_array(hidden) || n > FT_MAX_HIDDEN)
            return ft_fail(err, FT_EINVAL, "head.hidden", "hidden must be a list of at most %d layer sizes", FT_MAX_HIDDEN);
        for (size_t i = 0; i < n; i++) {
            json_t *u = json_array_get(hidden, i);
            if (!json_is_integer(u) || json_integer_value(u) < 1 || json_integer_value(u) > (1 << 20)) {
                char p[48];
                snprintf(p, sizeof p, "head.hidden[%zu]", i);
                return ft_fail(err, FT_EINVAL, p, "%s must be an integer between 1 and %d", p, 1 << 20);
            }
            t->hidden[i] = (int)json_integer_value(u);
        }
        t->nhidden = (int)n;
    }
    json_t *act = json_object_get(head, "activation");
    if (act && (!json_is_string(act) || ft_activation_parse(json_string_value(act), &t->hidden_activation) != 0 ||
                ft_activation_rowwise(t->hidden_activation))) {
        char list[256];
        return ft_fail(err, FT_EINVAL, "head.activation", "head.activation must be %s or linear",
                       ft_names_join(ft_activation_names, FT_ACT_COUNT, hidden_activation, ", ", list, sizeof list));
    }
    json_t *out = json_object_get(head, "output");
    if (out) {
        if (!json_is_string(out) || ft_activation_parse(json_string_value(out), &t->output) != 0 ||
            (t->output != FT_ACT_SOFTMAX && t->output != FT_ACT_SIGMOID && t->output != FT_ACT_LINEAR))
            return ft_fail(err, FT_EINVAL, "head.output", "head.output must be softmax, sigmoid or linear");
        s->output_given = true;
    }
    long long units = 0;
    if (ft_spec_num(head, "head", "dropout", 0, 0.999, &t->dropout, err) != 0 ||
        ft_spec_int(head, "head", "units", 1, 1 << 20, &units, err) != 0)
        return -1;
    t->units = (int)units;
    return 0;
}

static int parse_init(const json_t *v, ft_transfer *t, ft_error *err)
{
    const char *name = json_is_object(v) ? json_string_value(json_object_get(v, "type")) : json_string_value(v);
    if (!name || ft_init_parse(name, &t->init) != 0) {
        char list[256];
        return ft_fail(err, FT_EINVAL, "init", "init must be %s (or {\"type\": \"normal\", \"std\": s})",
                       ft_names_join(ft_init_names, FT_INIT_COUNT, NULL, " or ", list, sizeof list));
    }
    if (json_is_object(v)) {
        static const char *const keys[] = {"type", "std", NULL};
        if (ft_spec_keys(v, "init", keys, err) != 0 || ft_spec_num(v, "init", "std", 0, 100, &t->init_std, err) != 0)
            return -1;
        if (json_object_get(v, "std") && t->init != FT_INIT_NORMAL)
            return ft_fail(err, FT_EINVAL, "init.std", "std only applies to the normal init");
    }
    return 0;
}

static void set_defaults(ft_job_spec *s)
{
    s->transfer.drop_layers = 1;
    s->transfer.freeze = FT_FREEZE_BASE;
    s->transfer.hidden_activation = FT_ACT_RELU;
    s->transfer.output = FT_ACT_SOFTMAX;
    s->transfer.init = FT_INIT_HE_NORMAL;
    s->transfer.init_std = 0.01;
    s->train.loss = FT_LOSS_CROSS_ENTROPY;
    s->train.huber_delta = 1.0;
    ft_optim_defaults(&s->train.optim, FT_OPT_SGD);
    s->train.batch_size = 64;
    s->train.epochs = 10;
    s->train.seed = 42;
    s->train.cache_limit_bytes = (size_t)1 << 30;
}

int ft_job_spec_parse(const json_t *json, ft_job_spec *s, ft_error *err)
{
    static const char *const keys[] = {
        "dataset", "validation", "test", "base_model", "architecture", "drop_layers", "cut_after",
        "freeze", "head", "loss", "huber_delta", "init", "optimizer", "batch_size", "epochs",
        "early_stopping", "seed", "metadata", "strict", "preprocessing", "name", "lr_schedule", "class_weight",
        "label_smoothing", "grad_clip_norm", "phases", "augment",
        "webhook", /* the job's own webhook endpoint: the service checks it (server/webhooks) */
        NULL};
    memset(s, 0, sizeof *s);
    set_defaults(s);
    if (!json_is_object(json))
        return ft_fail(err, FT_EINVAL, "", "the job spec must be a JSON object");
    if (ft_spec_keys(json, "", keys, err) != 0)
        goto fail;
    json_t *v;
    if (!(v = json_object_get(json, "dataset"))) {
        ft_fail(err, FT_EINVAL, "dataset", "dataset is required");
        goto fail;
    }
    if (ft_dataset_ref_parse(v, "dataset", &s->dataset, err) != 0)
        goto fail;
    if ((v = json_object_get(json, "validation")) && !json_is_null(v)) {
        if (json_is_object(v) && json_object_get(v, "split")) {
            static const char *const split_keys[] = {"split", NULL};
            if (ft_spec_keys(v, "validation", split_keys, err) != 0 ||
                ft_spec_num(v, "validation", "split", 1e-6, 0.999, &s->val_split, err) != 0)
                goto fail;
            s->val_kind = FT_VAL_SPLIT;
        } else {
            if (ft_dataset_ref_parse(v, "validation", &s->val, err) != 0)
                goto fail;
            s->val_kind = FT_VAL_SET;
        }
    }
    if ((v = json_object_get(json, "test")) && !json_is_null(v)) {
        if (ft_dataset_ref_parse(v, "test", &s->test, err) != 0)
            goto fail;
        s->has_test = true;
    }
    json_t *base = json_object_get(json, "base_model"), *arch = json_object_get(json, "architecture");
    if ((base && !json_is_null(base)) == (arch && !json_is_null(arch))) {
        ft_fail(err, FT_EINVAL, base ? "architecture" : "base_model",
                "give either base_model (fine-tune) or architecture (train from scratch)");
        goto fail;
    }
    if (base && !json_is_null(base)) {
        if (!json_is_string(base) || !*json_string_value(base)) {
            ft_fail(err, FT_EINVAL, "base_model", "base_model must be a model id (mdl_...)");
            goto fail;
        }
        s->base_model = strdup(json_string_value(base));
    } else {
        s->architecture = arch;
        for (const char *const *k = (const char *const[]){"drop_layers", "cut_after", "freeze", "head", NULL}; *k; k++)
            if (json_object_get(json, *k)) {
                ft_fail(err, FT_EINVAL, *k, "%s applies to fine-tuning a base_model, not to an architecture", *k);
                goto fail;
            }
    }
    long long drop = s->transfer.drop_layers;
    if (ft_spec_int(json, "", "drop_layers", 0, 4096, &drop, err) != 0)
        goto fail;
    s->transfer.drop_layers = (int)drop;
    if ((v = json_object_get(json, "cut_after"))) {
        if (json_object_get(json, "drop_layers")) {
            ft_fail(err, FT_EINVAL, "cut_after", "give drop_layers or cut_after, not both");
            goto fail;
        }
        if (!json_is_string(v)) {
            ft_fail(err, FT_EINVAL, "cut_after", "cut_after must be a layer name");
            goto fail;
        }
        s->transfer.cut_after = json_string_value(v);
    }
    if (((v = json_object_get(json, "freeze")) && ft_spec_freeze(v, &s->transfer, err) != 0) ||
        ((v = json_object_get(json, "head")) && parse_head(v, s, err) != 0) ||
        ((v = json_object_get(json, "init")) && parse_init(v, &s->transfer, err) != 0) ||
        ((v = json_object_get(json, "optimizer")) && ft_spec_optimizer(v, &s->train.optim, err) != 0) ||
        ((v = json_object_get(json, "early_stopping")) && ft_spec_early_stopping(v, &s->train, err) != 0) ||
        ((v = json_object_get(json, "augment")) && ft_spec_augment(v, &s->train.augment, err) != 0))
        goto fail;
    if ((v = json_object_get(json, "loss"))) {
        if (!json_is_string(v) || ft_loss_parse(json_string_value(v), &s->train.loss) != 0) {
            char list[128];
            ft_fail(err, FT_EINVAL, "loss", "loss must be %s",
                    ft_names_join(ft_loss_names, FT_LOSS_COUNT, NULL, " or ", list, sizeof list));
            goto fail;
        }
        s->loss_given = true;
    }
    long long batch = s->train.batch_size, epochs = s->train.epochs, seed = (long long)s->train.seed;
    if (ft_spec_num(json, "", "huber_delta", 1e-9, 1e9, &s->train.huber_delta, err) != 0 ||
        ft_spec_int(json, "", "batch_size", 1, 65536, &batch, err) != 0 ||
        ft_spec_int(json, "", "epochs", 1, 100000, &epochs, err) != 0 ||
        ft_spec_int(json, "", "seed", 0, INT64_MAX, &seed, err) != 0 ||
        ft_spec_bool(json, "", "strict", &s->strict, err) != 0)
        goto fail;
    s->train.batch_size = (int)batch;
    s->train.epochs = (int)epochs;
    s->train.seed = (uint64_t)seed;
    if (ft_job_spec_parse_training(json, s, err) != 0)
        goto fail;
    if ((v = json_object_get(json, "metadata")) && !json_is_object(v)) {
        ft_fail(err, FT_EINVAL, "metadata", "metadata must be an object");
        goto fail;
    }
    if ((v = json_object_get(json, "name")) && !json_is_string(v)) {
        ft_fail(err, FT_EINVAL, "name", "name must be a string");
        goto fail;
    }
    if ((v = json_object_get(json, "preprocessing"))) {
        static const char *const pkeys[] = {"standardize", NULL};
        if (!json_is_object(v) || ft_spec_keys(v, "preprocessing", pkeys, err) != 0 ||
            ft_spec_bool(v, "preprocessing", "standardize", &s->standardize, err) != 0) {
            if (!err || !err->code)
                ft_fail(err, FT_EINVAL, "preprocessing", "preprocessing must be {\"standardize\": bool}");
            goto fail;
        }
    }
    s->json = json_deep_copy(json);
    if (!s->json) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if (s->architecture)
        s->architecture = json_object_get(s->json, "architecture");
    if (s->transfer.cut_after)
        s->transfer.cut_after = json_string_value(json_object_get(s->json, "cut_after"));
    if ((v = json_object_get(s->json, "class_weight")) && !json_is_null(v))
        s->class_weight = v;
    if (s->transfer.trainable_from)
        s->transfer.trainable_from =
            json_string_value(json_object_get(json_object_get(s->json, "freeze"), "trainable_from"));
    if (ft_job_spec_parse_phases(s, err) != 0)
        goto fail;
    return 0;
fail:
    ft_job_spec_free(s);
    return -1;
}

void ft_job_spec_free(ft_job_spec *s)
{
    ft_dataset_ref_free(&s->dataset);
    ft_dataset_ref_free(&s->val);
    ft_dataset_ref_free(&s->test);
    free(s->base_model);
    json_decref(s->json);
    memset(s, 0, sizeof *s);
}
