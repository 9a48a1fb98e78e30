/* Models: a graph of named layers in topological order (each reads earlier
 * layers or the model input; by default the layer before it, so a
 * sequential model is a plain list), with all parameters in one flat array
 * (so an optimiser is one loop), Keras-style activations on dense and conv
 * layers, PyTorch tensor layouts (NCHW; dense weight [out, in]; conv weight
 * [out, in / groups, kh, kw]; bias [out]). The model's output is the last
 * layer's.
 *
 * Layers [first_trainable, n) train; the layers below are frozen. Transfer
 * semantics (docs/design.md) always leave a trainable suffix, which is what makes
 * "frozen means bitwise unchanged" and "backward stops below the lowest
 * trainable layer" simple: the optimiser only ever sees the suffix.
 */
#ifndef FT_MODEL_H
#define FT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/nn/registry.h"
#include "core/util/error.h"
#include "core/util/rng.h"
#include "core/util/shape.h"

/* Layer types and activations: one row each in core/nn/registry.h. */
typedef enum { FT_LAYER_KINDS(FT_ROW_LAYER_ENUM) FT_LAYER_COUNT } ft_layer_type;
typedef enum { FT_ACTIVATIONS(FT_ROW_ACT_ENUM) FT_ACT_COUNT } ft_activation;

typedef enum {
    FT_INIT_HE_NORMAL, FT_INIT_HE_UNIFORM, FT_INIT_XAVIER_NORMAL, FT_INIT_XAVIER_UNIFORM,
    FT_INIT_LECUN_NORMAL, FT_INIT_NORMAL, FT_INIT_ZEROS,
    FT_INIT_TORCH_DEFAULT /* nn.Linear / nn.Conv2d default: weights and biases U(+-1/sqrt(fan_in)) */
} ft_init_scheme;
#define FT_INIT_COUNT (FT_INIT_TORCH_DEFAULT + 1)

typedef struct ft_model ft_model;

/* Layer names (and aliases) are at most this many bytes. */
#define FT_NAME_MAX 127
/* Inputs of one layer (the concat of a DenseNet block takes about 50). */
#define FT_MAX_INPUTS 64

/* What the layer table shows about one layer. */
typedef struct {
    const char *name;        /* unique layer name */
    ft_layer_type type;
    const char *op;          /* the type's name ("conv2d", "add") */
    int ninputs;             /* layers it reads (0 for a constant) */
    const char *inputs[FT_MAX_INPUTS]; /* their names, "input" for the model input */
    ft_activation activation;/* FT_ACT_LINEAR for layers without one */
    ft_shape output;         /* per-sample output shape */
    size_t params;           /* weights + biases */
    size_t param_offset;     /* index of the layer's first parameter in the flat array */
    bool trainable;          /* at or above first_trainable */
    bool has_params;         /* has weights and biases (dense, conv2d) */
} ft_layer_info;

/* Names as they appear in architecture JSON ("conv2d", "relu", "he_normal"),
 * and the tables they come from (indexed by value, *_COUNT entries). */
const char *ft_layer_type_name(ft_layer_type t);
const char *ft_activation_name(ft_activation a);
const char *ft_init_name(ft_init_scheme s);
extern const char *const ft_layer_type_names[FT_LAYER_COUNT];
extern const char *const ft_activation_names[FT_ACT_COUNT];
extern const char *const ft_init_names[FT_INIT_COUNT];
/* 0 and *out set if s names a layer type / activation / init scheme, else -1. */
int ft_layer_type_parse(const char *s, ft_layer_type *out);
int ft_activation_parse(const char *s, ft_activation *out);
int ft_init_parse(const char *s, ft_init_scheme *out);
/* True if the activation normalises across a row (softmax): it only fits an
 * output layer of class probabilities. */
bool ft_activation_rowwise(ft_activation a);
/* True if the activation's outputs read as class probabilities (softmax, sigmoid). */
bool ft_activation_probabilities(ft_activation a);

/* Build a model from architecture JSON ({"input": [...], "layers": [...]}).
 * Parameters are zero until initialised or loaded. `param` prefixes the field
 * path reported in errors (e.g. "architecture" -> "architecture.layers[2].units"). */
ft_model *ft_model_from_json(const json_t *arch, const char *param, ft_error *err);

/* The same checks without the parameter arrays: a layout (shapes, parameter
 * counts, names) for planning, which costs kilobytes whatever the model's
 * size. Only the query functions below work on it (params are NULL). */
ft_model *ft_model_layout_from_json(const json_t *arch, const char *param, ft_error *err);

/* Canonical architecture JSON (every attribute explicit); caller owns it. */
json_t *ft_model_arch_json(const ft_model *m);

void ft_model_free(ft_model *m);

/* A deep copy (parameters, metadata, first_trainable). */
ft_model *ft_model_clone(const ft_model *m, ft_error *err);

int ft_model_num_layers(const ft_model *m);
void ft_model_layer_info(const ft_model *m, int i, ft_layer_info *info);
/* Index of the layer called name, or with name among its aliases, or -1. */
int ft_model_find_layer(const ft_model *m, const char *name);
/* The aliases of layer i (a JSON array of strings), or NULL if it has none. */
const json_t *ft_model_layer_aliases(const ft_model *m, int i);
ft_shape ft_model_input_shape(const ft_model *m);
ft_shape ft_model_output_shape(const ft_model *m);
/* Activation of the last layer (what the head outputs). */
ft_activation ft_model_output_activation(const ft_model *m);

size_t ft_model_num_params(const ft_model *m);
float *ft_model_params(ft_model *m);
const float *ft_model_cparams(const ft_model *m);
float *ft_model_grads(ft_model *m);

/* Layers [first, n) train. Returns the flat index where trainable parameters start. */
int ft_model_first_trainable(const ft_model *m);
void ft_model_set_first_trainable(ft_model *m, int first);
size_t ft_model_trainable_offset(const ft_model *m);
/* True if layers [0, upto) contain something random in training (dropout). */
bool ft_model_prefix_is_random(const ft_model *m, int upto);

/* Initialise layers [from, n) with a scheme (torch.nn.init formulas; biases
 * zero). `std` is used by FT_INIT_NORMAL. */
void ft_model_init(ft_model *m, int from, ft_init_scheme scheme, double std, ft_rng *rng);

/* Metadata carried in the model file. JSON values are copied. */
int ft_model_set_classes(ft_model *m, const json_t *names, ft_error *err); /* array of strings or NULL */
const json_t *ft_model_classes(const ft_model *m);
int ft_model_set_preprocessing(ft_model *m, const json_t *pp, ft_error *err);
const json_t *ft_model_preprocessing(const ft_model *m);
/* Free-form string metadata (lineage: job, base_model, dataset...). */
int ft_model_set_meta(ft_model *m, const char *key, const char *value, ft_error *err);
const char *ft_model_meta(const ft_model *m, const char *key);
/* Keys the model file itself uses (format, architecture, ...); not settable. */
bool ft_model_meta_key_reserved(const char *key);

/* Model file = one .safetensors file (see docs/design.md, Model). */
int ft_model_save(const ft_model *m, const char *path, ft_error *err);
int ft_model_save_mem(const ft_model *m, unsigned char **buf, size_t *len, ft_error *err);
ft_model *ft_model_load(const char *path, ft_error *err);
ft_model *ft_model_load_mem(const void *buf, size_t len, ft_error *err);
/* A model file's layout and metadata (classes, preprocessing, trainable_from)
 * from its header alone; the weights are neither read nor allocated. */
ft_model *ft_model_load_layout(const char *path, ft_error *err);

/* ---- transfer learning (model surgery) ---- */

typedef enum { FT_FREEZE_BASE, FT_FREEZE_NONE, FT_FREEZE_TRAINABLE_LAST } ft_freeze_policy;
#define FT_FREEZE_COUNT (FT_FREEZE_TRAINABLE_LAST + 1)

/* Freeze policies by name ("base", "none", "trainable_last"). */
extern const char *const ft_freeze_names[FT_FREEZE_COUNT];
const char *ft_freeze_name(ft_freeze_policy f);
int ft_freeze_parse(const char *s, ft_freeze_policy *out);

#define FT_MAX_HIDDEN 8

typedef struct {
    int drop_layers;            /* drop this many top layers (used when cut_after is NULL) */
    const char *cut_after;      /* or keep everything up to and including this layer */
    ft_freeze_policy freeze;
    int trainable_last;         /* with FT_FREEZE_TRAINABLE_LAST: top k kept layers train */
    int nhidden;                /* hidden dense layers of the head */
    int hidden[FT_MAX_HIDDEN];  /* their units */
    ft_activation hidden_activation;
    double dropout;             /* dropout rate after each hidden layer, 0 for none */
    ft_activation output;       /* softmax, sigmoid or linear */
    int units;                  /* output units */
    ft_init_scheme init;        /* for the new layers only */
    double init_std;            /* FT_INIT_NORMAL's std */
} ft_transfer;

/* Apply docs/design.md's transfer semantics to a base model: drop, freeze, add a
 * head, initialise only the new layers. *kept receives the number of kept
 * base layers (new layers start there, after an automatic flatten if the kept
 * output is not flat). Errors name the spec field ("drop_layers", "cut_after"...). */
ft_model *ft_model_transfer(const ft_model *base, const ft_transfer *t, ft_rng *rng, int *kept,
                            ft_error *err);
/* The transferred model's layout only (base may be a layout too). */
ft_model *ft_model_transfer_layout(const ft_model *base, const ft_transfer *t, int *kept, ft_error *err);

/* ---- execution ---- */

typedef struct ft_workspace ft_workspace;

enum {
    FT_FWD_TRAIN = 1,  /* training mode: dropout active */
    FT_FWD_LOGITS = 2  /* leave the last layer's activation off (fused losses) */
};

/* A training workspace: buffers for running layers [from, n) forward and
 * backward on up to max_batch rows, every layer's output kept. Everything
 * the passes need is allocated here, once. Fails (naming the layer) if a
 * layer from the lowest trainable one up cannot train (see
 * ft_model_check_trainable). */
ft_workspace *ft_workspace_new(const ft_model *m, int from, int max_batch, ft_error *err);
/* A forward-only workspace for layers [from, to) (prediction, evaluation,
 * the frozen prefix of the feature cache): outputs share buffers by
 * liveness, so a deep graph needs a few activations' memory. The layers may
 * read only each other and layer from - 1 (the x given to forward). */
ft_workspace *ft_workspace_new_range(const ft_model *m, int from, int to, int max_batch, ft_error *err);
/* Floats a training workspace for layers [from, to) holds (a layout is enough). */
size_t ft_workspace_floats(const ft_model *m, int from, int to, int max_batch);
/* Floats a forward-only workspace for layers [from, to) holds (SIZE_MAX if
 * out of memory to plan it). */
size_t ft_workspace_infer_floats(const ft_model *m, int from, int to, int max_batch);
/* Floats a workspace holds. */
size_t ft_workspace_floats_of(const ft_workspace *ws);
/* 0 if layers [from, n) can train: each has a backward and reads only the
 * layer before it (backward through graphs is not there yet). */
int ft_model_check_trainable(const ft_model *m, int from, ft_error *err);
void ft_workspace_free(ft_workspace *ws);
/* Make backward write parameter gradients into `grads` (ft_model_num_params
 * floats, same layout as the model's) instead of the model's own array:
 * data-parallel shards each keep their own. NULL restores the default. */
void ft_workspace_set_grads(ft_workspace *ws, float *grads);

/* Run the workspace's layers [from, to) in order on x (batch rows of the input of layer `from`; it must
 * stay valid until backward). Returns the output of layer to - 1 (logits with FT_FWD_LOGITS). */
const float *ft_model_forward(ft_model *m, ft_workspace *ws, const float *x, int batch, int flags,
                              ft_rng *rng);

/* Output of layer i from the last forward (i >= from) of a training
 * workspace; NULL for a forward-only one (its buffers are reused). */
const float *ft_workspace_output(const ft_workspace *ws, int i);

/* Backpropagate dout (d loss / d output of the last forward, pre-activation
 * if that forward used FT_FWD_LOGITS) and write the gradients of trainable
 * layers into the model's grads. It stops at the lowest trainable layer with
 * parameters unless din is given, in which case it goes down to `from` and
 * writes d loss / d x into din (gradient checks). dout is clobbered. */
void ft_model_backward(ft_model *m, ft_workspace *ws, float *dout, float *din);

#endif
