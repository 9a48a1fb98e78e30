/* Internal: the model struct shared by model*.c files. */
#ifndef FT_MODEL_INTERNAL_H
#define FT_MODEL_INTERNAL_H

#include "core/nn/layer.h"

#define FT_MAX_LAYERS 4096

struct ft_model {
    ft_shape input;          /* per-sample input shape */
    int nlayers;
    ft_layer *layers;        /* nlayers entries */
    size_t nparams;          /* total parameters */
    float *params;           /* nparams values, layer by layer (weights then bias) */
    float *grads;            /* nparams gradients, same layout */
    int first_trainable;     /* layers [first_trainable, nlayers) train */
    json_t *classes;         /* array of class names, or NULL */
    json_t *preprocessing;   /* preprocessing object, or NULL */
    json_t *meta;            /* string -> string extra metadata (lineage) */
    json_t *aliases;         /* layer name -> array of its aliases (only layers that have some) */
};

/* A model's layout for `nlayers` layers whose type, name and hyperparameters
 * are already set in layers[]: runs every setup and counts parameters, but
 * allocates no parameter arrays (params and grads stay NULL). Takes
 * ownership of layers (freed on failure too). */
ft_model *ft_model_assemble(ft_shape input, ft_layer *layers, int nlayers, const char *param,
                            ft_error *err);

/* Set *lo and *hi to the number of inputs layer kind k takes. */
void ft_layer_arity(const ft_layer_kind *k, int *lo, int *hi);

/* Attach aliases (layer name -> array of alias strings; ownership taken,
 * NULL for none) after checking every alias is unique among the names and
 * aliases. `param` prefixes the field path of errors. */
int ft_model_set_aliases(ft_model *m, json_t *aliases, const char *param, ft_error *err);

/* Allocate a layout's zeroed params and grads. */
int ft_model_alloc_params(ft_model *m, ft_error *err);

/* Give forward the prepared weights of each layer (prepared[i], NULL for
 * none; indexed by layer, borrowed): a runner whose weights stay fixed
 * (core/nn/infer.c). */
void ft_workspace_set_prepared(ft_workspace *ws, const float *const *prepared);

/* floats rounded up to a multiple of 16 (64-byte alignment of each buffer). */
size_t ft_aligned16(size_t floats);
/* Floats of scratch layer l needs for max_batch rows. */
size_t ft_layer_scratch_floats(const ft_layer *l, int max_batch);
/* The forward-only liveness plan of layers [from, to) (core/nn/model_plan.c):
 * offset[i - from] receives where layer i's output starts (offset may be
 * NULL); returns the floats in all, outputs and one shared scratch, or
 * SIZE_MAX if out of memory. */
size_t ft_plan_forward(const ft_model *m, int from, int to, int max_batch, size_t *offset);
/* The liveness plan of the gradients of layers [from, n - 1)'s outputs for
 * backward: offset[i - from] receives where layer i's starts; *temp the
 * floats a layer's input gradients take before they are added to others.
 * Returns the floats of the gradients, or SIZE_MAX if out of memory. */
size_t ft_plan_backward(const ft_model *m, int from, int max_batch, size_t *offset, size_t *temp);

#endif
