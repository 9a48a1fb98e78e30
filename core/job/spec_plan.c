/* The up-front plan of a job: everything that can be checked before any data
 * is loaded (shapes, ranges, head/loss/target fit), the defaults that depend
 * on the dataset, and warnings that explain known traps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/image_preproc.h"
#include "core/nn/loss.h"
#include "core/job/spec.h"

int ft_data_info_from(const ft_dataset *ds, ft_data_info *info, ft_error *err)
{
    memset(info, 0, sizeof *info);
    info->rows = ft_dataset_rows(ds);
    info->shape = ft_dataset_shape(ds);
    info->xtype = ft_dataset_xtype(ds);
    info->kind = ft_dataset_target_kind(ds);
    info->target_dim = ft_dataset_target_dim(ds);
    if (info->kind != FT_TARGET_CLASSES)
        return 0;
    const char **names = malloc(sizeof *names * (size_t)info->target_dim);
    uint64_t *counts = malloc(sizeof *counts * (size_t)info->target_dim);
    if (!names || !counts) {
        free(names), free(counts);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    for (int k = 0; k < info->target_dim; k++)
        names[k] = ft_dataset_class_name(ds, k);
    ft_dataset_class_counts(ds, counts);
    info->class_names = names;
    info->class_counts = counts;
    return 0;
}

void ft_data_info_free(ft_data_info *info)
{
    free((void *)info->class_names);
    free((void *)info->class_counts);
    memset(info, 0, sizeof *info);
}

/* The training rows and classes left after the spec's selector and split. */
typedef struct {
    size_t rows;
    size_t selected;        /* rows the selector takes, before the split */
    int classes;            /* or targets per row */
    const char *names[64];  /* first class names, for the class-set comparison */
    int nnames;
} effective_data;

int ft_dataset_ref_check(const ft_dataset_ref *ref, const ft_data_info *d, const char *param, size_t *rows,
                         int *classes, const char **names, int max_names, int *nnames, ft_error *err)
{
    const ft_selector *sel = &ref->sel;
    char p[64];
    *rows = d->rows;
    *classes = d->target_dim;
    *nnames = 0;
    if (!ref->has_selector) {
        for (int k = 0; d->kind == FT_TARGET_CLASSES && k < d->target_dim && *nnames < max_names; k++)
            names[(*nnames)++] = d->class_names[k];
        return 0;
    }
    if (d->kind != FT_TARGET_CLASSES) {
        snprintf(p, sizeof p, "%s.classes", param);
        return ft_fail(err, FT_EINVAL, p, "a selector needs a dataset with class labels");
    }
    size_t n = sel->nclasses ? sel->nclasses : (size_t)d->target_dim;
    *rows = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (int)i;
        snprintf(p, sizeof p, "%s.classes[%zu]", param, i);
        if (sel->class_ids) {
            c = sel->class_ids[i];
            if (c >= d->target_dim)
                return ft_fail(err, FT_EINVAL, p, "class %d does not exist (the dataset has classes 0..%d)", c,
                               d->target_dim - 1);
        } else if (sel->class_names) {
            c = -1;
            for (int k = 0; k < d->target_dim && c < 0; k++)
                if (strcmp(d->class_names[k], sel->class_names[i]) == 0)
                    c = k;
            if (c < 0)
                return ft_fail(err, FT_EINVAL, p, "class '%s' does not exist in the dataset", sel->class_names[i]);
        }
        uint64_t have = d->class_counts[c];
        if (sel->per_class >= 0 && (uint64_t)sel->per_class > have) {
            snprintf(p, sizeof p, "%s.per_class", param);
            return ft_fail(err, FT_EINVAL, p, "class '%s' has %llu rows, fewer than per_class %ld",
                           d->class_names[c], (unsigned long long)have, sel->per_class);
        }
        *rows += sel->per_class >= 0 ? (size_t)sel->per_class : (size_t)have;
        if (*nnames < max_names)
            names[(*nnames)++] = d->class_names[c];
    }
    *classes = (int)n;
    return 0;
}

static int effective(const ft_job_spec *s, const ft_data_info *d, effective_data *e, ft_error *err)
{
    memset(e, 0, sizeof *e);
    if (ft_dataset_ref_check(&s->dataset, d, "dataset", &e->rows, &e->classes, e->names, 64, &e->nnames, err) != 0)
        return -1;
    e->selected = e->rows;
    if (s->val_kind == FT_VAL_SPLIT) {
        size_t held = (size_t)((double)e->rows * s->val_split + 0.5);
        if (held < 1)
            held = 1;
        if (held >= e->rows)
            return ft_fail(err, FT_EINVAL, "validation.split", "a split of %g leaves no training rows out of %zu",
                           s->val_split, e->rows);
        e->rows -= held;
    }
    if (e->rows == 0)
        return ft_fail(err, FT_EINVAL, "dataset", "the training set is empty");
    return 0;
}

/* The loss an output activation pairs with. */
static ft_loss_type loss_for(ft_activation out)
{
    return out == FT_ACT_SOFTMAX ? FT_LOSS_CROSS_ENTROPY : out == FT_ACT_SIGMOID ? FT_LOSS_BINARY_CROSS_ENTROPY
                                                                               : FT_LOSS_MSE;
}

/* Head defaults that follow from the data: output activation, units, loss. */
static void resolve_defaults(ft_job_spec *s, const ft_data_info *d, const effective_data *e)
{
    ft_transfer *t = &s->transfer;
    bool classes = d->kind == FT_TARGET_CLASSES;
    if (!s->output_given)
        t->output = classes ? FT_ACT_SOFTMAX : FT_ACT_LINEAR;
    if (t->units == 0)
        t->units = t->output == FT_ACT_SIGMOID && classes && e->classes == 2 ? 1 : e->classes;
    if (!s->loss_given)
        s->train.loss = loss_for(t->output);
}

bool ft_job_resizes_images(const ft_model *base, ft_shape in, const ft_data_info *d)
{
    const json_t *pp = base ? ft_model_preprocessing(base) : NULL;
    ft_shape s = d->shape;
    return pp && ft_image_preproc_is_image(pp) && in.rank == 3 && d->xtype == FT_X_U8 && s.rank == 3 &&
           (s.dim[0] == 1 || s.dim[0] == 3) && !ft_shape_equal(s, in);
}

static void shape_text(ft_shape s, char *out, size_t n)
{
    snprintf(out, n, s.rank == 1 ? "[%d]" : "[%d, %d, %d]", s.dim[0], s.dim[1], s.dim[2]);
}

/* The set's rows are the model's input, or images its base resizes to it. */
static int check_input(const ft_job_spec *s, const ft_model *m, const ft_model *base, const ft_data_info *d,
                       const char *set, ft_error *err)
{
    ft_shape in = ft_model_input_shape(m);
    if (ft_shape_equal(in, d->shape) || ft_job_resizes_images(base, in, d))
        return 0;
    char want[64], got[64];
    shape_text(in, want, sizeof want);
    shape_text(d->shape, got, sizeof got);
    bool scratch = s->base_model == NULL;
    return ft_fail(err, FT_EINVAL, scratch && strcmp(set, "dataset") == 0 ? "architecture.input" : set,
                   "the %s rows are %s but the %s expects %s", strcmp(set, "dataset") == 0 ? "dataset's" : set, got,
                   scratch ? "architecture" : "base model", want);
}

static int check_fit(const ft_job_spec *s, const ft_model *m, const ft_model *base, const ft_data_info *d,
                     const effective_data *e, ft_error *err)
{
    bool scratch = s->base_model == NULL;
    if (check_input(s, m, base, d, "dataset", err) != 0)
        return -1;
    ft_loss_type loss = s->train.loss;
    ft_activation out = ft_model_output_activation(m);
    const char *out_param = scratch ? "architecture" : "head.output";
    if (!ft_loss_accepts(loss, out))
        return ft_fail(err, FT_EINVAL, s->loss_given ? "loss" : out_param,
                       "%s does not fit a %s output: cross_entropy pairs with softmax, binary_cross_entropy with sigmoid, mse/mae/huber with linear",
                       ft_loss_name(loss), ft_activation_name(out));
    int units = (int)ft_shape_size(ft_model_output_shape(m));
    bool classes = d->kind == FT_TARGET_CLASSES;
    const char *up = scratch ? "architecture" : "head.units";
    if (loss == FT_LOSS_CROSS_ENTROPY || (loss == FT_LOSS_BINARY_CROSS_ENTROPY && classes)) {
        if (!classes)
            return ft_fail(err, FT_EINVAL, "loss", "%s needs class labels; this dataset has numeric targets",
                           ft_loss_name(loss));
        bool ok = units == e->classes || (loss == FT_LOSS_BINARY_CROSS_ENTROPY && units == 1 && e->classes == 2);
        if (!ok)
            return ft_fail(err, FT_EINVAL, up, "the output has %d units but the training data has %d classes",
                           units, e->classes);
    } else {
        if (classes)
            return ft_fail(err, FT_EINVAL, "loss", "%s is a regression loss but the dataset has class labels",
                           ft_loss_name(loss));
        if (units != e->classes)
            return ft_fail(err, FT_EINVAL, up, "the output has %d units but the dataset has %d targets per row",
                           units, e->classes);
    }
    return 0;
}

/* class_weight, label_smoothing and the plateau metric against the data and the loss. */
static int check_training_options(const ft_job_spec *s, const ft_data_info *d, const effective_data *e, ft_error *err)
{
    bool classes = d->kind == FT_TARGET_CLASSES;
    if (s->train.label_smoothing > 0 && s->train.loss != FT_LOSS_CROSS_ENTROPY)
        return ft_fail(err, FT_EINVAL, "label_smoothing", "label_smoothing applies to cross_entropy, not %s",
                       ft_loss_name(s->train.loss));
    const char *metric = s->train.schedule.metric;
    bool accuracy = strstr(metric, "accuracy") || strstr(metric, "recall");
    bool errors = strstr(metric, "mae") || strstr(metric, "rmse");
    if (s->train.schedule.type == FT_SCHED_PLATEAU && (classes ? errors : accuracy))
        return ft_fail(err, FT_EINVAL, "lr_schedule.metric", "%s does not apply to a dataset with %s", metric,
                       classes ? "class labels (use loss, accuracy or val_macro_recall)" : "numeric targets (use loss, mae or rmse)");
    if (!s->class_weight)
        return 0;
    if (!classes)
        return ft_fail(err, FT_EINVAL, "class_weight", "class_weight needs a dataset with class labels; this one has numeric targets");
    /* the names of the training classes, after the selector */
    const char **names = malloc(sizeof *names * (size_t)e->classes);
    float *w = malloc(sizeof *w * (size_t)e->classes);
    size_t rows;
    int k, n, rc = -1;
    if (!names || !w)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    else if (ft_dataset_ref_check(&s->dataset, d, "dataset", &rows, &k, names, e->classes, &n, err) == 0)
        rc = ft_class_weights(s->class_weight, names, NULL, n, w, err);
    free(names);
    free(w);
    return rc;
}

static void warn(json_t *list, const char *level, const char *code, const char *param, const char *msg)
{
    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "level", level, "code", code,
                                          "param", param, "message", msg));
}

/* Say how a base model's preprocessing brings the dataset's images to its input. */
static void note_resize(const ft_model *base, ft_shape in, const ft_data_info *d, json_t *list)
{
    ft_image_preproc ip;
    ft_error ignored = {0};
    if (ft_image_preproc_from_json(ft_model_preprocessing(base), &ip, &ignored) != 0)
        return;
    char got[64], want[64], how[128], msg[400];
    shape_text(d->shape, got, sizeof got);
    shape_text(in, want, sizeof want);
    if (ft_image_preproc_has_geometry(&ip) && ip.resize)
        snprintf(how, sizeof how, "resized to %d on the shorter side, then center-cropped to %dx%d", ip.resize,
                 in.dim[1], in.dim[2]);
    else if (ft_image_preproc_has_geometry(&ip))
        snprintf(how, sizeof how, "center-cropped to %dx%d (covering first)", in.dim[1], in.dim[2]);
    else
        snprintf(how, sizeof how, "resized to %dx%d", in.dim[1], in.dim[2]);
    snprintf(msg, sizeof msg,
             "the dataset's %s images are brought to the base model's input %s by its preprocessing: %s, as predict "
             "does with a photo",
             got, want, how);
    warn(list, "info", "images_resized", "dataset", msg);
}

/* True if the base model was trained for a class set other than `e`'s. */
static bool other_classes(const ft_model *base, const effective_data *e)
{
    const json_t *bc = ft_model_classes(base);
    if (!bc || e->nnames == 0)
        return true;
    if ((int)json_array_size(bc) != e->nnames)
        return true;
    for (int i = 0; i < e->nnames; i++)
        if (strcmp(json_string_value(json_array_get(bc, (size_t)i)), e->names[i]) != 0)
            return true;
    return false;
}

static void collect_warnings(const ft_job_spec *s, const ft_model *m, const ft_model *base, int kept,
                             const effective_data *e, json_t *list)
{
    char msg[600];
    int n = ft_model_num_layers(m);
    /* New dense layers below the output that start at zero. */
    int first_new = base ? kept : 0, zero_hidden = 0;
    char names[200] = "";
    for (int i = first_new; i < n - 1; i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        if (li.has_params) {
            zero_hidden++;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", zero_hidden > 1 ? ", " : "", li.name);
        }
    }
    if (s->transfer.init == FT_INIT_ZEROS && zero_hidden > 0) {
        snprintf(msg, sizeof msg,
                 "init \"zeros\" on new hidden layer%s %s: every unit of a layer starts identical, computes the same output "
                 "and receives the same gradient (zero, through ReLU), so the units can never become different and the "
                 "layer cannot learn. Training will stay near chance. Use he_normal (ReLU) or xavier_uniform.",
                 zero_hidden > 1 ? "s" : "", names);
        warn(list, "warning", "zeros_init_hidden", "init", msg);
    }
    double lr = s->train.optim.lr;
    if (lr < 1e-6 || lr > 1) {
        snprintf(msg, sizeof msg,
                 "learning rate %g is outside the usual range [1e-6, 1]: %s", lr,
                 lr > 1 ? "updates this large usually make the loss diverge." : "updates this small barely move the weights.");
        warn(list, "warning", "learning_rate_range", "optimizer.lr", msg);
    }
    size_t trainable = ft_model_num_params(m) - ft_model_trainable_offset(m);
    if ((double)trainable > 1000.0 * (double)e->rows) {
        snprintf(msg, sizeof msg,
                 "%zu trainable parameters for %zu training rows: the model can memorise the data rather than learn from it. "
                 "Freeze more layers, use a smaller head, or add data.",
                 trainable, e->rows);
        warn(list, "warning", "few_rows_per_parameter", "dataset", msg);
    }
    if (s->train.batch_size > (int)e->rows) {
        snprintf(msg, sizeof msg, "batch_size %d is larger than the %zu training rows: every step sees the whole set.",
                 s->train.batch_size, e->rows);
        warn(list, "warning", "batch_larger_than_dataset", "batch_size", msg);
    }
    if (!base || kept < 1)
        return;
    ft_layer_info top;
    ft_model_layer_info(base, kept - 1, &top);
    int base_n = ft_model_num_layers(base);
    if (kept == base_n && ft_activation_probabilities(top.activation)) {
        snprintf(msg, sizeof msg,
                 "drop_layers is 0: the base model's %s output layer '%s' stays as a hidden layer under the new head; "
                 "its outputs are the source task's class probabilities. Usually drop_layers is at least 1.",
                 ft_activation_name(top.activation), top.name);
        warn(list, "warning", "keeps_output_layer", "drop_layers", msg);
        return;
    }
    /* The kept top layer is a hidden dense layer that fed the old output. */
    bool last_hidden = top.type == FT_LAYER_DENSE && kept == base_n - 1;
    if (last_hidden && other_classes(base, e)) {
        snprintf(msg, sizeof msg,
                 "The kept layer '%s' was the base model's last hidden layer: its features were shaped to separate the "
                 "source classes and transfer worst to new ones. Try drop_layers=2 to replace it with a new layer "
                 "trained on your data.",
                 top.name);
        warn(list, "info", "kept_last_hidden_layer", "drop_layers", msg);
    }
}

/* The optimiser's type and every key it takes, in its descriptor's order. */
static json_t *optim_json(const ft_optim_config *o)
{
    json_t *opt = json_pack("{s:s}", "type", ft_optim_name(o->type));
    for (const ft_optim_key *k = ft_optim_keys(o->type); opt && k->name; k++) {
        const char *field = (const char *)o + k->offset;
        json_object_set_new(opt, k->name, k->flag ? json_boolean(*(const bool *)field) : json_real(*(const double *)field));
    }
    return opt;
}

/* A freeze as JSON into j; {"trainable_from": name} stays as given (and
 * trainable_from points into it). */
static void echo_freeze(json_t *j, ft_freeze_policy f, int trainable_last)
{
    if (f == FT_FREEZE_TRAINABLE_LAST)
        json_object_set_new(j, "freeze", json_pack("{s:i}", "trainable_last", trainable_last));
    else if (f != FT_FREEZE_TRAINABLE_FROM)
        json_object_set_new(j, "freeze", json_string(ft_freeze_name(f)));
}

/* The optimiser, epochs, early stopping and schedule of c into j. */
static void echo_training(json_t *j, const ft_train_config *c)
{
    json_object_set_new(j, "optimizer", optim_json(&c->optim));
    json_object_set_new(j, "epochs", json_integer(c->epochs));
    json_object_set_new(j, "early_stopping",
                        c->early_stopping ? json_pack("{s:s, s:i, s:f, s:b}", "metric", c->es_metric, "patience",
                                                      c->es_patience, "min_delta", c->es_min_delta,
                                                      "restore_best", c->es_restore_best)
                                          : json_null());
    json_object_set_new(j, "lr_schedule", ft_sched_json(&c->schedule));
    json_object_set_new(j, "augment", ft_augment_active(&c->augment) ? ft_augment_json(&c->augment) : json_null());
}

/* Write the resolved values back into the echoed spec. With phases, each
 * phase carries its freeze and epochs, and the top level neither. */
static void echo_defaults(ft_job_spec *s)
{
    json_t *j = s->json;
    const ft_transfer *t = &s->transfer;
    const ft_train_config *c = &s->train;
    if (s->base_model) {
        if (!t->cut_after)
            json_object_set_new(j, "drop_layers", json_integer(t->drop_layers));
        if (!s->nphases)
            echo_freeze(j, t->freeze, t->trainable_last);
        json_t *hidden = json_array();
        for (int i = 0; i < t->nhidden; i++)
            json_array_append_new(hidden, json_integer(t->hidden[i]));
        json_object_set_new(j, "head", json_pack("{s:o, s:s, s:f, s:s, s:i}", "hidden", hidden, "activation",
                                                 ft_activation_name(t->hidden_activation), "dropout", t->dropout,
                                                 "output", ft_activation_name(t->output), "units", t->units));
    }
    json_object_set_new(j, "loss", json_string(ft_loss_name(c->loss)));
    if (c->loss == FT_LOSS_HUBER)
        json_object_set_new(j, "huber_delta", json_real(c->huber_delta));
    if (t->init == FT_INIT_NORMAL)
        json_object_set_new(j, "init", json_pack("{s:s, s:f}", "type", "normal", "std", t->init_std));
    else
        json_object_set_new(j, "init", json_string(ft_init_name(t->init)));
    echo_training(j, c);
    if (s->nphases)
        json_object_del(j, "epochs");
    for (int k = 0; k < s->nphases; k++) {
        json_t *p = json_array_get(json_object_get(j, "phases"), (size_t)k);
        if (s->base_model)
            echo_freeze(p, s->phases[k].freeze, s->phases[k].trainable_last);
        echo_training(p, &s->phases[k].train);
    }
    json_object_set_new(j, "batch_size", json_integer(c->batch_size));
    json_object_set_new(j, "seed", json_integer((json_int_t)c->seed));
    if (!json_object_get(j, "class_weight"))
        json_object_set_new(j, "class_weight", json_null());
    json_object_set_new(j, "label_smoothing", json_real(c->label_smoothing));
    json_object_set_new(j, "grad_clip_norm", c->grad_clip_norm > 0 ? json_real(c->grad_clip_norm) : json_null());
    if (!json_object_get(j, "validation"))
        json_object_set_new(j, "validation", json_null());
    if (!json_object_get(j, "test"))
        json_object_set_new(j, "test", json_null());
    json_object_set_new(j, "strict", json_boolean(s->strict));
    json_object_set_new(j, "preprocessing", json_pack("{s:b}", "standardize", s->standardize));
    if (!json_object_get(j, "metadata"))
        json_object_set_new(j, "metadata", json_object());
}

ft_model *ft_job_build_model(const ft_job_spec *s, const ft_transfer *t, const ft_model *base, int *kept,
                             ft_error *err)
{
    ft_rng rng;
    ft_rng_seed(&rng, s->train.seed ^ 0x1417f00dULL);
    if (base)
        return ft_model_transfer(base, t, &rng, kept, err);
    ft_model *m = ft_model_from_json(s->architecture, "architecture", err);
    if (m)
        ft_model_init(m, 0, s->transfer.init, s->transfer.init_std, &rng);
    *kept = 0;
    return m;
}

static void human(size_t bytes, char *out, size_t n)
{
    if (bytes >= (size_t)1 << 30)
        snprintf(out, n, "%.1f GiB", (double)bytes / (1 << 30));
    else
        snprintf(out, n, "%.1f MiB", (double)bytes / (1 << 20));
}

/* Estimate the job's memory into budget->estimate and refuse it past the limit. */
static int check_memory(const ft_job_spec *s, const ft_model *m, const ft_model *base, const ft_data_info *train,
                        const effective_data *e, ft_job_budget *b, ft_error *err)
{
    size_t data = ft_job_data_bytes(s, train, e->selected, b->val, b->test);
    ft_data_info resized = *train;
    resized.shape = ft_model_input_shape(m);
    if (ft_job_resizes_images(base, resized.shape, train)) { /* job.c's resized copies of every set */
        size_t rows = e->selected + (b->val ? b->val->rows : 0) + (b->test ? b->test->rows : 0);
        size_t copy = ft_data_info_bytes(&resized, rows);
        data = data > SIZE_MAX - copy ? SIZE_MAX : data + copy;
    }
    size_t val_rows = s->val_kind == FT_VAL_SPLIT ? e->selected - e->rows : b->val ? b->val->rows : 0;
    ft_job_shape shape = {m, base, &s->train, e->rows, val_rows, data, b->val || b->test || s->val_kind == FT_VAL_SPLIT};
    ft_job_memory *est = &b->estimate;
    ft_job_memory_estimate(&shape, est);
    /* with phases, the largest: each phase has its model (what trains) and optimiser */
    for (int k = 0; k < s->nphases; k++) {
        ft_transfer t;
        ft_train_config c;
        ft_error ignored = {0};
        int kept;
        ft_job_phase_config(s, k, &t, &c);
        ft_model *mk = k > 0 && base ? ft_model_transfer_layout(base, &t, &kept, &ignored) : NULL;
        ft_job_shape phase = shape;
        ft_job_memory pe;
        phase.model = mk ? mk : m;
        phase.train = &c;
        ft_job_memory_estimate(&phase, &pe);
        if (k == 0 || pe.total > est->total)
            *est = pe;
        ft_model_free(mk);
    }
    if (!b->limit || est->total <= b->limit)
        return 0;
    char t[32], w[32], g[32], o[32], a[32], c[32], d[32], l[32];
    human(est->total, t, sizeof t), human(est->weights, w, sizeof w), human(est->gradients, g, sizeof g);
    human(est->optimizer, o, sizeof o), human(est->activations, a, sizeof a), human(est->cache, c, sizeof c);
    human(est->data, d, sizeof d), human(b->limit, l, sizeof l);
    /* Point at what to shrink: the batch, the data, or the model. */
    const char *param = est->activations >= est->total / 2 ? "batch_size"
                        : est->data >= est->total / 2  ? "dataset"
                        : base                         ? "head"
                                                       : "architecture";
    return ft_fail(err, FT_ETOOBIG, param,
                   "the job needs an estimated %s of memory (weights %s, gradients %s, optimizer state %s, "
                   "activations %s at batch_size %d, feature cache %s, data %s), over the %s budget per job",
                   t, w, g, o, a, s->train.batch_size, c, d, l);
}

int ft_job_plan(ft_job_spec *s, const ft_data_info *train, const ft_model *base, ft_job_budget *budget,
                ft_model **model, json_t **warnings, ft_error *err)
{
    *warnings = NULL;
    if (model)
        *model = NULL;
    effective_data e;
    if (effective(s, train, &e, err) != 0)
        return -1;
    if (s->train.early_stopping && strncmp(s->train.es_metric, "val_", 4) == 0 && s->val_kind == FT_VAL_NONE)
        return ft_fail(err, FT_EINVAL, "early_stopping.metric", "%s needs a validation set (add \"validation\")",
                       s->train.es_metric);
    if (s->train.schedule.type == FT_SCHED_PLATEAU && strncmp(s->train.schedule.metric, "val_", 4) == 0 &&
        s->val_kind == FT_VAL_NONE)
        return ft_fail(err, FT_EINVAL, "lr_schedule.metric", "%s needs a validation set (add \"validation\")",
                       s->train.schedule.metric);
    if (base)
        resolve_defaults(s, train, &e);
    /* One model serves every check below: the one the run trains when the
     * caller asks for it, else a layout, so a submit allocates nothing the
     * size of the model. */
    int kept = 0;
    if (ft_job_plan_phases(s, base, err) != 0)
        return -1;
    ft_model *m = model  ? ft_job_build_model(s, &s->transfer, base, &kept, err)
                  : base ? ft_model_transfer_layout(base, &s->transfer, &kept, err)
                         : ft_model_layout_from_json(s->architecture, "architecture", err);
    if (!m)
        return -1;
    /* From scratch the architecture's last activation picks the loss. */
    if (!base && !s->loss_given)
        s->train.loss = loss_for(ft_model_output_activation(m));
    int rc = check_fit(s, m, base, train, &e, err);
    if (rc == 0)
        rc = ft_job_plan_augment(s, ft_model_input_shape(m), err);
    if (rc == 0)
        rc = check_training_options(s, train, &e, err);
    if (rc == 0 && budget && budget->val)
        rc = check_input(s, m, base, budget->val, "validation", err);
    if (rc == 0 && budget && budget->test)
        rc = check_input(s, m, base, budget->test, "test", err);
    if (rc == 0 && budget)
        rc = check_memory(s, m, base, train, &e, budget, err);
    json_t *list = json_array();
    if (rc == 0)
        collect_warnings(s, m, base, kept, &e, list);
    if (rc == 0 && ft_job_resizes_images(base, ft_model_input_shape(m), train))
        note_resize(base, ft_model_input_shape(m), train, list);
    if (rc == 0 && s->strict) {
        size_t i;
        json_t *w;
        json_array_foreach(list, i, w) {
            if (strcmp(json_string_value(json_object_get(w, "level")), "warning") == 0) {
                rc = ft_fail(err, FT_EINVAL, json_string_value(json_object_get(w, "param")), "%s (strict mode)",
                             json_string_value(json_object_get(w, "message")));
                break;
            }
        }
    }
    if (rc != 0) {
        ft_model_free(m);
        json_decref(list);
        return -1;
    }
    if (model)
        *model = m;
    else
        ft_model_free(m);
    echo_defaults(s);
    *warnings = list;
    return 0;
}
