/* The job spec (core/job/spec_parse.c and spec_plan.c), driven by two tables:
 * every field with a valid value and with its default, as the plan echoes
 * them into the job's spec; and every refusal, with its exact error.param
 * and a piece of its message. Specs are written with ' for " to stay legible.
 *
 * Status classes: every refusal here is FT_EINVAL, which POST /v1/jobs
 * answers 422 invalid_value, except the memory budget's FT_ETOOBIG, answered
 * 422 job_too_large. None is a 400 kind (FT_EFORMAT: a body that is not
 * JSON), which the HTTP layer answers before the spec is parsed. */
#include "core/job/spec.h"
#include "test.h"

/* A from-scratch job and a fine-tuning job on the same 4-feature data. */
#define ARCH "{'input': [4], 'layers': [{'type': 'dense', 'units': 3, 'activation': 'softmax'}]}"
#define ARCH_LINEAR(units) \
    "{'input': [4], 'layers': [{'type': 'dense', 'units': " #units ", 'activation': 'linear'}]}"
#define SCRATCH(extra) "{'dataset': 'ds_x', 'architecture': " ARCH extra "}"
#define TUNE(extra) "{'dataset': 'ds_x', 'base_model': 'mdl_b'" extra "}"
#define PHASES                                                                                                  \
    ", 'validation': {'split': 0.2}, 'optimizer': {'type': 'adam', 'lr': 0.005}, "                          \
    "'lr_schedule': {'type': 'step', 'step_size': 1, 'gamma': 0.5}, 'phases': [{'epochs': 2}, "                 \
    "{'freeze': {'trainable_last': 1}, 'epochs': 3, 'optimizer': {'lr': 5e-5}, 'lr_schedule': 'constant', "    \
    "'early_stopping': {'patience': 2}}]"

/* The data a row plans against. */
typedef enum {
    CLASSES,    /* 3000 rows of [4] floats, classes a, b, c (1000 each) */
    REGRESSION, /* 3000 rows of [4] floats, one numeric target */
    IMAGE,      /* the classes, as [1, 2, 2] images: the base model's [4] input does not fit */
    EMPTY,      /* no rows */
} data_kind;

static const char *const class_names[] = {"a", "b", "c"};
static const uint64_t class_counts[] = {1000, 1000, 1000};
static const uint64_t no_counts[] = {0, 0, 0};

static ft_data_info data_for(data_kind k)
{
    ft_data_info d = {.rows = 3000, .shape = {.rank = 1, .dim = {4}}, .xtype = FT_X_F32,
                      .kind = FT_TARGET_CLASSES, .target_dim = 3, .class_names = class_names,
                      .class_counts = class_counts};
    if (k == REGRESSION) {
        d.kind = FT_TARGET_VALUES;
        d.target_dim = 1;
        d.class_names = NULL;
        d.class_counts = NULL;
    } else if (k == IMAGE) {
        d.shape = (ft_shape){.rank = 3, .dim = {1, 2, 2}};
    } else if (k == EMPTY) {
        d.rows = 0;
        d.class_counts = no_counts;
    }
    return d;
}

static json_t *load(const char *text)
{
    char *s = strdup(text);
    for (char *c = s; *c; c++)
        if (*c == '\'')
            *c = '"';
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &jerr);
    if (!j)
        fprintf(stderr, "bad test JSON (%s): %s\n", jerr.text, s);
    free(s);
    return j;
}

/* The base model of the fine-tuning rows: 4 -> h1 8 -> h2 6 -> out 3. */
static ft_model *base_layout(void)
{
    json_t *arch = load("{'input': [4], 'layers': [{'name': 'h1', 'type': 'dense', 'units': 8, 'activation': 'relu'},"
                        " {'name': 'h2', 'type': 'dense', 'units': 6, 'activation': 'relu'},"
                        " {'name': 'out', 'type': 'dense', 'units': 3, 'activation': 'softmax'}]}");
    ft_error err = {0};
    ft_model *m = ft_model_layout_from_json(arch, "architecture", &err);
    json_decref(arch);
    return m;
}

/* Parse and plan spec_text as POST /v1/jobs does (with a memory limit, 0 for
 * none). On success *spec holds the echoed spec; the caller frees it. */
static int parse_and_plan(const char *spec_text, data_kind data, size_t limit, ft_job_spec *spec, ft_error *err)
{
    json_t *j = load(spec_text);
    int rc = ft_job_spec_parse(j, spec, err);
    json_decref(j);
    if (rc != 0)
        return rc;
    ft_data_info d = data_for(data);
    ft_model *base = spec->base_model ? base_layout() : NULL;
    ft_job_budget budget = {.limit = limit};
    json_t *warnings = NULL;
    rc = ft_job_plan(spec, &d, base, limit ? &budget : NULL, NULL, &warnings, err);
    json_decref(warnings);
    ft_model_free(base);
    if (rc != 0)
        ft_job_spec_free(spec);
    return rc;
}

/* The value at a dotted path ("optimizer.lr", "phases.1.freeze") of obj, or NULL. */
static json_t *at(json_t *obj, const char *path)
{
    char key[64];
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    json_t *v = json_is_array(obj) ? json_array_get(obj, strtoul(key, NULL, 10)) : json_object_get(obj, key);
    return dot && v ? at(v, dot + 1) : v;
}

static const struct {
    const char *spec;
    data_kind data;
    const char *path; /* in the echoed spec */
    const char *echo; /* the value expected there */
} fields[] = {
    /* dataset, validation, test */
    {SCRATCH(""), CLASSES, "dataset", "'ds_x'"},
    {"{'dataset': {'id': 'ds_x', 'classes': ['c', 'a'], 'per_class': 10, 'seed': 3}, 'architecture': "
     "{'input': [4], 'layers': [{'type': 'dense', 'units': 2, 'activation': 'softmax'}]}}",
     CLASSES, "dataset", "{'id': 'ds_x', 'classes': ['c', 'a'], 'per_class': 10, 'seed': 3}"},
    {SCRATCH(""), CLASSES, "validation", "null"},
    {SCRATCH(", 'validation': {'split': 0.25}"), CLASSES, "validation", "{'split': 0.25}"},
    {SCRATCH(", 'validation': 'ds_v'"), CLASSES, "validation", "'ds_v'"},
    {SCRATCH(""), CLASSES, "test", "null"},
    {SCRATCH(", 'test': {'id': 'ds_t', 'classes': [0]}"), CLASSES, "test", "{'id': 'ds_t', 'classes': [0]}"},
    /* base_model / architecture and the transfer fields */
    {SCRATCH(""), CLASSES, "architecture.input", "[4]"},
    {TUNE(""), CLASSES, "base_model", "'mdl_b'"},
    {TUNE(""), CLASSES, "drop_layers", "1"},
    {TUNE(", 'drop_layers': 2"), CLASSES, "drop_layers", "2"},
    {TUNE(", 'cut_after': 'h1'"), CLASSES, "cut_after", "'h1'"},
    {TUNE(""), CLASSES, "freeze", "'base'"},
    {TUNE(", 'freeze': 'none'"), CLASSES, "freeze", "'none'"},
    {TUNE(", 'freeze': {'trainable_last': 1}"), CLASSES, "freeze", "{'trainable_last': 1}"},
    {TUNE(", 'freeze': {'trainable_from': 'h2'}"), CLASSES, "freeze", "{'trainable_from': 'h2'}"},
    {TUNE(""), CLASSES, "head",
     "{'hidden': [], 'activation': 'relu', 'dropout': 0.0, 'output': 'softmax', 'units': 3}"},
    {TUNE(""), REGRESSION, "head",
     "{'hidden': [], 'activation': 'relu', 'dropout': 0.0, 'output': 'linear', 'units': 1}"},
    {TUNE(", 'head': {'hidden': [5, 4], 'activation': 'tanh', 'dropout': 0.5, 'output': 'sigmoid', 'units': 3}"),
     CLASSES, "head", "{'hidden': [5, 4], 'activation': 'tanh', 'dropout': 0.5, 'output': 'sigmoid', 'units': 3}"},
    /* init, loss */
    {SCRATCH(""), CLASSES, "init", "'he_normal'"},
    {SCRATCH(", 'init': 'xavier_uniform'"), CLASSES, "init", "'xavier_uniform'"},
    {SCRATCH(", 'init': {'type': 'normal', 'std': 0.5}"), CLASSES, "init", "{'type': 'normal', 'std': 0.5}"},
    {SCRATCH(""), CLASSES, "loss", "'cross_entropy'"},
    {TUNE(", 'head': {'output': 'sigmoid'}"), CLASSES, "loss", "'binary_cross_entropy'"},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) "}", REGRESSION, "loss", "'mse'"},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'loss': 'mae'}", REGRESSION, "loss", "'mae'"},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'loss': 'huber'}", REGRESSION, "huber_delta", "1.0"},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'loss': 'huber', 'huber_delta': 0.5}", REGRESSION,
     "huber_delta", "0.5"},
    /* optimizer */
    {SCRATCH(""), CLASSES, "optimizer",
     "{'type': 'sgd', 'lr': 0.01, 'momentum': 0.9, 'nesterov': false, 'weight_decay': 0.0}"},
    {SCRATCH(", 'optimizer': {'lr': 0.1, 'momentum': 0.5, 'nesterov': true, 'weight_decay': 0.001}"), CLASSES,
     "optimizer", "{'type': 'sgd', 'lr': 0.1, 'momentum': 0.5, 'nesterov': true, 'weight_decay': 0.001}"},
    {SCRATCH(", 'optimizer': {'type': 'adam'}"), CLASSES, "optimizer",
     "{'type': 'adam', 'lr': 0.001, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'weight_decay': 0.0}"},
    {SCRATCH(", 'optimizer': {'type': 'adamw', 'beta1': 0.8, 'beta2': 0.99, 'eps': 1e-6}"), CLASSES, "optimizer",
     "{'type': 'adamw', 'lr': 0.001, 'beta1': 0.8, 'beta2': 0.99, 'eps': 1e-6, 'weight_decay': 0.01}"},
    /* the loop */
    {SCRATCH(""), CLASSES, "batch_size", "64"},
    {SCRATCH(", 'batch_size': 32"), CLASSES, "batch_size", "32"},
    {SCRATCH(""), CLASSES, "epochs", "10"},
    {SCRATCH(", 'epochs': 3"), CLASSES, "epochs", "3"},
    {SCRATCH(""), CLASSES, "seed", "42"},
    {SCRATCH(", 'seed': 7"), CLASSES, "seed", "7"},
    {SCRATCH(""), CLASSES, "early_stopping", "null"},
    {SCRATCH(", 'validation': {'split': 0.1}, 'early_stopping': {}"), CLASSES, "early_stopping",
     "{'metric': 'val_loss', 'patience': 5, 'min_delta': 0.0, 'restore_best': true}"},
    {SCRATCH(", 'early_stopping': {'metric': 'train_accuracy', 'patience': 2, 'min_delta': 0.5, "
             "'restore_best': false}"),
     CLASSES, "early_stopping",
     "{'metric': 'train_accuracy', 'patience': 2, 'min_delta': 0.5, 'restore_best': false}"},
    /* lr_schedule, class weights, label smoothing, clipping */
    {SCRATCH(""), CLASSES, "lr_schedule", "'constant'"},
    {SCRATCH(", 'lr_schedule': {'type': 'constant'}"), CLASSES, "lr_schedule", "'constant'"},
    {SCRATCH(", 'lr_schedule': {'type': 'step', 'step_size': 2}"), CLASSES, "lr_schedule",
     "{'type': 'step', 'step_size': 2, 'gamma': 0.1}"},
    {SCRATCH(", 'lr_schedule': 'cosine'"), CLASSES, "lr_schedule", "{'type': 'cosine', 'warmup_epochs': 0, 'min_lr': 0.0}"},
    {SCRATCH(", 'lr_schedule': {'type': 'cosine', 'warmup_epochs': 9, 'min_lr': 0.001}"), CLASSES, "lr_schedule",
     "{'type': 'cosine', 'warmup_epochs': 9, 'min_lr': 0.001}"},
    {SCRATCH(", 'validation': {'split': 0.1}, 'lr_schedule': 'reduce_on_plateau'"), CLASSES, "lr_schedule",
     "{'type': 'reduce_on_plateau', 'metric': 'val_loss', 'patience': 10, 'factor': 0.1, 'threshold': 0.0001, "
     "'cooldown': 0, 'min_lr': 0.0}"},
    {SCRATCH(", 'lr_schedule': {'type': 'reduce_on_plateau', 'metric': 'train_accuracy', 'patience': 0, "
             "'factor': 0.5, 'threshold': 0.01, 'cooldown': 2, 'min_lr': 0.001}"),
     CLASSES, "lr_schedule",
     "{'type': 'reduce_on_plateau', 'metric': 'train_accuracy', 'patience': 0, 'factor': 0.5, 'threshold': 0.01, "
     "'cooldown': 2, 'min_lr': 0.001}"},
    {SCRATCH(""), CLASSES, "class_weight", "null"},
    {SCRATCH(", 'class_weight': 'balanced'"), CLASSES, "class_weight", "'balanced'"},
    {SCRATCH(", 'class_weight': {'a': 2.0, '2': 0.5}"), CLASSES, "class_weight", "{'a': 2.0, '2': 0.5}"},
    {"{'dataset': {'id': 'ds_x', 'classes': ['c', 'a']}, 'architecture': "
     "{'input': [4], 'layers': [{'type': 'dense', 'units': 2, 'activation': 'softmax'}]}, 'class_weight': {'c': 3.0}}",
     CLASSES, "class_weight", "{'c': 3.0}"},
    {SCRATCH(""), CLASSES, "label_smoothing", "0.0"},
    {SCRATCH(", 'label_smoothing': 0.1"), CLASSES, "label_smoothing", "0.1"},
    {SCRATCH(""), CLASSES, "grad_clip_norm", "null"},
    {SCRATCH(", 'grad_clip_norm': 1.0"), CLASSES, "grad_clip_norm", "1.0"},
    /* phases: each starts from the top level's optimizer, schedule and early stopping */
    {TUNE(PHASES), CLASSES, "phases.0.freeze", "'base'"},
    {TUNE(PHASES), CLASSES, "phases.0.epochs", "2"},
    {TUNE(PHASES), CLASSES, "phases.0.optimizer", "{'type': 'adam', 'lr': 0.005, 'beta1': 0.9, 'beta2': 0.999, "
     "'eps': 1e-08, 'weight_decay': 0.0}"},
    {TUNE(PHASES), CLASSES, "phases.0.lr_schedule", "{'type': 'step', 'step_size': 1, 'gamma': 0.5}"},
    {TUNE(PHASES), CLASSES, "phases.1.freeze", "{'trainable_last': 1}"},
    {TUNE(PHASES), CLASSES, "phases.1.epochs", "3"},
    {TUNE(PHASES), CLASSES, "phases.1.optimizer.type", "'adam'"},
    {TUNE(PHASES), CLASSES, "phases.1.optimizer.lr", "5e-05"},
    {TUNE(PHASES), CLASSES, "phases.1.lr_schedule", "'constant'"},
    {TUNE(PHASES), CLASSES, "phases.1.early_stopping.patience", "2"},
    {TUNE(", 'phases': [{'freeze': {'trainable_from': 'h2'}, 'epochs': 1}]"), CLASSES, "phases.0.freeze",
     "{'trainable_from': 'h2'}"},
    {SCRATCH(", 'phases': [{'epochs': 1}, {'epochs': 4}]"), CLASSES, "phases.1.epochs", "4"},
    /* the rest */
    {SCRATCH(""), CLASSES, "strict", "false"},
    {SCRATCH(", 'strict': true"), CLASSES, "strict", "true"},
    {SCRATCH(""), CLASSES, "preprocessing", "{'standardize': false}"},
    {SCRATCH(", 'preprocessing': {'standardize': true}"), CLASSES, "preprocessing", "{'standardize': true}"},
    {SCRATCH(""), CLASSES, "metadata", "{}"},
    {SCRATCH(", 'metadata': {'team': 'x'}"), CLASSES, "metadata", "{'team': 'x'}"},
    {SCRATCH(", 'name': 'run 1'"), CLASSES, "name", "'run 1'"},
};

static void test_every_field_echoes_its_value_or_default(void)
{
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        ft_job_spec spec;
        ft_error err = {0};
        int rc = parse_and_plan(fields[i].spec, fields[i].data, 0, &spec, &err);
        CHECKF(rc == 0, "row %zu (%s): %s: %s", i, fields[i].path, err.param, err.msg);
        if (rc != 0)
            continue;
        json_t *want = load(fields[i].echo), *got = at(spec.json, fields[i].path);
        char *got_s = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        CHECKF(want && got && json_equal(want, got), "row %zu: %s is %s, want %s", i, fields[i].path,
               got_s ? got_s : "(absent)", fields[i].echo);
        free(got_s);
        json_decref(want);
        ft_job_spec_free(&spec);
    }
}

static const struct {
    const char *spec;
    data_kind data;
    size_t limit;      /* the memory budget per job, or 0 */
    const char *param; /* err.param, exactly */
    const char *msg;   /* a piece of err.msg */
    ft_errcode code;   /* FT_EINVAL: 422 invalid_value; FT_ETOOBIG: 422 job_too_large */
} errors[] = {
    /* the object and its keys */
    {"[]", CLASSES, 0, "", "must be a JSON object", FT_EINVAL},
    {SCRATCH(", 'bogus': 1"), CLASSES, 0, "bogus", "unknown field 'bogus'", FT_EINVAL},
    {"{'architecture': " ARCH "}", CLASSES, 0, "dataset", "dataset is required", FT_EINVAL},
    /* dataset references and selectors */
    {"{'dataset': '', 'architecture': " ARCH "}", CLASSES, 0, "dataset", "must not be empty", FT_EINVAL},
    {"{'dataset': 5, 'architecture': " ARCH "}", CLASSES, 0, "dataset", "must be a dataset id, or an object",
     FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'bad': 1}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.bad",
     "unknown field 'bad'", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'path': 'p'}, 'architecture': " ARCH "}", CLASSES, 0, "dataset",
     "needs exactly one of id, path, or images with labels", FT_EINVAL},
    {"{'dataset': {'images': 'i'}, 'architecture': " ARCH "}", CLASSES, 0, "dataset",
     "needs exactly one of id, path, or images with labels", FT_EINVAL},
    {"{'dataset': {'id': 'x'}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.id", "must be a dataset id (ds_...)",
     FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': []}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.classes",
     "must be a list of 1 to 4096 class indices or names", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': [0, 'a']}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.classes[1]",
     "classes must be all indices (>= 0) or all names", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': [-1]}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.classes[0]",
     "classes must be all indices (>= 0) or all names", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': [1, 1]}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.classes[1]",
     "repeats dataset.classes[0]", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'per_class': 0}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.per_class",
     "must be an integer between 1 and", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'seed': -1}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.seed",
     "must be an integer between 0 and", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': [5]}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.classes[0]",
     "class 5 does not exist (the dataset has classes 0..2)", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': ['zz']}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.classes[0]",
     "class 'zz' does not exist in the dataset", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'per_class': 2000}, 'architecture': " ARCH "}", CLASSES, 0, "dataset.per_class",
     "class 'a' has 1000 rows, fewer than per_class 2000", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'per_class': 5}, 'architecture': " ARCH_LINEAR(1) "}", REGRESSION, 0,
     "dataset.classes", "a selector needs a dataset with class labels", FT_EINVAL},
    {SCRATCH(""), EMPTY, 0, "dataset", "the training set is empty", FT_EINVAL},
    /* validation and test */
    {SCRATCH(", 'validation': {'split': 0}"), CLASSES, 0, "validation.split", "must be a number between", FT_EINVAL},
    {SCRATCH(", 'validation': {'split': 0.1, 'x': 1}"), CLASSES, 0, "validation.x", "unknown field 'x'", FT_EINVAL},
    {SCRATCH(", 'validation': 5"), CLASSES, 0, "validation", "must be a dataset id, or an object", FT_EINVAL},
    {SCRATCH(", 'validation': {'split': 0.9999}"), CLASSES, 0, "validation.split", "must be a number between",
     FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': [0], 'per_class': 1}, 'architecture': "
     "{'input': [4], 'layers': [{'type': 'dense', 'units': 1, 'activation': 'softmax'}]}, "
     "'validation': {'split': 0.5}}",
     CLASSES, 0, "validation.split", "leaves no training rows out of 1", FT_EINVAL},
    {SCRATCH(", 'test': ''"), CLASSES, 0, "test", "must not be empty", FT_EINVAL},
    {SCRATCH(", 'test': {'id': 'ds_t', 'seed': 'x'}"), CLASSES, 0, "test.seed", "must be an integer", FT_EINVAL},
    /* base_model, architecture, the transfer fields */
    {"{'dataset': 'ds_x'}", CLASSES, 0, "base_model", "give either base_model (fine-tune) or architecture",
     FT_EINVAL},
    {TUNE(", 'architecture': " ARCH), CLASSES, 0, "architecture", "give either base_model", FT_EINVAL},
    {"{'dataset': 'ds_x', 'base_model': ''}", CLASSES, 0, "base_model", "must be a model id (mdl_...)", FT_EINVAL},
    {SCRATCH(", 'drop_layers': 1"), CLASSES, 0, "drop_layers", "drop_layers applies to fine-tuning a base_model",
     FT_EINVAL},
    {SCRATCH(", 'head': {}"), CLASSES, 0, "head", "head applies to fine-tuning a base_model", FT_EINVAL},
    {TUNE(", 'drop_layers': -1"), CLASSES, 0, "drop_layers", "must be an integer between 0 and 4096", FT_EINVAL},
    {TUNE(", 'drop_layers': 1, 'cut_after': 'h1'"), CLASSES, 0, "cut_after", "give drop_layers or cut_after, not both",
     FT_EINVAL},
    {TUNE(", 'cut_after': 5"), CLASSES, 0, "cut_after", "cut_after must be a layer name", FT_EINVAL},
    {TUNE(", 'freeze': 'x'"), CLASSES, 0, "freeze", "freeze must be \"base\", \"none\"", FT_EINVAL},
    {TUNE(", 'freeze': {'trainable_last': -1}"), CLASSES, 0, "freeze.trainable_last",
     "trainable_last must be between 0", FT_EINVAL},
    {TUNE(", 'freeze': {'trainable_last': 3}"), CLASSES, 0, "freeze.trainable_last",
     "trainable_last must be between 0 and 2 (the kept layers)", FT_EINVAL},
    {TUNE(", 'freeze': {'trainable_from': 5}"), CLASSES, 0, "freeze.trainable_from",
     "trainable_from must be a layer name", FT_EINVAL},
    {TUNE(", 'freeze': {'trainable_from': 'h1', 'trainable_last': 1}"), CLASSES, 0, "freeze",
     "{\"trainable_from\": \"<layer>\"}", FT_EINVAL},
    {TUNE(", 'freeze': 'trainable_from'"), CLASSES, 0, "freeze", "freeze must be", FT_EINVAL},
    {TUNE(", 'freeze': {'trainable_from': 'nope'}"), CLASSES, 0, "freeze.trainable_from",
     "the base model has no layer named 'nope'", FT_EINVAL},
    {TUNE(", 'freeze': {'trainable_from': 'out'}"), CLASSES, 0, "freeze.trainable_from",
     "layer 'out' is not kept: it is above the cut", FT_EINVAL},
    {TUNE(", 'head': []"), CLASSES, 0, "head", "head must be an object", FT_EINVAL},
    {TUNE(", 'head': {'x': 1}"), CLASSES, 0, "head.x", "unknown field 'x'", FT_EINVAL},
    {TUNE(", 'head': {'hidden': [1, 1, 1, 1, 1, 1, 1, 1, 1]}"), CLASSES, 0, "head.hidden",
     "hidden must be a list of at most 8 layer sizes", FT_EINVAL},
    {TUNE(", 'head': {'hidden': [4, 0]}"), CLASSES, 0, "head.hidden[1]", "must be an integer between 1 and",
     FT_EINVAL},
    {TUNE(", 'head': {'activation': 'softmax'}"), CLASSES, 0, "head.activation", "head.activation must be relu",
     FT_EINVAL},
    {TUNE(", 'head': {'output': 'relu'}"), CLASSES, 0, "head.output", "head.output must be softmax, sigmoid or linear",
     FT_EINVAL},
    {TUNE(", 'head': {'dropout': 1}"), CLASSES, 0, "head.dropout", "must be a number between 0 and 0.999", FT_EINVAL},
    {TUNE(", 'head': {'units': 0}"), CLASSES, 0, "head.units", "must be an integer between 1 and", FT_EINVAL},
    /* init */
    {SCRATCH(", 'init': 'x'"), CLASSES, 0, "init", "init must be he_normal", FT_EINVAL},
    {SCRATCH(", 'init': {'type': 'normal', 'x': 1}"), CLASSES, 0, "init.x", "unknown field 'x'", FT_EINVAL},
    {SCRATCH(", 'init': {'type': 'normal', 'std': -1}"), CLASSES, 0, "init.std", "must be a number between 0 and 100",
     FT_EINVAL},
    {SCRATCH(", 'init': {'type': 'zeros', 'std': 1}"), CLASSES, 0, "init.std", "std only applies to the normal init",
     FT_EINVAL},
    /* optimizer */
    {SCRATCH(", 'optimizer': 1"), CLASSES, 0, "optimizer", "optimizer must be an object", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'type': 'x'}"), CLASSES, 0, "optimizer.type", "must be sgd, adam or adamw", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'x': 1}"), CLASSES, 0, "optimizer.x", "unknown field 'x'", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'lr': 0}"), CLASSES, 0, "optimizer.lr", "must be a number between", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'weight_decay': 11}"), CLASSES, 0, "optimizer.weight_decay",
     "must be a number between 0 and 10", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'beta1': 0.9}"), CLASSES, 0, "optimizer", "beta1, beta2 and eps apply to adam and adamw",
     FT_EINVAL},
    {SCRATCH(", 'optimizer': {'momentum': 1}"), CLASSES, 0, "optimizer.momentum", "must be a number between 0 and",
     FT_EINVAL},
    {SCRATCH(", 'optimizer': {'nesterov': 1}"), CLASSES, 0, "optimizer.nesterov", "must be true or false", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'momentum': 0, 'nesterov': true}"), CLASSES, 0, "optimizer.nesterov",
     "nesterov needs a momentum above 0", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'type': 'adam', 'momentum': 0.9}"), CLASSES, 0, "optimizer",
     "momentum and nesterov apply to sgd, not adam", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'type': 'adam', 'beta1': 1}"), CLASSES, 0, "optimizer.beta1", "must be a number between",
     FT_EINVAL},
    {SCRATCH(", 'optimizer': {'type': 'adamw', 'beta2': 1}"), CLASSES, 0, "optimizer.beta2",
     "must be a number between", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'type': 'adam', 'eps': 0}"), CLASSES, 0, "optimizer.eps", "must be a number between",
     FT_EINVAL},
    /* early stopping */
    {SCRATCH(", 'early_stopping': 1"), CLASSES, 0, "early_stopping", "early_stopping must be an object or null",
     FT_EINVAL},
    {SCRATCH(", 'early_stopping': {'x': 1}"), CLASSES, 0, "early_stopping.x", "unknown field 'x'", FT_EINVAL},
    {SCRATCH(", 'early_stopping': {'metric': 'seconds'}"), CLASSES, 0, "early_stopping.metric",
     "must be train_ or val_ followed by loss, accuracy, mae or rmse", FT_EINVAL},
    {SCRATCH(", 'early_stopping': {'metric': 'train_loss', 'patience': 0}"), CLASSES, 0, "early_stopping.patience",
     "must be an integer between 1 and 100000", FT_EINVAL},
    {SCRATCH(", 'early_stopping': {'metric': 'train_loss', 'min_delta': -1}"), CLASSES, 0,
     "early_stopping.min_delta", "must be a number between", FT_EINVAL},
    {SCRATCH(", 'early_stopping': {'metric': 'train_loss', 'restore_best': 1}"), CLASSES, 0,
     "early_stopping.restore_best", "must be true or false", FT_EINVAL},
    {SCRATCH(", 'early_stopping': {}"), CLASSES, 0, "early_stopping.metric",
     "val_loss needs a validation set (add \"validation\")", FT_EINVAL},
    /* lr_schedule */
    {SCRATCH(", 'lr_schedule': 'x'"), CLASSES, 0, "lr_schedule",
     "lr_schedule must be constant, step, cosine or reduce_on_plateau", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 5}"), CLASSES, 0, "lr_schedule.type", "lr_schedule must be constant", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': 'step'"), CLASSES, 0, "lr_schedule.step_size", "a step schedule needs step_size",
     FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'step', 'gamma': 0.5}"), CLASSES, 0, "lr_schedule.step_size",
     "a step schedule needs step_size", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'step', 'step_size': 0}"), CLASSES, 0, "lr_schedule.step_size",
     "must be an integer between 1 and 100000", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'step', 'step_size': 2, 'gamma': 2}"), CLASSES, 0, "lr_schedule.gamma",
     "must be a number between", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'cosine', 'warmup_epochs': 10}"), CLASSES, 0, "lr_schedule.warmup_epochs",
     "must be an integer between 0 and 9", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'cosine', 'min_lr': 0.5}"), CLASSES, 0, "lr_schedule.min_lr",
     "must be a number between 0 and 0.01", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'cosine', 'patience': 1}"), CLASSES, 0, "lr_schedule.patience",
     "unknown field 'patience'", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': 'reduce_on_plateau'"), CLASSES, 0, "lr_schedule.metric",
     "val_loss needs a validation set (add \"validation\")", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'reduce_on_plateau', 'metric': 'seconds'}"), CLASSES, 0,
     "lr_schedule.metric", "must be train_ or val_ followed by loss, accuracy, mae or rmse", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'reduce_on_plateau', 'metric': 'train_mae'}"), CLASSES, 0,
     "lr_schedule.metric", "train_mae does not apply to a dataset with class labels", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'lr_schedule': {'type': 'reduce_on_plateau', "
     "'metric': 'train_accuracy'}}", REGRESSION, 0, "lr_schedule.metric", "train_accuracy does not apply", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'validation': {'split': 0.2}, 'lr_schedule': {'type': "
     "'reduce_on_plateau', 'metric': 'val_macro_recall'}}", REGRESSION, 0, "lr_schedule.metric", "recall does not apply", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'reduce_on_plateau', 'metric': 'train_loss', 'factor': 1}"), CLASSES, 0,
     "lr_schedule.factor", "must be a number between", FT_EINVAL},
    {SCRATCH(", 'lr_schedule': {'type': 'reduce_on_plateau', 'metric': 'train_loss', 'patience': -1}"), CLASSES, 0,
     "lr_schedule.patience", "must be an integer between 0 and 100000", FT_EINVAL},
    /* class_weight, label_smoothing, grad_clip_norm */
    {SCRATCH(", 'class_weight': 5"), CLASSES, 0, "class_weight", "class_weight must be \"balanced\" or an object",
     FT_EINVAL},
    {SCRATCH(", 'class_weight': 'equal'"), CLASSES, 0, "class_weight", "class_weight must be \"balanced\"", FT_EINVAL},
    {SCRATCH(", 'class_weight': {'zz': 1.0}"), CLASSES, 0, "class_weight.zz",
     "class 'zz' is not one of the 3 training classes", FT_EINVAL},
    {SCRATCH(", 'class_weight': {'3': 1.0}"), CLASSES, 0, "class_weight.3",
     "class '3' is not one of the 3 training classes", FT_EINVAL},
    {SCRATCH(", 'class_weight': {'a': -1.0}"), CLASSES, 0, "class_weight.a", "class_weight.a must be a number above 0",
     FT_EINVAL},
    {SCRATCH(", 'class_weight': {'a': 0}"), CLASSES, 0, "class_weight.a", "must be a number above 0", FT_EINVAL},
    {SCRATCH(", 'class_weight': {'a': '2'}"), CLASSES, 0, "class_weight.a", "must be a number above 0", FT_EINVAL},
    {"{'dataset': {'id': 'ds_x', 'classes': ['c', 'a']}, 'architecture': "
     "{'input': [4], 'layers': [{'type': 'dense', 'units': 2, 'activation': 'softmax'}]}, 'class_weight': {'b': 3.0}}",
     CLASSES, 0, "class_weight.b", "class 'b' is not one of the 2 training classes", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'class_weight': 'balanced'}", REGRESSION, 0,
     "class_weight", "class_weight needs a dataset with class labels", FT_EINVAL},
    {SCRATCH(", 'label_smoothing': 1"), CLASSES, 0, "label_smoothing", "must be a number between 0 and", FT_EINVAL},
    {SCRATCH(", 'label_smoothing': -0.1"), CLASSES, 0, "label_smoothing", "must be a number between 0 and", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(1) ", 'label_smoothing': 0.1}", REGRESSION, 0,
     "label_smoothing", "label_smoothing applies to cross_entropy, not mse", FT_EINVAL},
    {SCRATCH(", 'grad_clip_norm': 0"), CLASSES, 0, "grad_clip_norm", "must be a number between", FT_EINVAL},
    {SCRATCH(", 'grad_clip_norm': 'x'"), CLASSES, 0, "grad_clip_norm", "must be a number between", FT_EINVAL},
    /* phases */
    {TUNE(", 'epochs': 3, 'phases': [{'epochs': 1}]"), CLASSES, 0, "epochs", "with phases, epochs goes inside each phase",
     FT_EINVAL},
    {TUNE(", 'freeze': 'none', 'phases': [{'epochs': 1}]"), CLASSES, 0, "freeze", "freeze goes inside each phase",
     FT_EINVAL},
    {TUNE(", 'phases': {}"), CLASSES, 0, "phases", "a list of 1 to 16 objects", FT_EINVAL},
    {TUNE(", 'phases': []"), CLASSES, 0, "phases", "a list of 1 to 16 objects", FT_EINVAL},
#define E1 "{'epochs': 1}, "
    {TUNE(", 'phases': [" E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1 "{'epochs': 1}]"), CLASSES, 0, "phases",
     "a list of 1 to 16 objects", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1}, 5]"), CLASSES, 0, "phases[1]", "phases[1]: a phase must be an object", FT_EINVAL},
    {TUNE(", 'phases': [{'freeze': 'base'}]"), CLASSES, 0, "phases[0].epochs", "each phase needs its epochs", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 0}]"), CLASSES, 0, "phases[0].epochs", "must be an integer between 1 and", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1, 'seed': 1}]"), CLASSES, 0, "phases[0].seed", "unknown field 'seed'", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1}, {'epochs': 1, 'freeze': 'x'}]"), CLASSES, 0, "phases[1].freeze",
     "freeze must be \"base\", \"none\"", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1}, {'epochs': 1, 'freeze': {'trainable_last': 3}}]"), CLASSES, 0,
     "phases[1].freeze.trainable_last", "trainable_last must be between 0 and 2 (the kept layers)", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1, 'freeze': {'trainable_from': 'zz'}}]"), CLASSES, 0,
     "phases[0].freeze.trainable_from", "the base model has no layer named 'zz'", FT_EINVAL},
    {SCRATCH(", 'phases': [{'epochs': 1, 'freeze': 'base'}]"), CLASSES, 0, "phases[0].freeze",
     "freeze applies to fine-tuning a base_model", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1, 'optimizer': {'lr': -1}}]"), CLASSES, 0, "phases[0].optimizer.lr",
     "must be a number between", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 2, 'lr_schedule': {'type': 'cosine', 'warmup_epochs': 2}}]"), CLASSES, 0,
     "phases[0].lr_schedule.warmup_epochs", "must be an integer between 0 and 1", FT_EINVAL},
    {TUNE(", 'lr_schedule': {'type': 'cosine', 'warmup_epochs': 3}, 'phases': [{'epochs': 2}]"), CLASSES, 0,
     "phases[0].epochs", "warmup_epochs (3) needs more epochs than 2", FT_EINVAL},
    {TUNE(", 'lr_schedule': {'type': 'cosine', 'min_lr': 0.001}, 'phases': [{'epochs': 2, 'optimizer': {'lr': 1e-4}}]"),
     CLASSES, 0, "phases[0].optimizer.lr", "min_lr (0.001) is above this phase's lr (0.0001)", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1, 'early_stopping': {'metric': 'val_loss'}}]"), CLASSES, 0,
     "phases[0].early_stopping.metric", "val_loss needs a validation set", FT_EINVAL},
    {TUNE(", 'phases': [{'epochs': 1, 'lr_schedule': {'type': 'reduce_on_plateau'}}]"), CLASSES, 0,
     "phases[0].lr_schedule.metric", "val_loss needs a validation set", FT_EINVAL},
    /* loss and the loop */
    {SCRATCH(", 'loss': 'x'"), CLASSES, 0, "loss", "loss must be cross_entropy, binary_cross_entropy, mse, mae or huber",
     FT_EINVAL},
    {SCRATCH(", 'huber_delta': 0"), CLASSES, 0, "huber_delta", "must be a number between", FT_EINVAL},
    {SCRATCH(", 'batch_size': 0"), CLASSES, 0, "batch_size", "must be an integer between 1 and 65536", FT_EINVAL},
    {SCRATCH(", 'epochs': 100001"), CLASSES, 0, "epochs", "must be an integer between 1 and 100000", FT_EINVAL},
    {SCRATCH(", 'seed': -1"), CLASSES, 0, "seed", "must be an integer between 0 and", FT_EINVAL},
    {SCRATCH(", 'strict': 1"), CLASSES, 0, "strict", "strict must be true or false", FT_EINVAL},
    {SCRATCH(", 'metadata': 1"), CLASSES, 0, "metadata", "metadata must be an object", FT_EINVAL},
    {SCRATCH(", 'name': 1"), CLASSES, 0, "name", "name must be a string", FT_EINVAL},
    {SCRATCH(", 'preprocessing': 1"), CLASSES, 0, "preprocessing", "preprocessing must be {\"standardize\": bool}",
     FT_EINVAL},
    {SCRATCH(", 'preprocessing': {'x': 1}"), CLASSES, 0, "preprocessing.x", "unknown field 'x'", FT_EINVAL},
    {SCRATCH(", 'preprocessing': {'standardize': 1}"), CLASSES, 0, "preprocessing.standardize",
     "must be true or false", FT_EINVAL},
    /* the plan: the model against the data */
    {"{'dataset': 'ds_x', 'architecture': {'input': [5], 'layers': [{'type': 'dense', 'units': 3, "
     "'activation': 'softmax'}]}}",
     CLASSES, 0, "architecture.input", "the dataset's rows are [4] but the architecture expects [5]", FT_EINVAL},
    {TUNE(""), IMAGE, 0, "dataset", "the dataset's rows are [1, 2, 2] but the base model expects [4]", FT_EINVAL},
    {SCRATCH(", 'loss': 'mse'"), CLASSES, 0, "loss", "mse does not fit a softmax output", FT_EINVAL},
    {SCRATCH(""), REGRESSION, 0, "loss", "cross_entropy needs class labels; this dataset has numeric targets",
     FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(3) "}", CLASSES, 0, "loss",
     "mse is a regression loss but the dataset has class labels", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': {'input': [4], 'layers': [{'type': 'dense', 'units': 2, "
     "'activation': 'softmax'}]}}",
     CLASSES, 0, "architecture", "the output has 2 units but the training data has 3 classes", FT_EINVAL},
    {TUNE(", 'head': {'units': 2}"), CLASSES, 0, "head.units",
     "the output has 2 units but the training data has 3 classes", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': " ARCH_LINEAR(2) "}", REGRESSION, 0, "architecture",
     "the output has 2 units but the dataset has 1 targets per row", FT_EINVAL},
    {SCRATCH(", 'batch_size': 4000, 'strict': true"), CLASSES, 0, "batch_size", "(strict mode)", FT_EINVAL},
    {"{'dataset': 'ds_x', 'architecture': {'input': [4], 'layers': [{'type': 'dense', 'units': 5, "
     "'activation': 'relu'}, {'type': 'dense', 'units': 3, 'activation': 'softmax'}]}, 'init': 'zeros', "
     "'strict': true}",
     CLASSES, 0, "init", "(strict mode)", FT_EINVAL},
    {SCRATCH(", 'optimizer': {'lr': 5}, 'strict': true"), CLASSES, 0, "optimizer.lr", "(strict mode)", FT_EINVAL},
    {TUNE(", 'drop_layers': 0, 'strict': true"), CLASSES, 0, "drop_layers", "(strict mode)", FT_EINVAL},
    {SCRATCH(""), CLASSES, 1024, "dataset", "over the 0.0 MiB budget per job", FT_ETOOBIG},
    {SCRATCH(", 'batch_size': 65536"), CLASSES, 1024, "batch_size", "over the 0.0 MiB budget per job", FT_ETOOBIG},
};

static void test_every_error_names_its_field(void)
{
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
        ft_job_spec spec;
        ft_error err = {0};
        int rc = parse_and_plan(errors[i].spec, errors[i].data, errors[i].limit, &spec, &err);
        CHECKF(rc != 0, "row %zu (%s) was accepted", i, errors[i].param);
        if (rc == 0) {
            ft_job_spec_free(&spec);
            continue;
        }
        CHECKF(strcmp(err.param, errors[i].param) == 0, "row %zu: param '%s', want '%s' (%s)", i, err.param,
               errors[i].param, err.msg);
        CHECKF(strstr(err.msg, errors[i].msg) != NULL, "row %zu: message '%s' lacks '%s'", i, err.msg,
               errors[i].msg);
        CHECKF(err.code == errors[i].code, "row %zu: code %d, want %d", i, err.code, errors[i].code);
    }
}

/* With somewhere to put it, the plan hands back the model it checked, with
 * its weights: the run trains that one instead of building another. */
static void test_plan_returns_the_model(void)
{
    json_t *j = load(SCRATCH(""));
    ft_job_spec spec;
    ft_error err = {0};
    CHECK(ft_job_spec_parse(j, &spec, &err) == 0);
    ft_data_info d = data_for(CLASSES);
    ft_model *m = NULL;
    json_t *warnings = NULL;
    CHECK(ft_job_plan(&spec, &d, NULL, NULL, &m, &warnings, &err) == 0);
    CHECK(m && ft_model_num_params(m) == 15 && ft_model_cparams(m) != NULL);
    ft_model_free(m);
    json_decref(warnings);
    ft_job_spec_free(&spec);
    /* A refused plan leaves nothing behind. */
    CHECK(ft_job_spec_parse(j, &spec, &err) == 0);
    d = data_for(EMPTY);
    m = (ft_model *)&spec; /* overwritten with NULL */
    CHECK(ft_job_plan(&spec, &d, NULL, NULL, &m, &warnings, &err) != 0 && m == NULL && warnings == NULL);
    ft_job_spec_free(&spec);
    json_decref(j);
}

/* With phases, the memory estimate is the largest phase's (each has its model, what trains, its optimiser and
 * its feature cache): the two-phase job's is the larger of the two phases' alone. */
static void test_phases_memory_is_the_largest_phase(void)
{
    const char *specs[3] = {TUNE(", 'phases': [{'epochs': 1}]"),
                            TUNE(", 'phases': [{'epochs': 1, 'freeze': 'none', 'optimizer': {'type': 'adam'}}]"),
                            TUNE(", 'phases': [{'epochs': 1}, {'epochs': 1, 'freeze': 'none', 'optimizer': "
                                 "{'type': 'adam'}}]")};
    ft_job_memory est[3];
    for (int i = 0; i < 3; i++) {
        json_t *j = load(specs[i]), *warnings = NULL;
        ft_job_spec spec;
        ft_error err = {0};
        ft_data_info d = data_for(CLASSES);
        ft_model *base = base_layout();
        ft_job_budget b = {0};
        CHECK(ft_job_spec_parse(j, &spec, &err) == 0 && ft_job_plan(&spec, &d, base, &b, NULL, &warnings, &err) == 0);
        est[i] = b.estimate;
        json_decref(warnings);
        json_decref(j);
        ft_model_free(base);
        ft_job_spec_free(&spec);
    }
    const ft_job_memory *big = est[0].total > est[1].total ? &est[0] : &est[1];
    CHECKF(est[0].total != est[1].total && est[2].total == big->total && est[2].optimizer == big->optimizer,
           "alone %zu and %zu, together %zu", est[0].total, est[1].total, est[2].total);
    CHECK(est[1].optimizer > est[0].optimizer && est[0].cache > est[1].cache);
}

int main(void)
{
    RUN(test_every_field_echoes_its_value_or_default);
    RUN(test_every_error_names_its_field);
    RUN(test_plan_returns_the_model);
    RUN(test_phases_memory_is_the_largest_phase);
    return TEST_SUMMARY();
}
